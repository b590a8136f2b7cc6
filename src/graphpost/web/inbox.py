"""The inbox (pages that follow Graph's next links, and back), a message with its body in a
sandboxed frame (with its inline images), its attachments to download, and marking it read or
unread."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import quote

import httpx
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from graphpost.core.batch import BatchRequest, BatchResult
from graphpost.core.common import get_page, graph_request, next_page_request
from graphpost.core.errors import error_from_response, expect_ok
from graphpost.core.http import Operation, Request, path_segment
from graphpost.errors import GraphError
from graphpost.models import Attachment, Message
from graphpost.transport import plain_response
from graphpost.web import mailbody, signin
from graphpost.web.security import mail_body_policy

blueprint = Blueprint("inbox", __name__)

DEFAULT_PAGE_SIZE = 25
LIST_FIELDS = ("subject", "from", "receivedDateTime", "isRead", "hasAttachments")
VIEW_FIELDS = (
    "subject",
    "from",
    "toRecipients",
    "ccRecipients",
    "receivedDateTime",
    "isRead",
    "hasAttachments",
    "importance",
)
ATTACHMENT_FIELDS = ("id", "name", "contentType", "size", "isInline")
INLINE_FIELDS = ("id", "contentType", "contentId", "isInline")
# PidTagMessageSize: Graph v1.0 has no size property on a message; Outlook keeps it here
SIZE_PROPERTY = "Integer 0x0E08"
STREAM_CHUNK = 256 * 1024


def message_size(message: Message) -> int | None:
    for extended in message.raw.get("singleValueExtendedProperties") or ():
        if str(extended.get("id", "")).lower() == SIZE_PROPERTY.lower():
            try:
                return int(extended.get("value"))
            except (TypeError, ValueError):
                return None
    return None


def _first_page_request(top: int) -> Request:
    return graph_request(
        "GET",
        "/me/mailFolders/inbox/messages",
        params={
            "$select": ",".join(LIST_FIELDS),
            "$top": str(top),
            "$expand": f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')",
        },
    )


@blueprint.get("/inbox")
def inbox() -> ResponseReturnValue:
    """Page 0 is always read afresh; page N follows the next link Graph gave on page N-1, kept in
    the server-side session (never in the URL: the browser cannot point us at another address)."""
    graph = signin.graph()
    try:
        page = int(request.args.get("page", "0"))
    except ValueError:
        page = -1
    links: list[str | None] = list(session.get("inbox_links") or [None]) if page else [None]
    if page < 0 or page >= len(links):
        return redirect(url_for("inbox.inbox"), code=302)
    link = links[page]
    top = int(current_app.config.get("GRAPHPOST_INBOX_PAGE_SIZE", DEFAULT_PAGE_SIZE))
    try:
        listed = graph.run(
            get_page(
                _first_page_request(top) if link is None else next_page_request(link),
                Message.from_json,
            )
        )
    except GraphError as failure:
        return render_template("inbox.html", failure=failure, page=page, rows=[]), 502
    links = links[: page + 1]
    if listed.next_link:
        links.append(listed.next_link)
    session["inbox_links"] = links
    rows = [(message, message_size(message)) for message in listed.items]
    return render_template(
        "inbox.html",
        failure=None,
        rows=rows,
        page=page,
        has_previous=page > 0,
        has_next=bool(listed.next_link),
    )


def _message_path(message_id: str) -> str:
    return f"/me/messages/{path_segment(message_id)}"


def _with_attachments(
    message_id: str, fields: Sequence[str], attachment_fields: Sequence[str]
) -> tuple[BatchResult, BatchResult]:
    """A message's `fields` and its attachments' `attachment_fields`, in one round trip."""
    base = _message_path(message_id)
    results = signin.graph().batch(
        [
            BatchRequest("message", "GET", f"{base}?$select={','.join(fields)}"),
            BatchRequest(
                "attachments", "GET", f"{base}/attachments?$select={','.join(attachment_fields)}"
            ),
        ]
    )
    return results["message"], results["attachments"]


@blueprint.get("/messages/<message_id>")
def message(message_id: str) -> ResponseReturnValue:
    """The headers and the attachment list in one round trip; the body comes in its own frame."""
    found, listed = _with_attachments(message_id, VIEW_FIELDS, ATTACHMENT_FIELDS)
    if found.status in (400, 404):
        abort(404, description="This message is not in your mailbox (it may have been moved).")
    if not found.ok or not isinstance(found.body, dict):
        raise found.error()
    attachments: list[Attachment] = []
    attachments_problem: GraphError | None = None
    if listed.ok and isinstance(listed.body, dict):
        attachments = [Attachment.from_json(item) for item in listed.body.get("value") or []]
    else:
        attachments_problem = listed.error()
    return render_template(
        "message.html",
        message=Message.from_json(found.body),
        attachments=attachments,
        attachments_problem=attachments_problem,
    )


@blueprint.get("/messages/<message_id>/body")
def message_body(message_id: str) -> ResponseReturnValue:
    """The mail's own HTML, under a policy that lets nothing in it run or load but its inline
    images (see `mail_body_policy`), shown only inside the message page's sandboxed frame.
    The body and the attachments its ``cid:`` images name come in one round trip."""
    found, listed = _with_attachments(message_id, ("body",), INLINE_FIELDS)
    if not found.ok or not isinstance(found.body, dict):
        raise found.error()
    message = Message.from_json(found.body)
    if message.body_type == "html":
        document = message.body_content or ""
    else:
        document = render_template("text_body.html", text=message.body_content or "")
    images = _images_by_content_id(listed)
    account = (signin.current_user() or {}).get("home_account_id", "")

    def address_of(content_id: str) -> str | None:
        attachment = images.get(content_id)
        if attachment is None:
            return None
        image = mailbody.InlineImage(
            account, message_id, attachment.id, str(attachment.content_type)
        )
        return url_for("inbox.inline_image", token=image.sign(_secret()))

    document = mailbody.show_inline_images(mailbody.open_links_in_new_tabs(document), address_of)
    response = Response(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = mail_body_policy(request.url_root + "inline/")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _images_by_content_id(listed: BatchResult) -> dict[str, Attachment]:
    """The attachments a ``cid:`` reference can show (none when they could not be listed)."""
    items = listed.body.get("value") or [] if listed.ok and isinstance(listed.body, dict) else []
    attachments = [Attachment.from_json(item) for item in items]
    return {
        attachment.content_id.strip("<>"): attachment
        for attachment in attachments
        if attachment.content_id and mailbody.is_image(attachment.content_type)
    }


def _secret() -> str:
    return str(current_app.secret_key)


@blueprint.get("/inline/<token>")
def inline_image(token: str) -> ResponseReturnValue:
    """An inline image of a mail, for the message frame: the frame's requests carry no session
    cookie, so the address itself is the proof (see `graphpost.web.mailbody`)."""
    image = mailbody.InlineImage.verified(_secret(), token)
    if image is None or not mailbody.is_image(image.content_type):
        abort(404)
    try:
        signin.graph_as(image.account)  # the account's token, for this request
    except signin.SignInRequired:
        abort(404)  # signed out since: its images are gone with its tokens
    return _streamed(_open_value(image.message_id, image.attachment_id), image.content_type)


def content_disposition(name: str) -> str:
    """``attachment`` with the name for old browsers (ASCII) and for the others (RFC 6266)."""
    plain = "".join(c for c in name if c.isascii() and c.isprintable() and c not in '"\\')
    return f"attachment; filename=\"{plain or 'attachment'}\"; filename*=UTF-8''{quote(name)}"


def _open_value(message_id: str, attachment_id: str) -> httpx.Response:
    """The attachment's bytes as a stream (up to 150 MB: never whole in memory)."""
    graph = signin.graph()
    request_ = graph_request(
        "GET", f"{_message_path(message_id)}/attachments/{path_segment(attachment_id)}/$value"
    )
    url = graph.url_of(request_)
    http = signin.http_client()
    answer = http.send(
        http.build_request(
            "GET", url, headers=graph.headers_for(request_, url, signin.access_token())
        ),
        stream=True,
    )
    if answer.status_code >= 400:
        answer.read()
        answer.close()
        raise error_from_response(plain_response(answer))
    return answer


@blueprint.get("/messages/<message_id>/attachments/<attachment_id>")
def attachment(message_id: str, attachment_id: str) -> ResponseReturnValue:
    graph = signin.graph()
    details = graph.run(_attachment_details(message_id, attachment_id))
    response = _streamed(
        _open_value(message_id, attachment_id),
        details.content_type or "application/octet-stream",
    )
    response.headers["Content-Disposition"] = content_disposition(details.name or "attachment")
    return response


def _streamed(answer: httpx.Response, content_type: str) -> Response:
    """An attachment's bytes as they come from Graph; opened rather than saved, it runs nothing."""

    def chunks() -> Iterator[bytes]:
        try:
            yield from answer.iter_bytes(STREAM_CHUNK)
        finally:
            answer.close()

    response = Response(chunks(), mimetype=content_type)
    if "content-length" in answer.headers:
        response.headers["Content-Length"] = answer.headers["content-length"]
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _attachment_details(message_id: str, attachment_id: str) -> Operation[Attachment]:
    path = f"{_message_path(message_id)}/attachments/{path_segment(attachment_id)}"
    response = expect_ok(
        (yield graph_request("GET", path, params={"$select": "id,name,contentType,size"}))
    )
    return Attachment.from_json(response.json() or {})


@blueprint.post("/messages/<message_id>/read")
def mark_read(message_id: str) -> ResponseReturnValue:
    is_read = request.form.get("read") == "true"
    signin.graph().update_message(message_id, {"isRead": is_read})
    return redirect(url_for("inbox.message", message_id=message_id), code=303)
