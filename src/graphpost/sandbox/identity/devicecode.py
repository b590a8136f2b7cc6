"""The device code flow: `/oauth2/v2.0/devicecode` for the device, `/devicelogin` for the person."""

from __future__ import annotations

import json

from flask import jsonify, request
from werkzeug.wrappers import Response

from graphpost.sandbox.context import sandbox
from graphpost.sandbox.identity import grants
from graphpost.sandbox.identity.authorize import _page, begin_sign_in
from graphpost.sandbox.identity.blueprint import blueprint
from graphpost.sandbox.identity.discovery import resolve_tenant
from graphpost.sandbox.identity.token import authenticate_client, missing_secret


@blueprint.post("/<tenant>/oauth2/v2.0/devicecode")
def device_code(tenant: str) -> Response:
    sb = sandbox()
    tenant = resolve_tenant(sb, tenant)
    app = authenticate_client(sb, tenant, needs_secret=False)
    if not app.is_public:
        raise missing_secret()  # device code is for public clients only
    scopes = grants.Scopes.parse(request.form.get("scope"))
    code, user_code = grants.issue_device_code(sb, app, scopes)
    verification_uri = f"{sb.base_url}/devicelogin"
    # Entra sends no verification_uri_complete: the person types the code
    return jsonify(
        {
            "user_code": user_code,
            "device_code": code,
            "verification_uri": verification_uri,
            "expires_in": grants.DEVICE_CODE_SECONDS,
            "interval": grants.DEVICE_CODE_INTERVAL,
            "message": f"To sign in, use a web browser to open the page {verification_uri} and"
            f" enter the code {user_code} to authenticate.",
        }
    )


@blueprint.route("/devicelogin", methods=["GET", "POST"])
def device_login() -> Response:
    sb = sandbox()
    if request.method == "GET":
        return _page("identity/devicelogin.html", error=None)
    pending = grants.pending_device_code(sb, request.form.get("otc", ""))
    if pending is None:
        return _page(
            "identity/devicelogin.html",
            error="That code didn't work. Check the code and try again. (AADSTS70018)",
        )
    request_state = {
        "kind": "device",
        "tenant": sb.tenant_id,
        "client_id": pending["client_id"],
        "user_code": pending["user_code"],
        "scope": " ".join(json.loads(pending["scopes"])),
        # a code typed on another device is always confirmed by the person, never silently approved
        "prompt": "login",
    }
    return begin_sign_in(sb, request_state)
