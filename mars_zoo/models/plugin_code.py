"""What a plugin's code is, as one content hash: part of every embedding cache key.

A distribution's version does not change when an editable install or a plugin file is
edited, so it cannot say which code computed an embedding. The code is hashed instead, by
one rule for built-in, entry-point, editable and `--plugins-dir` plugins alike:

- a plugin module inside a package: every file of its outermost regular package (the
  plugin module, every module it may import from its own package, and the package's data
  files such as model configs), bytecode caches and hidden files left out;
- a lone module (a top-level module): that file.

A `--plugins-dir` plugin is hashed by the files its loader records (`PluginInfo.files`: the
plugin file and every helper of its folder), since its package exists only in memory.

Hashed once per imported module and process (a few dozen small files, milliseconds), with
no import: the module objects are already loaded. A plugin whose module has no source
file (made in memory) gets a hash unique to this process, so that its embeddings are never
served to another process, whose code may differ.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
import uuid
from pathlib import Path
from types import ModuleType

from mars_zoo.core.errors import MarsZooError

SKIPPED_FOLDERS = {"__pycache__"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def code_sha256(plugin: object) -> str:
    """The content hash of the code of `plugin` (a module, or an object registered with the
    plugin manager, judged by the module that defines it); see the module docstring."""
    module = plugin if isinstance(plugin, ModuleType) else inspect.getmodule(plugin)
    return _module_code(_outermost_package(module) if module is not None else None)


def _outermost_package(module: ModuleType) -> ModuleType:
    """The outermost regular package `module` belongs to (a namespace package, which may
    span several distributions, is not one), or `module` itself when it is in none."""
    parts = module.__name__.split(".")
    for length in range(1, len(parts)):
        package = sys.modules.get(".".join(parts[:length]))
        if package is not None and getattr(package, "__file__", None) and hasattr(package, "__path__"):
            return package
    return module


def source_files(module: ModuleType) -> list[tuple[str, Path]]:
    """(name within the package, path) of every file whose content is `module`'s code,
    sorted by name: a package's files, or a lone module's one file."""
    location = getattr(module, "__file__", None)
    if not location:
        return []
    path = Path(location)
    if not hasattr(module, "__path__"):
        return [(path.name, path)]
    root = path.parent
    found = []
    for file in root.rglob("*"):
        relative = file.relative_to(root)
        if (file.is_file() and file.suffix not in SKIPPED_SUFFIXES
                and not any(part in SKIPPED_FOLDERS or part.startswith(".") for part in relative.parts)):
            found.append((relative.as_posix(), file))
    return sorted(found)


@functools.cache
def _module_code(module: ModuleType | None) -> str:
    files = source_files(module) if module is not None else []
    if not files:
        return f"no-source:{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    for name, path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MarsZooError(
                f"Cannot read {path} ({exc.strerror or exc}), a file of the plugin package of "
                f"{module.__name__}: the embedding cache is keyed by the content of a plugin's files. "
                f"Fix: make it readable, or move it out of the package folder."
            ) from None
        for part in (name.encode("utf-8"), data):  # length-prefixed: names and contents cannot blur
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return "sha256:" + digest.hexdigest()
