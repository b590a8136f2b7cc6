"""Serves the web app with a production WSGI server (cheroot), never Werkzeug's development server."""

from __future__ import annotations

import threading

from cheroot import wsgi
from flask import Flask

DEFAULT_THREADS = 16
SOCKET_TIMEOUT_SECONDS = 30


class WebServer:
    """The app on `host:port` (0 = any free port); `start()` returns once it accepts connections."""

    def __init__(
        self, app: Flask, host: str = "127.0.0.1", port: int = 5000, threads: int = DEFAULT_THREADS
    ) -> None:
        self._server = wsgi.Server(
            (host, port),
            app,
            numthreads=threads,
            timeout=SOCKET_TIMEOUT_SECONDS,
            request_queue_size=64,
            server_name="graphpost",
        )
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.bind_addr[1]}/"

    def start(self) -> str:
        self._server.prepare()
        self._thread = threading.Thread(
            target=self._server.serve, name="graphpost-web", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
