"""The sandbox's Microsoft Graph v1.0: one package per area (users, mail, drive), each state apart from HTTP."""

from __future__ import annotations

import contextlib
import re
import time

from flask import Blueprint, Response, g, request

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.graph import router
from graphpost.sandbox.graph.auth import Principal, authenticate
from graphpost.sandbox.graph.wire import GraphError
from graphpost.sandbox.throttling import Throttled

blueprint = Blueprint("graph", __name__)

# importing the areas registers their routes
from graphpost.sandbox.graph import batch as _batch_route  # noqa: E402,F401
from graphpost.sandbox.graph.drive import routes as _drive_routes  # noqa: E402,F401
from graphpost.sandbox.graph.extensions import routes as _extension_routes  # noqa: E402,F401
from graphpost.sandbox.graph.mail import routes as _mail_routes  # noqa: E402,F401
from graphpost.sandbox.graph.users import routes as _users_routes  # noqa: E402,F401


@blueprint.route("/v1.0/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def dispatch(path: str) -> Response:
    sb = sandbox()
    principal = authenticate(sb)
    g.principal = principal
    # cheroot keeps an encoded slash encoded; Graph reads it as a separator, as in Microsoft's SDK's
    # drives/{id}/items/root%3A%2Ffolder%2Fname%3A/content
    path = re.sub("%2f", "/", path, flags=re.IGNORECASE)
    route, groups = router.match(request.method, path)
    mailbox = _mailbox_of(sb, principal, groups.get("owner")) if route.outlook else None
    try:
        slot = (
            sb.throttle.admit(principal.client_id, mailbox) if mailbox else contextlib.nullcontext()
        )
        with slot:
            if sb.latency_ms and route.service_time:  # spent holding the throttling slot
                time.sleep(sb.latency_ms / 1000)
            return route.handler(sb, principal, **groups)
    except Throttled as refusal:
        # Outlook's throttling answer carries no innerError
        raise GraphError(
            429,
            "ApplicationThrottled",
            refusal.message,
            {"Retry-After": str(refusal.retry_after)},
            inner_error=False,
        ) from None


def _mailbox_of(sb: Sandbox, principal: Principal, owner: str | None) -> str | None:
    if owner is None:
        return None
    if owner == "me":
        return principal.user_id
    user = sb.directory.user(owner.split("/", 1)[1].strip("()'"))
    return user.id if user else None


@blueprint.errorhandler(GraphError)
def _graph_error(failure: GraphError) -> Response:
    return failure.response()
