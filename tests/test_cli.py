"""`graphpost demo`, `graphpost web` and `graphpost sandbox` as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

GRAPHPOST = [sys.executable, "-m", "graphpost.cli"]


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHPOST_")}
    env.update(GRAPHPOST_HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"no {marker!r} in:\n{seen}")
        seen += process.stdout.readline()
    return seen


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_serves_the_app_and_the_sandbox_then_stops_both(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [*GRAPHPOST, "demo", "--port", "0"],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = read_until(demo, "Press Ctrl-C")
        app_url = re.search(r"Open the web app:\s+(http://127\.0\.0\.1:\d+/)", banner)
        user = re.search(r"Sign in as\s+(\S+)", banner)
        password = re.search(r"with the password\s+(\S+)", banner)
        portal = re.search(r"See every mailbox:\s+(https://127\.0\.0\.1:\d+/)", banner)
        assert app_url and user and password and portal
        info = json.loads((tmp_path / "sandbox" / "sandbox.json").read_text())
        ada = info["users"][0]
        assert (user.group(1), password.group(1)) == (ada["userPrincipalName"], ada["password"])

        home = httpx.get(app_url.group(1))
        assert home.status_code == 200 and "Sign in with Microsoft" in home.text
        login = httpx.get(app_url.group(1) + "login")
        assert login.headers["location"].startswith(info["authority"] + "/oauth2/v2.0/authorize")
        trusted = ssl.create_default_context(cafile=info["ca_file"])
        assert httpx.get(portal.group(1), verify=trusted).status_code == 200
        sandbox_pid = info["pid"]
        assert alive(sandbox_pid)
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0 and "graphpost demo stopped." in output
    assert not alive(sandbox_pid)
    assert "Traceback" not in output


def test_sandbox_keeps_its_data_across_restarts_and_stops_on_sigterm(tmp_path: Path) -> None:
    def start() -> tuple[subprocess.Popen[str], dict[str, object]]:
        process = subprocess.Popen(
            [
                *GRAPHPOST,
                "sandbox",
                "--port",
                "0",
                "--data",
                str(tmp_path),
                "--userrealm-port",
                "0",
            ],
            env=environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        read_until(process, "details")
        return process, json.loads((tmp_path / "sandbox.json").read_text())

    first, info = start()
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    assert first.returncode == 0
    assert not (tmp_path / "sandbox.json").exists()  # a stopped sandbox leaves no stale address
    second, again = start()
    try:
        assert again["tenant_id"] == info["tenant_id"] and again["users"] == info["users"]
        assert again["ca_file"] == info["ca_file"]
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)


def test_web_without_an_app_registration_says_what_to_set(tmp_path: Path) -> None:
    run = subprocess.run(
        [*GRAPHPOST, "web", "--port", "0"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "GRAPHPOST_CLIENT_ID" in lines[0]


@pytest.mark.parametrize(
    ("arguments", "code"), [(["--help"], 0), (["no-such-command"], 2), ([], 2)]
)
def test_help_and_bad_usage(arguments: list[str], code: int, tmp_path: Path) -> None:
    run = subprocess.run(
        [*GRAPHPOST, *arguments],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == code
    if code == 0:
        assert all(name in run.stdout for name in ("demo", "web", "sandbox"))
