"""Weights declared by URL (`ModelSpec.url_weights`): one file, fetched once, named by its sha256.

Some weights are published as one file at a URL rather than in a Hub repository (open_clip's
pretrained table names many so). The harness keeps such a file in the mars-zoo cache, at
`<cache>/weights/<sha256>/<file name>` (the name is the URL's, whose extension tells
safetensors from a pickle): the first load downloads it into a temporary file next to that
place, checks its sha256 and only then renames it into place, so a file of other bytes
(changed upstream, cut short, tampered with) is deleted and never loaded. Later loads reuse
the cached file while its bytes still match the sha256, and download it again when they do
not. The loader reads the weights from `ModelSpec.weights_file`.

The download is urllib's: it reaches https://, http:// and file:// URLs (a local or mounted
copy), with a timeout. huggingface_hub's download helpers reach only the Hub's HTTP and are
switched off by HF_HUB_OFFLINE (which says nothing about other servers), and torch.hub's
has no timeout, so a stalled server would hang the run for ever.
"""

from __future__ import annotations

import dataclasses
import http.client
import shutil
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from mars_zoo.core.atomic import atomic_path
from mars_zoo.data.files import file_sha256
from mars_zoo.core.errors import MarsZooError

if TYPE_CHECKING:  # pragma: no cover - typing only: `ModelSpec.load` imports this module
    from mars_zoo.models.model import ModelSpec, UrlWeights

WEIGHTS_DIR = "weights"
DOWNLOAD_TIMEOUT_S = 60.0  # seconds to connect, and at most between two reads
_FALLBACK_NAME = "weights"


def file_name(url: str) -> str:
    """The last part of the URL's path, which names the cached file."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name if name not in ("", ".", "..") else _FALLBACK_NAME


def weights_path(cache_dir: Path, weights: UrlWeights) -> Path:
    return cache_dir / WEIGHTS_DIR / weights.sha256 / file_name(weights.url)


def with_weights_file(spec: ModelSpec, cache_dir: Path) -> ModelSpec:
    """`spec` whose URL weights are kept in the mars-zoo cache `cache_dir`; unchanged for a
    model whose weights are not named by URL."""
    if spec.url_weights is None:
        return spec
    return dataclasses.replace(spec, weights_file=str(weights_path(cache_dir, spec.url_weights)))


def fetch_url_weights(spec: ModelSpec) -> ModelSpec:
    """`spec` with `weights_file` the local copy of its `url_weights`, downloaded now unless a
    copy with the right sha256 is cached; a download that does not match is a `MarsZooError`."""
    spec = spec if spec.weights_file else with_weights_file(spec, spec.cache_dir)
    path = Path(spec.weights_file)
    if not (path.is_file() and file_sha256(path) == spec.url_weights.sha256):
        _download(spec, path)
    return spec


def _download(spec: ModelSpec, path: Path) -> None:
    """Download `spec.url_weights` to `path` through a temporary file that is renamed into place
    only when its sha256 is the declared one (and deleted otherwise)."""
    weights = spec.url_weights
    try:
        with urllib.request.urlopen(weights.url, timeout=DOWNLOAD_TIMEOUT_S) as response, atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                shutil.copyfileobj(response, handle)
            _check_download(spec, tmp, response.headers.get("Content-Length"))
    except urllib.error.HTTPError as exc:
        raise _unavailable(spec, f"the server answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise _unavailable(spec, f"{type(exc).__name__}: {reason}") from exc


def _check_download(spec: ModelSpec, tmp: Path, length: str | None) -> None:
    """Refuse a download cut short of its announced length, or of other bytes than declared."""
    weights = spec.url_weights
    size = tmp.stat().st_size
    if length is not None and length.isdigit() and size != int(length):
        raise _unavailable(spec, f"the download stopped after {size} of the {length} bytes the server announced")
    digest = file_sha256(tmp)
    if digest != weights.sha256:
        raise MarsZooError(
            f"The weights of model {spec.name} (plugin {spec.plugin or '?'}) downloaded from {weights.url} are "
            f"not the declared file: their sha256 is {digest} ({size} bytes), but the plugin declares "
            f"{weights.sha256}. The download was deleted, not loaded. Fix: if the file at that URL changed, "
            f"the plugin must declare the new file's sha256 once it is known to be the intended weights; if "
            f"a proxy or the server altered it, download from a trusted network."
        )


def _unavailable(spec: ModelSpec, reason: str) -> MarsZooError:
    return MarsZooError(
        f"The weights of model {spec.name} (plugin {spec.plugin or '?'}) cannot be downloaded from "
        f"{spec.url_weights.url}: {reason}. Nothing was kept. Fix: check the network (or the path of a file:// "
        f"URL) and run again; if the file has moved, the plugin must declare its new URL; or put the file, "
        f"with sha256 {spec.url_weights.sha256}, at {spec.weights_file}."
    )
