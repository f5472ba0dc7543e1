"""Discovers and loads plugins, in a fixed order of trust.

1. Built-in families (`BUILTIN_PLUGINS`), always loaded and always first, so that an
   installed package can never silently take over a built-in model name.
2. Installed distributions that declare an entry point in the `mars_zoo` group.
   If `MARS_ZOO_LOAD_PLUGINS` is set (comma-separated entry-point names, possibly
   empty), only those listed are loaded: CI uses it to pin what runs.
3. `*.py` files of a `--plugins-dir` directory, which the user asked for explicitly.

Each plugin's hook implementations are checked as it is added: a hook that
`mars_zoo/hookspecs.py` does not declare (a misspelled `register_model`) is refused with
the hooks there are and the closest one; a plugin with no hook at all still loads, with
a warning, since it registers nothing.
"""

from __future__ import annotations

import difflib
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
from mars_zoo.reporting import Reporter, printable

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

    @property
    def where(self) -> str:
        """Where the plugin came from, in words: `entry point of acme-mars 1.2.3`."""
        where = {
            "builtin": f"built into mars-zoo {self.version}",
            "entry-point": f"entry point of {self.package} {self.version}",
            "plugins-dir": f"--plugins-dir file {self.package}",
        }.get(self.origin, f"{self.origin} {self.package}")
        return printable(where)

    def describe(self) -> str:
        """`Plugin 'acme' (entry point of acme-mars 1.2.3)`, to begin a message."""
        return f"Plugin {self.name!r} ({self.where})"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers the order and origin of its plugins and refuses a
    plugin whose hooks are not mars-zoo's; `reporter` hears of a plugin without hooks."""

    def __init__(self, reporter: Reporter | None = None) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.loaded: list[PluginInfo] = []
        self.reporter = reporter or Reporter()

    def add(self, plugin: object, info: PluginInfo) -> None:
        self._refuse_a_second_load(plugin, info)
        try:
            self.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:  # a declared hook, implemented with other arguments
            raise MarsZooError(
                f"{info.describe()} implements a hook in a way its declaration does not allow: "
                f"{' '.join(str(exc).split())}. {self.hooks_declared()} Fix the function to match its hook."
            ) from exc
        self._refuse_undeclared_hooks(plugin, info)
        if not self.get_hookcallers(plugin):
            self.reporter.warn(self._registers_nothing(plugin, info))
        self.loaded.append(info)

    def info(self, name: str) -> PluginInfo:
        return next(info for info in self.loaded if info.name == name)

    def declared(self) -> dict[str, pluggy.HookCaller]:
        """The hooks of `mars_zoo/hookspecs.py`, by name (the manager also holds a caller for
        each hook name a plugin implements, declared or not)."""
        return {name: caller for name, caller in sorted(vars(self.hook).items()) if caller.has_spec()}

    def hooks_declared(self) -> str:
        """The sentence of an error message that lists the declared hooks with their arguments."""
        signatures = ", ".join(f"{name}({', '.join(caller.spec.argnames)})" for name, caller in self.declared().items())
        return f"The hooks a plugin may implement, declared in mars_zoo/hookspecs.py, are: {signatures}."

    def _refuse_a_second_load(self, plugin: object, info: PluginInfo) -> None:
        if self.has_plugin(info.name):
            first = self.info(info.name)
            raise MarsZooError(
                f"Two plugins are named {info.name!r}: one from {first.package} ({first.origin}) "
                f"and one from {info.package} ({info.origin}). Rename or uninstall one of them."
            )
        if self.is_registered(plugin):
            first = self.info(self.get_name(plugin))
            raise MarsZooError(
                f"{info.describe()} is the module that plugin {first.name!r} ({first.where}) already loaded: "
                f"its models would be registered twice. Keep one entry point for it."
            )

    def _refuse_undeclared_hooks(self, plugin: object, info: PluginInfo) -> None:
        """pluggy accepts a hook implementation of any name (it cannot tell a misspelling from
        a hook declared later); mars-zoo declares every hook up front, so it refuses one, unless
        the plugin marked it `optionalhook=True` (a hook of a later mars-zoo, say)."""
        for caller in self.get_hookcallers(plugin):
            for impl in caller.get_hookimpls():
                if not caller.has_spec() and impl.plugin is plugin and not impl.optionalhook:
                    raise MarsZooError(self._undeclared(caller.name, impl.function.__name__, info))

    def _undeclared(self, hook: str, function: str, info: PluginInfo) -> str:
        named = repr(hook) if function == hook else f"{hook!r} (function {function})"
        closest = difflib.get_close_matches(hook, self.declared(), n=1)
        guess = f" Did you mean {closest[0]!r}?" if closest else ""
        return (f"{info.describe()} implements hook {named}, which mars-zoo does not have.{guess} "
                f"{self.hooks_declared()} Name the function after the hook it implements (or fix the specname of "
                f"its @mars_zoo.hookimpl).")

    def _registers_nothing(self, plugin: object, info: PluginInfo) -> str:
        undecorated = [name for name in self.declared() if callable(getattr(plugin, name, None))]
        if undecorated:
            why = f"its {', '.join(undecorated)} function is not decorated with @mars_zoo.hookimpl"
            fix = "Decorate it with @mars_zoo.hookimpl."
        else:
            why = "it has no function decorated with @mars_zoo.hookimpl"
            fix = "Implement a hook (see mars_zoo/hookspecs.py)."
        return f"{info.describe()} registers nothing: {why}, so mars-zoo finds no hook in it. {fix}"


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


def build_plugin_manager(plugins_dir: Path | None = None, reporter: Reporter | None = None) -> PluginManager:
    """Load every plugin in the order of trust described in the module docstring; `reporter`
    hears the warnings (a plugin that registers nothing)."""
    pm = PluginManager(reporter)
    _load_builtins(pm)
    _load_entry_points(pm)
    if plugins_dir is not None:
        _load_directory(pm, Path(plugins_dir))
    return pm
