"""Local HTTP servers for the tests: a file server for weights declared by URL, and a fake
Hugging Face Hub answering the one API route `HfApi.model_info(repo, revision=...)` asks.

Each listens on 127.0.0.1 (an ephemeral port) in a daemon thread, answers from a dict the test
fills, counts every request it gets, and is shut down when the test ends. Sockets time out, so
a test never hangs on them.
"""

from __future__ import annotations

import contextlib
import http.server
import json
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

    def model_info_requests(self) -> list[str]:
        """The requests of `HfApi.model_info` (huggingface_hub also fetches a registry of its own
        from the endpoint, at most once a day)."""
        return [path for path in self.requests if path.startswith("/api/models/")]


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


def _hub_error(code: str) -> Answer:
    """A 404 as the Hub sends it: huggingface_hub's hf_raise_for_status picks the error class
    (RevisionNotFoundError, RepositoryNotFoundError) by the X-Error-Code header."""
    return Answer(json.dumps({"error": code}).encode(), 404, {"X-Error-Code": code, "Content-Type": "application/json"})


@contextlib.contextmanager
def fake_hub(commits: dict[str, set[str]]) -> Iterator[LocalServer]:
    """A Hub holding each repository of `commits` at those commits: model_info answers 200 with
    the commit for them, RevisionNotFound for another commit of a known repository, and
    RepoNotFound for any other repository."""
    known = {f"/api/models/{repo}/revision/{commit}": repo for repo, shas in commits.items() for commit in shas}

    def fallback(path: str) -> Answer:
        asked = path.split("?")[0].removeprefix("/api/models/").split("/revision/")[0]
        return _hub_error("RevisionNotFound" if asked in commits else "RepoNotFound")

    with local_server(fallback) as hub:
        for path, repo in known.items():
            sha = path.rsplit("/", 1)[1]
            hub.routes[path] = Answer(json.dumps({"id": repo, "sha": sha}).encode(),
                                      headers={"Content-Type": "application/json"})
        yield hub


def online_against(monkeypatch, hub: LocalServer) -> None:
    """Point huggingface_hub at `hub` and leave offline mode, for this test only (monkeypatch
    restores all): the endpoint through HF_ENDPOINT, which mars-zoo reads at call time, and
    offline mode both in the environment and in huggingface_hub's constants, read at import.
    The constants' endpoint and download URLs are pointed at `hub` too, so that any other Hub
    call reaches `hub` (and shows in its requests), never the real Hub."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
