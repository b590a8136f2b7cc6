"""The portal's pages; HTML from mail is shown only inside a sandboxed frame that runs nothing."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.graph.drive import state as drive_state
from graphpost.sandbox.portal import reading

blueprint = Blueprint("portal", __name__)
KEY_COOKIE = "graphpost_portal"
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self';"
    " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _needs_key(sb: Sandbox) -> bool:
    """On loopback the portal is open, as the sandbox is; elsewhere it asks for the admin key."""
    host = sb.base_url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def _key_token(sb: Sandbox) -> str:
    return hmac.new(sb.cookie_secret, sb.admin_key.encode(), "sha256").hexdigest()


@blueprint.before_request
def _gate() -> ResponseReturnValue | None:
    sb = sandbox()
    if not _needs_key(sb) or request.endpoint == "portal.login":
        return None
    if hmac.compare_digest(request.cookies.get(KEY_COOKIE, ""), _key_token(sb)):
        return None
    return redirect(url_for("portal.login", next=request.path), code=303)


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@blueprint.route("/portal/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    sb = sandbox()
    target = request.values.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    if request.method == "POST":
        if hmac.compare_digest(request.form.get("key", "").encode(), sb.admin_key.encode()):
            response = redirect(target, code=303)
            response.set_cookie(
                KEY_COOKIE, _key_token(sb), httponly=True, secure=True, samesite="Strict"
            )
            return response
        return render_template("portal/login.html", next=target, failed=True), 401
    return render_template("portal/login.html", next=target, failed=False)


def _user(sb: Sandbox, user_id: str) -> Any:
    user = sb.directory.user(user_id)
    if user is None:
        abort(404)
    return user


@blueprint.get("/")
def overview() -> str:
    sb = sandbox()
    users = sb.directory.users()
    unread = {
        user.id: sum(
            (f["unread"] or 0)
            for f in reading.folders(sb, user.id)
            if f["well_known_name"] == "inbox"
        )
        for user in users
    }
    return render_template(
        "portal/index.html",
        sb=sb,
        users=users,
        unread=unread,
        apps=sb.directory.apps(),
        outbound=len(reading.outbound(sb)),
    )


@blueprint.get("/portal/users/<user_id>")
def mailbox(user_id: str) -> str:
    sb = sandbox()
    user = _user(sb, user_id)
    folders = reading.folders(sb, user.id)
    chosen = next((f for f in folders if f["id"] == request.args.get("folder")), None)
    chosen = chosen or next(f for f in folders if f["well_known_name"] == "inbox")
    page = max(0, request.args.get("page", 0, type=int))
    messages, more = reading.messages(sb, chosen["id"], page)
    return render_template(
        "portal/mailbox.html",
        user=user,
        folders=folders,
        folder=chosen,
        messages=messages,
        page=page,
        more=more,
    )


@blueprint.get("/portal/mail/<message_id>")
def message(message_id: str) -> str:
    sb = sandbox()
    found = reading.message(sb, message_id)
    if found is None:
        abort(404)
    owner_id, resource = found
    return render_template(
        "portal/message.html",
        owner=_user(sb, owner_id),
        message=resource,
        attachments=reading.attachments(sb, message_id),
    )


@blueprint.get("/portal/mail/<message_id>/attachments/<attachment_id>")
def attachment(message_id: str, attachment_id: str) -> Response:
    sb = sandbox()
    chosen = next(
        (a for a in reading.attachments(sb, message_id) if a["id"] == attachment_id), None
    )
    if chosen is None:
        abort(404)
    return _download(sb, chosen["blob"], chosen["name"], chosen["content_type"])


@blueprint.get("/portal/outbound")
def outbound() -> str:
    return render_template("portal/outbound.html", mails=reading.outbound(sandbox()))


@blueprint.get("/portal/users/<user_id>/drive")
def drive(user_id: str) -> str:
    sb = sandbox()
    user = _user(sb, user_id)
    items = reading.drive_items(sb, user.id)
    by_id = {item["id"]: item for item in items}
    links = [
        dict(link, url=drive_state.link_url(sb, user, by_id[link["item_id"]], link))
        for link in reading.sharing_links(sb, user.id)
        if link["item_id"] in by_id
    ]
    return render_template("portal/drive.html", user=user, items=items, links=links)


@blueprint.get("/portal/drive/<item_id>")
def drive_item(item_id: str) -> ResponseReturnValue:
    sb = sandbox()
    item = reading.drive_item(sb, item_id)
    if item is None:
        abort(404)
    return redirect(url_for("portal.drive", user_id=item["user_id"]) + f"#item-{item_id}", code=302)


@blueprint.get("/portal/drive/<item_id>/content")
def drive_content(item_id: str) -> Response:
    sb = sandbox()
    item = reading.drive_item(sb, item_id)
    if item is None or item["is_folder"] or not item["blob"]:
        abort(404)
    return _download(sb, item["blob"], item["name"], item["mime_type"])


@blueprint.get("/portal/requests")
def requests_page() -> str:
    entries = list(reversed(sandbox().requests.since(0)))[:500]
    return render_template("portal/requests.html", entries=entries)


def _download(sb: Sandbox, blob: str, name: str, content_type: str | None) -> Response:
    """A file to save, never to render as a page of this origin; streamed from its blob, as a
    drive's file or a large attachment may be far bigger than memory should hold."""
    response = send_file(
        sb.store.blob_path(blob),
        mimetype=content_type or "application/octet-stream",
        conditional=True,
        max_age=0,
    )
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response
