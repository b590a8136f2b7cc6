"""OneDrive's pre-authenticated addresses: upload session URLs (`/_upload/drive/...`) and download
URLs (`/_download/...`). Neither takes an Authorization header; each carries its own token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, send_file
from itsdangerous import BadSignature, URLSafeSerializer

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.graph.drive import sessions, state
from graphpost.sandbox.graph.wire import GraphError, json_response

blueprint = Blueprint("drive_transfers", __name__)
DOWNLOAD_SECONDS = 3600  # a downloadUrl works for about an hour


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def upload_url(sb: Sandbox, session_id: str, token: str) -> str:
    return f"{sb.base_url}/_upload/drive/{session_id}?tempauth={token}"


def session_answer(session: dict[str, Any]) -> dict[str, Any]:
    return {"expirationDateTime": _iso(session["expires"]), **sessions.status(session)}


def _signer(sb: Sandbox) -> URLSafeSerializer:
    return URLSafeSerializer(sb.cookie_secret, salt="graphpost-sandbox-download")


def download_url(sb: Sandbox, item_id: str) -> str:
    token = _signer(sb).dumps({"item": item_id, "expires": sb.clock.now() + DOWNLOAD_SECONDS})
    return f"{sb.base_url}/_download/{token}"


def _no_bearer() -> None:
    if "Authorization" in request.headers:
        # "including the Authorization header ... may result in a 401"
        raise GraphError(
            401,
            "unauthenticated",
            "The upload URL is pre-authenticated: send no Authorization header.",
        )


def _session(session_id: str) -> dict[str, Any]:
    _no_bearer()
    return sessions.find(sandbox(), session_id, request.args.get("tempauth", ""))


@blueprint.put("/_upload/drive/<session_id>")
def put_fragment(session_id: str) -> Response:
    sb = sandbox()
    session = _session(session_id)
    start, end, total = sessions.parse_range(
        request.headers.get("Content-Range"), request.content_length, session
    )
    chunks = iter(lambda: request.stream.read(1024 * 1024), b"")
    committed = sessions.write_fragment(sb, session, start, end, total, chunks)
    if committed is None:
        return json_response(
            session_answer(sessions.find(sb, session_id, request.args["tempauth"])), 202
        )
    row, created = committed
    user = sb.directory.user(row["user_id"])
    assert user is not None
    return json_response(state.item_resource(sb, user, row), 201 if created else 200)


@blueprint.get("/_upload/drive/<session_id>")
def session_status(session_id: str) -> Response:
    return json_response(session_answer(_session(session_id)))


@blueprint.delete("/_upload/drive/<session_id>")
def cancel(session_id: str) -> Response:
    _session(session_id)
    sessions.cancel(sandbox(), session_id)
    return Response(b"", status=204)


@blueprint.get("/_download/<token>")
def download(token: str) -> Response:
    sb = sandbox()
    try:
        claims = _signer(sb).loads(token)
    except BadSignature:
        raise GraphError(404, "itemNotFound", "The resource could not be found.") from None
    if sb.clock.now() > float(claims["expires"]):
        raise GraphError(
            401, "unauthenticated", "The download URL has expired; ask for the item again."
        )
    row = sb.store.query_one("SELECT * FROM drive_items WHERE id = ?", claims["item"])
    if row is None or row["is_folder"] or not row["blob"]:
        raise GraphError(404, "itemNotFound", "The resource could not be found.")
    # Werkzeug answers Range with 206 (and 416 when unsatisfiable), streaming from the file
    response = send_file(
        sb.store.blob_path(row["blob"]),
        mimetype=row["mime_type"] or "application/octet-stream",
        as_attachment=True,
        download_name=row["name"],
        conditional=True,
        etag=f"{row['id']}.{row['version']}",
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.errorhandler(GraphError)
def _graph_error(failure: GraphError) -> Response:
    return failure.response()
