"""Open extensions as the two workloads keep them: where they differ (ids, PATCH answers) is here."""

from __future__ import annotations

import json
import re
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.graph.wire import GraphError, ci_get

EXTENSION_TYPE = "microsoft.graph.openTypeExtension"
SIZE_LIMIT = 2048  # "each open extension ≤ 2 KB" on directory resources
PER_APP_LIMIT = 2  # an app may add 2 open extensions per directory resource instance
_RESERVED = ("@odata.type", "extensionName", "id")


def extension_id(owner_kind: str, name: str) -> str:
    """Directory ids are the name; Outlook prefixes its own type name."""
    if owner_kind == "message":
        return f"Microsoft.OutlookServices.OpenTypeExtension.{name}"
    return name


def name_from_id(extension: str) -> str:
    """Both the name and Outlook's full id are accepted in URLs."""
    for prefix in (
        "Microsoft.OutlookServices.OpenTypeExtension.",
        "microsoft.graph.openTypeExtension.",
    ):
        if extension.lower().startswith(prefix.lower()):
            return extension[len(prefix) :]
    return extension


def custom_properties(body: dict[str, Any]) -> dict[str, Any]:
    """The caller's own values: primitives or lists of primitives."""
    values = {k: v for k, v in body.items() if k not in _RESERVED and not k.startswith("@")}
    for key, value in values.items():
        items = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, str | int | float | bool) for v in items):
            raise GraphError(
                400,
                "BadRequest",
                f"The value of '{key}' must be a primitive or a list of primitives.",
            )
    return values


def resource(owner_kind: str, name: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.type": f"#{EXTENSION_TYPE}",
        "extensionName": name,
        "id": extension_id(owner_kind, name),
        **values,
    }


def _check_size(owner_kind: str, name: str, values: dict[str, Any]) -> None:
    if owner_kind == "user" and len(json.dumps(resource(owner_kind, name, values))) > SIZE_LIMIT:
        raise GraphError(
            400, "Request_BadRequest", "The open extension exceeds the maximum size of 2 KB."
        )


def create(
    sb: Sandbox, owner_kind: str, owner_id: str, app_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    kind = str(ci_get(body, "@odata.type") or "").lstrip("#")
    if kind.lower() != EXTENSION_TYPE.lower():
        raise GraphError(
            400, "BadRequest", "The extension must be of type microsoft.graph.openTypeExtension."
        )
    name = ci_get(body, "extensionName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "BadRequest", "extensionName is required.")
    values = custom_properties(body)
    _check_size(owner_kind, name, values)
    with sb.store.transaction() as db:
        if db.execute(
            "SELECT 1 FROM extensions WHERE owner_kind = ? AND owner_id = ? AND name = ?",
            (owner_kind, owner_id, name),
        ).fetchone():
            raise GraphError(
                409,
                "NameAlreadyExists",
                f"An extension named '{name}' already exists on this resource.",
            )
        mine = db.execute(
            "SELECT COUNT(*) FROM extensions WHERE owner_kind = ? AND owner_id = ? AND app_id = ?",
            (owner_kind, owner_id, app_id),
        ).fetchone()[0]
        if owner_kind == "user" and mine >= PER_APP_LIMIT:
            raise GraphError(
                400,
                "Request_BadRequest",
                "An application can add at most 2 open extensions to a resource.",
            )
        db.execute(
            "INSERT INTO extensions (owner_kind, owner_id, name, app_id, data) VALUES (?, ?, ?, ?, ?)",
            (owner_kind, owner_id, name, app_id, json.dumps(values)),
        )
    return resource(owner_kind, name, values)


def listed(sb: Sandbox, owner_kind: str, owner_id: str) -> list[dict[str, Any]]:
    rows = sb.store.query(
        "SELECT name, data FROM extensions WHERE owner_kind = ? AND owner_id = ? ORDER BY rowid",
        owner_kind,
        owner_id,
    )
    return [resource(owner_kind, row["name"], json.loads(row["data"])) for row in rows]


def get(sb: Sandbox, owner_kind: str, owner_id: str, extension: str) -> dict[str, Any]:
    name = name_from_id(extension)
    row = sb.store.query_one(
        "SELECT name, data FROM extensions WHERE owner_kind = ? AND owner_id = ? AND name = ?",
        owner_kind,
        owner_id,
        name,
    )
    if row is None:
        raise not_found(owner_kind)
    return resource(owner_kind, row["name"], json.loads(row["data"]))


def replace(
    sb: Sandbox, owner_kind: str, owner_id: str, extension: str, body: dict[str, Any]
) -> dict[str, Any]:
    """PATCH replaces the custom properties: those not sent are removed, as documented."""
    current = get(sb, owner_kind, owner_id, extension)
    values = custom_properties(body)
    _check_size(owner_kind, current["extensionName"], values)
    with sb.store.transaction() as db:
        db.execute(
            "UPDATE extensions SET data = ? WHERE owner_kind = ? AND owner_id = ? AND name = ?",
            (json.dumps(values), owner_kind, owner_id, current["extensionName"]),
        )
    return resource(owner_kind, current["extensionName"], values)


def delete(sb: Sandbox, owner_kind: str, owner_id: str, extension: str) -> None:
    current = get(sb, owner_kind, owner_id, extension)
    with sb.store.transaction() as db:
        db.execute(
            "DELETE FROM extensions WHERE owner_kind = ? AND owner_id = ? AND name = ?",
            (owner_kind, owner_id, current["extensionName"]),
        )


def not_found(owner_kind: str) -> GraphError:
    if owner_kind == "message":
        return GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return GraphError(
        404,
        "Request_ResourceNotFound",
        "Resource 'extension' does not exist or one of its queried reference-property objects are not present.",
    )


# $expand=extensions, or extensions($filter=id eq '...') as Graph's docs write it for one extension
EXPAND = re.compile(r"^extensions(?:\(\s*\$filter\s*=\s*id\s+eq\s+'([^']*)'\s*\))?$", re.IGNORECASE)


def expanded(
    sb: Sandbox, owner_kind: str, owner_id: str, only_id: str | None
) -> list[dict[str, Any]]:
    """The owner's extensions for `$expand`; only the one named when it filters by id."""
    extensions = listed(sb, owner_kind, owner_id)
    if only_id is None:
        return extensions
    wanted = name_from_id(only_id).lower()
    return [e for e in extensions if str(e["extensionName"]).lower() == wanted]
