"""The sandbox's Microsoft Graph v1.0: one package per area (users, mail, drive), each state apart from HTTP."""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from graphpost.sandbox.context import sandbox
from graphpost.sandbox.graph import router
from graphpost.sandbox.graph.auth import authenticate
from graphpost.sandbox.graph.wire import GraphError, add_graph_headers

blueprint = Blueprint("graph", __name__)

# importing the areas registers their routes
from graphpost.sandbox.graph.drive import routes as _drive_routes  # noqa: E402,F401
from graphpost.sandbox.graph.mail import routes as _mail_routes  # noqa: E402,F401
from graphpost.sandbox.graph.users import routes as _users_routes  # noqa: E402,F401


@blueprint.route("/v1.0/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def dispatch(path: str) -> Response:
    sb = sandbox()
    if sb.latency_ms:
        time.sleep(sb.latency_ms / 1000)
    principal = authenticate(sb)
    handler, groups = router.match(request.method, path)
    return handler(sb, principal, **groups)


@blueprint.errorhandler(GraphError)
def _graph_error(failure: GraphError) -> Response:
    return failure.response()


@blueprint.after_request
def _headers(response: Response) -> Response:
    if request.path.startswith("/v1.0/"):
        add_graph_headers(response)
    return response
