"""Fetch the task 1 images from their URLs into an on-disk cache.

`SUSTech/Mars-VL-Pairs` lists image URLs, not bytes, and some links are dead. Each
image is downloaded once, prepared exactly as the published download step prepares
it (`images.prepare_published`: OpenCV resize to 512 on the shorter side, centre crop
512 x 512, transparency on white, JPEG at quality 95) and that JPEG is stored, named
by the SHA-256 of its URL (`<cache>/<h[:2]>/<h>.jpg`), so a changed URL is fetched
again and an unchanged one never is. Files appear by rename, so an
interrupted run keeps every finished image and a rerun fetches only the rest.

Failures are reported per key, never cached as images. A permanent failure (HTTP
404/403/410 and other 4xx except 408/425/429, a body that is not an image, a body
over the size cap, a URL that is not http(s)) is remembered in
`<cache>/<h[:2]>/<h>.failed` so later runs do not ask the server again;
`retry_failed=True` asks again (and a success removes the record). A record that
cannot be read (a damaged file) counts as absent: the URL is asked again and the record
rewritten if it fails again. Transient
failures (timeouts, connection errors, 408/425/429/5xx after the retries) are not
remembered.

Only the standard library talks HTTP (urllib: redirects followed, `timeout`
bounds the connection and every read, i.e. the time the server may stay silent).
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from mars_zoo import __version__
from mars_zoo.core.atomic import atomic_write_bytes
from mars_zoo.data.images import PreparationError, prepare_published
from mars_zoo.core.reporting import Reporter

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
RETRY_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))
MAX_RETRY_AFTER_S = 30.0
USER_AGENT = f"mars-zoo/{__version__} (MarsRetrieval benchmark harness; Python urllib)"
_CHUNK = 1 << 16


@dataclass
class FetchReport:
    """`paths`: key -> cached prepared image; `failures`: key -> short reason."""

    paths: dict[str, Path]
    failures: dict[str, str]


class _Failure(Exception):
    """A failed download; `transient` ones are retried and never remembered."""

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


def cache_path(cache_dir: Path, url: str) -> Path:
    """Where the prepared image of `url` is cached."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return Path(cache_dir) / digest[:2] / f"{digest}.jpg"


def _failure_path(image_path: Path) -> Path:
    return image_path.with_suffix(".failed")


def _remembered_failure(path: Path) -> str | None:
    """The reason recorded in a `.failed` file, or None when there is no readable record."""
    try:
        reason = json.loads(path.read_text(encoding="utf-8"))["reason"]
    except (OSError, ValueError, KeyError, TypeError):  # absent, unreadable, not JSON, wrong shape
        return None
    return reason if isinstance(reason, str) else None


def fetch_images(
    items: list[tuple[str, str]],
    cache_dir: Path,
    *,
    workers: int = 16,
    timeout: float = 20.0,
    retries: int = 3,
    backoff: float = 0.5,
    reporter: Reporter | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retry_failed: bool = False,
) -> FetchReport:
    """Make sure the prepared image of every (key, url) is cached; fetch what is not.

    A URL shared by several keys is fetched once. Attempt n (from 0) of a transient
    failure waits `backoff * 2**n` seconds (or the server's Retry-After, up to 30 s)
    before the next; `retries` bounds the extra attempts.
    """
    reporter = reporter or Reporter()
    report = FetchReport(paths={}, failures={})
    keys_by_url: dict[str, list[str]] = {}
    for key, url in items:
        keys_by_url.setdefault(url, []).append(key)

    to_fetch: list[str] = []
    remembered = 0
    for url, keys in keys_by_url.items():
        path = cache_path(cache_dir, url)
        if path.is_file():
            report.paths.update((key, path) for key in keys)
        elif not retry_failed and (reason := _remembered_failure(_failure_path(path))) is not None:
            report.failures.update((key, reason) for key in keys)
            remembered += 1
        else:
            to_fetch.append(url)
    if remembered:
        reporter.info(f"{remembered} image URLs failed permanently before and are not asked "
                      f"again (retry_failed=True asks again).")

    def fetch(url: str) -> Path:
        return _fetch_one(url, cache_path(cache_dir, url), timeout=timeout, retries=retries,
                          backoff=backoff, max_bytes=max_bytes)

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch")
    try:
        with reporter.progress("fetching images", total=len(to_fetch)) as advance:
            futures = {pool.submit(fetch, url): url for url in to_fetch}
            for future in as_completed(futures):
                keys = keys_by_url[futures[future]]
                try:
                    path = future.result()
                except _Failure as failure:
                    report.failures.update((key, failure.reason) for key in keys)
                else:
                    report.paths.update((key, path) for key in keys)
                advance(1)
    finally:
        # An interrupted run stops queued downloads; finished ones stay cached.
        pool.shutdown(wait=True, cancel_futures=True)
    # In the order of `items`, whatever the order downloads finished in.
    return FetchReport(
        paths={key: report.paths[key] for key, _ in items if key in report.paths},
        failures={key: report.failures[key] for key, _ in items if key in report.failures},
    )


def _fetch_one(url: str, path: Path, *, timeout: float, retries: int, backoff: float,
               max_bytes: int) -> Path:
    """Download, prepare and cache one image; raise `_Failure` when it cannot be had."""
    try:
        for attempt in range(retries + 1):
            try:
                data = _download(url, timeout=timeout, max_bytes=max_bytes)
                break
            except _Failure as failure:
                if not failure.transient or attempt == retries:
                    raise
                delay = backoff * 2**attempt
                if failure.retry_after is not None:
                    delay = max(delay, min(failure.retry_after, MAX_RETRY_AFTER_S))
                time.sleep(delay)
        atomic_write_bytes(path, _prepare(data))
    except _Failure as failure:
        if not failure.transient:
            atomic_write_bytes(_failure_path(path),
                               json.dumps({"url": url, "reason": failure.reason}).encode())
        raise
    _failure_path(path).unlink(missing_ok=True)
    return path


def _download(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """The body of `url`, following redirects, at most `max_bytes` long."""
    if not url.lower().startswith(("http://", "https://")):
        raise _Failure(f"not an http(s) URL: {url[:80]!r}", transient=False)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    except ValueError as exc:
        raise _Failure(f"bad URL: {exc}", transient=False) from exc
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise _Failure(f"too large: {int(length)} bytes", transient=False)
            body = bytearray()
            while chunk := response.read(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise _Failure(f"too large: over {max_bytes} bytes", transient=False)
            return bytes(body)
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
        raise _Failure(
            f"HTTP {exc.code}",
            transient=exc.code in RETRY_STATUS,
            retry_after=float(retry_after) if retry_after.isdigit() else None,
        ) from exc
    except (TimeoutError, socket.timeout) as exc:
        raise _Failure("timeout", transient=True) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise _Failure("timeout", transient=True) from exc
        raise _Failure(f"connection error: {exc.reason}", transient=True) from exc
    except (HTTPException, OSError) as exc:
        raise _Failure(f"connection error: {exc}", transient=True) from exc


def _prepare(data: bytes) -> bytes:
    """The published preparation of the downloaded bytes; bytes OpenCV cannot decode
    are not an image (the published step drops them too)."""
    try:
        return prepare_published(data)
    except PreparationError as exc:
        raise _Failure(f"not an image: {exc}, starts with {data[:16]!r}", transient=False) from exc
