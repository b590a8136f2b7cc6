"""The sample's Flask web app done properly: `create_app()` builds it from the configuration."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import httpx
from flask import Flask, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from graphpost.config import Settings
from graphpost.errors import GraphError
from graphpost.transport import DEFAULT_TIMEOUT, tls_verification
from graphpost.web import display, security
from graphpost.web.account import UserSettings
from graphpost.web.sessions import ServerSessionInterface
from graphpost.web.signin import SignInRequired, close_graph
from graphpost.web.store import Store, open_store, shared_secret
from graphpost.web.uploads import UploadingRequest

# Outlook takes attachments up to 150 MB (through upload sessions); the rest of the form is small
MAX_ATTACHMENTS_BYTES = 150 * 1024 * 1024
MAX_UPLOAD_BYTES = MAX_ATTACHMENTS_BYTES + 4 * 1024 * 1024
MAX_FORM_FIELDS_BYTES = 4 * 1024 * 1024  # the text fields together: Graph takes 4 MB a request


class ConfigurationError(RuntimeError):
    """The web app cannot start with this configuration; the message says what to set."""


def create_app(
    settings: Settings | None = None, store: Store | None = None, trusted_proxies: int | None = None
) -> Flask:
    """The web app for `settings` (default: the environment).  Sessions and token caches go to
    `store`, else Redis when GRAPHPOST_REDIS_URL is set, else files under GRAPHPOST_HOME.
    `trusted_proxies` (default GRAPHPOST_TRUSTED_PROXIES, else 0) is how many proxies in front
    set X-Forwarded-For/-Proto/-Host, so that https behind a load balancer is seen as https."""
    settings = settings or Settings.from_env(app="web")
    if not settings.client_id or not settings.client_secret:
        raise ConfigurationError(
            "the web app needs an app registration: set GRAPHPOST_CLIENT_ID and "
            "GRAPHPOST_CLIENT_SECRET, or GRAPHPOST_SANDBOX to a sandbox's data folder"
        )
    store = store or open_store(settings.home, settings.redis_url)
    # every instance sharing the store signs with the same key
    secret = shared_secret(store)
    app = Flask(__name__)
    app.request_class = UploadingRequest
    app.secret_key = secret
    app.session_interface = ServerSessionInterface(store, secret)
    app.config.update(
        SESSION_COOKIE_NAME="graphpost_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_FIELDS_BYTES,
    )
    http = httpx.Client(verify=tls_verification(settings.ca_file or True), timeout=DEFAULT_TIMEOUT)
    app.extensions["graphpost"] = {"settings": settings, "store": store, "http": http}
    authority = urlsplit(settings.authority)
    security.install(app, f"{authority.scheme}://{authority.netloc}")
    display.install(app)
    proxies = (
        trusted_proxies
        if trusted_proxies is not None
        else int(os.environ.get("GRAPHPOST_TRUSTED_PROXIES") or 0)
    )
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )

    from graphpost.web import auth, inbox, mail
    from graphpost.web import settings as settings_pages

    app.register_blueprint(auth.blueprint)
    app.register_blueprint(mail.blueprint)
    app.register_blueprint(inbox.blueprint)
    app.register_blueprint(settings_pages.blueprint)
    app.teardown_appcontext(close_graph)

    @app.context_processor
    def _theme() -> dict[str, str]:
        return {"theme": UserSettings.from_values(session.get("settings")).theme}

    @app.get("/healthz")
    def health() -> ResponseReturnValue:
        """For load balancers: 200 while this instance can reach its store, else 503."""
        try:
            reachable = store.ping()
        except Exception:  # any failure to reach the store makes this instance unhealthy
            reachable = False
        return jsonify({"status": "ok" if reachable else "store unreachable"}), (
            200 if reachable else 503
        )

    _install_error_pages(app)
    return app


def _install_error_pages(app: Flask) -> None:
    @app.errorhandler(SignInRequired)
    def _sign_in(_: SignInRequired) -> ResponseReturnValue:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), code=302)
        return render_template(
            "error.html",
            title="Please sign in again",
            message="Your sign-in has expired. Nothing was sent.",
            show_sign_in=True,
        ), 401

    @app.errorhandler(GraphError)
    def _graph_error(failure: GraphError) -> tuple[str, int]:
        return render_template(
            "error.html",
            title="Microsoft Graph refused the request",
            message=failure.message,
            failure=failure,
        ), 502

    @app.errorhandler(HTTPException)
    def _http_error(failure: HTTPException) -> tuple[str, int]:
        if failure.code == 413:
            return render_template(
                "error.html",
                title="The attachments are too large",
                message=f"Outlook takes at most {MAX_ATTACHMENTS_BYTES // (1024 * 1024)} MB of "
                "attachments. Nothing was sent; please go back and attach less.",
            ), 413
        if failure.code == 400 and failure.description == "csrf":
            return render_template(
                "error.html",
                title="This form has expired",
                message="The form was not sent from this graphpost page, or your session ended. "
                "Nothing was sent; please go back, reload the page and try again.",
            ), 400
        return render_template(
            "error.html", title=failure.name, message=failure.description
        ), failure.code or 500
