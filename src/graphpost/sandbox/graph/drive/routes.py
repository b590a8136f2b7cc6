"""HTTP surface of Graph's OneDrive area: items by id and path, simple upload, createLink."""

from __future__ import annotations

from flask import Response, request

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.auth import Principal, is_self, require, resolve_owner
from graphpost.sandbox.graph.drive import state
from graphpost.sandbox.graph.router import OWNER, route
from graphpost.sandbox.graph.wire import (
    GraphError,
    ci_get,
    json_response,
    odata_context,
    request_json,
)

READ = {"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All"}
WRITE = {"Files.ReadWrite", "Files.ReadWrite.All"}
READ_APP = {"Files.Read.All", "Files.ReadWrite.All"}
WRITE_APP = {"Files.ReadWrite.All"}
DRIVE = OWNER + r"/drive"


def _drive_owner(sb: Sandbox, principal: Principal, owner: str, write: bool) -> User:
    user = resolve_owner(sb, principal, owner, "onedrive")
    delegated = WRITE if write else READ
    if not is_self(principal, user):
        delegated = delegated & {"Files.Read.All", "Files.ReadWrite.All"}
    require(
        principal, "onedrive", delegated=delegated, application=WRITE_APP if write else READ_APP
    )
    return user


def _item_response(sb: Sandbox, user: User, row: dict[str, object], status: int = 200) -> Response:
    body = {
        "@odata.context": odata_context(f"users('{user.id}')/drive/items/$entity"),
        **state.item_resource(sb, user, dict(row)),
    }
    return json_response(body, status)


def _upload(sb: Sandbox, principal: Principal, owner: str, start_id: str, path: str) -> Response:
    user = _drive_owner(sb, principal, owner, write=True)
    start = state.item(sb, user, start_id)
    conflict = request.args.get("@microsoft.graph.conflictBehavior", "replace").lower()
    chunks = iter(lambda: request.stream.read(1024 * 1024), b"")
    row, created = state.put_content(
        sb, user, start, path, chunks, request.content_type, conflict, principal.client_id
    )
    return _item_response(sb, user, row, 201 if created else 200)


@route("PUT", DRIVE + r"/root:/(?P<path>.+):/content")
def upload_by_path(sb: Sandbox, principal: Principal, owner: str, path: str) -> Response:
    return _upload(sb, principal, owner, "root", path)


@route("PUT", DRIVE + r"/items/(?P<parent>[^/:]+):/(?P<path>.+):/content")
def upload_below_item(
    sb: Sandbox, principal: Principal, owner: str, parent: str, path: str
) -> Response:
    return _upload(sb, principal, owner, parent, path)


@route("PUT", DRIVE + r"/(?:items/)?(?P<parent>root|[^/:]+)/children/(?P<name>[^/]+)/content")
def upload_child(sb: Sandbox, principal: Principal, owner: str, parent: str, name: str) -> Response:
    """The form the original sample uses: `root/children/{name}/content`."""
    return _upload(sb, principal, owner, parent, name)


@route("PUT", DRIVE + r"/items/(?P<item_id>[^/:]+)/content")
def replace_content(sb: Sandbox, principal: Principal, owner: str, item_id: str) -> Response:
    user = _drive_owner(sb, principal, owner, write=True)
    row = state.item(sb, user, item_id)
    if row["is_folder"] or row["parent_id"] is None:
        raise GraphError(400, "invalidRequest", "Cannot upload content to a folder.")
    parent = state.item(sb, user, row["parent_id"])
    return _upload(sb, principal, owner, parent["id"], row["name"])


@route("GET", DRIVE + r"/(?:items/)?root")
def get_root(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user = _drive_owner(sb, principal, owner, write=False)
    return _item_response(sb, user, state.root(sb, user))


@route("GET", DRIVE + r"/root:/(?P<path>.+?):?")
def get_by_path(sb: Sandbox, principal: Principal, owner: str, path: str) -> Response:
    user = _drive_owner(sb, principal, owner, write=False)
    return _item_response(sb, user, state.item_by_path(sb, user, state.root(sb, user), path))


@route("GET", DRIVE + r"/items/(?P<item_id>[^/:]+)")
def get_item(sb: Sandbox, principal: Principal, owner: str, item_id: str) -> Response:
    user = _drive_owner(sb, principal, owner, write=False)
    return _item_response(sb, user, state.item(sb, user, item_id))


@route("POST", DRIVE + r"/items/(?P<item_id>[^/:]+)/(?:microsoft\.graph\.)?createLink")
def create_link(sb: Sandbox, principal: Principal, owner: str, item_id: str) -> Response:
    user = _drive_owner(sb, principal, owner, write=True)
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
