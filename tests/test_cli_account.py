"""`graphpost login`, `logout` and `whoami` as real processes: a person signs in at the sandbox in
a stand-in browser (auth code + PKCE answered on a loopback address) or with a device code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from graphpost.sandbox.process import RunningSandbox
from tests.support.cli import (
    GRAPHPOST,
    assert_no_secrets,
    browser_env,
    browser_log,
    cli_env,
    graphpost,
    sign_in,
)
from tests.support.person import approve_device

COMMANDS = [
    "demo",
    "web",
    "sandbox",
    "login",
    "logout",
    "whoami",
    "send",
    "upload",
    "download",
    "link",
    "inbox",
]


def token_cache(home: Path) -> Path:
    [cache] = (home / "cli").glob("tokens-*.json")
    return cache


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, tmp_path: Path) -> None:
    run = graphpost(command, "--help", env=cli_env(tmp_path))
    assert run.returncode == 0 and run.stdout.startswith(f"usage: graphpost {command}")
    assert run.stderr == ""


@pytest.mark.parametrize(
    "arguments",
    [
        ["send", "--body", "x", "--body-file", "note.txt"],
        ["inbox", "--top", "0"],
        ["link", "report.pdf", "--type", "embed"],
        ["upload"],
        ["login", "--timeout", "soon"],
        ["whoami", "--verbose"],
    ],
)
def test_bad_usage_exits_2(arguments: list[str], tmp_path: Path) -> None:
    run = graphpost(*arguments, env=cli_env(tmp_path))
    assert run.returncode == 2
    assert re.match(rf"graphpost( {arguments[0]})?: error: ", run.stderr.splitlines()[-1])


def test_login_in_the_browser_with_pkce_on_a_loopback_address(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run = graphpost("login", "--timeout", "60", env=browser_env(tmp_path, graph_sandbox, "grace"))
    assert run.returncode == 0, (run.stderr, browser_log(tmp_path))
    assert run.stdout == "Signed in as grace@graphpost.test.\n"
    [seen] = browser_log(tmp_path)
    asked = seen["authorize"]
    assert asked["client_id"] == graph_sandbox.info["public_app"]["client_id"]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["response_mode"] == "form_post" and asked["state"]
    redirect = urlsplit(asked["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "localhost", "")
    assert redirect.port and redirect.port > 1024  # a free port picked for this sign-in
    # the sandbox's answer went to that loopback address, and the CLI took it
    assert seen["answered"] == asked["redirect_uri"] and seen["status"] == 200
    assert {"code", "state"} <= set(seen["fields"])
    assert oct(token_cache(tmp_path).stat().st_mode & 0o777) == "0o600"
    assert_no_secrets(graph_sandbox, run.stdout, run.stderr)

    env = cli_env(tmp_path, graph_sandbox)
    whoami = graphpost("whoami", env=env)
    assert (whoami.returncode, whoami.stdout) == (0, "Grace Hopper <grace@graphpost.test>\n")
    described = json.loads(graphpost("whoami", "--json", env=env).stdout)
    assert described["userPrincipalName"] == "grace@graphpost.test"
    assert described["id"] == graph_sandbox.user("grace")["id"]


def test_signing_in_again_replaces_the_account_and_logout_forgets_it(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sign_in(tmp_path, graph_sandbox, "katherine")
    sign_in(tmp_path, graph_sandbox, "ada")
    env = cli_env(tmp_path, graph_sandbox)
    assert graphpost("whoami", env=env).stdout == "Ada Lovelace <ada@graphpost.test>\n"
    accounts = json.loads(token_cache(tmp_path).read_text())["Account"]
    assert [a["username"] for a in accounts.values()] == ["ada@graphpost.test"]

    out = graphpost("logout", env=env)
    assert (out.returncode, out.stdout) == (0, "Signed out ada@graphpost.test.\n")
    assert not list((tmp_path / "cli").glob("tokens-*.json"))
    after = graphpost("whoami", env=env)
    assert after.returncode == 1 and after.stdout == ""
    [line] = after.stderr.splitlines()
    assert line.startswith("graphpost: interaction_required:") and "graphpost login" in line
    again = graphpost("logout", env=env)
    assert (again.returncode, again.stdout) == (0, "Not signed in.\n")


def test_login_with_a_device_code_finished_by_the_person_on_another_device(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    login = subprocess.Popen(
        [*GRAPHPOST, "login", "--device-code", "--json"],
        env=cli_env(tmp_path, graph_sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert login.stderr is not None
        shown = ""
        while "enter the code" not in shown:
            line = login.stderr.readline()
            assert line, f"no code shown: {shown}"
            shown += line
        page = graph_sandbox.info["portal_url"].rstrip("/") + "/devicelogin"
        assert page in shown
        code = re.search(r"enter the code (\S+)", shown)
        assert code is not None
        grace = graph_sandbox.user("grace")
        approve_device(graph_sandbox, code.group(1), grace["userPrincipalName"], grace["password"])
        out, err = login.communicate(timeout=60)
    finally:
        if login.poll() is None:
            login.kill()
    assert login.returncode == 0, err
    signed_in = json.loads(out)
    assert signed_in["username"] == "grace@graphpost.test"
    assert signed_in["tenantId"] == graph_sandbox.info["tenant_id"]
    assert_no_secrets(graph_sandbox, out, shown, err)
    whoami = graphpost("whoami", env=cli_env(tmp_path, graph_sandbox))
    assert whoami.stdout == "Grace Hopper <grace@graphpost.test>\n"


def test_a_sign_in_that_never_finishes_fails_in_one_line(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # the person mistypes the password: the sandbox's answer never reaches the loopback address
    env = browser_env(tmp_path, graph_sandbox, "ada", password="not-the-password")
    run = graphpost("login", "--timeout", "2", env=env)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines()[-1] == (
        "graphpost: timeout: the sign-in in the browser did not finish within 2 seconds"
    )
    assert "failure" in browser_log(tmp_path)[0]  # the page refused the password
    assert "not-the-password" not in run.stderr
    assert not list((tmp_path / "cli").glob("tokens-*.json"))


def test_without_an_app_registration_the_command_says_what_to_set(tmp_path: Path) -> None:
    run = graphpost("whoami", env=cli_env(tmp_path))
    assert run.returncode == 2 and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith("graphpost whoami: ") and "GRAPHPOST_CLIENT_ID" in line


@pytest.mark.parametrize(
    "arguments",
    [
        ["whoami"],
        ["inbox"],
        ["send", "--to", "grace@graphpost.test", "--body", "x"],
        ["send", "--each", "people.csv", "--subject", "{name}", "--body", "x"],
        ["upload", "people.csv"],
        ["download", "report.pdf"],
        ["link", "report.pdf"],
    ],
)
def test_every_command_needs_a_sign_in_and_says_so_in_one_line(
    graph_sandbox: RunningSandbox, tmp_path: Path, arguments: list[str]
) -> None:
    (tmp_path / "people.csv").write_text("email,name\ngrace@graphpost.test,Grace\n")
    since = graph_sandbox.request_log_position()
    run = graphpost(*arguments, env=cli_env(tmp_path, graph_sandbox))
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines() == [
        "graphpost: interaction_required: nobody is signed in: sign in first (graphpost login)"
    ]
    assert not any("/v1.0/" in e["path"] for e in graph_sandbox.request_log(since))
