"""`build_site`: result files in, a static site out.

The build reads JSON only (it never imports a plugin or model), refuses invalid files, and
renders everything in memory first; the tree is then written to a temporary sibling folder and
swapped in, so a failed build never leaves a half-written site. It replaces only a folder that
holds nothing but what an earlier build wrote (listed in its marker file) and never one that
holds or sits inside its inputs. Output depends only on the
inputs and the mars-zoo version: same files in, byte-identical files out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Sequence

from mars_zoo import __version__
from mars_zoo.core.errors import MarsZooError
from mars_zoo.leaderboard.compare import PAGE as COMPARE_PAGE
from mars_zoo.leaderboard.compare import compare_page
from mars_zoo.leaderboard.context import SUBMIT_PAGE, Change, submissions_history, submit_page
from mars_zoo.leaderboard.entries import Entry, make_entries
from mars_zoo.leaderboard.export import downloads
from mars_zoo.leaderboard.index_page import index_page
from mars_zoo.leaderboard.methodology import PAGE as METHODOLOGY_PAGE
from mars_zoo.leaderboard.methodology import methodology_page
from mars_zoo.leaderboard.model_page import model_page
from mars_zoo.leaderboard.overview import standings
from mars_zoo.core.reporting import Reporter, printable
from mars_zoo.core.safe_paths import path_under
from mars_zoo.results.submissions import validate_paths

ASSETS = ("style.css", "leaderboard.js", "favicon.svg")
MARKER = ".mars-zoo-site"  # marks a folder this build may replace, and lists what it wrote there
MARKER_HEADER = "Built by 'mars-zoo leaderboard build', which wrote the files below; the next build replaces them.\n"
SHOWN_PROBLEMS = 20


def load_entries(submissions: Path, include: Sequence[Path] = ()) -> list[Entry]:
    """Validate the submissions folder and the included files (without loading plugins) and
    return their entries; any invalid file stops the build."""
    if not submissions.is_dir():
        problem = "is not a folder" if submissions.exists() else "does not exist"
        raise MarsZooError(f"Submissions folder {printable(str(submissions))} {problem}; pass --submissions DIR.")
    validation = validate_paths([submissions, *include], known_models=None)
    if not validation.ok:
        shown = "\n".join(str(problem) for problem in validation.problems[:SHOWN_PROBLEMS])
        more = len(validation.problems) - SHOWN_PROBLEMS
        raise MarsZooError(
            f"The leaderboard is built only from valid result files; fix these (or run "
            f"'mars-zoo validate' for the full list):\n{shown}" + (f"\n... and {more} more" if more > 0 else "")
        )
    return make_entries(validation.results)


def render_site(entries: Sequence[Entry], version: str = __version__, history: list[Change] | None = None,
                guide: str | None = None) -> dict[str, bytes]:
    """Every file of the site: relative path -> contents. `history` is the submissions'
    changelog and `guide` their README.md (the submission guide), where known."""
    real = [entry for entry in entries if not entry.synthetic]
    files: dict[str, bytes] = {"index.html": index_page(entries, version, history),
                               METHODOLOGY_PAGE: methodology_page(version), SUBMIT_PAGE: submit_page(guide, version),
                               COMPARE_PAGE: compare_page(real, version)}
    by_page: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_page[entry.page].append(entry)
    ranks = {entry.key: standing for standing, entry in standings(real)}
    for page, page_entries in by_page.items():
        files[page] = model_page(page_entries, version, ranks)
    assets = resources.files("mars_zoo.leaderboard").joinpath("assets")
    for name in ASSETS:
        files[f"assets/{name}"] = assets.joinpath(name).read_bytes()
    files.update(downloads(entries, version))
    files[".nojekyll"] = b""  # GitHub Pages: serve the files as they are
    files[MARKER] = (MARKER_HEADER + "".join(f"{name}\n" for name in sorted(files))).encode("utf-8")
    return files


def _built_files(out: Path) -> set[str]:
    """The files the build that made `out` wrote, from its marker (empty if none)."""
    try:
        lines = (out / MARKER).read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return set()
    return set(lines[1:]) if lines and lines[0] == MARKER_HEADER.rstrip("\n") else set()


def _foreign_files(out: Path) -> list[str]:
    """Files (and links) under `out` that no earlier build wrote there."""
    built = _built_files(out) | {MARKER}
    found = []
    for root, dirs, names in os.walk(out):  # links are listed, never followed
        base = Path(root)
        found += [(base / name).relative_to(out).as_posix() for name in names]
        found += [(base / name).relative_to(out).as_posix() for name in dirs if (base / name).is_symlink()]
    return sorted(name for name in found if name not in built)


def check_out(out: Path, submissions: Path, include: Sequence[Path] = ()) -> None:
    """Refuse an --out whose replacement would delete inputs or anything the build did not write."""
    out = out.resolve()
    for what, path in (("the submissions folder", submissions), *(("--include file", file) for file in include)):
        path = Path(path).resolve()
        if path == out or path.is_relative_to(out):
            raise MarsZooError(
                f"--out {printable(str(out))} holds {what} {printable(str(path))}; the build replaces --out as "
                f"a whole, so it would be deleted. Choose an --out outside it (default: leaderboard/site).")
        if path.is_dir() and out.is_relative_to(path):
            raise MarsZooError(
                f"--out {printable(str(out))} is inside {what} {printable(str(path))}; the site must not be "
                f"written among the submissions. Choose an --out outside it (default: leaderboard/site).")
    if out.exists() and not out.is_dir():
        raise MarsZooError(f"--out {printable(str(out))} is a file; give a folder for the site.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / MARKER).exists():
        raise MarsZooError(f"--out {printable(str(out))} is a non-empty folder that no leaderboard build made; it "
                           f"would be replaced as a whole. Choose an empty or new folder.")
    foreign = _foreign_files(out)
    if foreign:
        shown = ", ".join(printable(name) for name in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise MarsZooError(
            f"--out {printable(str(out))} holds {len(foreign)} file(s) that no leaderboard build wrote ({shown}); "
            f"the build replaces the folder as a whole and never deletes what it did not write. Move "
            f"them, or choose another --out.")


def _write_tree(files: dict[str, bytes], out: Path) -> None:
    """Write into a temporary sibling, then swap it in place of `out`; a file-system
    failure (a file where a folder belongs, no permission, a full disk) is one error."""
    out = out.resolve()
    try:
        _swap_in(files, out)
    except OSError as exc:
        raise MarsZooError(
            f"Cannot write the site to {printable(str(out))}: {exc.strerror or exc}"
            f"{' (' + printable(str(exc.filename)) + ')' if exc.filename else ''}. Choose another --out "
            f"folder; the previous site, if any, is unchanged."
        ) from exc


def _swap_in(files: dict[str, bytes], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        staging.chmod(0o755)
        for relative, data in sorted(files.items()):  # model pages and result copies are named after models
            target = path_under(staging, *relative.split("/"), field="site file",
                                fix="give the model a plain name in its result file")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, retired / "site")
            os.replace(staging, out)
            shutil.rmtree(retired)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def build_site(submissions: Path, out: Path, include: Sequence[Path] = (),
               reporter: Reporter | None = None) -> dict[str, bytes]:
    """Validate, render and write the site into `out` (replaced as a whole); returns the files."""
    reporter = reporter or Reporter()
    include = [Path(path) for path in include]
    check_out(Path(out), Path(submissions), include)
    entries = load_entries(Path(submissions), include)
    guide_file = Path(submissions) / "README.md"
    guide = guide_file.read_text("utf-8", errors="replace") if guide_file.is_file() else None
    files = render_site(entries, history=submissions_history(Path(submissions)), guide=guide)
    _write_tree(files, Path(out))
    synthetic = sum(entry.synthetic for entry in entries)
    reporter.info(f"Built the leaderboard from {len(entries)} result file(s) ({synthetic} synthetic): "
                  f"{len(files)} files in {out}; open {Path(out) / 'index.html'} or run "
                  f"'mars-zoo leaderboard serve --dir {out}'.")
    return files
