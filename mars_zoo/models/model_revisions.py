"""Model revisions resolved at first use, for checkpoints whose authors publish no pin.

A spec registered with `revision=RESOLVE_AT_FIRST_USE` is resolved before loading: to the
commit recorded in `<cache_dir>/model-revisions.json` if there is one, else to the commit
the repository's main branch points to now, which is then recorded (a `RevisionRecord`:
locked, atomic). So a model's weights stay the same across runs, the result names the
exact commit, and later runs work offline from the Hugging Face cache.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import RESOLVE_AT_FIRST_USE, ModelSpec
from mars_zoo.core.revision_record import COMMIT, RevisionRecord

MODEL_REVISIONS_FILE = "model-revisions.json"


def _main_commit(repo: str, subject: str) -> str:
    """The commit of `repo`'s main branch: asked of the Hub, else read from the cache's
    refs. `subject` names what needs it in errors (e.g. "Model NAME (plugin P)")."""
    from huggingface_hub.errors import RepositoryNotFoundError

    from mars_zoo.data.hub import hub_api, hub_cache_dir, is_offline, repo_cache

    reason = "HF_HUB_OFFLINE=1 is set"
    if not is_offline():
        try:
            sha = hub_api().model_info(repo, revision="main").sha
            if sha:
                return sha
        except RepositoryNotFoundError as exc:
            raise MarsZooError(
                f"{subject}: the Hub has no model repository "
                f"{repo} ({type(exc).__name__}). Fix: set HF_TOKEN if it is gated or private, or "
                f"correct the plugin's checkpoint."
            ) from exc
        except Exception as exc:  # no network, proxy, Hub down: fall back to the cache
            reason = f"the Hub could not be reached ({type(exc).__name__}: {exc})"
    cached = repo_cache(repo, "model") / "refs" / "main"
    if cached.is_file():
        commit = cached.read_text(encoding="utf-8").strip()
        if COMMIT.fullmatch(commit):
            return commit
    raise MarsZooError(
        f"{subject} has no pinned revision, and the commit of "
        f"{repo}'s main branch cannot be found: {reason}, and the Hugging Face cache "
        f"({hub_cache_dir()}) holds no copy of it. Fix: run it once where the Hub is reachable (the "
        f"commit is then recorded in the mars-zoo cache and the weights land in the Hugging Face "
        f"cache), or copy both caches from such a machine."
    )


def model_revisions_path(cache_dir: Path) -> Path:
    """Where the commits resolved at first use are recorded, in the mars-zoo cache `cache_dir`."""
    return cache_dir / MODEL_REVISIONS_FILE


def _subject(spec: ModelSpec) -> str:
    return f"Model {spec.name} (plugin {spec.plugin or '?'})"


def recorded_model_revision(spec: ModelSpec, cache_dir: Path) -> str | None:
    """The commit recorded for `spec`'s repository, None if none is recorded yet."""
    return RevisionRecord(model_revisions_path(cache_dir)).commit(spec.repository, _subject(spec))


def resolve_model_revision(spec: ModelSpec, cache_dir: Path) -> ModelSpec:
    """`spec` with concrete revisions of its checkpoint and of its base model (`base_repo`):
    each pinned one kept, each other the recorded commit (recording the main branch's commit
    now if none is recorded yet)."""
    if spec.revision == RESOLVE_AT_FIRST_USE:
        commit = resolve_repository_revision(spec.repository, _subject(spec), cache_dir)
        spec = dataclasses.replace(spec, revision=commit)
    if spec.base_revision == RESOLVE_AT_FIRST_USE:
        subject = f"The base model {spec.base_repo} of {_subject(spec)}"
        spec = dataclasses.replace(spec, base_revision=resolve_repository_revision(spec.base_repo, subject, cache_dir))
    return spec


def resolve_repository_revision(repo: str, subject: str, cache_dir: Path) -> str:
    """The commit recorded for the Hub model repository `repo`, recording its main branch's
    commit now if none is: for weights a loader fetches besides its spec's checkpoint (the
    base model an adapter names). `subject` names what needs them in errors."""
    record = RevisionRecord(model_revisions_path(cache_dir))
    return record.commit(repo, subject) or record.record(repo, _main_commit(repo, subject), subject)


HUB_TIMEOUT_S = 10.0  # for asking the Hub whether a commit exists


def verify_model_revision(spec: ModelSpec, recorded_in: Path | None = None) -> ModelSpec:
    """`spec` with `revision_verified` set: whether its Hub commit is known to exist.

    A revision nobody checks can be made up (forty zeros) and still end in a result that names
    it. So before a model with real weights is loaded, the Hub is asked: a commit or repository
    it does not have is a `MarsZooError` (exit 2, as for any declaration the harness refuses
    before running plugin code); a commit whose snapshot the Hugging Face cache holds counts as
    verified without asking (its files were downloaded at it); where the Hub cannot be asked
    (HF_HUB_OFFLINE=1, no network) the run goes on and the result says the revision is
    unverified. Random weights and weights at a URL (named by their sha256) name no commit:
    `revision_verified` stays None. `recorded_in` is the record the revision was read from,
    when it was resolved at first use rather than pinned by the plugin (the fix differs)."""
    if spec.random_weights or spec.url_weights is not None or not spec.revision:
        return spec
    return dataclasses.replace(spec, revision_verified=_commit_exists(spec, recorded_in))


def _commit_exists(spec: ModelSpec, recorded_in: Path | None) -> bool:
    """True when the Hugging Face cache holds the commit or the Hub confirms it; False when the
    Hub cannot be asked; a `MarsZooError` when the Hub has no such commit or repository."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    from mars_zoo.data.hub import hub_api, repo_cache

    if (repo_cache(spec.repository, "model") / "snapshots" / spec.revision).is_dir():
        return True
    try:  # with HF_HUB_OFFLINE=1, huggingface_hub refuses to send it (OfflineModeIsEnabled)
        hub_api().model_info(spec.repository, revision=spec.revision, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:  # it exists; whether this user may read it is the loader's concern
        return False
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise _not_on_the_hub(spec, exc, recorded_in) from exc
    except Exception:  # offline, no network, proxy, Hub down: the run goes on, the result says unverified
        return False
    return True


def _not_on_the_hub(spec: ModelSpec, exc: Exception, recorded_in: Path | None) -> MarsZooError:
    from huggingface_hub.errors import RevisionNotFoundError

    plugin = spec.plugin or "?"
    subject = f"Model {spec.name} (plugin {plugin}) is pinned to revision {spec.revision} of {spec.repository}"
    if not isinstance(exc, RevisionNotFoundError):
        return MarsZooError(
            f"{subject}, but the Hub has no model repository {spec.repository} ({type(exc).__name__}). Fix: set "
            f"HF_TOKEN if the repository is private, or correct the checkpoint (or hub_repo) of plugin {plugin}."
        )
    if recorded_in is not None:
        fix = (f"remove the entry {spec.repository!r} from {recorded_in}; the next run records the commit its "
               f"main branch points to then")
    else:
        fix = (f"plugin {plugin} must pin a commit that exists (40 hex digits, from "
               f"https://huggingface.co/{spec.repository}/commits/main), or declare "
               f"revision=mars_zoo.RESOLVE_AT_FIRST_USE")
    return MarsZooError(
        f"{subject}, but the Hub has no such commit of that repository ({type(exc).__name__}), so no weights "
        f"can be loaded under that name. Fix: {fix}."
    )
