"""Delegated sign-in for a command line (`PublicSignIn`) against the sandbox's Entra ID: device code,
the browser with PKCE on a loopback redirect, a private token cache that a second process reads,
silent refresh, a refused token replaced, sign-out."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from graphpost import AsyncGraph, Graph
from graphpost.auth import PublicSignIn
from graphpost.config import Settings
from graphpost.errors import AuthError, AuthFailure
from graphpost.sandbox.process import RunningSandbox
from graphpost.tokencache import FileTokenCache
from tests.support import person


def settings_for(sandbox: RunningSandbox, home: Path) -> Settings:
    return Settings.from_sandbox(sandbox.data_dir, app="public", home=home)


def test_device_code_sign_in_is_kept_privately_and_reused(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = settings_for(graph_sandbox, tmp_path)
    signin = PublicSignIn(settings, scopes=["User.Read", "Mail.ReadWrite", "Mail.Send"])
    with pytest.raises(AuthError) as nobody:
        signin.token()
    assert nobody.value.kind is AuthFailure.INTERACTION_REQUIRED
    grace = graph_sandbox.user("grace")
    shown: list[str] = []
    approved = threading.Event()

    def show(text: str) -> None:
        shown.append(text)
        code = text.split("enter the code ")[1].split()[0]
        threading.Thread(
            target=lambda: (
                person.approve_device(
                    graph_sandbox, code, grace["userPrincipalName"], grace["password"]
                ),
                approved.set(),
            )
        ).start()

    result = signin.device_code(show, timeout=60)
    assert approved.wait(10) and "access_token" in result and shown
    cache_file = tmp_path / "tokens-public.json"
    if os.name == "posix":
        assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    leaked = result["access_token"] in repr(signin)
    assert not leaked and '"RefreshToken"' in cache_file.read_text()
    # another process signs in from the cache alone, without asking anyone
    script = (
        "from graphpost import Graph, PublicSignIn, Settings\n"
        f"s = Settings.from_sandbox({str(graph_sandbox.data_dir)!r}, app='public', home={str(tmp_path)!r})\n"
        "with Graph(PublicSignIn(s), graph_url=s.graph_url, verify=s.ca_file) as g:\n"
        "    print(g.me().display_name)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert child.stdout.strip() == "Grace Hopper"
    signin.sign_out()
    assert not cache_file.exists()
    with pytest.raises(AuthError):
        PublicSignIn(settings).token()


def test_browser_sign_in_with_pkce_on_a_loopback_redirect(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = settings_for(graph_sandbox, tmp_path)
    signin = PublicSignIn(settings, scopes=["User.Read"])
    ada = graph_sandbox.user("ada")
    seen: dict[str, Any] = {}

    def open_url(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        seen.update(query)

        def person_at_the_browser() -> None:
            with graph_sandbox.client() as http:
                page = person._sign_in_and_consent(
                    http, http.get(url), ada["userPrincipalName"], ada["password"], True
                )
                # the answer comes back to the loopback server as a query or a posted form
                if page.status_code == 302:
                    httpx.get(page.headers["Location"], timeout=10)
                else:
                    form = person._read(page).form
                    assert form is not None and form.action == query["redirect_uri"][0]
                    httpx.post(form.action, data=form.fields, timeout=10)

        threading.Thread(target=person_at_the_browser).start()

    result = signin.browser(open_url, timeout=30)
    assert "access_token" in result
    assert seen["code_challenge_method"] == ["S256"] and seen["code_challenge"]
    assert urlsplit(seen["redirect_uri"][0]).hostname == "localhost"
    with Graph(signin, graph_url=settings.graph_url, verify=settings.ca_file or True) as graph:
        assert graph.me().display_name == ada["displayName"]
        first = signin.token()
        signin.invalidate()  # as after a 401: the next token is a fresh one
        fresh = signin.token() != first
        assert fresh
        assert graph.me().display_name == ada["displayName"]

    async def from_async() -> str | None:  # the same sign-in as AsyncGraph's token source
        async with AsyncGraph(
            signin, graph_url=settings.graph_url, verify=settings.ca_file or True
        ) as graph:
            return (await graph.me()).display_name

    assert asyncio.run(from_async()) == ada["displayName"]


def test_the_cache_lock_of_a_crashed_sign_in_does_not_block_the_next(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    cache = FileTokenCache(tmp_path / "tokens-public.json")
    # a process that died while holding the lock, long enough ago to be judged dead
    dead = {"pid": 999999999, "host": socket.gethostname(), "time": 0}
    cache.lock_path.write_text(json.dumps(dead))
    settings = settings_for(graph_sandbox, tmp_path)
    signin = PublicSignIn(settings, cache=cache, scopes=["User.Read"])
    grace = graph_sandbox.user("grace")

    def show(text: str) -> None:
        code = text.split("enter the code ")[1].split()[0]
        threading.Thread(
            target=person.approve_device,
            args=(graph_sandbox, code, grace["userPrincipalName"], grace["password"]),
        ).start()

    signin.device_code(show, timeout=60)
    assert not cache.lock_path.exists() and cache.path.exists()
