"""The web app's defences: CSRF tokens on every state-changing request, security headers, safe redirects."""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_token() -> str:
    """The session's synchroniser token (made on first use), for forms and the X-CSRF-Token header."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected).encode(), given.encode()):
        abort(400, description="csrf")


def safe_next(target: str | None, default: str = "/") -> str:
    r"""A local path to go to after sign-in; anything that could leave the site becomes `default`.

    Browsers drop tabs and line breaks from URLs and read a backslash as a slash, so
    ``/\t/evil.example`` or ``/\\evil.example`` would become ``//evil.example``: refused too.
    """
    if not target:
        return default
    if any(c.isspace() or not c.isprintable() for c in target) or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


# a source a policy may name: a plain http(s) address, nothing that could end a directive
_POLICY_SOURCE = re.compile(r"https?://[A-Za-z0-9.\-:\[\]]+(?:/[A-Za-z0-9._~%/-]*)?")


def mail_body_policy(inline_images: str | None = None) -> str:
    """A mail's HTML: no script, no request anywhere (remote images are trackers) but its inline
    images at `inline_images` (the app's address for them), inline styles only, and a sandbox
    even when opened alone: an opaque origin, no forms, no top navigation; links may open new
    tabs, which leave the sandbox (the page linked to works as it would anywhere)."""
    images = "data:"
    if inline_images and _POLICY_SOURCE.fullmatch(inline_images):
        images += f" {inline_images}"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; font-src data:;"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'self';"
        " sandbox allow-popups allow-popups-to-escape-sandbox"
    )


def page_policy(authority_origin: str) -> str:
    # form-action must allow the identity provider: sign-out posts here, then redirects there
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none';"
        " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; frame-src 'self';"
        f" form-action 'self' {authority_origin}"
    )


def install(app: Flask, authority_origin: str) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

    policy = page_policy(authority_origin)

    @app.after_request
    def _headers(response: Response) -> Response:
        # a view that sets its own (the mail body frame) keeps it
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
