"""OneDrive: items by path or id, folders, uploads (one request, or a resumable session), the
facts a streaming download needs, deletion and sharing links."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphpost.core import uploads
from graphpost.core.common import get_page, graph_request, next_page_request, owner_path
from graphpost.core.errors import expect_ok
from graphpost.core.http import JSON, Operation, drive_path, path_segment
from graphpost.errors import SizeLimitExceeded
from graphpost.models import DriveItem, Page, SharingLink, parse_datetime

# A single PUT takes files up to 250 MB; larger ones need an upload session
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


# -- items, folders, deletion ------------------------------------------------------------


def item_path(user: str, remote_path: str | None = None, item_id: str | None = None) -> str:
    """``…/drive/root:/{path}:``, ``…/drive/items/{id}`` or the root."""
    base = f"{owner_path(user)}/drive"
    if item_id is not None:
        return f"{base}/items/{path_segment(item_id)}"
    quoted = drive_path(remote_path or "")
    return f"{base}/root:/{quoted}:" if quoted else f"{base}/root"


def get_item(
    remote_path: str | None = None, item_id: str | None = None, user: str = "me"
) -> Operation[DriveItem]:
    response = expect_ok((yield graph_request("GET", item_path(user, remote_path, item_id))))
    return DriveItem.from_json(response.json() or {})


def list_children(
    remote_path: str | None = None,
    item_id: str | None = None,
    user: str = "me",
    top: int | None = None,
) -> Operation[Page[DriveItem]]:
    params = {"$top": str(top)} if top else {}
    request = graph_request(
        "GET", f"{item_path(user, remote_path, item_id)}/children", params=params
    )
    return (yield from get_page(request, DriveItem.from_json))


def next_children(next_link: str) -> Operation[Page[DriveItem]]:
    return (yield from get_page(next_page_request(next_link), DriveItem.from_json))


def create_folder(
    name: str, parent_path: str | None = None, user: str = "me", conflict_behavior: str = "fail"
) -> Operation[DriveItem]:
    if conflict_behavior not in CONFLICT_BEHAVIORS:
        raise ValueError(f"conflict_behavior must be one of {', '.join(CONFLICT_BEHAVIORS)}")
    body = {"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": conflict_behavior}
    request = graph_request(
        "POST",
        f"{item_path(user, parent_path)}/children",
        json=body,
        idempotent=conflict_behavior != "rename",  # a repeated rename would make a second folder
    )
    response = expect_ok((yield request), 201)
    return DriveItem.from_json(response.json() or {})


def delete_item(
    remote_path: str | None = None, item_id: str | None = None, user: str = "me"
) -> Operation[None]:
    if remote_path is None and item_id is None:
        raise ValueError("name the item to delete by path or id; the root cannot be deleted")
    response = yield graph_request("DELETE", item_path(user, remote_path, item_id))
    if response.status == 404:
        return None  # already gone: what a repeated DELETE finds
    expect_ok(response, 204)
    return None


# -- resumable upload and download -------------------------------------------------------


@dataclass(frozen=True)
class UploadSession:
    """Where a resumable upload goes; kept on disk so that another run can continue it."""

    upload_url: str
    expires: datetime | None
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "uploadUrl": self.upload_url,
            "expires": self.expires.isoformat() if self.expires else None,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: JSON) -> UploadSession:
        return cls(str(data["uploadUrl"]), parse_datetime(data.get("expires")), int(data["size"]))


def create_upload_session(
    remote_path: str, size: int, user: str = "me", conflict_behavior: str = "replace"
) -> Operation[UploadSession]:
    if conflict_behavior not in CONFLICT_BEHAVIORS:
        raise ValueError(f"conflict_behavior must be one of {', '.join(CONFLICT_BEHAVIORS)}")
    quoted = drive_path(remote_path)
    if not quoted:
        raise ValueError("remote_path needs a file name")
    request = graph_request(
        "POST",
        f"{owner_path(user)}/drive/root:/{quoted}:/createUploadSession",
        json={"item": {"@microsoft.graph.conflictBehavior": conflict_behavior}},
        idempotent=True,  # an unused session expires by itself
    )
    body = expect_ok((yield request)).json() or {}
    return UploadSession(
        str(body["uploadUrl"]), parse_datetime(body.get("expirationDateTime")), size
    )


def session_offset(session: UploadSession) -> Operation[int | None]:
    """Where an existing session stands (the first byte it still needs), or None if it is gone."""
    response = yield graph_request("GET", session.upload_url, authenticated=False, idempotent=True)
    if response.status == 404:
        return None
    expect_ok(response)
    return uploads.next_offset((response.json() or {}).get("nextExpectedRanges"), 0)


def upload_session_bytes(
    session: UploadSession,
    read: uploads.Read,
    start: int = 0,
    progress: uploads.Progress | None = None,
) -> Operation[DriveItem]:
    """The bytes from `start` on, in 320 KiB multiples; the final answer is the file."""
    response = yield from uploads.put_bytes(
        session.upload_url, session.size, read, uploads.ONEDRIVE, start, progress
    )
    return DriveItem.from_json(response.json() or {})


def cancel_upload_session(session: UploadSession) -> Operation[None]:
    response = yield graph_request(
        "DELETE", session.upload_url, authenticated=False, idempotent=True
    )
    if response.status not in (204, 404):
        expect_ok(response)
    return None


def download_target(
    remote_path: str | None = None, item_id: str | None = None, user: str = "me"
) -> Operation[DriveItem]:
    """The item, with its pre-authenticated ``@microsoft.graph.downloadUrl`` and size, for a
    streaming download by ranges (see `range_header` and `check_range_answer`)."""
    item = yield from get_item(remote_path, item_id, user)
    if item.is_folder:
        raise ValueError(f"{remote_path or item_id} is a folder: there is nothing to download")
    if not item.download_url:
        raise ValueError("Graph gave no download URL for this item")
    return item


def range_header(have: int) -> dict[str, str]:
    """Ask for the bytes after those already on disk (a resumed download)."""
    return {"Range": f"bytes={have}-"} if have else {}


def check_range_answer(status: int, content_range: str | None, have: int, size: int) -> int:
    """Where the answer's bytes start: `have` for a 206 from there, 0 for a whole 200; raises for
    an answer that does not continue the file (it changed, or the URL expired)."""
    if status == 200:
        return 0
    if (
        status == 206
        and content_range
        and content_range.startswith(f"bytes {have}-")
        and content_range.endswith(f"/{size}")
    ):
        return have
    if status == 416 and have == size:
        return size  # already complete
    raise ValueError(
        f"the download answered {status} ({content_range or 'no range'}); start it again"
    )


def upload_resumable(
    remote_path: str,
    size: int,
    read: uploads.Read,
    known: UploadSession | None = None,
    remember: Callable[[UploadSession], None] | None = None,
    user: str = "me",
    conflict_behavior: str = "replace",
    progress: uploads.Progress | None = None,
) -> Operation[DriveItem]:
    """Upload through a session, continuing `known` (from an earlier run) where it stands when
    it still exists; `remember` is told of a new session before its first byte goes."""
    start: int | None = None
    session = known
    if session is not None:
        start = yield from session_offset(session)
    if session is None or start is None:
        session = yield from create_upload_session(remote_path, size, user, conflict_behavior)
        if remember is not None:
            remember(session)
        start = 0
    return (yield from upload_session_bytes(session, read, start, progress))
