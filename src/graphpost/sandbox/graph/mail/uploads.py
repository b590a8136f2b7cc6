"""The pre-authenticated upload URL of Outlook's attachment sessions (`/_upload/outlook/...`).

Like Outlook's own (`https://outlook.office.com/api/v2.0/.../AttachmentSessions('...')?authtoken=`),
the URL carries its own opaque token and takes no Authorization header.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, request

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.graph.mail import sessions
from graphpost.sandbox.graph.wire import (
    GraphError,
    json_response,
    refuse_large_body,
)

blueprint = Blueprint("outlook_uploads", __name__)
PATH = "/_upload/outlook/<path:address>"
READ_SIZE = 256 * 1024
_SESSION = re.compile(r"AttachmentSessions\('([^'/]+)'\)$")


def upload_url(sb: Sandbox, user_id: str, message_id: str, session_id: str, token: str) -> str:
    """Shaped like Outlook's: .../api/v2.0/Users('{oid}@{tid}')/Messages('{id}')/AttachmentSessions('{id}')."""
    owner = _owner(sb, user_id, message_id, encoded=False)
    path = quote(f"{owner}/AttachmentSessions('{session_id}')", safe="/'()@=")
    return f"{other_host(sb.base_url)}/_upload/outlook/api/v2.0/{path}?authtoken={token}"


def other_host(base_url: str) -> str:
    """The sandbox's address under its other loopback name (127.0.0.1 <-> localhost).

    Outlook's upload URLs are on outlook.office.com, not on graph.microsoft.com, and Microsoft's
    SDKs attach their Graph token by host (Kiota's allowed hosts), so in the cloud the token never
    reaches an upload URL. A different host here keeps that true for a client set up with the
    sandbox's Graph host; the certificate names both.
    """
    parts = urlsplit(base_url)
    swapped = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(parts.hostname or "")
    if swapped is None:
        return base_url
    return base_url.replace(f"//{parts.hostname}", f"//{swapped}", 1)


def _session_id(address: str) -> str:
    found = _SESSION.search(address)
    return found.group(1) if found else ""


def expiration(timestamp: float) -> str:
    """Outlook's times here carry seven digits of fraction: 2019-09-25T01:09:30.7671707Z."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def _session(session_id: str) -> dict[str, object]:
    if "Authorization" in request.headers:
        # Decided: refused, not ignored. Outlook takes the URL's own token; a Graph token sent
        # along fails Outlook's audience check with a 401 (microsoft-graph-docs#6955), which is
        # what a client that leaks its Graph token to this URL should learn here too.
        raise GraphError(
            401,
            "InvalidAudience",
            "The audience claim value is invalid for current resource. Audience claim is"
            f" 'https://graph.microsoft.com', request url is '{request.base_url}'.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return sessions.find(sandbox(), session_id, request.args.get("authtoken", ""))


def _owner(sb: Sandbox, user_id: str, message_id: str, *, encoded: bool) -> str:
    """`Users('{oid}@{tid}')/Messages('{id}')`, as Outlook's v2.0 URLs name a message (percent-
    encoded inside an @odata.context, as in outlook-large-attachments.md)."""
    user, message = f"{user_id}@{sb.tenant_id}", message_id
    if encoded:
        user, message = quote(user, safe=""), quote(message, safe="")
    return f"Users('{user}')/Messages('{message}')"


@blueprint.put(PATH)
def put_chunk(address: str) -> Response:
    sb = sandbox()
    session_id = _session_id(address)
    refuse_large_body(sessions.CHUNK_LIMIT - 1, "Each byte range must be smaller than 4 MB.")
    with sessions.locked(session_id):
        try:
            session = _session(session_id)
            start, end = sessions.parse_range(
                request.headers.get("Content-Range"), request.content_length, session
            )
        except GraphError:
            _drain()  # the client is still sending: let it finish and read the answer
            raise
        chunks = iter(lambda: request.stream.read(READ_SIZE), b"")
        attachment_id = sessions.write_chunk(sb, session, start, end, chunks)
        if attachment_id is None:
            session = sessions.find(sb, session_id, request.args.get("authtoken", ""))
    user_id, message_id = str(session["user_id"]), str(session["message_id"])
    if attachment_id is None:
        owner = _owner(sb, user_id, message_id, encoded=True)
        return json_response(
            {
                "@odata.context": f"{sb.base_url}/api/v2.0/$metadata#{owner}/AttachmentSessions/$entity",
                # Outlook's v2.0 answer: PascalCase expiry, a lone offset as the next range
                "ExpirationDateTime": expiration(float(str(session["expires"]))),
                "nextExpectedRanges": [str(session["received"])],
            }
        )
    owner = _owner(sb, user_id, message_id, encoded=False)
    response = Response(b"", status=201)
    response.headers["Location"] = f"{sb.base_url}/api/v2.0/{owner}/Attachments('{attachment_id}')"
    return response


def _drain() -> None:
    left = sessions.CHUNK_LIMIT
    while left > 0:
        read = request.stream.read(min(READ_SIZE, left))
        if not read:
            return
        left -= len(read)


@blueprint.delete(PATH)
def cancel(address: str) -> Response:
    session_id = _session_id(address)
    with sessions.locked(session_id):
        _session(session_id)
        sessions.cancel(sandbox(), session_id)
    return Response(b"", status=204)


@blueprint.errorhandler(GraphError)
def _graph_error(failure: GraphError) -> Response:
    return failure.response()
