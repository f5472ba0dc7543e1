"""Untrusted names as paths: the one place where a string that came from a file, a result, a
registry or the command line becomes a file or folder name.

Model names (`family/name`), Hub repository ids, revisions and weights file names end up in
the names of what mars-zoo writes: `<org>__<name>/<revision>/` of an MTEB export,
`<family>/<name>__reported.json` of an import, the embedding cache's `family__name` folder.
Joined naively, a revision `../../x` or a name `org/../../x` climbs out of the folder the user
named, an absolute path replaces it, and a NUL or a newline breaks the file system call or the
terminal that shows the path. `path_under` takes each name as exactly one plain component
(`plain_name`, also used alone for a name that is recorded before anything is written) and then
checks that the path, resolved (symbolic links followed), is still inside the resolved
root, so that a link already in the output tree cannot lead out of it either. Plain names pass
unchanged, so every legitimate layout stays byte for byte what it was.
"""

from __future__ import annotations

import re
from pathlib import Path

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import printable

MAX_NAME_BYTES = 255  # NAME_MAX of the common file systems
# The characters the result schema's `singleLine` refuses: C0 controls (NUL, newline, escape...) and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = ("/", "\\")  # '\\' separates folders on Windows, where a result may be read too


def _problem(name: str) -> str | None:
    """Why `name` is not one plain file or folder name, or None when it is."""
    if not name:
        return "is empty"
    if name in (".", ".."):
        folder = "this folder" if name == "." else "the folder above"
        return f"is {name!r}, which names {folder}, not a file or folder of its own"
    control = _CONTROL.search(name)
    if control:
        return f"holds the control character {control.group()!r}"
    if name.startswith(_SEPARATORS):
        return "is an absolute path"
    separator = next((mark for mark in _SEPARATORS if mark in name), None)
    if separator:
        return f"holds {separator!r}, a path separator, where one name is expected"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # bytes of a file name that are not UTF-8, kept by Python as surrogates
        return "holds bytes that are not UTF-8 text, which no result file or message can record"
    if size > MAX_NAME_BYTES:
        return f"is longer than the {MAX_NAME_BYTES} bytes a file name may have"
    return None


def plain_name(name: str, *, field: str, fix: str) -> str:
    """`name` if it can be one file or folder name (see `path_under`), else a `MarsZooError`
    naming `field`, the value and `fix`. For a name recorded before anything is written."""
    problem = _problem(name)
    if problem:
        raise MarsZooError(f"{field}: {name!r} is not a plain file or folder name: it {problem}. Fix: {fix}.")
    return name


def _link_on_the_way(root: Path, path: Path) -> Path | None:
    """The first symbolic link between `root` (excluded) and `path`, if any."""
    for depth in range(1, len(path.parts) - len(root.parts) + 1):
        step = Path(*path.parts[: len(root.parts) + depth])
        if step.is_symlink():
            return step
    return None


def path_under(root: Path, *names: str, field: str, fix: str) -> Path:
    """`root / names[0] / names[1] / ...`, each name taken as one plain file or folder name.

    Refused, with a `MarsZooError` naming `field`, the value and `fix`: an empty name, '.' or
    '..', a separator ('/' or '\\') or an absolute path, a control character (NUL, newline,
    escape...), a name longer than the file system allows, and a path that resolves outside the
    resolved `root` (a symbolic link on the way that leads out). The path is returned as joined,
    not resolved, so messages show it the way the user named the folder."""
    path = Path(root).joinpath(*(plain_name(name, field=field, fix=fix) for name in names))
    try:
        inside = path.resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise MarsZooError(f"{field}: {printable(str(path))} cannot be resolved ({exc}). Fix: remove the loop "
                           f"of symbolic links under {printable(str(root))}, or choose another folder.") from None
    if not inside:
        link = _link_on_the_way(Path(root), path)
        through = f" through the symbolic link {printable(str(link))}" if link else ""
        raise MarsZooError(f"{field}: {printable(str(path))} leads outside {printable(str(root))}{through}, and "
                           f"nothing is written outside the folder named. Fix: remove that link, or choose "
                           f"another folder.")
    return path
