"""Discovers and loads plugins, in a fixed order of trust.

1. Built-ins, always loaded and always first, so that an installed package can never silently
   take over a built-in model or task name: the MarsRetrieval tasks (`BUILTIN_TASK_PLUGINS`),
   then the model families (`BUILTIN_PLUGINS`).
2. Installed distributions that declare an entry point in the `mars_zoo` group.
   If `MARS_ZOO_LOAD_PLUGINS` is set (comma-separated entry-point names, possibly
   empty), only those listed are loaded: CI uses it to pin what runs.
3. The `*.py` files of a `--plugins-dir` directory, which the user asked for explicitly,
   except those whose name starts with `_`: those and the sub-folders are helper modules.
   The files of one directory are modules of one package whose folder is the directory, so a
   plugin imports its helpers relatively (`from ._helpers import x`, `from .tools import y`),
   at import time or later in its loader. Each directory gets a package of its own, made
   afresh at every load, so two directories' modules never meet in `sys.modules`, and no
   helper can shadow an installed module.

Each plugin's hook implementations are checked as it is added: a hook that
`mars_zoo/models/hookspecs.py` does not declare (a misspelled `register_model`) is refused with
the hooks there are and the closest one; a plugin with no hook at all still loads, with
a warning, since it registers nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pluggy

from mars_zoo import __version__
from mars_zoo.models import hookspecs
from mars_zoo.models.boundary import plugin_call
from mars_zoo.data.files import files_sha256
from mars_zoo.core.errors import MarsZooError, PluginError
from mars_zoo.core.reporting import Reporter, printable

BUILTIN_TASK_PLUGINS = {"marsretrieval": "mars_zoo.tasks.marsretrieval"}
BUILTIN_PLUGINS = {"openclip": "mars_zoo_openclip", "mllm": "mars_zoo_mllm", "hf_encoders": "mars_zoo_hf_encoders",
                   "sentence_transformers": "mars_zoo_st"}
ENTRY_POINT_GROUP = "mars_zoo"
ALLOW_LIST_ENV = "MARS_ZOO_LOAD_PLUGINS"
DIRECTORY_PACKAGE = "mars_zoo_plugins_dir_"  # + a digest of the directory's path


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from, for `mars-zoo plugins` and error messages."""

    name: str
    origin: str  # "builtin", "entry-point" or "plugins-dir"
    package: str
    version: str
    # The Python files a --plugins-dir plugin consists of: its own file first, then every
    # helper module of its directory (any of which it may import); its version covers them all.
    files: tuple[str, ...] = ()

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

    def ask_to_register(self, hook: str, kind: type, registered: Mapping[str, Any],
                        add: Callable[[Any, str], None]) -> None:
        """Call every plugin's `hook` (`register_models`, `register_tasks`) in load order, behind
        the plugin boundary, with a `register` callback that refuses what is no `kind` or takes a
        name already in `registered` (with the plugin that took it), and hands the rest, with the
        registering plugin's name, to `add`."""
        impls = {impl.plugin_name: impl for impl in getattr(self.hook, hook).get_hookimpls()}
        noun = hook.removeprefix("register_").removesuffix("s")

        def register(item: Any, plugin: str) -> None:
            if not isinstance(item, kind):
                raise MarsZooError(f"Plugin {plugin!r} registered {item!r}, which is not a "
                                   f"mars_zoo.{kind.__name__}.")
            owner = registered.get(item.name)
            if owner is not None:
                raise MarsZooError(
                    f"Plugin {plugin!r} tried to register {noun} {item.name!r}, which plugin {owner.plugin!r} "
                    f"({self.info(owner.plugin).origin}) already registered. {noun.capitalize()} names are unique "
                    f"so that results stay unambiguous: give the {noun} another name, or uninstall plugin {plugin!r}.")
            add(item, plugin)

        for info in self.loaded:
            impl = impls.get(info.name)
            if impl is None:
                continue
            with plugin_call(info.describe(), f"while registering its {noun}s",
                             f"Fix its {hook} hook, or uninstall the plugin."):
                impl.function(register=lambda item, _plugin=info.name: register(item, _plugin))

    def declared(self) -> dict[str, pluggy.HookCaller]:
        """The hooks of `mars_zoo/models/hookspecs.py`, by name (the manager also holds a caller for
        each hook name a plugin implements, declared or not)."""
        return {name: caller for name, caller in sorted(vars(self.hook).items()) if caller.has_spec()}

    def hooks_declared(self) -> str:
        """The sentence of an error message that lists the declared hooks with their arguments."""
        signatures = ", ".join(f"{name}({', '.join(caller.spec.argnames)})" for name, caller in self.declared().items())
        return f"The hooks a plugin may implement, declared in mars_zoo/models/hookspecs.py, are: {signatures}."

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
            fix = "Implement a hook (see mars_zoo/models/hookspecs.py)" + (
                ", or, if it is a helper module of the folder's plugins, give it a name starting with '_'."
                if info.origin == "plugins-dir" else ".")
        return f"{info.describe()} registers nothing: {why}, so mars-zoo finds no hook in it. {fix}"


def _allow_list() -> set[str] | None:
    value = os.environ.get(ALLOW_LIST_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _load_builtins(pm: PluginManager) -> None:
    for name, module_name in {**BUILTIN_TASK_PLUGINS, **BUILTIN_PLUGINS}.items():
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


def _directory_package(directory: Path) -> str:
    """A new package whose folder is `directory`, replacing the package (and its modules) of
    an earlier load of the same directory, so that files edited since are read again."""
    name = DIRECTORY_PACKAGE + hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
    for stale in [module for module in sys.modules if module == name or module.startswith(name + ".")]:
        del sys.modules[stale]
    importlib.invalidate_caches()  # helpers may have been added since the import system last looked
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    sys.modules[name] = importlib.util.module_from_spec(spec)
    return name


def _helper_files(directory: Path) -> list[Path]:
    """The Python files of `directory` that are not plugins: `_*.py` beside them and every
    `*.py` in a sub-folder (hidden folders and `__pycache__` aside). A plugin may import any
    of them, at import or later in its loader, so each is part of every plugin's code."""
    def skipped(path: Path) -> bool:
        return any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(directory).parts[:-1])

    helpers = [path for path in directory.glob("_*.py") if path.is_file()]
    helpers += [path for path in directory.glob("*/**/*.py") if path.is_file() and not skipped(path)]
    return sorted(helpers)


def _import_plugin_file(package: str, path: Path, directory: Path) -> object:
    """The module of plugin file `path`: imported now, or already, by a plugin before it."""
    name = f"{package}.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with plugin_call(f"Plugin file {path}", "to import",
                         f"Fix the file or move it out of --plugins-dir {directory}."):
            spec.loader.exec_module(module)
    except MarsZooError as exc:
        del sys.modules[name]
        raise _with_relative_import_hint(exc, directory) from exc.__cause__
    return module


def _with_relative_import_hint(exc: MarsZooError, directory: Path) -> MarsZooError:
    """`exc`, told how to import a helper module that the plugin imported by its bare name:
    the directory is a package, not a folder on the import path."""
    cause = exc.__cause__
    missing = (cause.name or "").split(".")[0] if isinstance(cause, ModuleNotFoundError) else ""
    if not missing or not ((directory / f"{missing}.py").is_file() or (directory / missing).is_dir()):
        return exc
    return PluginError(
        f"{exc} {missing!r} is beside it in --plugins-dir, whose files are modules of one package: import it "
        f"relatively (from .{missing} import NAME, or from . import {missing})."
    )


def _load_directory(pm: PluginManager, directory: Path) -> None:
    if not directory.is_dir():
        raise MarsZooError(f"--plugins-dir {directory} is not a directory.")
    directory = directory.absolute()  # a plugin's loader may import a helper after a chdir
    package = _directory_package(directory)
    helpers = _helper_files(directory)
    for path in sorted(path for path in directory.glob("*.py") if path.is_file() and not path.name.startswith("_")):
        module = _import_plugin_file(package, path, directory)
        files = [path, *helpers]
        # The content hash of its files is the plugin's version: it keys the embedding cache,
        # so editing the plugin or a helper can never silently reuse embeddings of the old code.
        version = "sha256:" + files_sha256(directory, files)[:16]
        pm.add(module, PluginInfo(path.stem, "plugins-dir", str(path), version, tuple(map(str, files))))


def build_plugin_manager(plugins_dir: Path | None = None, reporter: Reporter | None = None) -> PluginManager:
    """Load every plugin in the order of trust described in the module docstring; `reporter`
    hears the warnings (a plugin that registers nothing)."""
    pm = PluginManager(reporter)
    _load_builtins(pm)
    _load_entry_points(pm)
    if plugins_dir is not None:
        _load_directory(pm, Path(plugins_dir))
    return pm
