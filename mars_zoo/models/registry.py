"""The model registry: every `ModelSpec` the loaded plugins register, by name."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Iterator

from mars_zoo.data.files import files_sha256
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.models.plugin_code import code_sha256
from mars_zoo.models.plugin_manager import PluginManager, build_plugin_manager
from mars_zoo.core.reporting import Reporter
from mars_zoo.models.spec_checks import check_spec


class Registry:
    """Model specs keyed by their unique `family/name`.

    Plugins are asked in load order (built-ins first), so a later plugin that
    reuses a taken name is refused with a message naming both plugins.
    """

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm
        self._specs: dict[str, ModelSpec] = {}
        pm.ask_to_register("register_models", ModelSpec, self._specs, self._add)

    def _add(self, spec: ModelSpec, plugin: str) -> None:
        check_spec(spec, plugin)
        self._specs[spec.name] = dataclasses.replace(spec, plugin=plugin)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def plugin_code(self, spec: ModelSpec) -> str:
        """The content hash of the code of the plugin that registered `spec`, which keys its
        embeddings (see `mars_zoo.models.plugin_code`). A `--plugins-dir` plugin's package is made in
        memory, so its files are the ones its loader recorded: its own and the folder's helpers."""
        files = self.pm.info(spec.plugin).files
        if files:
            return "sha256:" + files_sha256(Path(files[0]).parent, map(Path, files))
        return code_sha256(self.pm.get_plugin(spec.plugin))

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, self._specs, n=3, cutoff=0.5)
        # also match on the short name, so "tiny-random" finds "openclip/tiny-random"
        close += [n for n in self._specs if n.split("/", 1)[1] == name and n not in close]
        suggestion = f" Did you mean {', '.join(repr(n) for n in close)}?" if close else ""
        raise MarsZooError(
            f"Unknown model {name!r}.{suggestion} Run 'mars-zoo list' to see every registered "
            f"model; models of other families come from plugins (see 'mars-zoo plugins')."
        )


def load_registry(plugins_dir: Path | None = None, reporter: Reporter | None = None) -> Registry:
    """The registry of every plugin's models; `reporter` hears of a plugin that registers nothing."""
    return Registry(build_plugin_manager(plugins_dir, reporter))
