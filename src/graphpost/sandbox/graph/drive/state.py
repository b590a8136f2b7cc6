"""OneDrive as SharePoint keeps it: items by path and id, uploads, sharing links (no HTTP here)."""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
import sqlite3
from collections.abc import Iterable
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.wire import GraphError, ci_get
from graphpost.sandbox.seed import drive_item_id

SIMPLE_UPLOAD_LIMIT = 250 * 1024 * 1024
CONFLICT_BEHAVIOURS = ("fail", "replace", "rename")
LINK_TYPES = ("view", "edit", "embed")
LINK_SCOPES = ("anonymous", "organization", "users")
DEFAULT_LINK_SCOPE = "organization"  # the tenant's sharing default when the app sends no scope
INVALID_NAME_CHARS = set('"*:<>?/\\|')


def not_found() -> GraphError:
    return GraphError(404, "itemNotFound", "The resource could not be found.")


def drive_id(user: User) -> str:
    return "b!" + hashlib.sha256(user.id.encode()).hexdigest()[:40]


def root(sb: Sandbox, user: User) -> dict[str, Any]:
    row = sb.store.query_one(
        "SELECT * FROM drive_items WHERE user_id = ? AND parent_id IS NULL", user.id
    )
    assert row is not None, f"user {user.id} has no drive"
    return dict(row)


def item(sb: Sandbox, user: User, item_id: str) -> dict[str, Any]:
    if item_id.lower() == "root":
        return root(sb, user)
    row = sb.store.query_one(
        "SELECT * FROM drive_items WHERE id = ? AND user_id = ?", item_id, user.id
    )
    if row is None:
        raise not_found()
    return dict(row)


def _child(db: sqlite3.Connection, parent_id: str, name: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT * FROM drive_items WHERE parent_id = ? AND name = ?", (parent_id, name)
    ).fetchone()
    return None if row is None else dict(row)


def split_path(path: str) -> list[str]:
    parts = [part for part in path.strip("/").split("/") if part]
    for part in parts:
        if INVALID_NAME_CHARS & set(part) or part.endswith((" ", ".")):
            raise GraphError(
                400, "invalidRequest", f"The provided name '{part}' contains invalid characters."
            )
    return parts


def item_by_path(sb: Sandbox, user: User, start: dict[str, Any], path: str) -> dict[str, Any]:
    current = start
    for part in split_path(path):
        found = sb.store.query_one(
            "SELECT * FROM drive_items WHERE parent_id = ? AND name = ?", current["id"], part
        )
        if found is None:
            raise not_found()
        current = dict(found)
    return current


def _ensure_folders(
    sb: Sandbox, db: sqlite3.Connection, user: User, start: dict[str, Any], parts: list[str]
) -> dict[str, Any]:
    """Walk to the folder for `parts`, creating what is missing, as an upload by path does."""
    current = start
    now = sb.clock.iso()
    for part in parts:
        found = _child(db, current["id"], part)
        if found is None:
            folder_id = drive_item_id()
            db.execute(
                "INSERT INTO drive_items (id, user_id, parent_id, name, is_folder, created, modified)"
                " VALUES (?, ?, ?, ?, 1, ?, ?)",
                (folder_id, user.id, current["id"], part, now, now),
            )
            found = _child(db, current["id"], part)
            assert found is not None
        elif not found["is_folder"]:
            raise GraphError(
                409, "nameAlreadyExists", f"The name {part} is already used by a file."
            )
        current = found
    return current


def _free_name(db: sqlite3.Connection, parent_id: str, name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    number = 1
    while True:
        candidate = f"{stem} {number}{'.' + extension if extension else ''}"
        if _child(db, parent_id, candidate) is None:
            return candidate
        number += 1


def check_conflict_behaviour(conflict: str) -> str:
    if conflict not in CONFLICT_BEHAVIOURS:
        raise GraphError(
            400,
            "invalidRequest",
            f"Invalid value for @microsoft.graph.conflictBehavior: '{conflict}'.",
        )
    return conflict


def too_large_for_simple_upload() -> GraphError:
    return GraphError(
        413,
        "maxFileSizeExceeded",
        "The file is larger than a simple upload allows (250 MB); use an upload session.",
    )


def put_content(
    sb: Sandbox,
    user: User,
    start: dict[str, Any],
    path: str,
    chunks: Iterable[bytes],
    content_type: str | None,
    conflict: str,
    app_id: str,
) -> tuple[dict[str, Any], bool]:
    """Simple upload: store a file at `path` below `start`; returns (item, created)."""
    check_conflict_behaviour(conflict)
    if not split_path(path):
        raise GraphError(400, "invalidRequest", "The request path must name a file.")
    digest = hashlib.sha256()

    def counted() -> Iterable[bytes]:
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > SIMPLE_UPLOAD_LIMIT:  # sent without its length: found out on the way
                raise too_large_for_simple_upload()
            digest.update(chunk)
            yield chunk

    blob, size = sb.store.write_blob(counted())
    return commit_file(
        sb, user, start, path, blob, size, digest.hexdigest(), content_type, conflict, app_id
    )


def commit_file(
    sb: Sandbox,
    user: User,
    start: dict[str, Any],
    path: str,
    blob: str,
    size: int,
    sha256: str,
    content_type: str | None,
    conflict: str,
    app_id: str,
) -> tuple[dict[str, Any], bool]:
    """Put a complete blob at `path` below `start` (folders made on the way); (item, created).

    The blob is removed again if the file cannot be placed, so a refusal leaves nothing behind."""
    parts = split_path(path)
    mime = content_type if content_type and content_type != "application/octet-stream" else None
    mime = mime or mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
    now = sb.clock.iso()
    old_blob = None
    try:
        with sb.store.transaction() as db:
            parent = _ensure_folders(sb, db, user, start, parts[:-1])
            name = parts[-1]
            existing = _child(db, parent["id"], name)
            if existing is not None and existing["is_folder"]:
                raise GraphError(
                    409, "nameAlreadyExists", "A folder with the same name already exists."
                )
            if existing is not None and conflict == "fail":
                raise GraphError(
                    409, "nameAlreadyExists", "The specified item name already exists."
                )
            if existing is not None and conflict == "rename":
                name, existing = _free_name(db, parent["id"], name), None
            if existing is None:
                item_id = drive_item_id()
                db.execute(
                    "INSERT INTO drive_items (id, user_id, parent_id, name, is_folder, size, mime_type, blob,"
                    " sha256, created, modified, created_by_app) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item_id,
                        user.id,
                        parent["id"],
                        name,
                        size,
                        mime,
                        blob,
                        sha256,
                        now,
                        now,
                        app_id,
                    ),
                )
                created = True
            else:
                item_id, old_blob = existing["id"], existing["blob"]
                db.execute(
                    "UPDATE drive_items SET size = ?, mime_type = ?, blob = ?, sha256 = ?, modified = ?,"
                    " version = version + 1 WHERE id = ?",
                    (size, mime, blob, sha256, now, item_id),
                )
                created = False
            row = db.execute("SELECT * FROM drive_items WHERE id = ?", (item_id,)).fetchone()
    except BaseException:
        sb.store.delete_blob(blob)
        raise
    if old_blob:
        sb.store.delete_blob(old_blob)
    return dict(row), created


def children(
    sb: Sandbox, folder: dict[str, Any], top: int, offset: int
) -> tuple[list[dict[str, Any]], bool]:
    if not folder["is_folder"]:
        raise GraphError(400, "invalidRequest", "The item is not a folder.")
    rows = sb.store.query(
        "SELECT * FROM drive_items WHERE parent_id = ? ORDER BY is_folder DESC, name LIMIT ? OFFSET ?",
        folder["id"],
        top + 1,
        offset,
    )
    return [dict(row) for row in rows[:top]], len(rows) > top


def create_folder(
    sb: Sandbox, user: User, parent: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    name = ci_get(body, "name")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "invalidRequest", "A name is required.")
    if ci_get(body, "folder") is None:
        raise GraphError(
            400, "invalidRequest", "Only folders can be created this way; upload files with PUT."
        )
    if not parent["is_folder"]:
        raise GraphError(400, "invalidRequest", "The parent is not a folder.")
    if "/" in name:
        raise GraphError(
            400, "invalidRequest", f"The provided name '{name}' contains invalid characters."
        )
    split_path(name)  # the rules for a name
    # creating a folder fails on a conflict unless asked otherwise
    conflict = check_conflict_behaviour(
        str(ci_get(body, "@microsoft.graph.conflictBehavior") or "fail").lower()
    )
    now = sb.clock.iso()
    with sb.store.transaction() as db:
        existing = _child(db, parent["id"], name)
        if existing is not None:
            if conflict == "fail":
                raise GraphError(
                    409, "nameAlreadyExists", "The specified item name already exists."
                )
            if conflict == "rename":
                name = _free_name(db, parent["id"], name)
            elif existing["is_folder"]:
                return existing
            else:
                raise GraphError(
                    409, "nameAlreadyExists", "A file with the same name already exists."
                )
        folder_id = drive_item_id()
        db.execute(
            "INSERT INTO drive_items (id, user_id, parent_id, name, is_folder, created, modified)"
            " VALUES (?, ?, ?, ?, 1, ?, ?)",
            (folder_id, user.id, parent["id"], name, now, now),
        )
        row = db.execute("SELECT * FROM drive_items WHERE id = ?", (folder_id,)).fetchone()
    return dict(row)


def delete_item(sb: Sandbox, row: dict[str, Any]) -> None:
    """An item and, for a folder, everything below it; with their sharing links."""
    if row["parent_id"] is None:
        raise GraphError(403, "accessDenied", "The root of a drive cannot be deleted.")
    blobs: list[str] = []
    with sb.store.transaction() as db:
        pending = [row["id"]]
        while pending:
            current = pending.pop()
            pending += [
                r[0]
                for r in db.execute("SELECT id FROM drive_items WHERE parent_id = ?", (current,))
            ]
            found = db.execute("SELECT blob FROM drive_items WHERE id = ?", (current,)).fetchone()
            if found and found[0]:
                blobs.append(found[0])
            db.execute("DELETE FROM sharing_links WHERE item_id = ?", (current,))
            db.execute("DELETE FROM drive_items WHERE id = ?", (current,))
    for blob in blobs:
        sb.store.delete_blob(blob)


def drive_resource(sb: Sandbox, user: User) -> dict[str, Any]:
    used = sb.store.query_one(
        "SELECT COALESCE(SUM(size), 0) AS n FROM drive_items WHERE user_id = ?", user.id
    )
    total = 1024**4
    return {
        "id": drive_id(user),
        "driveType": "business",
        "name": "OneDrive",
        "webUrl": f"{sb.base_url}/portal/users/{user.id}/drive",
        "owner": identity(user),
        "quota": {
            "total": total,
            "used": int(used["n"]) if used else 0,
            "remaining": total - (int(used["n"]) if used else 0),
            "state": "normal",
        },
    }


def user_of_drive(sb: Sandbox, drive: str) -> User | None:
    return next((user for user in sb.directory.users() if drive_id(user) == drive), None)


def _path_of(sb: Sandbox, row: dict[str, Any]) -> str:
    names: list[str] = []
    parent_id = row["parent_id"]
    while parent_id is not None:
        parent = sb.store.query_one(
            "SELECT name, parent_id FROM drive_items WHERE id = ?", parent_id
        )
        if parent is None or parent["parent_id"] is None:
            break
        names.append(parent["name"])
        parent_id = parent["parent_id"]
    return "/drive/root:" + ("/" + "/".join(reversed(names)) if names else "")


def identity(user: User) -> dict[str, Any]:
    return {"user": {"email": user.mail, "id": user.id, "displayName": user.display_name}}


def item_resource(sb: Sandbox, user: User, row: dict[str, Any]) -> dict[str, Any]:
    version = row["version"]
    etag = f'"{{{row["id"][-8:]}}},{version}"'
    resource: dict[str, Any] = {
        "createdDateTime": row["created"],
        "eTag": etag,
        "id": row["id"],
        "lastModifiedDateTime": row["modified"],
        "name": row["name"],
        "webUrl": f"{sb.base_url}/portal/drive/{row['id']}",
        "size": row["size"],
        "createdBy": identity(user),
        "lastModifiedBy": identity(user),
        "parentReference": {"driveType": "business", "driveId": drive_id(user)},
        "fileSystemInfo": {
            "createdDateTime": row["created"],
            "lastModifiedDateTime": row["modified"],
        },
    }
    if row["parent_id"] is not None:
        resource["parentReference"].update({"id": row["parent_id"], "path": _path_of(sb, row)})
    if row["is_folder"]:
        count = sb.store.query_one(
            "SELECT COUNT(*) AS n FROM drive_items WHERE parent_id = ?", row["id"]
        )
        resource["folder"] = {"childCount": count["n"] if count else 0}
        if row["parent_id"] is None:
            resource["root"] = {}
            resource["name"] = "root"
    else:
        resource["cTag"] = f'"c:{{{row["id"][-8:]}}},{version}"'
        resource["file"] = {
            "mimeType": row["mime_type"],
            "hashes": {"sha256Hash": (row["sha256"] or "").upper()},
        }
    return resource


def create_link(
    sb: Sandbox, user: User, row: dict[str, Any], link_type: str, scope: str, app_id: str
) -> tuple[dict[str, Any], bool]:
    """The sharing link of this type and scope, made on first request; (link row, created)."""
    with sb.store.transaction() as db:
        existing = db.execute(
            "SELECT * FROM sharing_links WHERE item_id = ? AND link_type = ? AND scope = ?",
            (row["id"], link_type, scope),
        ).fetchone()
        if existing is not None:
            return dict(existing), False
        link_id = secrets.token_hex(16)
        token = "E" + secrets.token_urlsafe(32)
        db.execute(
            "INSERT INTO sharing_links (id, item_id, link_type, scope, token, application_id, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (link_id, row["id"], link_type, scope, token, app_id, sb.clock.iso()),
        )
        created = db.execute("SELECT * FROM sharing_links WHERE id = ?", (link_id,)).fetchone()
    return dict(created), True


def link_url(sb: Sandbox, user: User, item_row: dict[str, Any], link: dict[str, Any]) -> str:
    """A SharePoint-shaped address: /:{kind}:/g/personal/{owner}/{token}."""
    mime = item_row["mime_type"] or ""
    kind = "f" if item_row["is_folder"] else ("i" if mime.startswith("image/") else "u")
    owner = user.upn.replace("@", "_").replace(".", "_")
    return f"{sb.base_url}/:{kind}:/g/personal/{owner}/{link['token']}"


def permission_resource(
    sb: Sandbox, user: User, item_row: dict[str, Any], link: dict[str, Any], app_name: str
) -> dict[str, Any]:
    return {
        "id": link["id"],
        "roles": ["write" if link["link_type"] == "edit" else "read"],
        "shareId": "u!" + link["token"],
        "hasPassword": False,
        "link": {
            "scope": link["scope"],
            "type": link["link_type"],
            "webUrl": link_url(sb, user, item_row, link),
            "preventsDownload": False,
            "application": {"id": link["application_id"], "displayName": app_name},
        },
    }


def resolve_link(sb: Sandbox, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(link, item) for a sharing link token, if both still exist."""
    link = sb.store.query_one("SELECT * FROM sharing_links WHERE token = ?", token)
    if link is None:
        return None
    row = sb.store.query_one("SELECT * FROM drive_items WHERE id = ?", link["item_id"])
    return None if row is None else (dict(link), dict(row))
