"""The sandbox's WSGI application: Entra ID, Graph, sharing-link pages, portal and control plane."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.faults import Fault
from graphpost.sandbox.requestlog import BATCH_ENVIRON, loggable_query

# Graph's requests and the pre-authenticated upload and download addresses
LOGGED_PREFIXES = ("/v1.0/", "/_upload/", "/_download/")


def is_graph_path(path: str) -> bool:
    return path == "/v1.0" or path.startswith("/v1.0/")


GATEWAY_ERRORS = {
    404: ("ResourceNotFound", "Resource could not be discovered."),
    405: ("Request_BadRequest", "Specified HTTP method is not allowed for the request target."),
    413: ("RequestEntityTooLarge", "The maximum request length supported is 4MB."),
}


def create_app(sb: Sandbox) -> Flask:
    from graphpost.sandbox import admin, graph
    from graphpost.sandbox.graph.drive import transfers as drive_transfers
    from graphpost.sandbox.graph.drive import viewer
    from graphpost.sandbox.graph.mail import uploads as outlook_uploads
    from graphpost.sandbox.identity.endpoints import identity_blueprint
    from graphpost.sandbox.portal import views as portal

    app = Flask(__name__)
    app.extensions["graphpost_sandbox"] = sb
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Entra's documents keep their order
    app.register_blueprint(identity_blueprint())
    app.register_blueprint(graph.blueprint)
    app.register_blueprint(viewer.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(portal.blueprint)
    app.register_blueprint(outlook_uploads.blueprint)
    app.register_blueprint(drive_transfers.blueprint)

    @app.before_request
    def _start_clock() -> None:
        g.started = time.perf_counter()
        if is_graph_path(request.path):
            from graphpost.sandbox.graph.wire import request_id

            request_id()  # every Graph answer, and its log entry, carries this id

    @app.after_request
    def _graph_headers(response: Response) -> Response:
        if is_graph_path(request.path):
            from graphpost.sandbox.graph.wire import add_graph_headers

            add_graph_headers(response)
        return response

    @app.after_request
    def _log(response: Response) -> Response:
        if request.path.startswith(LOGGED_PREFIXES) or request.blueprint == "identity":
            sandbox().requests.add(_log_entry(response))
        return response

    @app.before_request
    def _scripted_fault() -> Response | None:
        if not request.path.startswith(LOGGED_PREFIXES):
            return None
        fault = sandbox().faults.take(request.method, request.path)
        if fault is None:
            return None
        if fault.when == "after":
            g.fault = fault  # the request runs; its answer is replaced below
            return None
        return _fault_answer(fault)

    @app.after_request
    def _lost_answer(response: Response) -> Response:
        fault = g.pop("fault", None)
        return response if fault is None else _fault_answer(fault)

    @app.errorhandler(Exception)
    def _unexpected(failure: Exception) -> Response | HTTPException:
        from graphpost.sandbox.graph.wire import error_response

        if isinstance(failure, HTTPException):
            if not is_graph_path(request.path) or failure.code is None:
                return failure
            # what the web server refuses before Graph's routing, still in Graph's shape
            code, message = GATEWAY_ERRORS.get(
                failure.code, ("BadRequest", failure.description or "")
            )
            return error_response(failure.code, code, message)
        app.logger.exception("unexpected failure on %s %s", request.method, request.path)
        # a bug of ours still answers in Graph's shape, as Graph's own 500s do
        return error_response(500, "generalException", "An unspecified error has occurred.")

    return app


def _log_entry(response: Response) -> dict[str, Any]:
    """One line of the request log: who called what and the answer; never a body or a secret."""
    current = sandbox()
    principal = g.get("principal")
    user = current.directory.user(principal.user_id) if principal and principal.user_id else None
    client = principal.client_id if principal else None
    if client is None and request.blueprint == "identity":
        client = request.values.get("client_id")  # a public identifier, in the form or the query
    query = (
        loggable_query(request.query_string.decode()) if request.path.startswith("/v1.0/") else ""
    )
    entry: dict[str, Any] = {
        "time": current.clock.iso(),
        "method": request.method,
        "path": request.path + ("?" + query if query else ""),
        "status": response.status_code,
        "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1),
        "request_id": g.get("graph_request_id"),
        "client": client,
        "user": user.upn if user else None,
    }
    if BATCH_ENVIRON in request.environ:
        entry["batch"] = request.environ[BATCH_ENVIRON]  # the request id of the $batch it came in
    return entry


def _fault_answer(fault: Fault) -> Response:
    from graphpost.sandbox.graph.wire import error_response

    if fault.delay_ms:
        with sandbox().faults.holding():
            time.sleep(fault.delay_ms / 1000)
    response = error_response(fault.status, fault.code, fault.message)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
    return response
