"""OneDrive's upload sessions as state and rules: chunks in order, multiples of 320 KiB under 60
MiB, 202 with the next range, 416 on overlap, commit on the last byte (no HTTP here)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.drive import state
from graphpost.sandbox.graph.wire import GraphError, ci_get

FRAGMENT_UNIT = 320 * 1024
FRAGMENT_LIMIT = 60 * 1024 * 1024  # "less than 60 MiB" in any one request
SESSION_SECONDS = 24 * 3600
MAX_FILE = 250 * 1024**3
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    sb: Sandbox, user: User, start: dict[str, Any], path: str, body: dict[str, Any], app_id: str
) -> tuple[dict[str, Any], str]:
    """A session for a file at `path` below `start`; returns it and its URL token."""
    parts = state.split_path(path)
    if not parts:
        raise GraphError(400, "invalidRequest", "The request path must name a file.")
    item = ci_get(body, "item") if body else None
    if item is not None and not isinstance(item, dict):
        raise GraphError(400, "invalidRequest", "item must be an object.")
    item = item or {}
    name = ci_get(item, "name")
    if name is not None and name != parts[-1]:
        raise GraphError(
            400, "invalidRequest", "The name in the body must be the name in the path."
        )
    # an upload session fails on a name conflict unless asked otherwise
    conflict = state.check_conflict_behaviour(
        str(ci_get(item, "@microsoft.graph.conflictBehavior") or "fail").lower()
    )
    size = ci_get(item, "fileSize")
    if size is not None and (
        not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE
    ):
        raise GraphError(400, "invalidRequest", "fileSize must be a whole number of bytes.")
    token = secrets.token_urlsafe(32)
    session_id = secrets.token_hex(16)
    expires = sb.clock.now() + SESSION_SECONDS
    with sb.store.transaction() as db:
        db.execute(
            "INSERT INTO drive_sessions (id, token_hash, user_id, start_id, path, conflict, size, expires, app_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                _digest(token),
                user.id,
                start["id"],
                "/".join(parts),
                conflict,
                size,
                expires,
                app_id,
            ),
        )
    return find(sb, session_id, token), token


def _gone() -> GraphError:
    return GraphError(404, "itemNotFound", "The upload session was not found or has expired.")


def find(sb: Sandbox, session_id: str, token: str) -> dict[str, Any]:
    row = sb.store.query_one("SELECT * FROM drive_sessions WHERE id = ?", session_id)
    if row is None or not hmac.compare_digest(row["token_hash"], _digest(token)):
        raise _gone()
    if sb.clock.now() > row["expires"]:
        cancel(sb, session_id)
        raise _gone()
    return dict(row)


def status(session: dict[str, Any]) -> dict[str, Any]:
    return {"nextExpectedRanges": [f"{session['received']}-"]}


def parse_range(
    header: str | None, length: int | None, session: dict[str, Any]
) -> tuple[int, int, int]:
    found = _RANGE.match(header or "")
    if found is None or found.group(3) == "*":
        raise GraphError(
            400,
            "invalidRequest",
            "A Content-Range header 'bytes {start}-{end}/{total}' is required.",
        )
    start, end, total = int(found.group(1)), int(found.group(2)), int(found.group(3))
    if end < start or end >= total or total > MAX_FILE:
        raise GraphError(400, "invalidRange", "The Content-Range is not a valid range.")
    if session["size"] is not None and total != session["size"]:
        raise GraphError(
            400, "invalidRange", "The total in Content-Range must be the same in every request."
        )
    if start < session["received"]:
        raise GraphError(416, "invalidRange", "Uploaded fragment overlaps with existing data.")
    if start > session["received"]:
        raise GraphError(
            416,
            "invalidRange",
            f"Fragments must be uploaded in order; the next starts at {session['received']}.",
        )
    span = end - start + 1
    if span >= FRAGMENT_LIMIT:
        raise GraphError(400, "invalidRange", "A fragment must be smaller than 60 MiB.")
    if end + 1 < total and span % FRAGMENT_UNIT:
        raise GraphError(
            400, "invalidRange", "Every fragment but the last must be a multiple of 320 KiB."
        )
    if length is not None and length != span:
        raise GraphError(400, "invalidRequest", "Content-Length does not match the Content-Range.")
    return start, end, total


def write_fragment(
    sb: Sandbox, session: dict[str, Any], start: int, end: int, total: int, chunks: Iterable[bytes]
) -> tuple[dict[str, Any], bool] | None:
    """Append the fragment durably; on the last byte, commit the file and return (item, created)."""
    expected = end - start + 1
    seen = 0

    def counted() -> Iterable[bytes]:
        nonlocal seen
        for chunk in chunks:
            seen += len(chunk)
            if seen > expected:
                raise GraphError(
                    400, "invalidRequest", "The body is longer than the Content-Range says."
                )
            yield chunk

    length = sb.store.append_part("drive-" + session["id"], start, counted())
    if seen != expected:
        raise GraphError(400, "invalidRequest", "The body is shorter than the Content-Range says.")
    if length < total:
        with sb.store.transaction() as db:
            db.execute(
                "UPDATE drive_sessions SET received = ?, size = ? WHERE id = ?",
                (length, total, session["id"]),
            )
        return None
    user = sb.directory.user(session["user_id"])
    if user is None:
        raise _gone()
    start_row = state.item(sb, user, session["start_id"])
    digest = hashlib.sha256()
    with open(sb.store.part_path("drive-" + session["id"]), "rb") as part:
        for block in iter(lambda: part.read(1024 * 1024), b""):
            digest.update(block)
    blob = sb.store.seal_part("drive-" + session["id"])
    try:
        committed = state.commit_file(
            sb,
            user,
            start_row,
            session["path"],
            blob,
            total,
            digest.hexdigest(),
            None,
            session["conflict"],
            session["app_id"],
        )
    finally:
        # whatever the commit's outcome, the session is over once every byte has arrived
        with sb.store.transaction() as db:
            db.execute("DELETE FROM drive_sessions WHERE id = ?", (session["id"],))
    return committed


def cancel(sb: Sandbox, session_id: str) -> None:
    with sb.store.transaction() as db:
        db.execute("DELETE FROM drive_sessions WHERE id = ?", (session_id,))
    sb.store.drop_part("drive-" + session_id)
