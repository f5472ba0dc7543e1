"""Model revisions resolved at first use, for checkpoints whose authors publish no pin.

A spec registered with `revision=RESOLVE_AT_FIRST_USE` is resolved before loading: to the
commit recorded in `<cache_dir>/model-revisions.json` if there is one, else to the commit
the repository's main branch points to now, which is then recorded (a `RevisionRecord`:
locked, atomic). So a model's weights stay the same across runs, the result names the
exact commit, and later runs work offline from the Hugging Face cache.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from mars_zoo.cache import default_cache_dir
from mars_zoo.errors import MarsZooError
from mars_zoo.model import RESOLVE_AT_FIRST_USE, ModelSpec
from mars_zoo.revision_record import RevisionRecord

MODEL_REVISIONS_FILE = "model-revisions.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _main_commit(spec: ModelSpec) -> str:
    """The commit of the main branch: asked of the Hub, else read from the cache's refs."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    from mars_zoo.data.hub import hub_cache_dir, is_offline

    repo = spec.repository
    reason = "HF_HUB_OFFLINE=1 is set"
    if not is_offline():
        try:
            sha = HfApi().model_info(repo, revision="main").sha
            if sha:
                return sha
        except RepositoryNotFoundError as exc:
            raise MarsZooError(
                f"Model {spec.name} (plugin {spec.plugin or '?'}): the Hub has no model repository "
                f"{repo} ({type(exc).__name__}). Fix: set HF_TOKEN if it is gated or private, or "
                f"correct the plugin's checkpoint."
            ) from exc
        except Exception as exc:  # no network, proxy, Hub down: fall back to the cache
            reason = f"the Hub could not be reached ({type(exc).__name__}: {exc})"
    cached = hub_cache_dir() / f"models--{repo.replace('/', '--')}" / "refs" / "main"
    if cached.is_file():
        commit = cached.read_text(encoding="utf-8").strip()
        if _COMMIT.fullmatch(commit):
            return commit
    raise MarsZooError(
        f"Model {spec.name} (plugin {spec.plugin or '?'}) has no pinned revision, and the commit of "
        f"{repo}'s main branch cannot be found: {reason}, and the Hugging Face cache "
        f"({hub_cache_dir()}) holds no copy of it. Fix: run it once where the Hub is reachable (the "
        f"commit is then recorded in the mars-zoo cache and the weights land in the Hugging Face "
        f"cache), or copy both caches from such a machine."
    )


def resolve_model_revision(spec: ModelSpec, cache_dir: Path | None = None) -> ModelSpec:
    """`spec` with a concrete revision: itself when pinned, else with the recorded commit
    (recording the main branch's commit now if none is recorded yet)."""
    if spec.revision != RESOLVE_AT_FIRST_USE:
        return spec
    record = RevisionRecord((cache_dir or default_cache_dir()) / MODEL_REVISIONS_FILE)
    commit = record.read().get(spec.repository) or record.record(spec.repository, _main_commit(spec))
    return dataclasses.replace(spec, revision=commit)
