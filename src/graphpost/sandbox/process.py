"""Starting and stopping a sandbox as a child process (used by `graphpost demo` and the pytest plugin)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_SECONDS = 60


@dataclass
class RunningSandbox:
    """A started sandbox: its sandbox.json, and shortcuts for tokens and the control plane."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    info: dict[str, Any] = field(repr=False)  # passwords and secrets: never in a repr or a log
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def authority(self) -> str:
        return str(self.info["authority"])

    @property
    def graph_url(self) -> str:
        return str(self.info["graph_url"])

    @property
    def ca_file(self) -> str:
        return str(self.info["ca_file"])

    @property
    def users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.info["users"]
        return users

    def user(self, name: str) -> dict[str, Any]:
        """A seeded user by given name, UPN or index ("ada", "grace@graphpost.test", "0")."""
        for index, user in enumerate(self.users):
            upn = str(user["userPrincipalName"])
            if name in (upn, upn.split("@")[0], str(index)):
                return user
        raise KeyError(name)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client that trusts this sandbox (and only it)."""
        kwargs.setdefault("timeout", 30)
        return httpx.Client(verify=ssl.create_default_context(cafile=self.ca_file), **kwargs)

    def _token(self, form: dict[str, str]) -> str:
        with self.client() as http:
            response = http.post(f"{self.authority}/oauth2/v2.0/token", data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def app_token(self) -> str:
        """An application token of the daemon app (Mail.Send, Mail.ReadWrite, User.Read.All, Files.ReadWrite.All)."""
        if "app" not in self._tokens:
            daemon = self.info["daemon_app"]
            self._tokens["app"] = self._token(
                {
                    "grant_type": "client_credentials",
                    "client_id": daemon["client_id"],
                    "client_secret": daemon["client_secret"],
                    "scope": "https://graph.microsoft.com/.default",
                }
            )
        return self._tokens["app"]

    def user_token(
        self, name: str = "ada", scopes: str = "User.Read Mail.ReadWrite Mail.Send Files.ReadWrite"
    ) -> str:
        """A delegated token of a seeded user through the public app (username and password)."""
        key = f"user:{name}:{scopes}"
        if key not in self._tokens:
            user = self.user(name)
            self._tokens[key] = self._token(
                {
                    "grant_type": "password",
                    "client_id": self.info["public_app"]["client_id"],
                    "username": user["userPrincipalName"],
                    "password": user["password"],
                    "scope": scopes + " openid profile offline_access",
                }
            )
        return self._tokens[key]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the control plane (`/_sandbox/...`) with the admin key."""
        with self.client() as http:
            return http.request(
                method,
                self.info["portal_url"].rstrip("/") + path,
                headers={"X-Sandbox-Key": self.info["admin_key"]},
                **kwargs,
            )

    def inject_fault(
        self, method: str, path: str, status: int, times: int = 1, **details: Any
    ) -> None:
        """The next `times` Graph requests matching `method` and the `path` regex fail with `status`
        (`details`: retry_after, code, message)."""
        spec = {"method": method, "path": path, "status": status, "times": times, **details}
        self.admin("POST", "/_sandbox/faults", json=spec).raise_for_status()

    def clear_faults(self, wait_seconds: float = 30) -> None:
        """Drop the faults not used yet, and wait (up to `wait_seconds`) for the answers faults are
        holding back to go: their requests are logged only then, perhaps during the next test."""
        self.admin("DELETE", "/_sandbox/faults").raise_for_status()
        deadline = time.monotonic() + wait_seconds
        while self.admin("GET", "/_sandbox/faults/held").json()["held"] and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)

    def request_log(self, since: int = 0) -> list[dict[str, Any]]:
        """The sandbox's request log (method, path, status, ms, request id, client, user), oldest first."""
        answer = self.admin("GET", "/_sandbox/requests", params={"since": since})
        answer.raise_for_status()
        entries: list[dict[str, Any]] = answer.json()["value"]
        return entries

    def request_log_position(self) -> int:
        """The `seq` of the newest log entry (0 if none): pass it to `request_log(since=...)` later.
        Not the log's length, which stops growing once old entries are dropped."""
        answer = self.admin("GET", "/_sandbox/requests", params={"limit": 1})
        answer.raise_for_status()
        newest: list[dict[str, Any]] = answer.json()["value"]
        return int(newest[-1]["seq"]) if newest else 0

    def advance_clock(self, seconds: float) -> None:
        self.admin("POST", "/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()
        self._tokens.clear()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_sandbox(data_dir: Path, *extra_args: str, port: int = 0) -> RunningSandbox:
    """Start `graphpost sandbox` (on a free port unless `port` is given) and wait until it is ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / "sandbox.json"
    log = open(data_dir / "sandbox.log", "ab")  # noqa: SIM115 - the process owns it until it ends
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphpost.cli",
            "sandbox",
            "--port",
            str(port),
            "--data",
            str(data_dir),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the sandbox exited with {process.returncode}:\n{(data_dir / 'sandbox.log').read_text()}"
            )
        try:
            info = json.loads(info_path.read_text())
        except (FileNotFoundError, ValueError):
            info = None
        if info and info.get("pid") == process.pid:
            return RunningSandbox(data_dir=data_dir, process=process, info=info)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the sandbox did not start in time")
