"""HTTP surface of Graph's mail area: sendMail, folders' messages, messages, attachments."""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

from flask import Response, request
from werkzeug.wsgi import wrap_file

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.auth import Principal, is_self, require, resolve_owner
from graphpost.sandbox.graph.extensions import state as extensions
from graphpost.sandbox.graph.mail import query, sessions, state, uploads
from graphpost.sandbox.graph.router import OWNER, route
from graphpost.sandbox.graph.wire import (
    GraphError,
    as_bool,
    ci_get,
    empty_response,
    json_response,
    odata_context,
    request_json,
)

# every mail route is served by Exchange, so Outlook's per-mailbox throttling applies
outlook_route = partial(route, outlook=True)

READ = {"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"}
READ_APP = {"Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"}
READ_CONTENT = {"Mail.Read", "Mail.ReadWrite"}


def _mailbox(
    sb: Sandbox, principal: Principal, owner: str, delegated: set[str], application: set[str]
) -> User:
    user = resolve_owner(sb, principal, owner, "outlook")
    # delegated access to someone else's mailbox needs shared-mailbox rights the sandbox never grants
    require(
        principal,
        "outlook",
        delegated=delegated if is_self(principal, user) else set(),
        application=application,
    )
    return user


@outlook_route("POST", OWNER + r"/(?:microsoft\.graph\.)?sendMail")
def send_mail(sb: Sandbox, principal: Principal, owner: str) -> Response:
    sender = _mailbox(sb, principal, owner, {"Mail.Send"}, {"Mail.Send"})
    body = request_json()
    message = state.parse_message(ci_get(body, "message"))
    save = as_bool(ci_get(body, "saveToSentItems"), True)
    state.send(sb, sender, message, save)
    return empty_response(202)


def _selection(context: str, names: list[str] | None) -> str:
    """@odata.context names a $select's properties: `users('...')/messages(subject,from)`."""
    return f"{context}({','.join(names)})" if names else context


def _page(sb: Sandbox, user: User, in_folder: str | None, context: str) -> Response:
    args = request.args
    top = state.page_size(args.get("$top"))
    skip = state.skip_count(args.get("$skip"))
    found_by = query.parse_filter(args["$filter"]) if "$filter" in args else None
    order = query.parse_orderby(args.get("$orderby"))
    if found_by is not None and "$orderby" in args:
        query.check_filter_and_order(found_by.properties, order)
    names = query.parse_select(args.get("$select"))
    counted = args.get("$count", "").lower()
    if counted not in ("", "true", "false"):
        raise GraphError(
            400,
            "BadRequest",
            f"'{args['$count']}' is not a valid count option.",
        )
    messages, more, total = state.list_messages(sb, user, in_folder, top, skip, found_by, order)
    body: dict[str, object] = {"@odata.context": odata_context(_selection(context, names))}
    if counted == "true":
        body["@odata.count"] = total
    wanted = _parse_expand(args.get("$expand"))
    body["value"] = [
        {**state.select_properties(m, names), **_expansions(sb, user, m, wanted)} for m in messages
    ]
    if more:
        # Outlook pages with $skip, every other option kept (user-list-messages.md)
        params = {k: v for k, v in args.items() if k not in ("$skip", "$top")}
        params["$top"] = str(top)
        params["$skip"] = str(skip + top)
        body["@odata.nextLink"] = (
            f"{sb.graph_url}/{request.path.split('/v1.0/', 1)[1]}?{urlencode(params, safe='$,', quote_via=quote)}"
        )
    return json_response(body)


WRITE = {"Mail.ReadWrite"}


def _message_context(user: User) -> str:
    return odata_context(f"users('{user.id}')/messages/$entity")


@outlook_route("GET", OWNER + r"/mailFolders")
def list_folders(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user = _mailbox(sb, principal, owner, READ, READ_APP)
    return json_response(
        {
            "@odata.context": odata_context(f"users('{user.id}')/mailFolders"),
            "value": state.folders(sb, user),
        }
    )


@outlook_route("GET", OWNER + r"/mailFolders/(?P<folder>[^/]+)")
def get_folder(sb: Sandbox, principal: Principal, owner: str, folder: str) -> Response:
    user = _mailbox(sb, principal, owner, READ, READ_APP)
    body = {
        "@odata.context": odata_context(f"users('{user.id}')/mailFolders/$entity"),
        **state.folder_resource(sb, state.folder(sb, user, folder)),
    }
    return json_response(body)


@outlook_route("POST", OWNER + r"/(?:mailFolders/(?P<folder>[^/]+)/)?messages")
def create_draft(
    sb: Sandbox, principal: Principal, owner: str, folder: str | None = None
) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    target = state.folder(sb, user, folder or "drafts")
    created = state.create_draft(sb, user, target["id"], request_json())
    return json_response(
        {"@odata.context": _message_context(user), **state.select_properties(created, None)}, 201
    )


@outlook_route("PATCH", OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)")
def update_message(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    updated = state.update_message(sb, user, message_id, request_json())
    return json_response(
        {"@odata.context": _message_context(user), **state.select_properties(updated, None)}
    )


@outlook_route("DELETE", OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)")
def delete_message(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    state.delete_message(sb, user, message_id)
    return empty_response(204)


@outlook_route(
    "POST",
    OWNER
    + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/(?:microsoft\.graph\.)?permanentDelete",
)
def permanently_delete(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    state.permanently_delete(sb, user, message_id)
    return empty_response(204)


@outlook_route(
    "POST",
    OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/(?:microsoft\.graph\.)?send",
)
def send_draft(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, {"Mail.Send"}, {"Mail.Send"})
    state.send_draft(sb, user, message_id)
    return empty_response(202)


@outlook_route(
    "POST",
    OWNER
    + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/(?:microsoft\.graph\.)?(?P<action>move|copy)",
)
def move_message(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, action: str
) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    destination = ci_get(request_json(), "destinationId")
    moved = state.move_message(
        sb, user, message_id, destination, keep_original=action.lower() == "copy"
    )
    return json_response(
        {"@odata.context": _message_context(user), **state.select_properties(moved, None)}, 201
    )


@outlook_route("GET", OWNER + r"/mailFolders/(?P<folder>[^/]+)/messages")
def folder_messages(sb: Sandbox, principal: Principal, owner: str, folder: str) -> Response:
    user = _mailbox(sb, principal, owner, READ, READ_APP)
    found = state.folder(sb, user, folder)
    return _page(sb, user, found["id"], f"users('{user.id}')/mailFolders('{folder}')/messages")


@outlook_route("GET", OWNER + r"/messages")
def all_messages(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user = _mailbox(sb, principal, owner, READ, READ_APP)
    return _page(sb, user, None, f"users('{user.id}')/messages")


@outlook_route("GET", OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)")
def get_message(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, READ, READ_APP)
    names = query.parse_select(request.args.get("$select"))
    resource = state.get_message(sb, user, message_id)
    context = _selection(f"users('{user.id}')/messages", names) + "/$entity"
    body = {
        "@odata.context": odata_context(context),
        **state.select_properties(resource, names),
    }
    body.update(_expansions(sb, user, resource, _parse_expand(request.args.get("$expand"))))
    return json_response(body)


# $expand on a message: its open extensions, and its single-value extended properties by id
MESSAGE_SIZE = "Integer 0x0E08"  # PidTagMessageSize, the one a message has without being given it
_EXTENDED_EXPAND = re.compile(
    r"^singleValueExtendedProperties\(\s*\$filter\s*=\s*id\s+eq\s+'([^']*)'\s*\)$", re.IGNORECASE
)


def _parse_expand(raw: str | None) -> dict[str, str | None]:
    """What `$expand` asks of a message: {"extensions" | "extended": the id filtered on, or None}."""
    wanted: dict[str, str | None] = {}
    for item in re.split(r",(?![^(]*\))", raw or ""):
        item = item.strip()
        if not item:
            continue
        if found := extensions.EXPAND.match(item):
            wanted["extensions"] = found.group(1)
        elif found := _EXTENDED_EXPAND.match(item):
            wanted["extended"] = found.group(1)
        else:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{item}' on type 'Microsoft.OutlookServices.Message'.",
            )
    return wanted


def _expansions(
    sb: Sandbox, user: User, resource: dict[str, Any], wanted: dict[str, str | None]
) -> dict[str, Any]:
    expansions: dict[str, Any] = {}
    message_id = str(resource["id"])
    if "extensions" in wanted:
        expansions["extensions@odata.context"] = odata_context(
            f"users('{user.id}')/messages('{quote(message_id, safe='')}')/extensions"
        )
        expansions["extensions"] = extensions.expanded(
            sb, "message", message_id, wanted["extensions"]
        )
    if "extended" in wanted:
        only = (wanted["extended"] or "").lower()
        expansions[state.EXTENDED] = [
            p for p in resource.get(state.EXTENDED) or [] if str(p["id"]).lower() == only
        ]
        if only == MESSAGE_SIZE.lower():  # PidTagMessageSize: Outlook computes it for every item
            size = str(state.stored_size(sb, message_id))
            expansions[state.EXTENDED] = [{"id": MESSAGE_SIZE, "value": size}]
    return expansions


@outlook_route("GET", OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/attachments")
def list_attachments(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, READ_CONTENT, READ_APP - {"Mail.ReadBasic.All"})
    state.get_message(sb, user, message_id)
    return json_response(
        {
            "@odata.context": odata_context(
                f"users('{user.id}')/messages('{quote(message_id, safe='')}')/attachments"
            ),
            "value": [
                state.attachment_resource(sb, row) for row in state.attachments(sb, message_id)
            ],
        }
    )


ATTACHMENT = (
    OWNER
    + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/attachments/(?P<attachment_id>[^/]+)"
)


def _readable_attachment(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, attachment_id: str
) -> tuple[User, dict[str, object]]:
    user = _mailbox(sb, principal, owner, READ_CONTENT, READ_APP - {"Mail.ReadBasic.All"})
    state.get_message(sb, user, message_id)
    for row in state.attachments(sb, message_id):
        if row["id"] == attachment_id:
            return user, row
    raise GraphError(
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store., Item not found.",
    )


@outlook_route("GET", ATTACHMENT)
def get_attachment(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, attachment_id: str
) -> Response:
    user, row = _readable_attachment(sb, principal, owner, message_id, attachment_id)
    body = {
        "@odata.context": odata_context(
            f"users('{user.id}')/messages('{quote(message_id, safe='')}')/attachments/$entity"
        ),
        **state.attachment_resource(sb, row),
    }
    return json_response(body)


@outlook_route("GET", ATTACHMENT + r"/\$value")
def attachment_value(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, attachment_id: str
) -> Response:
    _, row = _readable_attachment(sb, principal, owner, message_id, attachment_id)
    try:
        blob = open(sb.store.blob_path(str(row["blob"])), "rb")  # noqa: SIM115 - the response closes it
    except FileNotFoundError:  # deleted since the row was read
        raise state.item_not_found() from None
    # streamed from the blob file: an attachment may be 150 MB
    response = Response(wrap_file(request.environ, blob, 256 * 1024), direct_passthrough=True)
    response.headers["Content-Type"] = str(row["content_type"])
    response.headers["Content-Length"] = str(row["size"])
    return response


@outlook_route(
    "POST", OWNER + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/attachments"
)
def add_attachment(sb: Sandbox, principal: Principal, owner: str, message_id: str) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    added = state.add_attachment(sb, user, message_id, request_json())
    context = odata_context(
        f"users('{user.id}')/messages('{quote(message_id, safe='')}')/attachments/$entity"
    )
    return json_response({"@odata.context": context, **added}, 201)


@outlook_route("DELETE", ATTACHMENT)
def delete_attachment(
    sb: Sandbox, principal: Principal, owner: str, message_id: str, attachment_id: str
) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    state.delete_attachment(sb, user, message_id, attachment_id)
    return empty_response(204)


@outlook_route(
    "POST",
    OWNER
    + r"/(?:mailFolders/[^/]+/)?messages/(?P<message_id>[^/]+)/attachments/(?:microsoft\.graph\.)?createUploadSession",
)
def create_upload_session(
    sb: Sandbox, principal: Principal, owner: str, message_id: str
) -> Response:
    user = _mailbox(sb, principal, owner, WRITE, WRITE)
    session, token = sessions.create(sb, user, message_id, request_json())
    return json_response(
        {
            "@odata.context": odata_context("microsoft.graph.uploadSession"),
            "uploadUrl": uploads.upload_url(sb, user.id, message_id, session.id, token),
            "expirationDateTime": uploads.expiration(session.expires),
            "nextExpectedRanges": ["0-"],
        },
        201,
    )
