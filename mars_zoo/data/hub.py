"""The Hugging Face Hub side of the benchmark data: which commit, and where it is on disk.

A dataset is always read from a directory: `snapshot` turns (repository, commit) into
the snapshot folder of the Hugging Face cache (downloading what is missing), and the
readers then treat it exactly like a local copy. Offline (HF_HUB_OFFLINE=1, or no
network) a cached snapshot is used as is; a missing one is a `MarsZooError` that says
what to download and how.

Revisions: pinned commits come from the benchmark definition; a dataset without a
pinned commit is resolved to the commit its main branch points to at first use, and
that commit is recorded in `<cache_dir>/revisions.json`, so later runs keep scoring
the same data (and can run offline) until the user asks for another revision (a
`RevisionRecord`: concurrent runs update it under a lock, atomically).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter
from mars_zoo.core.revision_record import COMMIT, RevisionRecord

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.data.specs import DatasetSpec

REVISIONS_FILE = "revisions.json"


def is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_cache(repo_id: str, repo_type: str = "dataset") -> Path:
    """The folder of a repository in the Hugging Face cache (its refs/ and snapshots/<commit>/)."""
    from huggingface_hub.file_download import repo_folder_name

    return hub_cache_dir() / repo_folder_name(repo_id=repo_id, repo_type=repo_type)


def hub_api():
    """An `HfApi` of the endpoint HF_ENDPOINT names now: huggingface_hub reads it once, at
    import, so a process that points it elsewhere later (a mirror, a test's local server)
    would otherwise still reach the default Hub."""
    from huggingface_hub import HfApi, constants

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/"))


def recorded_revisions(cache_dir: Path) -> dict[str, str]:
    return RevisionRecord(cache_dir / REVISIONS_FILE).read()


def _unavailable(spec: "DatasetSpec", revision: str, reason: str) -> MarsZooError:
    return MarsZooError(
        f"Dataset {spec.repo_id} (revision {revision}) is not in the local Hugging Face cache "
        f"({hub_cache_dir()}) and cannot be downloaded: {reason}. Fix: on a machine with internet "
        f"run `mars-zoo data download --tasks {spec.task}` and copy its Hugging Face cache "
        f"(HF_HUB_CACHE) to this machine, or put a copy of the repository's files in "
        f"DIR/{spec.name} and pass --data-dir DIR."
    )


def _not_found(spec: "DatasetSpec", revision: str, exc: Exception) -> MarsZooError:
    return MarsZooError(
        f"The Hub has no revision {revision!r} of dataset {spec.repo_id} ({type(exc).__name__}). "
        f"Fix: check --revision {spec.name}=REV (a commit, branch or tag of that repository), or "
        f"set HF_TOKEN if the repository is gated or private."
    )


def _resolve_ref(spec: "DatasetSpec", ref: str) -> str:
    """A branch or tag -> its commit: asked of the Hub, else read from the cache's refs."""
    if COMMIT.fullmatch(ref):
        return ref
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    reason = "HF_HUB_OFFLINE=1 is set"
    if not is_offline():
        try:
            sha = hub_api().dataset_info(spec.repo_id, revision=ref).sha
            if sha:
                return sha
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise _not_found(spec, ref, exc) from exc
        except Exception as exc:  # no network, proxy, Hub down: fall back to the cache
            reason = f"the Hub could not be reached ({type(exc).__name__}: {exc})"
    cached_ref = repo_cache(spec.repo_id) / "refs" / ref
    if cached_ref.is_file():
        return cached_ref.read_text(encoding="utf-8").strip()
    raise _unavailable(spec, ref, reason)


def resolve_revision(spec: "DatasetSpec", override: str | None, cache_dir: Path) -> str:
    """The commit to read: an override, else the pinned commit, else the recorded one,
    else the main branch's commit now (which is then recorded)."""
    if override:
        return _resolve_ref(spec, override)
    if spec.revision:
        return spec.revision
    record, user = RevisionRecord(cache_dir / REVISIONS_FILE), f"Dataset {spec.name} of task {spec.task}"
    return record.commit(spec.repo_id, user) or record.record(spec.repo_id, _resolve_ref(spec, "main"), user)


def snapshot(spec: "DatasetSpec", revision: str, reporter: Reporter) -> Path:
    """The snapshot folder of `spec` at `revision`, downloading the benchmark's files of it
    into the Hugging Face cache when they are not there yet."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    reporter.info(f"Dataset {spec.repo_id} @ {revision[:12]}")
    try:
        path = snapshot_download(
            spec.repo_id,
            repo_type="dataset",
            revision=revision,
            allow_patterns=list(spec.allow_patterns),
        )
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise _not_found(spec, revision, exc) from exc
    except LocalEntryNotFoundError as exc:
        reason = "HF_HUB_OFFLINE=1 is set" if is_offline() else f"{type(exc).__name__}: {exc}"
        raise _unavailable(spec, revision, reason) from exc
    return Path(path)


def cached_snapshots() -> dict[str, list[dict]]:
    """Dataset repositories in the Hugging Face cache: per repository id, each cached
    commit with its folder, refs and size on disk."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(hub_cache_dir())
    except CacheNotFound:
        return {}
    found: dict[str, list[dict]] = {}
    for repo in info.repos:
        if repo.repo_type != "dataset":
            continue
        found[repo.repo_id] = [
            {
                "revision": revision.commit_hash,
                "refs": sorted(revision.refs),
                "path": str(revision.snapshot_path),
                "size_on_disk": revision.size_on_disk,
            }
            for revision in sorted(repo.revisions, key=lambda r: r.commit_hash)
        ]
    return found
