"""Sign-in and sign-out pages: MSAL's auth code flow with PKCE, state and nonce; POST sign-out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from graphpost.auth import AuthCodeFlow
from graphpost.errors import AuthError, AuthFailure
from graphpost.web import mailform, signin
from graphpost.web.account import Profile, read_at_sign_in
from graphpost.web.security import safe_next

blueprint = Blueprint("auth", __name__)

# Entra's answers a person can cause, and what we tell them
DENIED = "You did not grant graphpost access, so it cannot send mail for you. You can try again."
EXPIRED = (
    "The sign-in took too long or was already used (the one-time code from Microsoft expired). "
    "Please sign in again."
)
BAD_STATE = (
    "This sign-in answer does not belong to the sign-in this browser started (it may have been "
    "opened in another tab, or the session expired). Please sign in again."
)


def _failure(
    title: str, message: str, detail: str | None = None, status: int = 400
) -> ResponseReturnValue:
    html = render_template("signin_failed.html", title=title, message=message, detail=detail)
    return Response(html, status=status)


def _flow(cache: Any = None) -> AuthCodeFlow:
    return AuthCodeFlow(signin.msal_app(cache), secrets=(signin.settings().client_secret,))


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    auth_uri, flow = _flow().start(
        signin.SCOPES,
        redirect_uri=url_for("auth.authorized", _external=True),
        login_hint=request.args.get("login_hint") or None,
    )
    session["auth_flow"] = flow
    session["next"] = safe_next(request.args.get("next"), url_for("mail.mailform"))
    return redirect(auth_uri, code=302)


@blueprint.get("/login/authorized")
def authorized() -> ResponseReturnValue:
    token_cache = signin.new_cache()
    flow = _flow(token_cache)
    try:
        result = flow.finish(session.pop("auth_flow", None), request.args.to_dict())
    except AuthError as failure:
        if failure.kind is AuthFailure.ACCESS_DENIED:
            return _failure("Access not granted", DENIED, status=403)
        if failure.kind in (AuthFailure.STATE_MISMATCH, AuthFailure.INVALID_RESPONSE):
            return _failure("Sign-in expired", BAD_STATE)
        if failure.kind is AuthFailure.CODE_EXPIRED:
            return _failure("Sign-in expired", EXPIRED)
        return _failure("Sign-in failed", "Microsoft could not sign you in.", str(failure))
    claims = result.get("id_token_claims") or {}
    accounts = flow.app.get_accounts()
    home = (
        accounts[0]["home_account_id"] if accounts else f"{claims.get('oid')}.{claims.get('tid')}"
    )
    signin.save_cache(home, token_cache)
    # the profile, the settings kept in Graph and the photo, read on every sign-in (one batch)
    read = read_at_sign_in(signin.graph_for(result["access_token"]))
    mailform.keep_signed_in_photo(signin.store(), home, read)
    profile, settings = read.profile, read.settings
    if profile is None:
        username = str(claims.get("preferred_username", ""))
        profile = Profile(name=str(claims.get("name", "")), username=username, mail=username)
    target = session.pop("next", None) or url_for("mail.mailform")
    session.clear()
    signin.rotate_session()
    session["user"] = {**profile.to_values(), "home_account_id": home}
    if settings is not None:
        signin.remember_settings(settings)
    return redirect(safe_next(target, url_for("mail.mailform")), code=302)


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    user = signin.current_user()
    if user:
        signin.forget_user(user["home_account_id"])
        mailform.forget_signed_in_photo(signin.store(), user["home_account_id"])
    session.clear()
    settings = signin.settings()
    query = urlencode(
        {
            "post_logout_redirect_uri": url_for("mail.home", _external=True),
            "client_id": settings.client_id or "",
        }
    )
    return redirect(f"{settings.authority}/oauth2/v2.0/logout?{query}", code=302)
