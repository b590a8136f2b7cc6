"""Running `graphpost` as a real process against a sandbox, and signing it in as a person would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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


def in_terminal(
    *args: str, env: dict[str, str], columns: int = 120, timeout: float = 120
) -> tuple[int, str]:
    """Run `graphpost ARGS...` with a pseudo-terminal as stdin, stdout and stderr (POSIX only);
    returns the exit code and everything it wrote."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        [*GRAPHPOST, *args],
        env={"TERM": "xterm-256color", **env},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=env["GRAPHPOST_HOME"],
        close_fds=True,
    )
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other side closed: the process is done
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return code, seen.decode("utf-8", "replace")


def colours(text: str) -> list[str]:
    """The colour codes among the SGR escape sequences in `text` (30-38, 40-48, 90-97, 100-107)."""
    import re

    found: list[str] = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        for code in params.split(";"):
            if code and (30 <= int(code) <= 48 or 90 <= int(code) <= 107):
                found.append(code)
    return found


def messages(
    sandbox: RunningSandbox,
    user: str,
    folder: str = "inbox",
    select: str = "subject",
    subject_prefix: str | None = None,
    token: str | None = None,
) -> list[dict[str, Any]]:
    """Every message of `user`'s folder (whose subject starts so), read with `token` (the daemon
    app's by default; Outlook gives each app its own 4 slots per mailbox, so a test watching a
    run of the daemon app reads with another app's token)."""
    found: list[dict[str, Any]] = []
    url: str | None = (
        f"{sandbox.graph_url}/users/{sandbox.user(user)['id']}/mailFolders/{folder}/messages"
    )
    params = {"$top": "1000", "$select": select}
    if subject_prefix is not None:
        params["$filter"] = f"startswith(subject,'{subject_prefix}')"
    bearer = token or sandbox.app_token()
    with sandbox.client(headers={"Authorization": f"Bearer {bearer}"}) as http:
        while url:
            page = http.get(url, params=params).raise_for_status().json()
            params = {}  # a next link carries them
            found.extend(page["value"])
            url = page.get("@odata.nextLink")
    return found


def assert_no_secrets(sandbox: RunningSandbox, *texts: str) -> None:
    """None of the sandbox's passwords, secrets or keys, and no token, appear in `texts`."""
    import re

    secrets = [str(user["password"]) for user in sandbox.users]
    secrets += [str(sandbox.info["daemon_app"]["client_secret"]), str(sandbox.info["admin_key"])]
    secrets.append(str(sandbox.info["web_app"]["client_secret"]))
    for text in texts:
        assert not re.search(r"eyJ[\w-]{8,}\.[\w-]{8,}", text), "a token was printed"
        for secret in secrets:
            assert secret not in text, "a secret was printed"


def signed_in_env(
    sandbox: RunningSandbox, factory: pytest.TempPathFactory, user: str, purpose: str
) -> dict[str, str]:
    """The environment of a CLI whose GRAPHPOST_HOME (a new folder) holds `user`'s sign-in."""
    folder = factory.mktemp(f"{user}-{purpose}")
    sign_in(folder, sandbox, user)
    return cli_env(folder, sandbox)


def home(env: dict[str, str]) -> Path:
    return Path(env["GRAPHPOST_HOME"])
