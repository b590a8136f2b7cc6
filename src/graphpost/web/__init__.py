"""The sample's Flask web app done properly: `create_app()` builds it from the configuration."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from graphpost.config import Settings
from graphpost.errors import GraphError
from graphpost.web import security
from graphpost.web.sessions import ServerSessionInterface
from graphpost.web.signin import SignInRequired, close_graph
from graphpost.web.store import FileStore, Store, shared_secret

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class ConfigurationError(RuntimeError):
    """The web app cannot start with this configuration; the message says what to set."""


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env(app="web")
    if not settings.client_id or not settings.client_secret:
        raise ConfigurationError(
            "the web app needs an app registration: set GRAPHPOST_CLIENT_ID and "
            "GRAPHPOST_CLIENT_SECRET, or GRAPHPOST_SANDBOX to a sandbox's data folder"
        )
    store = store or FileStore(settings.home / "web")
    secret = shared_secret(store)
    app = Flask(__name__)
    app.secret_key = secret
    app.session_interface = ServerSessionInterface(store, secret)
    app.config.update(
        SESSION_COOKIE_NAME="graphpost_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
    )
    app.extensions["graphpost"] = {"settings": settings, "store": store}
    authority = urlsplit(settings.authority)
    security.install(app, f"{authority.scheme}://{authority.netloc}")

    from graphpost.web import auth, mail

    app.register_blueprint(auth.blueprint)
    app.register_blueprint(mail.blueprint)
    app.teardown_appcontext(close_graph)
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
