"""HTTP surface of Graph's users area: /me, /users, /users/{id | upn}, photos."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.auth import Principal, is_self, require, resolve_owner
from graphpost.sandbox.graph.extensions import state as extensions
from graphpost.sandbox.graph.router import OWNER, route
from graphpost.sandbox.graph.users import state
from graphpost.sandbox.graph.wire import GraphError, json_response, odata_context

OWN_PROFILE = {
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
}
OTHER_PROFILES = {"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All"}
APP_PROFILES = {"User.Read.All", "User.ReadWrite.All"}


def _readable_user(
    sb: Sandbox, principal: Principal, owner: str, workload: str = "directory"
) -> User:
    """The profile's owner, when the token may read it; 403 spelled as `workload` spells it."""
    user = resolve_owner(sb, principal, owner, "directory")
    require(
        principal,
        workload,
        delegated=OWN_PROFILE if is_self(principal, user) else OTHER_PROFILES,
        application=APP_PROFILES,
    )
    return user


@route("GET", OWNER)
def get_user(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user = _readable_user(sb, principal, owner)
    select = state.parse_select(request.args.get("$select"))
    context = "users/$entity" if select is None else f"users({','.join(select)})/$entity"
    body = {"@odata.context": odata_context(context), **state.user_resource(user, select)}
    raw_expand = request.args.get("$expand")
    if raw_expand:  # extensions: the one navigation of a user expanded here
        asked = extensions.EXPAND.match(raw_expand.strip())
        if asked is None:
            raise state.unknown_navigation(raw_expand)
        body["extensions@odata.context"] = odata_context(f"users('{user.id}')/extensions")
        body["extensions"] = extensions.expanded(sb, "user", user.id, asked.group(1))
    return json_response(body)


@route("GET", r"users")
def list_users(sb: Sandbox, principal: Principal) -> Response:
    require(principal, "directory", delegated=OTHER_PROFILES, application=APP_PROFILES)
    select = state.parse_select(request.args.get("$select"))
    size = state.page_size(request.args.get("$top"))
    if "$skip" in request.args:
        raise GraphError(400, "Request_BadRequest", "'$skip' is not supported by the service.")
    offset = (
        state.decode_skiptoken(request.args["$skiptoken"]) if "$skiptoken" in request.args else 0
    )
    users = sb.directory.users()
    page = users[offset : offset + size]
    context = "users" if select is None else f"users({','.join(select)})"
    body: dict[str, object] = {"@odata.context": odata_context(context)}
    if offset + size < len(users):
        params = {k: v for k, v in request.args.items() if k != "$skiptoken"}
        params["$skiptoken"] = state.encode_skiptoken(offset + size)
        body["@odata.nextLink"] = f"{sb.graph_url}/users?{urlencode(params, safe='$,')}"
    body["value"] = [state.user_resource(user, select) for user in page]
    return json_response(body)


def _photo_owner(sb: Sandbox, principal: Principal, owner: str) -> User:
    user = _readable_user(sb, principal, owner, workload="outlook")  # photos come from Exchange
    if not user.photo_blob:
        raise state.image_not_found()
    return user


def _photo_metadata(sb: Sandbox, user: User, pixels: int) -> dict[str, object]:
    return {
        "@odata.mediaContentType": user.photo_type,
        "@odata.mediaEtag": user.photo_etag,
        "id": f"{pixels}x{pixels}",
        "width": pixels,
        "height": pixels,
    }


@route("GET", OWNER + r"/photo", outlook=True)  # the Profile API counts as Outlook
def photo_metadata(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user = _photo_owner(sb, principal, owner)
    context = "me/photo/$entity" if owner == "me" else f"users('{user.id}')/photo/$entity"
    return json_response(
        {
            "@odata.context": odata_context(context),
            "@odata.id": f"{sb.graph_url}/users('{user.id}@{sb.tenant_id}')/photo",
            **_photo_metadata(sb, user, state.FULL_SIZE),
        }
    )


@route("GET", OWNER + r"/photos", outlook=True)
def photo_list(sb: Sandbox, principal: Principal, owner: str) -> Response:
    user = _photo_owner(sb, principal, owner)
    return json_response(
        {
            "@odata.context": odata_context(f"users('{user.id}')/photos"),
            "value": [
                _photo_metadata(sb, user, pixels) for pixels, _ in state.photo_sizes(sb, user)
            ],
        }
    )


@route("GET", OWNER + r"/photos/(?P<size>[^/]+)", outlook=True)
def photo_size_metadata(sb: Sandbox, principal: Principal, owner: str, size: str) -> Response:
    user = _photo_owner(sb, principal, owner)
    pixels, _ = state.photo_blob(sb, user, size)
    body = {
        "@odata.context": odata_context(f"users('{user.id}')/photos/$entity"),
        **_photo_metadata(sb, user, pixels),
    }
    return json_response(body)


@route("GET", OWNER + r"/photo(?:/(?P<size>[^/$]+))?/\$value", outlook=True)
@route("GET", OWNER + r"/photos/(?P<size>[^/$]+)/\$value", outlook=True)
def photo_value(sb: Sandbox, principal: Principal, owner: str, size: str | None = None) -> Response:
    user = _photo_owner(sb, principal, owner)
    _, blob = state.photo_blob(sb, user, size)
    response = Response(sb.store.read_blob(blob), status=200)
    response.headers["Content-Type"] = user.photo_type or "image/jpeg"
    response.headers["ETag"] = user.photo_etag or ""
    return response
