"""Serving a built site on the loopback interface, for a local look (and the browser tests)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    """Static files only, with requests logged through the reporter instead of stderr."""

    reporter: Reporter = Reporter()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        self.reporter.info(format % args)


def make_server(directory: Path, port: int = 0, reporter: Reporter | None = None) -> ThreadingHTTPServer:
    """An HTTP server for `directory` bound to 127.0.0.1 (port 0 picks a free one)."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise MarsZooError(f"No built site in {directory} (no index.html); run "
                           f"'mars-zoo leaderboard build --out {directory}' first.")
    handler = type("Handler", (_Handler,), {"reporter": reporter or Reporter()})
    try:
        return ThreadingHTTPServer((HOST, port), functools.partial(handler, directory=str(directory)))
    except OSError as exc:
        raise MarsZooError(f"Cannot serve on {HOST}:{port}: {exc.strerror or exc}. "
                           f"Pick another --port (0 picks a free one).") from exc


def serve(directory: Path, port: int = 8000, reporter: Reporter | None = None) -> None:
    """Serve until interrupted (Ctrl-C)."""
    reporter = reporter or Reporter()
    with make_server(directory, port, reporter) as server:
        reporter.info(f"Serving {directory} at http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            reporter.info("Stopped.")
