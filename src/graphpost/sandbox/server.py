"""Runs the sandbox: a threaded HTTPS server (cheroot) in front of the WSGI app, and sandbox.json."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from graphpost.sandbox.app import create_app
from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.tls import ensure_certificates

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WORKER_THREADS = 32


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Readers see the old file or the whole new one, never a part (temp file + rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def sandbox_info(sb: Sandbox, ca_file: Path) -> dict[str, Any]:
    credentials = sb.credentials()
    return {
        "authority": sb.authority,
        "graph_url": sb.graph_url,
        "portal_url": sb.base_url + "/",
        "ca_file": str(ca_file.resolve()),
        "tenant_id": sb.tenant_id,
        "admin_key": sb.admin_key,
        **credentials["apps"],
        "users": credentials["users"],
        "pid": os.getpid(),
    }


def _userrealm_only(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/common/userrealm/"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return serve


class SandboxServer:
    """The sandbox on `host:port` (0 = any free port); `start()` returns once it accepts connections."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 8443,
        latency_ms: int = 0,
        userrealm_port: int | None = 443,
        throttling: bool = True,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.sandbox = Sandbox.open(self.data_dir, latency_ms=latency_ms, throttling=throttling)
        self.ca_file, cert, key = ensure_certificates(self.data_dir, host)
        self.app = create_app(self.sandbox)
        self._server = wsgi.Server(
            (host, port), self.app, numthreads=WORKER_THREADS, request_queue_size=64
        )
        self._server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
        self._userrealm_port = userrealm_port if host in LOOPBACK_HOSTS else None
        self._userrealm: wsgi.Server | None = None
        self._userrealm_cert = (str(cert), str(key))
        self._threads: list[threading.Thread] = []
        self.notes: list[str] = []

    @property
    def info_path(self) -> Path:
        return self.data_dir / "sandbox.json"

    def start(self) -> dict[str, Any]:
        self._server.prepare()
        bound_port = self._server.bind_addr[1]
        url_host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        if ":" in url_host:
            url_host = f"[{url_host}]"
        self.sandbox.base_url = f"https://{url_host}:{bound_port}"
        self._spawn(self._server)
        self._start_userrealm()
        info = sandbox_info(self.sandbox, self.ca_file)
        write_json_atomically(self.info_path, info)
        return info

    def _spawn(self, server: wsgi.Server) -> None:
        thread = threading.Thread(
            target=server.serve, name=f"sandbox-{server.bind_addr}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _start_userrealm(self) -> None:
        """MSAL Python drops the authority's port when it looks up the user realm (before a
        username/password sign-in), so that lookup arrives on 443; answer it there when we can."""
        if not self._userrealm_port:
            return
        server = wsgi.Server(
            (self.host, self._userrealm_port), _userrealm_only(self.app), numthreads=2
        )
        server.ssl_adapter = BuiltinSSLAdapter(*self._userrealm_cert)
        try:
            server.prepare()
        except OSError as failure:
            self.notes.append(
                f"Port {self._userrealm_port} is not available ({failure.strerror}): MSAL's"
                " username/password flow looks up the user realm there and may fail."
            )
            return
        self._userrealm = server
        self._spawn(server)

    def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if json.loads(self.info_path.read_text()).get("pid") == os.getpid():
                self.info_path.unlink()
        for server in (self._userrealm, self._server):
            if server is not None:
                server.stop()
        for thread in self._threads:
            thread.join(timeout=5)
