"""HTTP surface of Graph's OneDrive area: drives, items by id and path, children, folders, uploads
(simple and resumable), downloads, deletion, createLink."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.auth import Principal, is_self, require, resolve_owner
from graphpost.sandbox.graph.drive import sessions, state, transfers
from graphpost.sandbox.graph.router import route
from graphpost.sandbox.graph.users.state import decode_skiptoken, encode_skiptoken
from graphpost.sandbox.graph.wire import (
    GraphError,
    ci_get,
    empty_response,
    json_response,
    odata_context,
    request_json,
)

READ = {"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All"}
WRITE = {"Files.ReadWrite", "Files.ReadWrite.All"}
READ_APP = {"Files.Read.All", "Files.ReadWrite.All"}
WRITE_APP = {"Files.ReadWrite.All"}
# a user's drive (me/drive, users/{id}/drive) or any drive by its id
DRIVE = r"(?:(?P<owner>me|users/[^/]+)/drive|drives/(?P<drive>[^/]+))"
# An item, addressed as OneDrive addresses every one of them: the root or an item by id, and
# then, between two colons, a path below it (root:/a/b.txt:, items/{id}:/b.txt:).  Alone at the
# end of the URL the closing colon may be left off; before a property, a relationship or an
# action (/content, /children, /createLink) it ends the path.
_START = r"(?:(?:items/)?root|items/(?P<item_id>[^/:]+))"
ITEM = DRIVE + "/" + _START + r"(?::/(?P<path>[^:]+):?)?"
ITEM_THEN = DRIVE + "/" + _START + r"(?::/(?P<path>[^:]+):)?"
ACTION = r"/(?:microsoft\.graph\.)?"
CHILDREN_PAGE_DEFAULT, CHILDREN_PAGE_MAX = 200, 999

# what a route's pattern names: the owner or the drive, the item id (none for the root), a path
Address = str | None


def _drive_owner(
    sb: Sandbox, principal: Principal, address: dict[str, Address], write: bool
) -> User:
    owner, drive = address.get("owner"), address.get("drive")
    if owner is not None:
        user = resolve_owner(sb, principal, owner, "onedrive")
    else:
        found = state.user_of_drive(sb, drive or "")
        if found is None:
            raise state.not_found()
        user = found
    delegated = WRITE if write else READ
    if not is_self(principal, user):
        delegated = delegated & {"Files.Read.All", "Files.ReadWrite.All"}
    require(
        principal, "onedrive", delegated=delegated, application=WRITE_APP if write else READ_APP
    )
    return user


def _start(sb: Sandbox, user: User, address: dict[str, Address]) -> dict[str, object]:
    """The item before the path: the root, or the item named by its id."""
    return state.item(sb, user, address.get("item_id") or "root")


def _item(sb: Sandbox, user: User, address: dict[str, Address]) -> dict[str, object]:
    """The item addressed, by id, by path, or by a path below an id."""
    start, path = _start(sb, user, address), address.get("path")
    return start if path is None else state.item_by_path(sb, user, start, path)


def _target(sb: Sandbox, user: User, address: dict[str, Address]) -> tuple[dict[str, object], str]:
    """Where an upload puts its file, as (folder, path below it): at the path below the start
    item, or, with no path, over the file addressed (new content for it)."""
    path = address.get("path")
    if path is not None:
        return _start(sb, user, address), path
    row = _start(sb, user, address)
    if row["is_folder"] or row["parent_id"] is None:
        raise GraphError(400, "invalidRequest", "Cannot upload content to a folder.")
    return state.item(sb, user, str(row["parent_id"])), str(row["name"])


def _item_response(sb: Sandbox, user: User, row: dict[str, object], status: int = 200) -> Response:
    resource = state.item_resource(sb, user, dict(row))
    if not row["is_folder"]:
        # pre-authenticated, short-lived: what a client downloads without its token
        resource["@microsoft.graph.downloadUrl"] = transfers.download_url(sb, str(row["id"]))
    body = {"@odata.context": odata_context(f"users('{user.id}')/drive/items/$entity"), **resource}
    return json_response(body, status)


# the drive


@route("GET", DRIVE)
def get_drive(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=False)
    body = {"@odata.context": odata_context("drives/$entity"), **state.drive_resource(sb, user)}
    return json_response(body)


# simple upload


def _upload(
    sb: Sandbox, user: User, principal: Principal, start: dict[str, object], path: str
) -> Response:
    conflict = request.args.get("@microsoft.graph.conflictBehavior", "replace").lower()
    if (request.content_length or 0) > state.SIMPLE_UPLOAD_LIMIT:
        raise state.too_large_for_simple_upload()  # refused before a byte is stored
    chunks = iter(lambda: request.stream.read(1024 * 1024), b"")
    row, created = state.put_content(
        sb, user, dict(start), path, chunks, request.content_type, conflict, principal.client_id
    )
    return _item_response(sb, user, row, 201 if created else 200)


@route("PUT", ITEM_THEN + r"/content")
def upload(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    """A new file at a path (root:/a/b.txt:/content, items/{id}:/b.txt:/content), or new
    content for the file addressed (items/{id}/content)."""
    user = _drive_owner(sb, principal, address, write=True)
    start, path = _target(sb, user, address)
    return _upload(sb, user, principal, start, path)


@route("PUT", ITEM_THEN + r"/children/(?P<name>[^/:]+)/content")
def upload_child(sb: Sandbox, principal: Principal, name: str, **address: Address) -> Response:
    """The form the original sample uses: `root/children/{name}/content`."""
    user = _drive_owner(sb, principal, address, write=True)
    return _upload(sb, user, principal, _item(sb, user, address), name)


# resumable upload


@route("POST", ITEM_THEN + ACTION + "createUploadSession")
def create_upload_session(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    """A session for a new file at a path, or for a new version of the file addressed."""
    user = _drive_owner(sb, principal, address, write=True)
    start, path = _target(sb, user, address)
    body = request_json(optional=True)
    session, token = sessions.create(sb, user, dict(start), path, body, principal.client_id)
    return json_response(
        {
            "@odata.context": odata_context("microsoft.graph.uploadSession"),
            "uploadUrl": transfers.upload_url(sb, session["id"], token),
            **transfers.session_answer(session),
        }
    )


# reading


@route("GET", ITEM_THEN + r"/content")
def download(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=False)
    row = _item(sb, user, address)
    if row["is_folder"]:
        raise GraphError(400, "invalidRequest", "A folder has no content to download.")
    # 302 to a pre-authenticated address, as OneDrive answers
    return Response(
        b"", status=302, headers={"Location": transfers.download_url(sb, str(row["id"]))}
    )


@route("GET", ITEM_THEN + r"/children")
def list_children(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=False)
    folder = _item(sb, user, address)
    raw_top = request.args.get("$top")
    if raw_top is not None and (
        not raw_top.isdigit() or not 1 <= int(raw_top) <= CHILDREN_PAGE_MAX
    ):
        raise GraphError(400, "invalidRequest", f"Invalid $top: '{raw_top}'.")
    top = int(raw_top) if raw_top else CHILDREN_PAGE_DEFAULT
    try:
        offset = decode_skiptoken(request.args["$skiptoken"]) if "$skiptoken" in request.args else 0
    except GraphError:
        raise GraphError(400, "invalidRequest", "Invalid $skiptoken.") from None
    rows, more = state.children(sb, dict(folder), top, offset)
    body: dict[str, object] = {
        "@odata.context": odata_context(
            f"users('{user.id}')/drive/items('{folder['id']}')/children"
        ),
        "value": [state.item_resource(sb, user, row) for row in rows],
    }
    if more:
        params = {k: v for k, v in request.args.items() if k != "$skiptoken"}
        params["$skiptoken"] = encode_skiptoken(offset + top)
        body["@odata.nextLink"] = (
            f"{sb.graph_url}/{request.path.split('/v1.0/', 1)[1]}?{urlencode(params, safe='$,:')}"
        )
    return json_response(body)


@route("GET", ITEM)
def get_item(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=False)
    return _item_response(sb, user, _item(sb, user, address))


# changing


@route("POST", ITEM_THEN + r"/children")
def create_folder(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=True)
    parent = _item(sb, user, address)
    return _item_response(
        sb, user, state.create_folder(sb, user, dict(parent), request_json()), 201
    )


@route("DELETE", ITEM)
def delete_item(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=True)
    state.delete_item(sb, dict(_item(sb, user, address)))
    return empty_response(204)


@route("POST", ITEM_THEN + ACTION + "createLink")
def create_link(sb: Sandbox, principal: Principal, **address: Address) -> Response:
    user = _drive_owner(sb, principal, address, write=True)
    row = _item(sb, user, address)
    body = request_json()
    link_type = str(ci_get(body, "type") or "").lower()
    if link_type not in state.LINK_TYPES:
        raise GraphError(
            400, "invalidRequest", "Invalid request: 'type' must be view, edit or embed."
        )
    if link_type == "embed":
        raise GraphError(
            400, "notSupported", "Embed links are only supported for OneDrive personal."
        )
    scope = str(ci_get(body, "scope") or state.DEFAULT_LINK_SCOPE).lower()
    if scope not in state.LINK_SCOPES:
        raise GraphError(
            400,
            "invalidRequest",
            "Invalid request: 'scope' must be anonymous, organization or users.",
        )
    if scope == "users":
        raise GraphError(
            400, "invalidRequest", "Links for specific people need recipients; use invite."
        )
    link, created = state.create_link(sb, user, row, link_type, scope, principal.client_id)
    resource = state.permission_resource(sb, user, row, link, principal.app_name)
    return json_response(
        {"@odata.context": odata_context("microsoft.graph.permission"), **resource},
        201 if created else 200,
    )
