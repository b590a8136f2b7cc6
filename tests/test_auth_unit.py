"""graphpost.auth without a network: how MSAL apps are built, and every sign-in failure's kind.

The flow tests run the real MSAL against a fake HTTP client that answers as Entra ID does.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from graphpost import auth
from graphpost.auth import (
    AuthCodeFlow,
    app_token,
    build_confidential_app,
    build_public_app,
    graph_scope,
)
from graphpost.config import ConfigError, Settings
from graphpost.errors import AuthError, AuthFailure

AUTHORITY = "https://login.sandbox.test/tenant-1"
# MSAL recommends form_post on every query-mode flow; these tests are about something else
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

SECRET = "web-app-client-secret-value"
SANDBOX = Settings(
    authority=AUTHORITY,
    client_id="web-id",
    client_secret=SECRET,
    graph_url="https://127.0.0.1:8443/v1.0",
    ca_file="/sandbox/ca.pem",
)
CLOUD = Settings(
    authority="https://login.microsoftonline.com/contoso.onmicrosoft.com",
    client_id="cloud-id",
    client_secret=SECRET,
)


class FakeEntra:
    """Answers MSAL's discovery and token requests; `token_reply` is what /token returns."""

    def __init__(self) -> None:
        self.token_reply: tuple[int, dict[str, Any]] = (200, {})
        self.posts: list[dict[str, Any]] = []

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        assert url.startswith(AUTHORITY), url
        return self._reply(
            200,
            {
                "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
                "token_endpoint": f"{AUTHORITY}/oauth2/v2.0/token",
                "issuer": f"{AUTHORITY}/v2.0",
                "end_session_endpoint": f"{AUTHORITY}/oauth2/v2.0/logout",
            },
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        self.posts.append({"url": url, "data": data})
        return self._reply(*self.token_reply)

    def close(self) -> None:
        pass

    @staticmethod
    def _reply(status: int, body: dict[str, Any]) -> Any:
        reply = requests.Response()
        reply.status_code = status
        reply._content = json.dumps(body).encode()
        reply.headers["Content-Type"] = "application/json"
        return reply


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch) -> FakeEntra:
    fake = FakeEntra()
    monkeypatch.setattr(auth, "_session_trusting", lambda ca_file: fake)
    return fake


def entra_error(error: str, code: int, text: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: corr-1\r\nTimestamp: 2025-01-01 00:00:00Z",
        "error_codes": [code],
        "correlation_id": "corr-1",
        "trace_id": "t",
    }


# -- building the apps ------------------------------------------------------------------------


class Recorder:
    def __init__(self, client_id: str, **options: Any) -> None:
        self.client_id = client_id
        self.options = options


def test_confidential_app_for_a_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from graphpost.sandbox.tls import ensure_certificates

    ca_file, _, _ = ensure_certificates(tmp_path, "127.0.0.1")
    monkeypatch.setattr(msal, "ConfidentialClientApplication", Recorder)
    settings = dataclasses.replace(SANDBOX, ca_file=str(ca_file))
    app: Any = build_confidential_app(settings, cache="the-cache", http_cache={})
    assert app.client_id == "web-id"
    assert app.options["client_credential"] == SECRET
    assert app.options["authority"] == AUTHORITY
    assert app.options["instance_discovery"] is False  # no asking login.microsoftonline.com
    assert app.options["token_cache"] == "the-cache"
    assert app.options["http_cache"] == {}
    # the CA file is trusted through the session's TLS context, which REQUESTS_CA_BUNDLE cannot override
    assert isinstance(app.options["http_client"], requests.Session)
    with pytest.raises(ConfigError, match="missing"):
        build_confidential_app(dataclasses.replace(SANDBOX, ca_file=str(tmp_path / "missing.pem")))


def test_confidential_app_for_microsofts_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(msal, "ConfidentialClientApplication", Recorder)
    app: Any = build_confidential_app(CLOUD)
    assert app.options["instance_discovery"] is True
    assert app.options["verify"] is True
    assert "http_client" not in app.options  # MSAL's own session


def test_public_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(msal, "PublicClientApplication", Recorder)
    app: Any = build_public_app(Settings(authority=AUTHORITY, client_id="public-id"))
    assert app.client_id == "public-id" and "client_credential" not in app.options
    assert app.options["instance_discovery"] is False


def test_apps_need_a_client_id_and_confidential_ones_a_secret() -> None:
    with pytest.raises(ConfigError, match="GRAPHPOST_CLIENT_ID"):
        build_public_app(Settings())
    with pytest.raises(ConfigError, match="GRAPHPOST_CLIENT_SECRET"):
        build_confidential_app(Settings(client_id="x"))


@pytest.mark.parametrize(
    ("graph_url", "scope"),
    [
        ("https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default"),
        ("https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default"),
        ("https://127.0.0.1:8443/v1.0", "https://graph.microsoft.com/.default"),
    ],
)
def test_graph_scope(graph_url: str, scope: str) -> None:
    assert graph_scope(Settings(graph_url=graph_url)) == scope


# -- app-only tokens ------------------------------------------------------------------------


def test_app_token(entra: FakeEntra) -> None:
    entra.token_reply = (
        200,
        {"token_type": "Bearer", "expires_in": 3599, "access_token": "app-token"},
    )
    assert app_token(SANDBOX) == "app-token"
    form = entra.posts[0]["data"]
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://graph.microsoft.com/.default"


def test_app_token_with_a_wrong_secret(entra: FakeEntra) -> None:
    entra.token_reply = (
        401,
        entra_error("invalid_client", 7000215, f"Invalid client secret provided: {SECRET}"),
    )
    with pytest.raises(AuthError) as caught:
        app_token(SANDBOX)
    error = caught.value
    assert (error.error, error.aadsts, error.kind) == (
        "invalid_client",
        7000215,
        AuthFailure.INVALID_CLIENT,
    )
    assert error.correlation_id == "corr-1"
    assert SECRET not in str(error) and SECRET not in repr(error)


def test_app_token_provider_reuses_the_token(entra: FakeEntra) -> None:
    entra.token_reply = (
        200,
        {"token_type": "Bearer", "expires_in": 3599, "access_token": "app-token"},
    )
    provider = auth.AppTokenProvider(SANDBOX)
    assert provider() == provider() == "app-token"
    assert len(entra.posts) == 1  # the second came from MSAL's cache
    assert SECRET not in repr(provider)


# -- the web app's auth code flow ------------------------------------------------------------

REDIRECT = "http://127.0.0.1:5000/login/authorized"


def unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def started(entra: FakeEntra) -> tuple[AuthCodeFlow, str, dict[str, Any]]:
    flow = AuthCodeFlow.from_settings(SANDBOX)
    uri, state = flow.start(["User.Read", "Mail.Send"], REDIRECT, login_hint="ada@graphpost.test")
    return flow, uri, state


def test_start_gives_an_authorize_url_with_pkce_state_and_nonce(entra: FakeEntra) -> None:
    _, uri, state = started(entra)
    query = parse_qs(urlsplit(uri).query)
    assert uri.startswith(f"{AUTHORITY}/oauth2/v2.0/authorize?")
    assert query["redirect_uri"] == [REDIRECT]
    assert query["login_hint"] == ["ada@graphpost.test"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [state["state"]] and query["nonce"]
    assert "User.Read" in query["scope"][0] and "offline_access" in query["scope"][0]


def test_finish_redeems_the_code(entra: FakeEntra) -> None:
    flow, _, state = started(entra)
    nonce_hash = hashlib.sha256(state["nonce"].encode()).hexdigest()
    claims = {
        "iss": f"{AUTHORITY}/v2.0",
        "aud": "web-id",
        "sub": "s",
        "nonce": nonce_hash,
        "name": "Ada",
    }
    entra.token_reply = (
        200,
        {
            "token_type": "Bearer",
            "expires_in": 3599,
            "access_token": "user-token",
            "id_token": unsigned_jwt(claims),
        },
    )
    result = flow.finish(state, {"code": "the-code", "state": state["state"]})
    assert result["access_token"] == "user-token"
    assert result["id_token_claims"]["name"] == "Ada"
    assert entra.posts[0]["data"]["code_verifier"] == state["code_verifier"]


def test_start_with_form_post(entra: FakeEntra) -> None:
    flow = AuthCodeFlow.from_settings(SANDBOX)
    uri, _ = flow.start(["User.Read"], REDIRECT, response_mode="form_post")
    assert parse_qs(urlsplit(uri).query)["response_mode"] == ["form_post"]


def test_finish_user_denied_consent(entra: FakeEntra) -> None:
    flow, _, state = started(entra)
    query = {
        "error": "access_denied",
        "error_description": "the user canceled the authentication",
        "state": state["state"],
    }
    with pytest.raises(AuthError) as caught:
        flow.finish(state, query)
    assert caught.value.kind is AuthFailure.ACCESS_DENIED


@pytest.mark.parametrize("returned_state", ["someone-elses-state", None])
def test_finish_state_mismatch(entra: FakeEntra, returned_state: str | None) -> None:
    flow, _, state = started(entra)
    query = (
        {"code": "the-code"}
        if returned_state is None
        else {"code": "the-code", "state": returned_state}
    )
    with pytest.raises(AuthError) as caught:
        flow.finish(state, query)
    assert caught.value.kind is AuthFailure.STATE_MISMATCH
    assert state["state"] not in str(caught.value)  # MSAL's text holds both states; ours does not
    assert not entra.posts  # the code was never redeemed


def test_finish_without_a_flow_in_the_session(entra: FakeEntra) -> None:
    flow, _, _ = started(entra)
    with pytest.raises(AuthError) as caught:
        flow.finish(None, {"code": "c", "state": "s"})
    assert caught.value.kind is AuthFailure.STATE_MISMATCH


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (70008, "The provided authorization code or refresh token has expired due to inactivity."),
        (70000, "The provided value for the 'code' parameter is not valid. The code has expired."),
        (
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code.",
        ),
    ],
)
def test_finish_expired_or_reused_code(entra: FakeEntra, code: int, text: str) -> None:
    flow, _, state = started(entra)
    entra.token_reply = (400, entra_error("invalid_grant", code, text))
    with pytest.raises(AuthError) as caught:
        flow.finish(state, {"code": "the-code", "state": state["state"]})
    assert caught.value.kind is AuthFailure.CODE_EXPIRED
    assert caught.value.aadsts == code
    assert "the-code" not in str(caught.value)


def test_finish_id_token_for_another_sign_in(entra: FakeEntra) -> None:
    flow, _, state = started(entra)
    claims = {"iss": f"{AUTHORITY}/v2.0", "aud": "web-id", "sub": "s", "nonce": "not-ours"}
    entra.token_reply = (
        200,
        {"token_type": "Bearer", "access_token": "t", "id_token": unsigned_jwt(claims)},
    )
    with pytest.raises(AuthError) as caught:
        flow.finish(state, {"code": "the-code", "state": state["state"]})
    assert caught.value.kind is AuthFailure.INVALID_RESPONSE
