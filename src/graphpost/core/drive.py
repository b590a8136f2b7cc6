"""OneDrive: small uploads by path (``PUT …/root:/{path}:/content``) and sharing links (createLink)."""

from __future__ import annotations

import mimetypes
from typing import Any

from graphpost.core.common import graph_request, owner_path
from graphpost.core.errors import expect_ok
from graphpost.core.http import Operation, drive_path, path_segment
from graphpost.errors import SizeLimitExceeded
from graphpost.models import DriveItem, SharingLink

__all__ = ["CONFLICT_BEHAVIORS", "MAX_SIMPLE_UPLOAD_BYTES", "create_link", "upload_small"]

# A single PUT takes files up to 250 MB; larger ones need an upload session (a later feature)
MAX_SIMPLE_UPLOAD_BYTES = 250 * 1024 * 1024
CONFLICT_BEHAVIORS = ("replace", "fail", "rename")
LINK_TYPES = ("view", "edit", "embed")
LINK_SCOPES = ("anonymous", "organization", "users")


def upload_small(
    remote_path: str,
    content: bytes,
    content_type: str | None = None,
    user: str = "me",
    conflict_behavior: str = "replace",
) -> Operation[DriveItem]:
    """Put `content` at `remote_path` (``folder/name.txt``, from the drive's root) in one request.

    Graph answers 201 for a new file and 200 for a replaced one.  Only ``replace`` (the
    default) makes sending the request twice harmless, so only then is it retried
    after a lost connection: ``rename`` would leave a second copy.
    """
    if conflict_behavior not in CONFLICT_BEHAVIORS:
        raise ValueError(f"conflict_behavior must be one of {', '.join(CONFLICT_BEHAVIORS)}")
    quoted = drive_path(remote_path)
    if not quoted:
        raise ValueError("remote_path needs a file name")
    if len(content) > MAX_SIMPLE_UPLOAD_BYTES:
        raise SizeLimitExceeded(
            f"file {remote_path!r}",
            len(content),
            MAX_SIMPLE_UPLOAD_BYTES,
            "files over 250 MB need an upload session",
        )
    media_type = content_type or mimetypes.guess_type(quoted.rsplit("/", 1)[-1], strict=False)[0]
    url = f"{owner_path(user)}/drive/root:/{quoted}:/content"
    if conflict_behavior != "replace":
        # in the URL as Graph documents it, with a literal "@" (one of three fixed words follows)
        url += f"?@microsoft.graph.conflictBehavior={conflict_behavior}"
    request = graph_request(
        "PUT",
        url,
        headers={"Content-Type": media_type or "application/octet-stream"},
        content=content,
        idempotent=conflict_behavior == "replace",
    )
    response = expect_ok((yield request))
    return DriveItem.from_json(response.json() or {})


def create_link(
    item_id: str,
    type: str = "view",  # Graph's own name for it
    scope: str | None = None,
    user: str = "me",
) -> Operation[SharingLink]:
    """A sharing link to a drive item: 201 when created, 200 when Graph returns the existing one.

    Without `scope` the tenant's default applies (anonymous or organization).
    """
    if type not in LINK_TYPES:
        raise ValueError(f"type must be one of {', '.join(LINK_TYPES)}")
    if scope is not None and scope not in LINK_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(LINK_SCOPES)}")
    body: dict[str, Any] = {"type": type}
    if scope is not None:
        body["scope"] = scope
    request = graph_request(
        "POST",
        f"{owner_path(user)}/drive/items/{path_segment(item_id)}/createLink",
        json=body,
        # asking twice returns the same link (200), so a retry cannot create a second one
        idempotent=True,
    )
    response = expect_ok((yield request))
    return SharingLink.from_json(response.json() or {}, created=response.status == 201)
