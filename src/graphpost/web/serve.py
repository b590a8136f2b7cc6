"""Serves the web app with a production WSGI server (cheroot), never Werkzeug's development server,
and writes an access log that holds no secret (no query strings, no cookies, no headers)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cheroot import wsgi
from flask import Flask

DEFAULT_THREADS = 16
SOCKET_TIMEOUT_SECONDS = 30  # a client silent this long (mid-request or idle keep-alive) is dropped
SHUTDOWN_SECONDS = 10  # requests under way get this long to finish on stop
MAX_HEADER_BYTES = 64 * 1024

access_log = logging.getLogger("graphpost.web.access")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _log_to_stderr_unless_configured() -> None:
    if not access_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


class AccessLog:
    """One line a request: client, method, path (query left out: sign-in answers carry codes),
    status, bytes and milliseconds."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        began = time.perf_counter()
        status = ["-"]

        def record_status(code: str, headers: Any, *rest: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, *rest)

        sent = 0
        body = self.app(environ, record_status)
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            path = environ.get("PATH_INFO", "")
            access_log.info(
                "%s %s %s %s %d %.0fms",
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-"),
                (path if path.isprintable() else repr(path))
                + ("?…" if environ.get("QUERY_STRING") else ""),
                status[0],
                sent,
                (time.perf_counter() - began) * 1000,
            )


class WebServer:
    """The app on `host:port` (0 = any free port); `start()` returns once it accepts connections."""

    def __init__(
        self, app: Flask, host: str = "127.0.0.1", port: int = 5000, threads: int = DEFAULT_THREADS
    ) -> None:
        _log_to_stderr_unless_configured()
        threads = max(1, threads)
        self._server = wsgi.Server(
            (host, port),
            AccessLog(app),
            numthreads=threads,
            max=threads,
            timeout=SOCKET_TIMEOUT_SECONDS,
            shutdown_timeout=SHUTDOWN_SECONDS,
            request_queue_size=64,
            server_name="graphpost",
        )
        self._server.max_request_header_size = MAX_HEADER_BYTES
        self._server.max_request_body_size = int(app.config.get("MAX_CONTENT_LENGTH") or 0)
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
            self._thread.join(timeout=SHUTDOWN_SECONDS + 5)
