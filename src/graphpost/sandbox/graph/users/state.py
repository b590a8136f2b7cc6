"""Users as Graph shows them: the default property set, `$select`, paging tokens (no HTTP here)."""

from __future__ import annotations

import base64
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.wire import GraphError

DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
EXTRA_PROPERTIES = ("accountEnabled", "userType", "usageLocation", "companyName", "department")
USERS_PAGE_DEFAULT, USERS_PAGE_MAX = 100, 999


def full_resource(user: User) -> dict[str, Any]:
    return {
        "businessPhones": user.business_phones,
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": user.mobile_phone,
        "officeLocation": user.office_location,
        "preferredLanguage": user.preferred_language,
        "surname": user.surname,
        "userPrincipalName": user.upn,
        "id": user.id,
        "accountEnabled": True,
        "userType": "Member",
        "usageLocation": "GB",
        "companyName": "graphpost sandbox",
        "department": None,
    }


def parse_select(raw: str | None) -> list[str] | None:
    """Property names from `$select`, spelled as Graph spells them; 400 for unknown ones."""
    if not raw:
        return None
    known = {name.lower(): name for name in DEFAULT_PROPERTIES + EXTRA_PROPERTIES}
    chosen: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name = known.get(item.lower())
        if name is None:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{item}' on type 'microsoft.graph.user'.",
            )
        chosen.append(name)
    return chosen


def unknown_navigation(raw: str) -> GraphError:
    return GraphError(
        400,
        "Request_BadRequest",
        f"Could not find a navigation property named '{raw}' on type 'microsoft.graph.user'.",
    )


def user_resource(user: User, select: list[str] | None) -> dict[str, Any]:
    full = full_resource(user)
    names = select if select is not None else list(DEFAULT_PROPERTIES)
    resource = {name: full[name] for name in names}
    # Graph always returns the id when properties are selected
    if select is not None and "id" not in resource:
        resource["id"] = user.id
    return resource


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"RFNwdA{offset:08d}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("RFNwdA"))
    except ValueError:
        raise GraphError(400, "Request_BadRequest", "Invalid paging token.") from None


def page_size(raw: str | None) -> int:
    if raw is None:
        return USERS_PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= USERS_PAGE_MAX:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{raw}'. Must be between 1 and {USERS_PAGE_MAX} inclusive.",
        )
    return int(raw)


FULL_SIZE = 240


def photo_sizes(sb: Sandbox, user: User) -> list[tuple[int, str]]:
    """(pixels, blob) of every size of the user's photo, smallest first; empty without a photo."""
    if not user.photo_blob:
        return []
    rows = sb.store.query(
        "SELECT pixels, blob FROM photo_renditions WHERE user_id = ? ORDER BY pixels", user.id
    )
    return [(int(row["pixels"]), str(row["blob"])) for row in rows] + [(FULL_SIZE, user.photo_blob)]


def photo_blob(sb: Sandbox, user: User, size_id: str | None) -> tuple[int, str]:
    """The blob for `size_id` ("48x48"; None = the full size), or Graph's 404."""
    sizes = dict(photo_sizes(sb, user))
    if size_id is None and sizes:
        return FULL_SIZE, sizes[FULL_SIZE]
    width, _, height = (size_id or "").lower().partition("x")
    if width.isdigit() and width == height and int(width) in sizes:
        return int(width), sizes[int(width)]
    raise image_not_found()


def image_not_found() -> GraphError:
    return GraphError(
        404,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
