"""Outlook's attachment upload sessions as state and rules: 3 MB to 150 MB, in order, under 4 MB a
chunk, on a pre-authenticated URL (no HTTP here; `uploads.py` serves the URL)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.mail import state
from graphpost.sandbox.graph.wire import GraphError, ci_get

MINIMUM = 3 * 1024 * 1024  # smaller attachments go in one POST
MAXIMUM = 150 * 1024 * 1024
CHUNK_LIMIT = 4 * 1024 * 1024  # "keep each byte range less than 4 MB"
SESSION_SECONDS = 2 * 3600
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    message_id: str
    name: str
    size: int
    received: int
    expires: float

    @property
    def remaining(self) -> int:
        return self.size - self.received


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(sb: Sandbox, user: User, message_id: str, body: dict[str, Any]) -> tuple[Session, str]:
    """A new session for the message; returns it and the URL token (shown once, stored hashed)."""
    state.get_message(sb, user, message_id)
    item = ci_get(body, "AttachmentItem")
    if not isinstance(item, dict):
        raise GraphError(400, "ErrorInvalidParameter", "The AttachmentItem parameter is required.")
    kind = str(ci_get(item, "attachmentType") or "").lower()
    if kind != "file":
        raise GraphError(
            400, "ErrorInvalidParameter", "Only attachmentType 'file' can be uploaded in a session."
        )
    name, size = ci_get(item, "name"), ci_get(item, "size")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidParameter", "The attachment name is required.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise GraphError(400, "ErrorInvalidParameter", "The attachment size is required.")
    if size < MINIMUM:
        raise GraphError(
            400,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        )
    if size > MAXIMUM:
        raise GraphError(
            400, "ErrorAttachmentSizeLimitExceeded", "The attachment is larger than 150 MB."
        )
    token = secrets.token_urlsafe(32)
    session_id = "AAMkAS" + secrets.token_hex(16)
    expires = sb.clock.now() + SESSION_SECONDS
    with sb.store.transaction() as db:
        db.execute(
            "INSERT INTO attachment_sessions (id, token_hash, user_id, message_id, name, content_type,"
            " size, is_inline, content_id, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                _digest(token),
                user.id,
                message_id,
                name.strip(),
                str(ci_get(item, "contentType") or "application/octet-stream"),
                size,
                int(bool(ci_get(item, "isInline"))),
                ci_get(item, "contentId"),
                expires,
            ),
        )
    return Session(session_id, user.id, message_id, name.strip(), size, 0, expires), token


def _not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The upload session was not found or has expired.")


def find(sb: Sandbox, session_id: str, token: str) -> dict[str, Any]:
    row = sb.store.query_one("SELECT * FROM attachment_sessions WHERE id = ?", session_id)
    if row is None or not hmac.compare_digest(row["token_hash"], _digest(token)):
        raise _not_found()
    if sb.clock.now() > row["expires"]:
        cancel(sb, session_id)
        raise _not_found()
    return dict(row)


def parse_range(header: str | None, length: int | None, session: dict[str, Any]) -> tuple[int, int]:
    """(start, end) of a chunk, which must continue the upload exactly where it stands."""
    found = _RANGE.match(header or "")
    if found is None:
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "A Content-Range header 'bytes {start}-{end}/{total}' is required.",
        )
    start, end, total = (int(found.group(n)) for n in (1, 2, 3))
    if total != session["size"]:
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            f"The total in Content-Range must be the attachment size, {session['size']}.",
        )
    if end < start or end >= total:
        raise GraphError(400, "ErrorInvalidRequest", "The Content-Range is not a valid range.")
    if start != session["received"]:
        # Outlook takes chunks strictly in order; its wording for this refusal is not documented
        raise GraphError(
            416,
            "ErrorInvalidRequest",
            f"The upload continues at byte {session['received']}, not at byte {start}.",
        )
    if end - start + 1 >= CHUNK_LIMIT:
        raise GraphError(400, "ErrorInvalidRequest", "Each chunk must be smaller than 4 MB.")
    if length is not None and length != end - start + 1:
        raise GraphError(
            400, "ErrorInvalidRequest", "Content-Length does not match the Content-Range."
        )
    return start, end


def write_chunk(
    sb: Sandbox, session: dict[str, Any], start: int, end: int, chunks: Iterable[bytes]
) -> str | None:
    """Append the chunk durably; returns the attachment's id once the last byte is in."""
    expected = end - start + 1
    received = 0

    def counted() -> Iterable[bytes]:
        nonlocal received
        for chunk in chunks:
            received += len(chunk)
            if received > expected:
                raise GraphError(
                    400, "ErrorInvalidRequest", "The body is longer than the Content-Range says."
                )
            yield chunk

    length = sb.store.append_part(session["id"], start, counted())
    if received != expected:
        raise GraphError(
            400, "ErrorInvalidRequest", "The body is shorter than the Content-Range says."
        )
    if length < session["size"]:
        with sb.store.transaction() as db:
            db.execute(
                "UPDATE attachment_sessions SET received = ? WHERE id = ?", (length, session["id"])
            )
        return None
    user = sb.directory.user(session["user_id"])
    if user is None:
        raise _not_found()
    state.get_message(sb, user, session["message_id"])  # the message may have gone meanwhile
    blob = sb.store.seal_part(session["id"])
    attachment = state.StoredAttachment(
        session["name"],
        session["content_type"],
        session["size"],
        bool(session["is_inline"]),
        session["content_id"],
        blob,
    )
    with sb.store.transaction() as db:
        attachment_id = state.add_attachment_row(
            db, session["message_id"], attachment, sb.clock.iso()
        )
        db.execute("DELETE FROM attachment_sessions WHERE id = ?", (session["id"],))
        state.refresh_has_attachments(db, session["message_id"])
    return attachment_id


def cancel(sb: Sandbox, session_id: str) -> None:
    with sb.store.transaction() as db:
        db.execute("DELETE FROM attachment_sessions WHERE id = ?", (session_id,))
    sb.store.drop_part(session_id)
