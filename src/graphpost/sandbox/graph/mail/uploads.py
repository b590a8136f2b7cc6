"""The pre-authenticated upload URL of Outlook's attachment sessions (`/_upload/outlook/...`).

Like Outlook's, it takes no Authorization header: the URL carries its own token.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request

from graphpost.sandbox.context import sandbox
from graphpost.sandbox.graph.mail import sessions
from graphpost.sandbox.graph.wire import GraphError, json_response

blueprint = Blueprint("outlook_uploads", __name__)
PATH = "/_upload/outlook/<session_id>"


def upload_url(base_url: str, session_id: str, token: str) -> str:
    return f"{base_url}/_upload/outlook/{session_id}?authtoken={token}"


def _session(session_id: str) -> dict[str, object]:
    if "Authorization" in request.headers:
        # the upload URL is pre-authenticated: a bearer token is refused rather than ignored
        raise GraphError(
            401,
            "InvalidAuthenticationToken",
            "The upload URL is pre-authenticated: send no Authorization header.",
        )
    return sessions.find(sandbox(), session_id, request.args.get("authtoken", ""))


@blueprint.put(PATH)
def put_chunk(session_id: str) -> Response:
    sb = sandbox()
    session = _session(session_id)
    start, end = sessions.parse_range(
        request.headers.get("Content-Range"), request.content_length, session
    )
    attachment_id = sessions.write_chunk(
        sb, session, start, end, iter(lambda: request.stream.read(1024 * 1024), b"")
    )
    owner = f"Users('{session['user_id']}@{sb.tenant_id}')/Messages('{session['message_id']}')"
    if attachment_id is None:
        session = sessions.find(sb, session_id, request.args.get("authtoken", ""))
        expires = datetime.fromtimestamp(float(str(session["expires"])), UTC)
        return json_response(
            {
                "@odata.context": f"{sb.base_url}/api/v2.0/$metadata#{owner}/AttachmentSessions/$entity",
                # Outlook's v2.0 answer: PascalCase expiry, a single offset as the next range
                "ExpirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                "nextExpectedRanges": [str(session["received"])],
            }
        )
    response = Response(b"", status=201)
    response.headers["Location"] = f"{sb.base_url}/api/v2.0/{owner}/Attachments('{attachment_id}')"
    return response


@blueprint.delete(PATH)
def cancel(session_id: str) -> Response:
    _session(session_id)
    sessions.cancel(sandbox(), session_id)
    return Response(b"", status=204)


@blueprint.errorhandler(GraphError)
def _graph_error(failure: GraphError) -> Response:
    return failure.response()
