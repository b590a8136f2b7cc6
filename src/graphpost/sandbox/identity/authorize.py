"""`/oauth2/v2.0/authorize` and the pages a person meets there: sign-in, consent, sign-out.

The validated request travels between the pages as a signed, time-limited blob,
so nothing a browser sends back can widen what the app asked for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import make_response, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.directory import App, User
from graphpost.sandbox.identity import grants, tokens
from graphpost.sandbox.identity.blueprint import blueprint
from graphpost.sandbox.identity.discovery import resolve_tenant
from graphpost.sandbox.identity.errors import EntraError, error_page

SSO_COOKIE = "graphpost_sandbox_sso"
SSO_SECONDS = 24 * 3600
PAGE_SECONDS = 3600

PERMISSION_TEXT = {
    "User.Read": "Sign you in and read your profile",
    "User.ReadWrite": "Read and update your profile",
    "User.ReadBasic.All": "Read all users' basic profiles",
    "User.Read.All": "Read all users' full profiles",
    "Mail.ReadBasic": "Read basic mail in your mailbox",
    "Mail.Read": "Read your mail",
    "Mail.ReadWrite": "Read and write access to your mail",
    "Mail.Send": "Send mail as you",
    "Files.Read": "Read your files",
    "Files.ReadWrite": "Have full access to your files",
    "Files.Read.All": "Read all files that you can access",
    "Files.ReadWrite.All": "Have full access to all files you can access",
    "offline_access": "Maintain access to data you have given it access to",
}


def _serializer(sb: Sandbox, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(sb.cookie_secret, salt=f"graphpost-sandbox-{purpose}")


def seal(sb: Sandbox, purpose: str, data: dict[str, Any]) -> str:
    return _serializer(sb, purpose).dumps(data)


def unseal(sb: Sandbox, purpose: str, blob: str | None, max_age: int) -> dict[str, Any] | None:
    if not blob:
        return None
    try:
        value: dict[str, Any] = _serializer(sb, purpose).loads(blob, max_age=max_age)
    except BadSignature:
        return None
    return value


def signed_in_user(sb: Sandbox) -> tuple[User, int, str] | None:
    """The person this browser is signed in as at the sandbox (single sign-on), if any."""
    session = unseal(sb, "sso", request.cookies.get(SSO_COOKIE), SSO_SECONDS)
    if session is None:
        return None
    user = sb.directory.user(session["uid"])
    return None if user is None else (user, int(session["auth_time"]), str(session["sid"]))


def _with_sso_cookie(
    sb: Sandbox, response: Response, user: User, auth_time: int, sid: str
) -> Response:
    response.set_cookie(
        SSO_COOKIE,
        seal(sb, "sso", {"uid": user.id, "auth_time": auth_time, "sid": sid}),
        max_age=SSO_SECONDS,
        secure=True,
        httponly=True,
        samesite="Lax",
    )
    return response


def _page(template: str, **values: Any) -> Response:
    response = make_response(render_template(template, **values))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' http: https:"
    )
    return response


# the app's request


def _authorize_params() -> dict[str, str]:
    source = request.form if request.method == "POST" else request.args
    return {key: value for key, value in source.items()}


@blueprint.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str) -> Response:
    sb = sandbox()
    params = _authorize_params()
    try:
        tenant = resolve_tenant(sb, tenant)
    except EntraError as failure:
        return error_page(failure.code, failure.description)
    client_id = params.get("client_id", "")
    app = sb.directory.app(client_id) if client_id else None
    if app is None:
        return error_page(
            700016,
            f"Application with identifier '{client_id}' was not found in the directory"
            f" '{sb.tenant_domain}'. This can happen if the application has not been installed by"
            " the administrator of the tenant or consented to by any user in the tenant. You may"
            " have sent your authentication request to the wrong tenant.",
        )
    redirect_uri = params.get("redirect_uri") or (app.redirect_uris[0] if app.redirect_uris else "")
    if not redirect_uri or not sb.directory.redirect_uri_registered(app, redirect_uri):
        # never redirect to an address the app did not register
        return error_page(
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect"
            f" URIs configured for the application '{app.client_id}'. Make sure the redirect URI"
            " sent in the request matches one added to your application in the Azure portal."
            " Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix"
            " this.",
        )
    request_state: dict[str, Any] = {
        "kind": "code",
        "tenant": tenant,
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "scope": params.get("scope", ""),
        "state": params.get("state"),
        "nonce": params.get("nonce"),
        "code_challenge": params.get("code_challenge"),
        "code_challenge_method": params.get("code_challenge_method"),
        "response_mode": params.get("response_mode", "query"),
        "client_info": params.get("client_info") == "1",
        "prompt": params.get("prompt", ""),
        "login_hint": params.get("login_hint", ""),
    }
    response_type = params.get("response_type", "")
    if "code" not in response_type.split():
        return redirect_with_error(
            request_state,
            "unsupported_response_type",
            "AADSTS700054: response_type 'code' is required for this application.",
        )
    if request_state["code_challenge_method"] not in (None, "S256", "plain"):
        return redirect_with_error(
            request_state,
            "invalid_request",
            "AADSTS50149: The code_challenge_method is not valid. Supported methods are S256 and plain.",
        )
    try:
        grants.Scopes.parse(request_state["scope"])
    except EntraError as failure:
        return redirect_with_error(request_state, failure.error, str(failure))
    return begin_sign_in(sb, request_state)


def begin_sign_in(sb: Sandbox, request_state: dict[str, Any]) -> Response:
    """Sign-in page, unless the browser already has a session and the app did not ask for a prompt."""
    current = signed_in_user(sb)
    prompt = request_state.get("prompt", "")
    if current and prompt not in ("login", "select_account"):
        user, auth_time, sid = current
        return after_sign_in(sb, request_state, user, auth_time, sid)
    if prompt == "none":
        return redirect_with_error(
            request_state,
            "login_required",
            "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
        )
    return sign_in_page(sb, request_state)


def sign_in_page(sb: Sandbox, request_state: dict[str, Any], error: str | None = None) -> Response:
    app = sb.directory.app(request_state["client_id"])
    response = _page(
        "identity/signin.html",
        app_name=app.display_name if app else "OneDrive",
        tenant_domain=sb.tenant_domain,
        login_hint=request_state.get("login_hint", ""),
        context=seal(sb, "signin", request_state),
        action=f"/{request_state['tenant']}/login",
        error=error,
    )
    if error:
        response.status_code = 200
    return response


@blueprint.post("/<tenant>/login")
def sign_in(tenant: str) -> Response:
    sb = sandbox()
    request_state = unseal(sb, "signin", request.form.get("ctx"), PAGE_SECONDS)
    if request_state is None:
        return error_page(
            90014,
            "The sign-in page has expired or was changed. Go back to the application and sign in again.",
        )
    username = request.form.get("login", "").strip()
    request_state["login_hint"] = username
    user = sb.directory.check_password(username, request.form.get("passwd", ""))
    if user is None:
        return sign_in_page(
            sb, request_state, error="Your account or password is incorrect. (AADSTS50126)"
        )
    auth_time, sid = int(sb.clock.now()), tokens.new_session_id()
    response = after_sign_in(sb, request_state, user, auth_time, sid)
    return _with_sso_cookie(sb, response, user, auth_time, sid)


def after_sign_in(
    sb: Sandbox, request_state: dict[str, Any], user: User, auth_time: int, sid: str
) -> Response:
    if request_state["kind"] == "link":
        # back to the sharing link that asked for sign-in, and only ever to such a path
        next_path = str(request_state.get("next", "/"))
        return redirect(next_path if next_path.startswith("/:") else "/", code=302)
    app = sb.directory.app(request_state["client_id"])
    assert app is not None
    scopes = grants.Scopes.parse(request_state["scope"] or "openid")
    missing = grants.missing_consent(sb, app, user, scopes)
    if request_state.get("prompt") == "consent":
        missing = scopes.wanted(app) or missing
    if missing:
        if request_state.get("prompt") == "none":
            return redirect_with_error(
                request_state,
                "consent_required",
                str(grants.consent_required(app)),
            )
        return consent_page(sb, request_state, app, user, auth_time, sid, missing)
    return complete(sb, request_state, app, user, auth_time, sid)


def consent_page(
    sb: Sandbox,
    request_state: dict[str, Any],
    app: App,
    user: User,
    auth_time: int,
    sid: str,
    missing: set[str],
) -> Response:
    wanted = sorted(missing) + (
        ["offline_access"] if "offline_access" in request_state["scope"].split() else []
    )
    sealed = seal(
        sb,
        "consent",
        {
            "request": request_state,
            "uid": user.id,
            "auth_time": auth_time,
            "sid": sid,
            "grant": sorted(missing),
        },
    )
    return _page(
        "identity/consent.html",
        app_name=app.display_name,
        user=user,
        permissions=[(name, PERMISSION_TEXT.get(name, name)) for name in wanted],
        context=sealed,
        action=f"/{request_state['tenant']}/consent",
    )


@blueprint.post("/<tenant>/consent")
def consent(tenant: str) -> Response:
    sb = sandbox()
    sealed = unseal(sb, "consent", request.form.get("ctx"), PAGE_SECONDS)
    if sealed is None:
        return error_page(
            90014,
            "The consent page has expired or was changed. Go back to the application and sign in again.",
        )
    request_state = sealed["request"]
    app = sb.directory.app(request_state["client_id"])
    user = sb.directory.user(sealed["uid"])
    if app is None or user is None:
        return error_page(90014, "The application or the account no longer exists.")
    if request.form.get("accept") != "yes":
        if request_state["kind"] == "device":
            grants.settle_device_code(sb, request_state["user_code"], None, sealed["auth_time"])
            return _page(
                "identity/message.html",
                title="Sign-in declined",
                message="You declined to sign in to the application on your device.",
            )
        return redirect_with_error(
            request_state,
            "access_denied",
            "AADSTS65004: User declined to consent to access the app.",
        )
    sb.directory.grant(app.client_id, user.id, set(sealed["grant"]))
    return complete(sb, request_state, app, user, sealed["auth_time"], sealed["sid"])


def complete(
    sb: Sandbox, request_state: dict[str, Any], app: App, user: User, auth_time: int, sid: str
) -> Response:
    """Signed in and consented: hand the code to the app, or approve the device."""
    if request_state["kind"] == "device":
        grants.settle_device_code(sb, request_state["user_code"], user, auth_time)
        return _page(
            "identity/message.html",
            title=app.display_name,
            message=f"You have signed in to the {app.display_name} application on your device."
            " You may now close this window.",
        )
    grant = grants.UserGrant(
        app=app,
        user=user,
        scopes=grants.Scopes.parse(request_state["scope"] or "openid"),
        auth_time=auth_time,
        nonce=request_state.get("nonce"),
        session_id=sid,
    )
    code = grants.issue_code(
        sb,
        grant,
        request_state["redirect_uri"],
        request_state.get("code_challenge"),
        request_state.get("code_challenge_method"),
    )
    answer: dict[str, str] = {"code": code}
    if request_state.get("client_info"):
        answer["client_info"] = tokens.client_info(sb, user)
    if request_state.get("state") is not None:
        answer["state"] = request_state["state"]
    answer["session_state"] = sid
    return send_to_app(request_state, answer)


def redirect_with_error(request_state: dict[str, Any], error: str, description: str) -> Response:
    answer = {"error": error, "error_description": description}
    if request_state.get("state") is not None:
        answer["state"] = request_state["state"]
    return send_to_app(request_state, answer)


def send_to_app(request_state: dict[str, Any], answer: dict[str, str]) -> Response:
    """Deliver the answer to the registered redirect URI in the response mode the app chose."""
    uri, mode = request_state["redirect_uri"], request_state.get("response_mode", "query")
    if mode == "form_post":
        response = make_response(
            render_template("identity/form_post.html", action=uri, fields=answer)
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    separator = "#" if mode == "fragment" else ("&" if "?" in uri else "?")
    return redirect(uri + separator + urlencode(answer), code=302)


@blueprint.route("/<tenant>/oauth2/v2.0/logout", methods=["GET", "POST"])
def logout(tenant: str) -> Response:
    sb = sandbox()
    params = _authorize_params()
    target = params.get("post_logout_redirect_uri")
    candidates = (
        [sb.directory.app(params["client_id"])] if params.get("client_id") else sb.directory.apps()
    )
    allowed = bool(target) and any(
        app is not None and sb.directory.redirect_uri_registered(app, target or "")
        for app in candidates
    )
    if allowed and target:
        response: Response = redirect(target, code=302)
    else:
        response = _page(
            "identity/message.html",
            title="You signed out of your account",
            message="It's a good idea to close all browser windows.",
        )
    response.delete_cookie(SSO_COOKIE, secure=True, httponly=True, samesite="Lax")
    return response
