"""What keeps a cold start short: `from_env` signs in over Graph's own connection pool, and the system's
CAs are read lazily from the hashed folder on Linux (the bundle file only when SSL_CERT_FILE says so)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest

from graphpost import AsyncGraph, Graph
from graphpost.auth import HttpxForMsal
from graphpost.sandbox.process import RunningSandbox
from graphpost.tls import load_system_store, trust


def test_from_env_signs_in_over_graphs_own_client(
    graph_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRAPHPOST_SANDBOX", str(graph_sandbox.data_dir))
    monkeypatch.setenv("GRAPHPOST_HOME", str(tmp_path))
    grace = graph_sandbox.user("grace")
    with Graph.from_env() as graph:
        assert graph.user(grace["id"]).display_name == "Grace Hopper"
        provider = graph._token
        msal_http = provider._app.http_client.http_client  # type: ignore[union-attr]
        assert isinstance(msal_http, HttpxForMsal) and msal_http._client is graph._http
    assert graph._http.is_closed  # from_env's client is the Graph's to close
    with Graph.from_env(timeout=5.0) as graph:
        assert graph._http.timeout.read == 5.0


def test_async_from_env(
    graph_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncio

    monkeypatch.setenv("GRAPHPOST_SANDBOX", str(graph_sandbox.data_dir))
    monkeypatch.setenv("GRAPHPOST_HOME", str(tmp_path))

    async def name() -> str | None:
        async with AsyncGraph.from_env() as graph:
            return (await graph.user(graph_sandbox.user("grace")["id"])).display_name

    assert asyncio.run(name()) == "Grace Hopper"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the hashed CA folder is Linux's")
def test_the_system_store_is_read_lazily_unless_a_bundle_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = ssl.get_default_verify_paths()
    if not paths.capath or not any(Path(paths.capath).glob("*.0")):
        pytest.skip("this machine has no hashed certificate folder")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    lazy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_system_store(lazy)
    assert lazy.cert_store_stats()["x509_ca"] == 0  # nothing parsed until a handshake asks
    monkeypatch.setenv("SSL_CERT_FILE", paths.cafile or paths.openssl_cafile)
    eager = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_system_store(eager)
    assert eager.cert_store_stats()["x509_ca"] > 0


def test_trust_is_a_default_client_context_with_the_extra_ca(graph_sandbox: RunningSandbox) -> None:
    context = trust(graph_sandbox.ca_file)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] >= 1  # the sandbox's CA, loaded
