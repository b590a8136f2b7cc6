"""`/oauth2/v2.0/token`: every grant MSAL uses, with Entra's client authentication rules."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.directory import App
from graphpost.sandbox.identity import grants
from graphpost.sandbox.identity.blueprint import blueprint
from graphpost.sandbox.identity.discovery import resolve_tenant
from graphpost.sandbox.identity.errors import EntraError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _param(name: str) -> str:
    value = request.form.get(name)
    if not value:
        raise EntraError(
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )
    return value


def missing_secret() -> EntraError:
    """What Entra says when an app that must prove itself (not a public client) sent no secret."""
    return EntraError(
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or"
        " 'client_secret'.",
        status=401,
    )


def authenticate_client(sb: Sandbox, tenant: str, *, needs_secret: bool) -> App:
    """The calling app, with its secret checked when it is confidential."""
    basic = grants.basic_credentials(request.headers.get("Authorization"))
    client_id = basic[0] if basic else _param("client_id")
    secret = basic[1] if basic else request.form.get("client_secret")
    app = sb.directory.app(client_id)
    if app is None:
        raise EntraError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory"
            f" '{sb.tenant_domain if tenant in ('common', 'organizations') else tenant}'. This can"
            " happen if the application has not been installed by the administrator of the tenant"
            " or consented to by any user in the tenant. You may have sent your authentication"
            " request to the wrong tenant.",
        )
    if app.is_public:
        if secret or request.form.get("client_assertion"):
            raise EntraError(
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
                status=401,
            )
        if needs_secret:
            raise missing_secret()
        return app
    if not secret:
        raise missing_secret()
    if not sb.directory.check_client_secret(app, secret):
        raise EntraError(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the"
            f" client secret value, not the client secret ID, for a secret added to app"
            f" '{app.client_id}'.",
            status=401,
        )
    return app


@blueprint.post("/<tenant>/oauth2/v2.0/token")
def token_endpoint(tenant: str) -> Response:
    sb = sandbox()
    tenant = resolve_tenant(sb, tenant)
    grant_type = _param("grant_type")
    wants_client_info = request.form.get("client_info") == "1"
    body: dict[str, Any]
    if grant_type == "authorization_code":
        app = authenticate_client(sb, tenant, needs_secret=False)
        grant = grants.redeem_code(
            sb,
            app,
            _param("code"),
            request.form.get("redirect_uri"),
            request.form.get("code_verifier"),
        )
        body = grants.user_token_response(sb, grant, client_info=wants_client_info)
    elif grant_type == "refresh_token":
        app = authenticate_client(sb, tenant, needs_secret=False)
        grant = grants.redeem_refresh_token(
            sb, app, _param("refresh_token"), request.form.get("scope")
        )
        body = grants.user_token_response(sb, grant, client_info=wants_client_info)
    elif grant_type == "client_credentials":
        if tenant in ("common", "organizations"):
            raise EntraError(
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by any"
                " provided credentials.",
            )
        app = authenticate_client(sb, tenant, needs_secret=True)
        body = grants.app_token_response(sb, app, request.form.get("scope"))
    elif grant_type == "password":
        if tenant == "common":
            raise EntraError(
                "invalid_request",
                9001023,
                "The grant type isn't supported over the /common or /consumers endpoints.",
            )
        app = authenticate_client(sb, tenant, needs_secret=False)
        username, password = _param("username"), _param("password")
        scopes = grants.Scopes.parse(request.form.get("scope"))
        user = sb.directory.check_password(username, password)
        if user is None:
            if sb.directory.user(username) is None:
                raise EntraError(
                    "invalid_grant",
                    50034,
                    f"The user account {username} does not exist in the {sb.tenant_domain}"
                    " directory. To sign into this application, the account must be added to the"
                    " directory.",
                )
            raise EntraError(
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            )
        grant = grants.UserGrant(app=app, user=user, scopes=scopes, auth_time=int(sb.clock.now()))
        body = grants.user_token_response(sb, grant, client_info=wants_client_info)
    elif grant_type == DEVICE_CODE_GRANT:
        app = authenticate_client(sb, tenant, needs_secret=False)
        device_code = request.form.get("device_code") or _param("code")
        grant = grants.redeem_device_code(sb, app, device_code)
        body = grants.user_token_response(sb, grant, client_info=wants_client_info)
    else:
        raise EntraError(
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store, no-cache"
    response.headers["Pragma"] = "no-cache"
    return response
