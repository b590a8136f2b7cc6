"""HTTP surface of open extensions: /{user}/extensions and /{user}/messages/{id}/extensions."""

from __future__ import annotations

from flask import Response

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.graph.auth import Principal, is_self, require, resolve_owner
from graphpost.sandbox.graph.extensions import state
from graphpost.sandbox.graph.mail import state as mail_state
from graphpost.sandbox.graph.router import OWNER, route
from graphpost.sandbox.graph.wire import empty_response, json_response, odata_context, request_json

USER_READ = {
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
}
USER_WRITE = {"User.ReadWrite", "User.ReadWrite.All"}
APP_USER_READ = {"User.Read.All", "User.ReadWrite.All"}
APP_USER_WRITE = {"User.ReadWrite.All"}
MAIL_READ = {"Mail.Read", "Mail.ReadWrite"}
MAIL_WRITE = {"Mail.ReadWrite"}

USER_EXTENSIONS = OWNER + r"/extensions"
MESSAGE_EXTENSIONS = OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/extensions"


def _user_owner(sb: Sandbox, principal: Principal, owner: str, write: bool) -> str:
    user = resolve_owner(sb, principal, owner, "directory")
    delegated = USER_WRITE if write else USER_READ
    if not is_self(principal, user):
        delegated = {"User.ReadWrite.All"} if write else {"User.ReadBasic.All", "User.Read.All"}
    require(
        principal,
        "directory",
        delegated=delegated,
        application=APP_USER_WRITE if write else APP_USER_READ,
    )
    return user.id


def _message_owner(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, write: bool
) -> str:
    user = resolve_owner(sb, principal, owner, "outlook")
    allowed = MAIL_WRITE if write else MAIL_READ
    require(
        principal,
        "outlook",
        delegated=allowed if is_self(principal, user) else set(),
        application=allowed,
    )
    mail_state.get_message(sb, user, message_id)  # 404 ErrorItemNotFound when it is not there
    return message_id


def _context(kind: str, owner_id: str, entity: bool) -> str:
    base = (
        f"users('{owner_id}')/extensions"
        if kind == "user"
        else f"messages('{owner_id}')/extensions"
    )
    return odata_context(base + ("/$entity" if entity else ""))


# users (directory): PATCH answers 204


@route("POST", USER_EXTENSIONS)
def create_user_extension(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user_id = _user_owner(sb, principal, owner, write=True)
    created = state.create(sb, "user", user_id, principal.client_id, request_json())
    return json_response({"@odata.context": _context("user", user_id, True), **created}, 201)


@route("GET", USER_EXTENSIONS)
def list_user_extensions(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user_id = _user_owner(sb, principal, owner, write=False)
    return json_response(
        {
            "@odata.context": _context("user", user_id, False),
            "value": state.listed(sb, "user", user_id),
        }
    )


@route("GET", USER_EXTENSIONS + r"/(?P<extension>[^/]+)")
def get_user_extension(sb: Sandbox, principal: Principal, owner: str, extension: str) -> Response:
    user_id = _user_owner(sb, principal, owner, write=False)
    found = state.get(sb, "user", user_id, extension)
    return json_response({"@odata.context": _context("user", user_id, True), **found})


@route("PATCH", USER_EXTENSIONS + r"/(?P<extension>[^/]+)")
def update_user_extension(
    sb: Sandbox, principal: Principal, owner: str, extension: str
) -> Response:
    user_id = _user_owner(sb, principal, owner, write=True)
    state.replace(sb, "user", user_id, extension, request_json())
    return empty_response(204)


@route("DELETE", USER_EXTENSIONS + r"/(?P<extension>[^/]+)")
def delete_user_extension(
    sb: Sandbox, principal: Principal, owner: str, extension: str
) -> Response:
    user_id = _user_owner(sb, principal, owner, write=True)
    state.delete(sb, "user", user_id, extension)
    return empty_response(204)


# messages (Outlook): PATCH answers 200 with the extension


@route("POST", MESSAGE_EXTENSIONS, outlook=True)
def create_message_extension(
    sb: Sandbox, principal: Principal, owner: str, message_id: str
) -> Response:
    _message_owner(sb, principal, owner, message_id, write=True)
    created = state.create(sb, "message", message_id, principal.client_id, request_json())
    return json_response({"@odata.context": _context("message", message_id, True), **created}, 201)


@route("GET", MESSAGE_EXTENSIONS, outlook=True)
def list_message_extensions(
    sb: Sandbox, principal: Principal, owner: str, message_id: str
) -> Response:
    _message_owner(sb, principal, owner, message_id, write=False)
    return json_response(
        {
            "@odata.context": _context("message", message_id, False),
            "value": state.listed(sb, "message", message_id),
        }
    )


@route("GET", MESSAGE_EXTENSIONS + r"/(?P<extension>[^/]+)", outlook=True)
def get_message_extension(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, extension: str
) -> Response:
    _message_owner(sb, principal, owner, message_id, write=False)
    found = state.get(sb, "message", message_id, extension)
    return json_response({"@odata.context": _context("message", message_id, True), **found})


@route("PATCH", MESSAGE_EXTENSIONS + r"/(?P<extension>[^/]+)", outlook=True)
def update_message_extension(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, extension: str
) -> Response:
    _message_owner(sb, principal, owner, message_id, write=True)
    updated = state.replace(sb, "message", message_id, extension, request_json())
    return json_response({"@odata.context": _context("message", message_id, True), **updated})


@route("DELETE", MESSAGE_EXTENSIONS + r"/(?P<extension>[^/]+)", outlook=True)
def delete_message_extension(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, extension: str
) -> Response:
    _message_owner(sb, principal, owner, message_id, write=True)
    state.delete(sb, "message", message_id, extension)
    return empty_response(204)
