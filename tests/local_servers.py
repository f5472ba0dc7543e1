"""A local HTTP server for the tests: a file server for weights declared by URL.

It listens on 127.0.0.1 (an ephemeral port) in a daemon thread, answers from a dict the test
fills, counts every request it gets, and is shut down when the test ends. Sockets time out, so
a test never hangs on them.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

SOCKET_TIMEOUT_S = 5.0


@dataclass
class Answer:
    """What the server answers on one path. `cut_at` sends only that many bytes of `body`
    while announcing its full length (a download cut short)."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cut_at: int | None = None


NOT_FOUND = Answer(b"not found", 404)


@dataclass
class LocalServer:
    url: str
    routes: dict[str, Answer]
    requests: list[str]
    fallback: Callable[[str], Answer]

class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = SOCKET_TIMEOUT_S

    def do_GET(self) -> None:
        server: LocalServer = self.server.local  # type: ignore[attr-defined]
        server.requests.append(self.path)
        answer = server.routes.get(self.path.split("?")[0]) or server.fallback(self.path)
        self.send_response(answer.status)
        for key, value in {"Content-Length": str(len(answer.body)), **answer.headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(answer.body[: answer.cut_at])
        self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # keep the test output clean
        pass


@contextlib.contextmanager
def local_server(fallback: Callable[[str], Answer] = lambda path: NOT_FOUND) -> Iterator[LocalServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    server = LocalServer(f"http://127.0.0.1:{httpd.server_port}", {}, [], fallback)
    httpd.local = server  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=SOCKET_TIMEOUT_S)

