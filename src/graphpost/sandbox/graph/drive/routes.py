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
# an item: the root, by id, or by a path below the root
ITEM = r"(?:(?P<root>(?:items/)?root)|items/(?P<item_id>[^/:]+)|root:/(?P<path>[^:]+):?)"
CHILDREN_PAGE_DEFAULT, CHILDREN_PAGE_MAX = 200, 999


def _drive_owner(
    sb: Sandbox, principal: Principal, owner: str | None, drive: str | None, write: bool
) -> User:
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


def _item(
    sb: Sandbox, user: User, root: str | None, item_id: str | None, path: str | None
) -> dict[str, object]:
    if path is not None:
        return state.item_by_path(sb, user, state.root(sb, user), path)
    return state.item(sb, user, item_id or "root")


def _item_response(sb: Sandbox, user: User, row: dict[str, object], status: int = 200) -> Response:
    resource = state.item_resource(sb, user, dict(row))
    if not row["is_folder"]:
        # pre-authenticated, short-lived: what a client downloads without its token
        resource["@microsoft.graph.downloadUrl"] = transfers.download_url(sb, str(row["id"]))
    body = {"@odata.context": odata_context(f"users('{user.id}')/drive/items/$entity"), **resource}
    return json_response(body, status)


# the drive


@route("GET", DRIVE)
def get_drive(
    sb: Sandbox, principal: Principal, owner: str | None = None, drive: str | None = None
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=False)
    body = {"@odata.context": odata_context("drives/$entity"), **state.drive_resource(sb, user)}
    return json_response(body)


# simple upload (the sample's root/children/{name}/content form too)


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


@route("PUT", DRIVE + r"/root:/(?P<path>[^:]+):/content")
def upload_by_path(
    sb: Sandbox, principal: Principal, path: str, owner: str | None = None, drive: str | None = None
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    return _upload(sb, user, principal, state.root(sb, user), path)


@route("PUT", DRIVE + r"/items/(?P<parent>[^/:]+):/(?P<path>[^:]+):/content")
def upload_below_item(
    sb: Sandbox,
    principal: Principal,
    parent: str,
    path: str,
    owner: str | None = None,
    drive: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    return _upload(sb, user, principal, state.item(sb, user, parent), path)


@route("PUT", DRIVE + r"/(?:items/)?(?P<parent>root|[^/:]+)/children/(?P<name>[^/]+)/content")
def upload_child(
    sb: Sandbox,
    principal: Principal,
    parent: str,
    name: str,
    owner: str | None = None,
    drive: str | None = None,
) -> Response:
    """The form the original sample uses: `root/children/{name}/content`."""
    user = _drive_owner(sb, principal, owner, drive, write=True)
    return _upload(sb, user, principal, state.item(sb, user, parent), name)


@route("PUT", DRIVE + r"/items/(?P<item_id>[^/:]+)/content")
def replace_content(
    sb: Sandbox,
    principal: Principal,
    item_id: str,
    owner: str | None = None,
    drive: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    row = state.item(sb, user, item_id)
    if row["is_folder"] or row["parent_id"] is None:
        raise GraphError(400, "invalidRequest", "Cannot upload content to a folder.")
    return _upload(sb, user, principal, state.item(sb, user, row["parent_id"]), row["name"])


# resumable upload


def _start_session(
    sb: Sandbox, user: User, principal: Principal, start: dict[str, object], path: str
) -> Response:
    body = request_json(optional=True)
    session, token = sessions.create(sb, user, dict(start), path, body, principal.client_id)
    return json_response(
        {
            "@odata.context": odata_context("microsoft.graph.uploadSession"),
            "uploadUrl": transfers.upload_url(sb, session["id"], token),
            **transfers.session_answer(session),
        }
    )


@route("POST", DRIVE + r"/root:/(?P<path>[^:]+):/(?:microsoft\.graph\.)?createUploadSession")
def session_by_path(
    sb: Sandbox, principal: Principal, path: str, owner: str | None = None, drive: str | None = None
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    return _start_session(sb, user, principal, state.root(sb, user), path)


@route(
    "POST",
    DRIVE
    + r"/items/(?P<parent>[^/:]+):/(?P<path>[^:]+):/(?:microsoft\.graph\.)?createUploadSession",
)
def session_below_item(
    sb: Sandbox,
    principal: Principal,
    parent: str,
    path: str,
    owner: str | None = None,
    drive: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    return _start_session(sb, user, principal, state.item(sb, user, parent), path)


@route("POST", DRIVE + r"/items/(?P<item_id>[^/:]+)/(?:microsoft\.graph\.)?createUploadSession")
def session_for_item(
    sb: Sandbox,
    principal: Principal,
    item_id: str,
    owner: str | None = None,
    drive: str | None = None,
) -> Response:
    """A new version of an existing file."""
    user = _drive_owner(sb, principal, owner, drive, write=True)
    row = state.item(sb, user, item_id)
    if row["is_folder"] or row["parent_id"] is None:
        raise GraphError(400, "invalidRequest", "Cannot upload content to a folder.")
    return _start_session(sb, user, principal, state.item(sb, user, row["parent_id"]), row["name"])


# reading


@route("GET", DRIVE + "/" + ITEM + r"/content")
def download(
    sb: Sandbox,
    principal: Principal,
    owner: str | None = None,
    drive: str | None = None,
    root: str | None = None,
    item_id: str | None = None,
    path: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=False)
    row = _item(sb, user, root, item_id, path)
    if row["is_folder"]:
        raise GraphError(400, "invalidRequest", "A folder has no content to download.")
    # 302 to a pre-authenticated address, as OneDrive answers
    return Response(
        b"", status=302, headers={"Location": transfers.download_url(sb, str(row["id"]))}
    )


@route("GET", DRIVE + "/" + ITEM + r"/children")
def list_children(
    sb: Sandbox,
    principal: Principal,
    owner: str | None = None,
    drive: str | None = None,
    root: str | None = None,
    item_id: str | None = None,
    path: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=False)
    folder = _item(sb, user, root, item_id, path)
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


@route("GET", DRIVE + "/" + ITEM)
def get_item(
    sb: Sandbox,
    principal: Principal,
    owner: str | None = None,
    drive: str | None = None,
    root: str | None = None,
    item_id: str | None = None,
    path: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=False)
    return _item_response(sb, user, _item(sb, user, root, item_id, path))


# changing


@route("POST", DRIVE + "/" + ITEM + r"/children")
def create_folder(
    sb: Sandbox,
    principal: Principal,
    owner: str | None = None,
    drive: str | None = None,
    root: str | None = None,
    item_id: str | None = None,
    path: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    parent = _item(sb, user, root, item_id, path)
    return _item_response(
        sb, user, state.create_folder(sb, user, dict(parent), request_json()), 201
    )


@route("DELETE", DRIVE + "/" + ITEM)
def delete_item(
    sb: Sandbox,
    principal: Principal,
    owner: str | None = None,
    drive: str | None = None,
    root: str | None = None,
    item_id: str | None = None,
    path: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    state.delete_item(sb, dict(_item(sb, user, root, item_id, path)))
    return empty_response(204)


@route("POST", DRIVE + r"/items/(?P<item_id>[^/:]+)/(?:microsoft\.graph\.)?createLink")
def create_link(
    sb: Sandbox,
    principal: Principal,
    item_id: str,
    owner: str | None = None,
    drive: str | None = None,
) -> Response:
    user = _drive_owner(sb, principal, owner, drive, write=True)
    row = state.item(sb, user, item_id)
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
