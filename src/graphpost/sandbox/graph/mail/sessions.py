"""Outlook's attachment upload sessions as state and rules: 3 MB to 150 MB, in order, under 4 MB a
chunk, on a pre-authenticated URL (no HTTP here; `uploads.py` serves the URL).

The bytes so far live in a part file that only grows at the offset the session has acknowledged
(the database row holds that offset); the last chunk turns the part file into a blob and the blob
into an attachment of the message, in that order, so a 201 means the attachment is on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.mail import state
from graphpost.sandbox.graph.wire import GraphError, as_bool, ci_get

MINIMUM = 3 * 1024 * 1024  # smaller attachments go in one POST
MAXIMUM = 150 * 1024 * 1024  # "attach files up to 150 MB"
CHUNK_LIMIT = 4 * 1024 * 1024  # "keep each byte range less than 4 MB"
SESSION_SECONDS = 2 * 3600
_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$")

# one chunk at a time per session: a second PUT waits, then sees where the first left the upload
_LOCKS = [threading.Lock() for _ in range(64)]


@contextlib.contextmanager
def locked(session_id: str) -> Iterator[None]:
    with _LOCKS[zlib.crc32(session_id.encode()) % len(_LOCKS)]:
        yield


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    message_id: str
    name: str
    size: int
    received: int
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidParameter", message)


def create(sb: Sandbox, user: User, message_id: str, body: dict[str, Any]) -> tuple[Session, str]:
    """A new session for the message; returns it and the URL token (shown once, stored hashed)."""
    _forget_expired(sb)
    state.get_message(sb, user, message_id)
    item = ci_get(body, "AttachmentItem")
    if not isinstance(item, dict):
        raise _invalid("The AttachmentItem parameter is required.")
    kind = ci_get(item, "attachmentType")
    if not isinstance(kind, str) or kind.lower() != "file":
        raise _invalid("Only attachmentType 'file' can be uploaded in a session.")
    name, size = ci_get(item, "name"), ci_get(item, "size")
    if not isinstance(name, str) or not name.strip():
        raise _invalid("The attachment name is required.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid("The attachment size is required, a whole number of bytes.")
    content_type = ci_get(item, "contentType")
    content_id = ci_get(item, "contentId")
    if not isinstance(content_type, str | None) or not isinstance(content_id, str | None):
        raise _invalid("contentType and contentId must be text.")
    is_inline = as_bool(ci_get(item, "isInline"), False)
    if size < MINIMUM:
        # outlook-large-attachments.md: under 3 MB, POST the attachment instead
        raise GraphError(
            400,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        )
    if size > MAXIMUM:
        raise GraphError(
            400,
            "ErrorAttachmentSizeLimitExceeded",
            "The file attachment exceeds the maximum supported size.",
        )
    if state.stored_size(sb, message_id) + size > state.MAX_DRAFT_SIZE:
        raise GraphError(
            400, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size."
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
                content_type or "application/octet-stream",
                size,
                int(is_inline),
                content_id,
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


def _forget_expired(sb: Sandbox) -> None:
    """Expired sessions go, with their part files, whenever a new one starts."""
    for row in sb.store.query(
        "SELECT id FROM attachment_sessions WHERE expires < ?", sb.clock.now()
    ):
        cancel(sb, str(row["id"]))


def _range_error(status: int, message: str) -> GraphError:
    return GraphError(status, "ErrorInvalidRequest", message)


def parse_range(header: str | None, length: int | None, session: dict[str, Any]) -> tuple[int, int]:
    """(start, end) of a chunk, which must continue the upload exactly where it stands."""
    found = _RANGE.match(header or "")
    if found is None:
        raise _range_error(400, "A Content-Range header 'bytes {start}-{end}/{total}' is required.")
    start, end, total = (int(found.group(n)) for n in (1, 2, 3))
    if total != session["size"]:
        raise _range_error(
            400, f"The total in Content-Range must be the attachment size, {session['size']}."
        )
    if end < start or end >= total:
        raise _range_error(400, "The Content-Range is not a valid range of the attachment.")
    if end - start + 1 >= CHUNK_LIMIT:
        raise GraphError(413, "RequestEntityTooLarge", "Each byte range must be smaller than 4 MB.")
    if start != session["received"]:
        # Outlook takes the bytes strictly in order ("You must upload bytes in a file in order");
        # a chunk that overlaps or skips is refused as an unsatisfiable range, as OneDrive does
        raise _range_error(
            416,
            f"The upload continues at byte {session['received']}, not at byte {start}.",
        )
    if length is not None and length != end - start + 1:
        raise _range_error(
            400,
            f"Content-Length is {length} but the Content-Range holds {end - start + 1} bytes.",
        )
    return start, end


def write_chunk(
    sb: Sandbox, session: dict[str, Any], start: int, end: int, chunks: Iterable[bytes]
) -> str | None:
    """Append the chunk durably; returns the attachment's id once the last byte is in."""
    expected = end - start + 1
    part = sb.store.part_path(session["id"])
    if start > 0 and (not part.exists() or part.stat().st_size < start):
        # the acknowledged bytes are gone (a crash as the last chunk was sealed): start again
        with sb.store.transaction() as db:
            db.execute("UPDATE attachment_sessions SET received = 0 WHERE id = ?", (session["id"],))
        raise _range_error(416, "The upload continues at byte 0.")
    received = 0

    def counted() -> Iterable[bytes]:
        nonlocal received
        for chunk in chunks:
            received += len(chunk)
            if received > expected:
                raise _range_error(
                    400,
                    f"Content size exceeds specified contentLength. {received} bytes written"
                    f" while expected {expected}.",
                )
            yield chunk

    length = sb.store.append_part(session["id"], start, counted())
    if received != expected:
        raise _range_error(
            400, f"The body holds {received} bytes but the Content-Range says {expected}."
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
        if (
            db.execute("SELECT 1 FROM messages WHERE id = ?", (session["message_id"],)).fetchone()
            is None
        ):
            sb.store.delete_blob(blob)
            raise state.item_not_found()
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
