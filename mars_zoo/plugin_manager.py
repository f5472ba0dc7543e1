"""Discovers and loads plugins, in a fixed order of trust.

1. Built-in families (`BUILTIN_PLUGINS`), always loaded and always first, so that an
   installed package can never silently take over a built-in model name.
2. Installed distributions that declare an entry point in the `mars_zoo` group.
   If `MARS_ZOO_LOAD_PLUGINS` is set (comma-separated entry-point names, possibly
   empty), only those listed are loaded: CI uses it to pin what runs.
3. `*.py` files of a `--plugins-dir` directory, which the user asked for explicitly.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pluggy

from mars_zoo import __version__, hookspecs
from mars_zoo.boundary import plugin_call
from mars_zoo.errors import MarsZooError

BUILTIN_PLUGINS = {"openclip": "mars_zoo_openclip", "mllm": "mars_zoo_mllm", "hf_encoders": "mars_zoo_hf_encoders",
                   "sentence_transformers": "mars_zoo_st"}
ENTRY_POINT_GROUP = "mars_zoo"
ALLOW_LIST_ENV = "MARS_ZOO_LOAD_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from, for `mars-zoo plugins` and error messages."""

    name: str
    origin: str  # "builtin", "entry-point" or "plugins-dir"
    package: str
    version: str


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers the order and origin of its plugins."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.loaded: list[PluginInfo] = []

    def add(self, plugin: object, info: PluginInfo) -> None:
        if self.has_plugin(info.name):
            first = self.info(info.name)
            raise MarsZooError(
                f"Two plugins are named {info.name!r}: one from {first.package} ({first.origin}) "
                f"and one from {info.package} ({info.origin}). Rename or uninstall one of them."
            )
        try:
            self.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            raise MarsZooError(f"Plugin {info.name!r} from {info.package} is invalid: {exc}") from exc
        self.loaded.append(info)

    def info(self, name: str) -> PluginInfo:
        return next(info for info in self.loaded if info.name == name)

    def check(self) -> None:
        """Refuse hook implementations that match no hookspec (a misspelled hook)."""
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            raise MarsZooError(
                f"{exc}. The hooks a plugin may implement are: "
                f"{', '.join(sorted(name for name in dir(self.hook) if not name.startswith('_')))}."
            ) from exc


def _allow_list() -> set[str] | None:
    value = os.environ.get(ALLOW_LIST_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _load_builtins(pm: PluginManager) -> None:
    for name, module_name in BUILTIN_PLUGINS.items():
        with plugin_call(f"Built-in plugin {name!r} ({module_name})", "to import",
                         "Reinstall mars-zoo (pip install --force-reinstall mars-zoo)."):
            module = importlib.import_module(module_name)
        pm.add(module, PluginInfo(name, "builtin", "mars-zoo", __version__))


def _load_entry_points(pm: PluginManager) -> None:
    allowed = _allow_list()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and entry_point.name not in allowed:
            continue
        dist = entry_point.dist
        package = dist.name if dist else "?"
        version = dist.version if dist else "?"
        with plugin_call(
            f"Plugin {entry_point.name!r} (entry point {entry_point.value!r} of {package} {version})",
            "to import",
            f"Fix or uninstall it (pip uninstall {package}), or set {ALLOW_LIST_ENV} to the plugins you want.",
        ):
            plugin = entry_point.load()
        pm.add(plugin, PluginInfo(entry_point.name, "entry-point", package, version))


def _load_directory(pm: PluginManager, directory: Path) -> None:
    if not directory.is_dir():
        raise MarsZooError(f"--plugins-dir {directory} is not a directory.")
    for path in sorted(directory.glob("*.py")):
        module_name = f"mars_zoo_dir_plugins.{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            with plugin_call(f"Plugin file {path}", "to import",
                             f"Fix the file or move it out of --plugins-dir {directory}."):
                spec.loader.exec_module(module)
        except MarsZooError:
            del sys.modules[module_name]
            raise
        # The file's content hash is its version: it keys the embedding cache, so editing
        # the plugin file can never silently reuse embeddings of the old code.
        version = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        pm.add(module, PluginInfo(path.stem, "plugins-dir", str(path), version))


def build_plugin_manager(plugins_dir: Path | None = None) -> PluginManager:
    """Load every plugin in the order of trust described in the module docstring."""
    pm = PluginManager()
    _load_builtins(pm)
    _load_entry_points(pm)
    if plugins_dir is not None:
        _load_directory(pm, Path(plugins_dir))
    pm.check()
    return pm
