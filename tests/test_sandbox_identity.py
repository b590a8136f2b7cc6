"""The sandbox's Entra ID side, through MSAL Python used exactly as against Microsoft's cloud."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from typing import Any

import jwt
import msal
import pytest

from graphpost.sandbox.process import RunningSandbox
from tests.support import person

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
LOOPBACK = "http://localhost:53117"  # a port the public app never registered: loopback matches any


def public_app(sandbox: RunningSandbox, **options: Any) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        sandbox.info["public_app"]["client_id"],
        authority=sandbox.authority,
        instance_discovery=False,
        verify=sandbox.ca_file,
        **options,
    )


def confidential_app(
    sandbox: RunningSandbox, registration: str, secret: str | None = None
) -> msal.ConfidentialClientApplication:
    app = sandbox.info[registration]
    return msal.ConfidentialClientApplication(
        app["client_id"],
        client_credential=secret or app["client_secret"],
        authority=sandbox.authority,
        instance_discovery=False,
        verify=sandbox.ca_file,
    )


def web_app(sandbox: RunningSandbox) -> msal.ConfidentialClientApplication:
    return confidential_app(sandbox, "web_app")


def daemon_app(
    sandbox: RunningSandbox, secret: str | None = None
) -> msal.ConfidentialClientApplication:
    return confidential_app(sandbox, "daemon_app", secret)


def claims(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def assert_entra_error(result: dict[str, Any], error: str, code: int) -> None:
    """Entra's error JSON: the AADSTS code first, then trace and correlation ids and a timestamp."""
    assert result["error"] == error, result
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    for line in ("\r\nTrace ID: ", "\r\nCorrelation ID: ", "\r\nTimestamp: "):
        assert line in result["error_description"]
    assert result["error_codes"] == [code]
    assert uuid.UUID(result["trace_id"]) and uuid.UUID(result["correlation_id"])
    assert result["timestamp"].endswith("Z") and " " in result["timestamp"]


def token_endpoint(sandbox: RunningSandbox) -> str:
    return f"{sandbox.authority}/oauth2/v2.0/token"


def auth_code(
    sandbox: RunningSandbox, app: Any, name: str, scopes: list[str], redirect_uri: str
) -> tuple[dict[str, Any], dict[str, str]]:
    user = sandbox.user(name)
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri)
    answer = person.sign_in(sandbox, flow["auth_uri"], user["userPrincipalName"], user["password"])
    return flow, answer


# discovery and keys


def test_discovery_document_and_signing_keys(graph_sandbox: RunningSandbox) -> None:
    with graph_sandbox.client() as http:
        config = http.get(f"{graph_sandbox.authority}/v2.0/.well-known/openid-configuration").json()
        base = graph_sandbox.authority
        assert config["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
        assert config["token_endpoint"] == f"{base}/oauth2/v2.0/token"
        assert config["device_authorization_endpoint"] == f"{base}/oauth2/v2.0/devicecode"
        assert config["issuer"] == f"{base}/v2.0"
        common = http.get(
            graph_sandbox.authority.rsplit("/", 1)[0]
            + "/common/v2.0/.well-known/openid-configuration"
        ).json()
        assert common["issuer"].endswith("/{tenantid}/v2.0")  # Entra's template for /common
        keys = http.get(config["jwks_uri"]).json()["keys"]
    token = graph_sandbox.app_token()
    header = jwt.get_unverified_header(token)
    key = next(k for k in keys if k["kid"] == header["kid"])
    assert key["kty"] == "RSA" and key["x5t"] == key["kid"] and key["x5c"]
    verified = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="https://graph.microsoft.com"
    )
    assert verified["tid"] == graph_sandbox.info["tenant_id"]


# the flows


def test_auth_code_with_pkce_through_msal(graph_sandbox: RunningSandbox) -> None:
    app = public_app(graph_sandbox)
    flow, answer = auth_code(graph_sandbox, app, "ada", ["User.Read", "Mail.Send"], LOOPBACK)
    assert flow["code_verifier"] and "code_challenge=" in flow["auth_uri"]
    assert answer["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, answer)  # MSAL checks state and nonce
    assert "access_token" in result, result
    ada, tenant = graph_sandbox.user("ada"), graph_sandbox.info["tenant_id"]

    id_claims = result["id_token_claims"]
    assert (
        id_claims["ver"] == "2.0"
        and id_claims["aud"] == graph_sandbox.info["public_app"]["client_id"]
    )
    assert id_claims["iss"] == f"{graph_sandbox.authority}/v2.0"
    assert id_claims["preferred_username"] == ada["userPrincipalName"]
    # MSAL sends the SHA-256 of its nonce and checks the ID token echoes exactly that
    assert id_claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert "kid" in jwt.get_unverified_header(result["id_token"])

    access = claims(result["access_token"])
    assert access["aud"] == GRAPH_APP_ID and access["ver"] == "1.0"
    assert access["iss"] == f"https://sts.windows.net/{tenant}/"
    assert {"User.Read", "Mail.Send"} <= set(access["scp"].split())
    assert (access["upn"], access["oid"], access["idtyp"]) == (
        ada["userPrincipalName"],
        ada["id"],
        "user",
    )
    assert (
        access["appid"] == graph_sandbox.info["public_app"]["client_id"]
        and access["appidacr"] == "0"
    )

    info = json.loads(base64.urlsafe_b64decode(result["client_info"] + "=="))
    assert info == {"uid": ada["id"], "utid": tenant}
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{ada['id']}.{tenant}"
    assert account["username"] == ada["userPrincipalName"]

    refreshed = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert (
        refreshed
        and "access_token" in refreshed
        and refreshed["access_token"] != result["access_token"]
    )

    # signed in and consented already: the second sign-in goes straight back to the app
    with graph_sandbox.client() as http:
        again = app.initiate_auth_code_flow(["User.Read"], redirect_uri=LOOPBACK)
        person.sign_in(
            graph_sandbox, flow["auth_uri"], ada["userPrincipalName"], ada["password"], http=http
        )
        quick = http.get(again["auth_uri"])
    assert quick.status_code == 302 and quick.headers["Location"].startswith(LOOPBACK)


def test_web_app_auth_code_with_client_secret_asks_consent_once(
    graph_sandbox: RunningSandbox,
) -> None:
    app = web_app(graph_sandbox)
    redirect = "http://127.0.0.1:41234/login/authorized"
    grace = graph_sandbox.user("grace")
    with graph_sandbox.client() as http:
        flow = app.initiate_auth_code_flow(["User.Read", "Files.ReadWrite"], redirect_uri=redirect)
        page = http.get(flow["auth_uri"])
        assert "Sign in" in page.text
        answer = person.sign_in(
            graph_sandbox,
            flow["auth_uri"],
            grace["userPrincipalName"],
            grace["password"],
            http=http,
        )
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    assert claims(result["access_token"])["appidacr"] == "1"  # a confidential client
    assert "refresh_token" in result


def test_client_credentials(graph_sandbox: RunningSandbox) -> None:
    result = daemon_app(graph_sandbox).acquire_token_for_client(
        ["https://graph.microsoft.com/.default"]
    )
    assert "access_token" in result, result
    access = claims(result["access_token"])
    assert access["aud"] == "https://graph.microsoft.com" and access["idtyp"] == "app"
    assert set(access["roles"]) == {
        "Mail.Send",
        "Mail.ReadWrite",
        "User.Read.All",
        "Files.ReadWrite.All",
    }
    assert "scp" not in access and access["ver"] == "1.0"
    assert "refresh_token" not in result and "id_token" not in result


def test_password_grant_with_msals_user_realm_lookup(graph_sandbox: RunningSandbox) -> None:
    katherine = graph_sandbox.user("katherine")
    app = public_app(graph_sandbox)
    with pytest.warns(
        DeprecationWarning
    ):  # MSAL deprecates ROPC for public clients; it still works
        result = app.acquire_token_by_username_password(
            katherine["userPrincipalName"], katherine["password"], scopes=["User.Read"]
        )
    assert "access_token" in result, result
    assert claims(result["access_token"])["upn"] == katherine["userPrincipalName"]
    with graph_sandbox.client() as http:
        realm = http.get(
            graph_sandbox.authority.rsplit("/", 1)[0]
            + f"/common/userrealm/{katherine['userPrincipalName']}?api-version=1.0"
        ).json()
    assert realm["account_type"] == "Managed"


def test_device_code_flow(graph_sandbox: RunningSandbox) -> None:
    app = public_app(graph_sandbox)
    flow = app.initiate_device_flow(scopes=["User.Read", "Mail.Send"])
    assert flow["user_code"] and flow["verification_uri"].endswith("/devicelogin")
    assert "verification_uri_complete" not in flow and flow["expires_in"] == 900
    assert flow["user_code"] in flow["message"]
    grace = graph_sandbox.user("grace")
    outcome: dict[str, Any] = {}
    polling = threading.Thread(
        target=lambda: outcome.update(app.acquire_token_by_device_flow(flow))
    )
    polling.start()
    heading = person.approve_device(
        graph_sandbox, flow["user_code"], grace["userPrincipalName"], grace["password"]
    )
    polling.join(timeout=60)
    assert heading == "graphpost command line"  # the page names the app the device signed in to
    assert "access_token" in outcome, outcome
    assert claims(outcome["access_token"])["upn"] == grace["userPrincipalName"]


def test_device_code_pending_and_unknown(graph_sandbox: RunningSandbox) -> None:
    flow = public_app(graph_sandbox).initiate_device_flow(scopes=["User.Read"])
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": graph_sandbox.info["public_app"]["client_id"],
        "device_code": flow["device_code"],
    }
    with graph_sandbox.client() as http:
        pending = http.post(token_endpoint(graph_sandbox), data=form)
        unknown = http.post(token_endpoint(graph_sandbox), data={**form, "device_code": "nope"})
    assert pending.status_code == 400
    assert_entra_error(pending.json(), "authorization_pending", 70016)
    assert_entra_error(unknown.json(), "bad_verification_code", 70018)


def test_refresh_token_grant(graph_sandbox: RunningSandbox) -> None:
    app = public_app(graph_sandbox)
    flow, answer = auth_code(graph_sandbox, app, "ada", ["User.Read"], LOOPBACK)
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    again = public_app(graph_sandbox).acquire_token_by_refresh_token(
        result["refresh_token"], scopes=["Mail.Send"]
    )
    assert "access_token" in again, again
    assert "Mail.Send" in claims(again["access_token"])["scp"].split()


def test_logout_redirects_only_to_registered_addresses_and_ends_sso(
    graph_sandbox: RunningSandbox,
) -> None:
    ada = graph_sandbox.user("ada")
    app = web_app(graph_sandbox)
    logout = f"{graph_sandbox.authority}/oauth2/v2.0/logout"
    with graph_sandbox.client() as http:
        flow = app.initiate_auth_code_flow(
            ["User.Read"], redirect_uri="http://localhost:5000/login/authorized"
        )
        person.sign_in(
            graph_sandbox, flow["auth_uri"], ada["userPrincipalName"], ada["password"], http=http
        )
        assert http.cookies.get("graphpost_sandbox_sso")
        home = "http://127.0.0.1:39999/"
        out = http.get(
            logout,
            params={
                "post_logout_redirect_uri": home,
                "client_id": graph_sandbox.info["web_app"]["client_id"],
            },
        )
        assert out.status_code == 302 and out.headers["Location"] == home
        assert not http.cookies.get("graphpost_sandbox_sso")
        # signed out: the next authorize asks for the password again
        assert (
            "Sign in"
            in http.get(
                app.initiate_auth_code_flow(["User.Read"], redirect_uri=home + "login/authorized")[
                    "auth_uri"
                ]
            ).text
        )
        elsewhere = http.get(logout, params={"post_logout_redirect_uri": "https://evil.example/"})
    assert elsewhere.status_code == 200 and "Location" not in elsewhere.headers
    assert "signed out" in elsewhere.text


# the errors, as Entra gives them


def test_wrong_client_secret(graph_sandbox: RunningSandbox) -> None:
    result = daemon_app(graph_sandbox, secret="wrong-secret").acquire_token_for_client(
        ["https://graph.microsoft.com/.default"]
    )
    assert_entra_error(result, "invalid_client", 7000215)
    with graph_sandbox.client() as http:
        raw = http.post(
            token_endpoint(graph_sandbox),
            data={
                "grant_type": "client_credentials",
                "client_id": graph_sandbox.info["daemon_app"]["client_id"],
                "client_secret": "wrong-secret",
                "scope": "https://graph.microsoft.com/.default",
            },
        )
    assert raw.status_code == 401


def test_unknown_client(graph_sandbox: RunningSandbox) -> None:
    unknown = str(uuid.uuid4())
    app = msal.ConfidentialClientApplication(
        unknown,
        client_credential="x",
        authority=graph_sandbox.authority,
        instance_discovery=False,
        verify=graph_sandbox.ca_file,
    )
    result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert_entra_error(result, "unauthorized_client", 700016)
    assert unknown in result["error_description"]
    with graph_sandbox.client() as http:
        page = http.get(
            f"{graph_sandbox.authority}/oauth2/v2.0/authorize",
            params={
                "client_id": unknown,
                "response_type": "code",
                "redirect_uri": "http://localhost/x",
                "scope": "User.Read",
            },
        )
    assert page.status_code == 400 and "Location" not in page.headers
    assert "AADSTS700016" in page.text


def test_wrong_password(graph_sandbox: RunningSandbox) -> None:
    ada = graph_sandbox.user("ada")
    with pytest.warns(DeprecationWarning):
        result = public_app(graph_sandbox).acquire_token_by_username_password(
            ada["userPrincipalName"], "wrong", scopes=["User.Read"]
        )
    assert_entra_error(result, "invalid_grant", 50126)
    with pytest.raises(person.SignInFailed, match="AADSTS50126"):
        flow = public_app(graph_sandbox).initiate_auth_code_flow(
            ["User.Read"], redirect_uri=LOOPBACK
        )
        person.sign_in(graph_sandbox, flow["auth_uri"], ada["userPrincipalName"], "wrong")


def test_code_reused(graph_sandbox: RunningSandbox) -> None:
    app = public_app(graph_sandbox)
    flow, answer = auth_code(graph_sandbox, app, "ada", ["User.Read"], LOOPBACK)
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), answer)
    again = public_app(graph_sandbox).acquire_token_by_auth_code_flow(dict(flow), answer)
    assert_entra_error(again, "invalid_grant", 54005)


def test_pkce_mismatch(graph_sandbox: RunningSandbox) -> None:
    app = public_app(graph_sandbox)
    flow, answer = auth_code(graph_sandbox, app, "ada", ["User.Read"], LOOPBACK)
    flow["code_verifier"] = "a-different-verifier-of-enough-length-to-be-valid-1234567890"
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert_entra_error(result, "invalid_grant", 501481)


def test_denied_consent_comes_back_as_access_denied(graph_sandbox: RunningSandbox) -> None:
    alan = graph_sandbox.user("alan")
    # a permission the web app may ask for but no test grants, so the consent page is shown
    # whatever other tests of this session have consented to as Alan
    flow = web_app(graph_sandbox).initiate_auth_code_flow(
        ["User.ReadBasic.All"], redirect_uri="http://localhost:5000/login/authorized"
    )
    answer = person.sign_in(
        graph_sandbox, flow["auth_uri"], alan["userPrincipalName"], alan["password"], consent=False
    )
    assert answer["error"] == "access_denied" and answer["state"] == flow["state"]
    assert answer["error_description"].startswith("AADSTS65004")


def test_unregistered_redirect_uri_is_an_error_page_never_a_redirect(
    graph_sandbox: RunningSandbox,
) -> None:
    flow = web_app(graph_sandbox).initiate_auth_code_flow(
        ["User.Read"], redirect_uri="https://evil.example/callback"
    )
    with graph_sandbox.client() as http:
        page = http.get(flow["auth_uri"])
        other_path = http.get(
            web_app(graph_sandbox).initiate_auth_code_flow(
                ["User.Read"], redirect_uri="http://localhost:5000/elsewhere"
            )["auth_uri"]
        )
    for answer in (page, other_path):
        assert "Location" not in answer.headers and answer.status_code == 400
        assert "AADSTS50011" in answer.text and "having trouble signing you in" in answer.text


def test_expired_code(tmp_path_factory: pytest.TempPathFactory) -> None:
    from graphpost.sandbox.process import start_sandbox

    # a sandbox of its own: this test moves the clock
    sandbox = start_sandbox(tmp_path_factory.mktemp("expiring"), "--userrealm-port", "0")
    try:
        app = public_app(sandbox)
        flow, answer = auth_code(sandbox, app, "ada", ["User.Read"], LOOPBACK)
        sandbox.advance_clock(11 * 60)
        result = app.acquire_token_by_auth_code_flow(flow, answer)
        assert_entra_error(result, "invalid_grant", 70008)
    finally:
        sandbox.stop()
