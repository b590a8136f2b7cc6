"""What the portal shows, read straight from the store (read-only; the Graph areas own the writes)."""

from __future__ import annotations

import json
from typing import Any

from graphpost.sandbox.context import Sandbox

PAGE = 50


def folders(sb: Sandbox, user_id: str) -> list[dict[str, Any]]:
    rows = sb.store.query(
        "SELECT f.id, f.well_known_name, f.display_name, COUNT(m.id) AS total,"
        " SUM(CASE WHEN json_extract(m.resource, '$.isRead') THEN 0 ELSE 1 END) AS unread"
        " FROM mail_folders f LEFT JOIN messages m ON m.folder_id = f.id"
        " WHERE f.user_id = ? GROUP BY f.id ORDER BY f.rowid",
        user_id,
    )
    return [dict(row) for row in rows]


def messages(sb: Sandbox, folder_id: str, page: int) -> tuple[list[dict[str, Any]], bool]:
    rows = sb.store.query(
        "SELECT resource FROM messages WHERE folder_id = ? ORDER BY received DESC, seq DESC LIMIT ? OFFSET ?",
        folder_id,
        PAGE + 1,
        page * PAGE,
    )
    found = [json.loads(row["resource"]) for row in rows]
    return found[:PAGE], len(found) > PAGE


def message(sb: Sandbox, message_id: str) -> tuple[str, dict[str, Any]] | None:
    row = sb.store.query_one("SELECT user_id, resource FROM messages WHERE id = ?", message_id)
    return None if row is None else (str(row["user_id"]), json.loads(row["resource"]))


def attachments(sb: Sandbox, message_id: str) -> list[dict[str, Any]]:
    rows = sb.store.query(
        "SELECT id, name, content_type, size, is_inline, blob FROM attachments WHERE message_id = ? ORDER BY position",
        message_id,
    )
    return [dict(row) for row in rows]


def outbound(sb: Sandbox) -> list[dict[str, Any]]:
    rows = sb.store.query(
        "SELECT o.created, o.recipients, o.message_id, u.upn AS sender, m.resource"
        " FROM outbound_mail o JOIN users u ON u.id = o.sender_id"
        " LEFT JOIN messages m ON m.id = o.message_id ORDER BY o.rowid DESC LIMIT 200"
    )
    found = []
    for row in rows:
        resource = json.loads(row["resource"]) if row["resource"] else {}
        found.append(
            {
                "created": row["created"],
                "sender": row["sender"],
                "recipients": json.loads(row["recipients"]),
                "subject": resource.get("subject", ""),
                "message_id": row["message_id"] or None,
            }
        )
    return found


def drive_items(sb: Sandbox, user_id: str) -> list[dict[str, Any]]:
    """Every file and folder of the user's drive with its path, folders first."""
    rows = [dict(r) for r in sb.store.query("SELECT * FROM drive_items WHERE user_id = ?", user_id)]
    by_id = {row["id"]: row for row in rows}

    def path(row: dict[str, Any]) -> str:
        names: list[str] = []
        while row["parent_id"] is not None:
            names.append(row["name"])
            row = by_id.get(row["parent_id"], {"parent_id": None})
        return "/" + "/".join(reversed(names))

    items = [dict(row, path=path(row)) for row in rows if row["parent_id"] is not None]
    return sorted(
        items,
        key=lambda item: (item["path"].count("/"), not item["is_folder"], item["path"].lower()),
    )


def drive_item(sb: Sandbox, item_id: str) -> dict[str, Any] | None:
    row = sb.store.query_one("SELECT * FROM drive_items WHERE id = ?", item_id)
    return None if row is None else dict(row)


def sharing_links(sb: Sandbox, user_id: str) -> list[dict[str, Any]]:
    rows = sb.store.query(
        "SELECT s.*, d.name FROM sharing_links s JOIN drive_items d ON d.id = s.item_id"
        " WHERE d.user_id = ? ORDER BY s.rowid DESC",
        user_id,
    )
    return [dict(row) for row in rows]
