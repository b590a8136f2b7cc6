"""The sandbox's control plane for tests (`/_sandbox/...`), guarded by the admin key."""

from __future__ import annotations

import hmac
import json

from flask import Blueprint, Response, abort, jsonify, request
from flask.typing import ResponseReturnValue

from graphpost.sandbox.context import sandbox
from graphpost.sandbox.faults import FaultError

blueprint = Blueprint("sandbox_admin", __name__, url_prefix="/_sandbox")


@blueprint.before_request
def _require_admin_key() -> None:
    given = request.headers.get("X-Sandbox-Key", "")
    if not hmac.compare_digest(given.encode(), sandbox().admin_key.encode()):
        abort(401)


@blueprint.post("/clock")
def advance_clock() -> Response:
    """Move the sandbox's clock forward, so codes and tokens expire without waiting."""
    body = request.get_json(silent=True) or {}
    seconds = body.get("advance_seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        return Response(
            '{"error": "advance_seconds must be a number >= 0"}', 400, mimetype="application/json"
        )
    sb = sandbox()
    sb.advance_clock(float(seconds))
    return jsonify({"offset_seconds": sb.clock.offset, "now": sb.clock.iso()})


@blueprint.post("/faults")
def add_fault() -> ResponseReturnValue:
    """`{"method": "PUT", "path": "<regex>", "status": 503, "times": 1, "retry_after": 2}`."""
    try:
        fault = sandbox().faults.add(request.get_json(silent=True) or {})
    except FaultError as problem:
        return Response(json.dumps({"error": str(problem)}), 400, mimetype="application/json")
    return jsonify(fault.describe()), 201


@blueprint.get("/faults")
def list_faults() -> Response:
    return jsonify(sandbox().faults.pending())


@blueprint.get("/faults/held")
def held_answers() -> Response:
    """How many answers scripted faults are holding back right now (their requests not logged yet)."""
    return jsonify({"held": sandbox().faults.held()})


@blueprint.delete("/faults")
def clear_faults() -> Response:
    sandbox().faults.clear()
    return Response(status=204)


@blueprint.get("/requests")
def request_log() -> ResponseReturnValue:
    """The request log, oldest first; `?since=<seq>` for what came after an entry, `?limit=N`."""
    try:
        since = int(request.args.get("since", "0"))
        limit = int(request.args["limit"]) if "limit" in request.args else None
    except ValueError:
        return jsonify({"error": "since and limit are whole numbers"}), 400
    return jsonify({"value": sandbox().requests.since(since, limit)})


@blueprint.delete("/requests")
def clear_request_log() -> Response:
    sandbox().requests.clear()
    return Response(status=204)
