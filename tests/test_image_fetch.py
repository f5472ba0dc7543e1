"""Image fetching against a loopback HTTP server that misbehaves in every usual way."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mars_zoo.data import image_fetch
from mars_zoo.data.image_fetch import cache_path, fetch_images
from mars_zoo.core.reporting import Reporter

# Wide margins: a slow response must finish well inside the timeout even on a busy machine.
CLIENT_TIMEOUT = 1.5
SLOW_RESPONSE = 0.1
FAST = {"timeout": CLIENT_TIMEOUT, "retries": 1, "backoff": 0.01, "workers": 8}
GREEN = (0, 200, 0)


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def banded(size: tuple[int, int], band: int, horizontal: bool) -> Image.Image:
    """Green with a red band and a blue band of `band` px on the two ends of the long
    side: a centre crop must cut both off."""
    image = Image.new("RGB", size, GREEN)
    width, height = size
    if horizontal:
        image.paste((255, 0, 0), (0, 0, band, height))
        image.paste((0, 0, 255), (width - band, 0, width, height))
    else:
        image.paste((255, 0, 0), (0, 0, width, band))
        image.paste((0, 0, 255), (0, height - band, width, height))
    return image


WIDE = encode(banded((1000, 500), 200, horizontal=True), "PNG")
TALL = encode(banded((300, 900), 150, horizontal=False), "JPEG")
SMALL = encode(Image.new("RGB", (64, 48), (10, 20, 30)), "PNG")
GRAY = encode(Image.new("L", (600, 700), 128), "PNG")


class Server:
    """Routes by path; counts every request."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server.lock:
                    server.hits[self.path] += 1
                    count = server.hits[self.path]
                try:
                    server.respond(self, self.path, count)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout case)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    @staticmethod
    def send(handler, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def respond(self, handler, path: str, count: int) -> None:
        bodies = {"/wide.png": WIDE, "/tall.jpg": TALL, "/small.png": SMALL, "/gray.png": GRAY,
                  "/corrupt.png": b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20,
                  "/truncated.jpg": TALL[: len(TALL) // 2],
                  "/page.jpg": b"<html>This image was removed</html>"}
        if path in bodies:
            self.send(handler, 200, bodies[path])
        elif path == "/redirect":
            self.send(handler, 302, headers={"Location": "/wide.png"})
        elif path == "/slow.png":
            time.sleep(SLOW_RESPONSE)
            self.send(handler, 200, SMALL)
        elif path == "/timeout.png":
            time.sleep(CLIENT_TIMEOUT + 1.0)
            self.send(handler, 200, SMALL)
        elif path == "/flaky.png":
            self.send(handler, 503 if count == 1 else 200, b"busy" if count == 1 else SMALL)
        else:
            self.send(handler, 404, b"not found")


@pytest.fixture
def server():
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


class Recorder(Reporter):
    def __init__(self) -> None:
        self.progress_calls: list[tuple[str, int | None]] = []

    def progress(self, description, total):
        self.progress_calls.append((description, total))
        return super().progress(description, total)


GOOD = {"wide": "/wide.png", "wide_again": "/wide.png", "tall": "/tall.jpg", "small": "/small.png",
        "gray": "/gray.png", "redirect": "/redirect", "slow": "/slow.png", "flaky": "/flaky.png"}
BAD = {"missing": ("/missing.png", "HTTP 404"), "corrupt": ("/corrupt.png", "not an image"),
       "truncated": ("/truncated.jpg", "not an image"), "page": ("/page.jpg", "not an image"),
       "timeout": ("/timeout.png", "timeout")}


def items_for(server: Server, keys) -> list[tuple[str, str]]:
    paths = {**GOOD, **{key: path for key, (path, _) in BAD.items()}}
    return [(key, server.url(paths[key])) for key in keys]


def pixels(path: Path) -> np.ndarray:
    """The cached image as the model sees it: the stored JPEG, decoded to RGB."""
    with Image.open(path) as image:
        assert (image.format, image.size) == ("JPEG", (512, 512))
        return np.asarray(image.convert("RGB")).astype(int)


def test_fetch_prepares_caches_and_reports(server, tmp_path):
    items = items_for(server, [*GOOD, *BAD]) + [("ftp", "ftp://127.0.0.1/x.png")]
    reporter = Recorder()
    report = fetch_images(items, tmp_path, reporter=reporter, **FAST)

    assert list(report.paths) == list(GOOD)  # in the order of the items
    for key, url in items:
        if key in GOOD:
            assert report.paths[key] == cache_path(tmp_path, url)
    assert {key: reason.split(":")[0] for key, reason in report.failures.items()} == {
        **{key: reason for key, (_, reason) in BAD.items()}, "ftp": "not an http(s) URL"}
    assert reporter.progress_calls == [("fetching images", len({url for _, url in items}))]
    assert report.failures["page"] == "not an image: OpenCV cannot decode it, starts with b'<html>This image'"

    # the crops keep the centre: the red and blue end bands are cut off
    for key in ("wide", "redirect"):
        assert np.all(pixels(report.paths[key]) == GREEN)
    tall = pixels(report.paths["tall"])  # JPEG: nearly exact colours
    assert np.abs(tall - GREEN).max() < 40
    assert np.all(pixels(report.paths["small"]) == (10, 20, 30))  # upscaled to 512
    assert np.all(pixels(report.paths["gray"]) == 128)  # a greyscale JPEG, RGB when decoded
    assert report.paths["slow"].is_file() and report.paths["flaky"].is_file()

    assert server.hits["/wide.png"] == 2  # once for itself (two keys), once behind /redirect
    assert server.hits["/flaky.png"] == 2  # 503, then a retry that succeeds
    assert server.hits["/timeout.png"] == 2  # retries=1
    assert server.hits["/missing.png"] == 1  # a 404 is not retried


def test_second_run_asks_nothing_and_permanent_failures_are_remembered(server, tmp_path):
    keys = [*GOOD, "missing", "corrupt"]
    first = fetch_images(items_for(server, keys), tmp_path, **FAST)
    server.hits.clear()
    second = fetch_images(items_for(server, keys), tmp_path, **FAST)
    assert sum(server.hits.values()) == 0
    assert second == first

    retried = fetch_images(items_for(server, ["missing"]), tmp_path, retry_failed=True, **FAST)
    assert server.hits["/missing.png"] == 1
    assert retried.failures == {"missing": "HTTP 404"}


def test_transient_failures_are_not_remembered(server, tmp_path):
    once = {**FAST, "retries": 0}
    fetch_images(items_for(server, ["timeout"]), tmp_path, **once)
    report = fetch_images(items_for(server, ["timeout"]), tmp_path, **once)
    assert report.failures == {"timeout": "timeout"}
    assert server.hits["/timeout.png"] == 2


def test_interrupted_fetch_resumes_with_what_is_missing(server, tmp_path, monkeypatch):
    keys = ["wide", "tall", "small", "gray", "slow"]
    items = items_for(server, keys)
    prepare = image_fetch._prepare
    calls = []

    def interrupted_on_third(data: bytes) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return prepare(data)

    monkeypatch.setattr(image_fetch, "_prepare", interrupted_on_third)
    with pytest.raises(KeyboardInterrupt):
        fetch_images(items, tmp_path, **{**FAST, "workers": 1})
    monkeypatch.setattr(image_fetch, "_prepare", prepare)

    cached = {url for _, url in items if cache_path(tmp_path, url).is_file()}
    assert 2 <= len(cached) < len(items)
    assert not list(tmp_path.rglob("*.tmp"))
    server.hits.clear()
    report = fetch_images(items, tmp_path, **FAST)
    assert set(report.paths) == set(keys) and not report.failures
    assert {server.url(path): count for path, count in server.hits.items()} == {
        url: 1 for _, url in items if url not in cached}


def test_size_cap(server, tmp_path):
    report = fetch_images(items_for(server, ["wide"]), tmp_path, max_bytes=1000, **FAST)
    assert report.failures["wide"].startswith("too large")
    assert not report.paths


@pytest.mark.parametrize("record", [b"{not json", b"", b'["a list"]', b'{"url": "u"}'])
def test_a_damaged_failure_record_counts_as_absent(server, tmp_path, record):
    items = items_for(server, ["missing", "wide"])
    fetch_images(items, tmp_path, **FAST)
    failed = image_fetch._failure_path(cache_path(tmp_path, items[0][1]))
    failed.write_bytes(record)
    working = image_fetch._failure_path(cache_path(tmp_path, items[1][1]))
    working.write_bytes(record)  # next to an image that is cached: ignored, never read
    server.hits.clear()
    report = fetch_images(items, tmp_path, **FAST)
    assert report.failures == {"missing": "HTTP 404"} and list(report.paths) == ["wide"]
    assert server.hits == {"/missing.png": 1}  # asked again, as if never recorded
    assert json.loads(failed.read_text())["reason"] == "HTTP 404"  # and the record rewritten
