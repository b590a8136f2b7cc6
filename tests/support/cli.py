"""Running `graphpost` as a real process against a sandbox, and signing it in as a person would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from graphpost.sandbox.process import RunningSandbox
from tests.support.loopback_browser import browser_launcher

GRAPHPOST = [sys.executable, "-m", "graphpost.cli"]


def cli_env(home: Path, sandbox: RunningSandbox | None = None, **extra: str) -> dict[str, str]:
    """The environment of a person who set GRAPHPOST_HOME (and GRAPHPOST_SANDBOX) and nothing else:
    no display, no $BROWSER, no other GRAPHPOST_* variable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRAPHPOST_", "PERSON_")) and k not in ("DISPLAY", "BROWSER")
    }
    env.update(GRAPHPOST_HOME=str(home), PYTHONUNBUFFERED="1")
    if sandbox is not None:
        env["GRAPHPOST_SANDBOX"] = str(sandbox.data_dir)
    env.update(extra)
    return env


def graphpost(
    *args: str,
    env: dict[str, str],
    input: str | bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `graphpost ARGS...` to the end; stdout and stderr captured (not a terminal)."""
    return subprocess.run(
        [*GRAPHPOST, *args],
        env=env,
        input=input.decode() if isinstance(input, bytes) else input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or Path(env["GRAPHPOST_HOME"]),
        stdin=subprocess.DEVNULL if input is None else None,
    )


def browser_env(
    home: Path, sandbox: RunningSandbox, user: str = "ada", password: str | None = None
) -> dict[str, str]:
    """`cli_env` with $BROWSER set to a person who signs in as `user` (see loopback_browser)."""
    person = sandbox.user(user)
    return cli_env(
        home,
        sandbox,
        BROWSER=browser_launcher(home),
        PERSON_USERNAME=str(person["userPrincipalName"]),
        PERSON_PASSWORD=password or str(person["password"]),
        PERSON_CA_FILE=sandbox.ca_file,
        PERSON_LOG=str(home / "browser.log"),
    )


def browser_log(home: Path) -> list[dict[str, Any]]:
    path = home / "browser.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def sign_in(home: Path, sandbox: RunningSandbox, user: str = "ada") -> None:
    """`graphpost login` in the browser, as `user`; fails the test unless it worked."""
    home.mkdir(parents=True, exist_ok=True)
    run = graphpost("login", "--timeout", "60", env=browser_env(home, sandbox, user))
    assert run.returncode == 0, (run.stdout, run.stderr, browser_log(home))
