"""Mail: recipients from what people type, the sendMail JSON, sending, and reading messages."""

from __future__ import annotations

import base64
import contextlib
import json
import mimetypes
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphpost.core import uploads
from graphpost.core.common import (
    get_page,
    graph_request,
    next_page_request,
    odata_params,
    owner_path,
    read_page,
)
from graphpost.core.errors import error_from_response, expect_ok
from graphpost.core.http import JSON, Operation, Response, path_segment, pause
from graphpost.core.uploads import Progress
from graphpost.errors import InvalidRecipients, SizeLimitExceeded
from graphpost.models import Attachment, MailFolder, Message, Page, Recipient, SendReceipt

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MAX_REQUEST_BYTES",
    "FileAttachment",
    "InvalidRecipients",
    "build_message",
    "check_send_size",
    "get_message",
    "is_email_address",
    "list_attachments",
    "list_messages",
    "next_page",
    "parse_recipients",
    "send_mail",
]

# Graph takes attachments in the sendMail JSON only under 3 MB each, and the whole
# request under 4 MB; beyond that it needs an upload session (a later feature).
MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_LARGE_ATTACHMENT_BYTES = 150 * 1024 * 1024  # "attach files up to 150 MB"
SESSION_TRIES = 3

# RFC 5322 addr-spec, the practical part: dot-atom or quoted local part, dot-atom domain
# of at least two labels (or an IPv4 literal); non-ASCII allowed (RFC 6531).  Non-ASCII is a
# class of its own: a range up to U+10FFFF inside a class takes re 50 times longer to compile.
_NON_ASCII = r"[^\x00-\x7f]"
_ATEXT = rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-]|{_NON_ASCII})"
_LOCAL = rf'(?:{_ATEXT}+(?:\.{_ATEXT}+)*|"(?:[^"\\\r\n]|\\.)+")'
_ALNUM = rf"(?:[A-Za-z0-9]|{_NON_ASCII})"
_LABEL = rf"(?:{_ALNUM}(?:(?:[A-Za-z0-9\-]|{_NON_ASCII}){{0,61}}{_ALNUM})?)"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})+|\[\d{{1,3}}(?:\.\d{{1,3}}){{3}}\])"
_ADDRESS = re.compile(rf"{_LOCAL}@{_DOMAIN}")
_NAME_AND_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]*)>$", re.DOTALL)


def is_email_address(text: str) -> bool:
    """True for an addr-spec such as ``ada@example.com`` (no display name, no spaces)."""
    if len(text) > 254 or not _ADDRESS.fullmatch(text):
        return False
    local, _, domain = text.rpartition("@")
    if len(local) > 64:
        return False
    labels = domain.split(".")
    return domain.startswith("[") or not labels[-1].isdigit()


def _split(text: str) -> Iterator[str]:
    """Split on ``;`` and ``,`` except inside quotes or angle brackets (``"Doe, Jo" <jo@x.com>``)."""
    start, quoted, angled = 0, False, False
    for index, char in enumerate(text):
        if char == '"' and not angled:
            quoted = not quoted
        elif char == "<" and not quoted:
            angled = True
        elif char == ">" and not quoted:
            angled = False
        elif char in ";," and not quoted and not angled:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def parse_recipients(text: str | Iterable[str]) -> list[str]:
    """Addresses from text such as ``"a@x.com; b@y.com, Bo <c@z.com>"``: trimmed, validated, de-duplicated.

    Raises `InvalidRecipients` naming every entry that is not an email address.  An
    empty text gives an empty list (the caller decides whether that is allowed).
    """
    pieces = _split(text) if isinstance(text, str) else (p for t in text for p in _split(t))
    found: list[str] = []
    seen: set[str] = set()
    invalid: list[str] = []
    for piece in pieces:
        entry = piece.strip()
        if not entry:
            continue
        named = _NAME_AND_ADDRESS.match(entry)
        address = named.group("address").strip() if named else entry
        if address.lower().startswith("mailto:"):
            address = address[len("mailto:") :]
        if not is_email_address(address):
            invalid.append(entry)
        elif address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    if invalid:
        listed = ", ".join(repr(entry) for entry in invalid)
        noun = "is not an email address" if len(invalid) == 1 else "are not email addresses"
        raise InvalidRecipients(f"{listed} {noun}", invalid)
    return found


Recipients = str | Iterable[str | Recipient]


def _recipient_json(recipients: Recipients) -> list[dict[str, Any]]:
    if isinstance(recipients, str):
        return [Recipient(a).to_json() for a in parse_recipients(recipients)]
    result: list[dict[str, Any]] = []
    for item in recipients:
        if isinstance(item, Recipient):
            if not is_email_address(item.address):
                raise InvalidRecipients(f"{item.address!r} is not an email address", [item.address])
            result.append(item.to_json())
        else:
            result.extend(Recipient(a).to_json() for a in parse_recipients(item))
    return result


@dataclass(frozen=True)
class FileAttachment:
    """A file to send with a mail.  Only the base name of `name` is sent, never a folder path.

    Its bytes are `content`, or, for a file given by `path`, read from disk when needed,
    a chunk at a time: attachments of 3 MB and more travel through an upload session.
    """

    name: str
    content: bytes = field(default=b"", repr=False)
    content_type: str | None = None
    is_inline: bool = False
    content_id: str | None = None  # for <img src="cid:..."> in an HTML body
    path: Path | None = None

    @classmethod
    def from_path(cls, path: str | Path, content_type: str | None = None) -> FileAttachment:
        """A file on disk; its bytes are read when the mail is sent (never whole when large)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no file at {path}")
        return cls(path.name, content_type=content_type, path=path)

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.content)

    def read(self, offset: int, length: int) -> bytes:
        if self.path is None:
            return self.content[offset : offset + length]
        with open(self.path, "rb") as source:
            source.seek(offset)
            return source.read(length)

    @property
    def is_large(self) -> bool:
        """Whether it must go through an upload session (3 MB or more)."""
        return self.size >= MAX_ATTACHMENT_BYTES

    @property
    def filename(self) -> str:
        base = re.split(r"[\\/]", self.name)[-1]
        base = "".join(c for c in base if c.isprintable()).strip()
        if base in ("", ".", ".."):
            raise ValueError(f"attachment name {self.name!r} has no file name")
        return base

    @property
    def media_type(self) -> str:
        if self.content_type:
            return self.content_type
        guessed, _ = mimetypes.guess_type(self.filename, strict=False)
        return guessed or "application/octet-stream"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": self.filename,
            "contentType": self.media_type,
            "contentBytes": base64.b64encode(self.read(0, self.size)).decode("ascii"),
        }
        if self.is_inline:
            data["isInline"] = True
        if self.content_id:
            data["contentId"] = self.content_id
        return data


_IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}


def build_message(
    subject: str,
    body: str,
    to: Recipients,
    cc: Recipients = (),
    bcc: Recipients = (),
    reply_to: Recipients = (),
    *,
    html: bool = True,
    importance: str | None = None,
    attachments: Sequence[FileAttachment] = (),
) -> JSON:
    """The ``message`` object of sendMail, with Graph's camelCase names.

    Recipients may be a text to parse (``"a@x.com; b@y.com"``) or a list of addresses or
    `Recipient`s; all are validated.  Raises `InvalidRecipients` when there are none.
    """
    to_json, cc_json, bcc_json = _recipient_json(to), _recipient_json(cc), _recipient_json(bcc)
    if not (to_json or cc_json or bcc_json):
        raise InvalidRecipients("a mail needs at least one recipient")
    message: dict[str, Any] = {
        # a subject is one line; Exchange would refuse or mangle line breaks
        "subject": " ".join(subject.splitlines()),
        "body": {"contentType": "HTML" if html else "Text", "content": body},
        "toRecipients": to_json,
    }
    if cc_json:
        message["ccRecipients"] = cc_json
    if bcc_json:
        message["bccRecipients"] = bcc_json
    reply_json = _recipient_json(reply_to)
    if reply_json:
        message["replyTo"] = reply_json
    if importance is not None:
        if importance.lower() not in _IMPORTANCE:
            raise ValueError("importance must be 'low', 'normal' or 'high'")
        message["importance"] = _IMPORTANCE[importance.lower()]
    if attachments:
        message["attachments"] = [attachment.to_json() for attachment in attachments]
    return message


def _decoded_size(encoded: str) -> int:
    return len(encoded) * 3 // 4 - encoded[-2:].count("=")


def check_send_size(message: JSON, request_bytes: int) -> None:
    """Raise `SizeLimitExceeded` for what Graph would refuse: an attachment of 3 MB or more, a request over 4 MB."""
    for attachment in message.get("attachments") or ():
        encoded = attachment.get("contentBytes")
        if isinstance(encoded, str) and _decoded_size(encoded) >= MAX_ATTACHMENT_BYTES:
            raise SizeLimitExceeded(
                f"attachment {attachment.get('name')!r}",
                _decoded_size(encoded),
                MAX_ATTACHMENT_BYTES,
                "attachments of 3 MB or more need an upload session",
            )
    if request_bytes > MAX_REQUEST_BYTES:
        raise SizeLimitExceeded(
            "the mail (as JSON, attachments base64-encoded)",
            request_bytes,
            MAX_REQUEST_BYTES,
            "Graph takes at most 4 MB in one sendMail request",
        )


def send_mail(
    message: JSON, save_to_sent_items: bool = True, user: str = "me"
) -> Operation[SendReceipt]:
    """Send `message` (see `build_message`); Graph answers 202 Accepted, with no body.

    The size is checked before anything is sent.  The request is marked non-idempotent:
    after a 503 or a lost connection it is not sent again, since the mail may have gone.
    """
    payload: dict[str, Any] = {"message": message}
    if not save_to_sent_items:  # Graph's default is true: send it only when false
        payload["saveToSentItems"] = False
    request = graph_request("POST", f"{owner_path(user)}/sendMail", json=payload, idempotent=False)
    body = request.body_bytes() or b""
    check_send_size(message, len(body))
    response = expect_ok((yield request))
    return SendReceipt(
        request_id=response.header("request-id"),
        client_request_id=response.header("client-request-id")
        or request.headers.get("client-request-id"),
    )


def _messages_path(user: str, folder: str | None) -> str:
    base = owner_path(user)
    return f"{base}/mailFolders/{path_segment(folder)}/messages" if folder else f"{base}/messages"


def list_messages(
    folder: str | None = "inbox",
    top: int | None = None,
    user: str = "me",
    select: Sequence[str] | None = None,
) -> Operation[Page[Message]]:
    """The first page of a folder's messages, newest first (``folder=None``: every folder)."""
    request = graph_request("GET", _messages_path(user, folder), params=odata_params(select, top))
    return (yield from get_page(request, Message.from_json))


def next_page(next_link: str) -> Operation[Page[Message]]:
    """The page of messages at ``@odata.nextLink`` (it already carries $top, $select, $skip)."""
    return (yield from get_page(next_page_request(next_link), Message.from_json))


def get_message(
    message_id: str, user: str = "me", select: Sequence[str] | None = None
) -> Operation[Message]:
    path = f"{owner_path(user)}/messages/{path_segment(message_id)}"
    response = expect_ok((yield graph_request("GET", path, params=odata_params(select))))
    return Message.from_json(response.json() or {})


def list_attachments(message_id: str, user: str = "me") -> Operation[list[Attachment]]:
    """Every attachment of a message, with file contents decoded, following next links."""
    path = f"{owner_path(user)}/messages/{path_segment(message_id)}/attachments"
    response = expect_ok((yield graph_request("GET", path)))
    page = read_page(response.json() or {}, Attachment.from_json)
    found = list(page.items)
    while page.next_link:
        response = expect_ok((yield next_page_request(page.next_link)))
        page = read_page(response.json() or {}, Attachment.from_json)
        found.extend(page.items)
    return found


# -- folders, drafts and changes ---------------------------------------------------------


def _message_path(user: str, message_id: str) -> str:
    return f"{owner_path(user)}/messages/{path_segment(message_id)}"


def list_folders(user: str = "me") -> Operation[list[MailFolder]]:
    response = expect_ok((yield graph_request("GET", f"{owner_path(user)}/mailFolders")))
    return [MailFolder.from_json(item) for item in (response.json() or {}).get("value", [])]


def create_draft(message: Mapping[str, Any], user: str = "me") -> Operation[Message]:
    """A draft in Drafts (201).  Sending the request twice leaves two drafts but sends nothing,
    so it may be retried after an ambiguous failure."""
    request = graph_request(
        "POST", f"{owner_path(user)}/messages", json=dict(message), idempotent=True
    )
    response = expect_ok((yield request), 201)
    return Message.from_json(response.json() or {})


def update_message(
    message_id: str, changes: Mapping[str, Any], user: str = "me"
) -> Operation[Message]:
    """PATCH a message: isRead, categories, flag, importance on any; content on drafts only."""
    request = graph_request(
        "PATCH", _message_path(user, message_id), json=dict(changes), idempotent=True
    )
    response = expect_ok((yield request))
    return Message.from_json(response.json() or {})


def delete_message(message_id: str, user: str = "me") -> Operation[None]:
    expect_ok((yield graph_request("DELETE", _message_path(user, message_id))), 204)
    return None


def move_message(
    message_id: str, destination: str, user: str = "me", copy: bool = False
) -> Operation[Message]:
    """Move (or copy) to a folder by id or well-known name; the message gets a new id."""
    action = "copy" if copy else "move"
    request = graph_request(
        "POST",
        f"{_message_path(user, message_id)}/{action}",
        json={"destinationId": destination},
        # a repeated move fails (the old id is gone); a repeated copy would copy twice
        idempotent=False,
    )
    response = expect_ok((yield request), 201)
    return Message.from_json(response.json() or {})


def add_attachment(
    message_id: str, attachment: FileAttachment, user: str = "me"
) -> Operation[Attachment]:
    """One attachment under 3 MB, in one request."""
    if attachment.is_large:
        raise SizeLimitExceeded(
            f"attachment {attachment.filename!r}",
            attachment.size,
            MAX_ATTACHMENT_BYTES,
            "use upload_attachment",
        )
    request = graph_request(
        "POST",
        f"{_message_path(user, message_id)}/attachments",
        json=attachment.to_json(),
        idempotent=False,
    )
    response = expect_ok((yield request), 201)
    return Attachment.from_json(response.json() or {})


def upload_attachment(
    message_id: str, attachment: FileAttachment, user: str = "me", progress: Progress | None = None
) -> Operation[str]:
    """An attachment of 3 to 150 MB through an Outlook upload session; returns the attachment
    URL Outlook gives (Location).  Outlook cannot say how far a broken session got, so one
    that fails is dropped and the upload starts again in a new one (at most `SESSION_TRIES`)."""
    size = attachment.size
    if size > MAX_LARGE_ATTACHMENT_BYTES:
        raise SizeLimitExceeded(
            f"attachment {attachment.filename!r}",
            size,
            MAX_LARGE_ATTACHMENT_BYTES,
            "Outlook takes attachments up to 150 MB",
        )
    item: dict[str, Any] = {
        "attachmentType": "file",
        "name": attachment.filename,
        "size": size,
        "contentType": attachment.media_type,
    }
    if attachment.is_inline:
        item["isInline"] = True
    if attachment.content_id:
        item["contentId"] = attachment.content_id
    for attempt in range(1, SESSION_TRIES + 1):
        request = graph_request(
            "POST",
            f"{_message_path(user, message_id)}/attachments/createUploadSession",
            json={"AttachmentItem": item},
            idempotent=True,  # an unused session expires by itself
        )
        session = expect_ok((yield request), 201).json() or {}
        try:
            done = yield from uploads.put_bytes(
                str(session["uploadUrl"]), size, attachment.read, uploads.OUTLOOK, progress=progress
            )
        except uploads.SessionLost:
            if attempt == SESSION_TRIES:
                raise
            continue
        return done.header("location") or ""
    raise AssertionError("unreachable")


# -- sending exactly once -----------------------------------------------------------------
#
# Graph has no idempotency key, and an answer that never came (a timeout, a reset connection,
# a 5xx from a gateway) says nothing about whether the mail went.  So every mail carries a
# client key in a single-value extended property of graphpost's own, which Exchange keeps on
# the copy it files in Sent Items; after an ambiguous failure that copy is looked for (the
# way Microsoft advises finding a sent mail), and the mail is sent again only when it is not
# there after Exchange has had time to file it.

CLIENT_KEY_PROPERTY = "String {150d8193-7fa0-4d26-830c-270cd3c40cae} Name graphpostClientKey"
SETTLE_WAITS = (1.0, 2.0, 4.0)
"""Pauses between looks in Sent Items after an ambiguous failure: Exchange files a sent mail
asynchronously, within seconds."""
SEND_TRIES = 3
_AMBIGUOUS = frozenset({0, 500, 502, 503, 504})  # 0: no answer came


def new_client_key() -> str:
    return uuid.uuid4().hex


def with_client_key(message: Mapping[str, Any], key: str) -> JSON:
    """`message` carrying `key` in graphpost's extended property (other properties kept)."""
    others = [
        p
        for p in message.get("singleValueExtendedProperties") or ()
        if str(p.get("id", "")).lower() != CLIENT_KEY_PROPERTY.lower()
    ]
    return {
        **message,
        "singleValueExtendedProperties": [*others, {"id": CLIENT_KEY_PROPERTY, "value": key}],
    }


def find_sent(key: str, user: str = "me") -> Operation[str | None]:
    """The id of the mail with client key `key` in the mailbox's Sent Items, or None."""
    found = yield from _keyed(key, user, "sentitems", 1)
    return found[0] if found else None


def _keyed(key: str, user: str, folder: str, top: int) -> Operation[list[str]]:
    """The ids of the messages in `folder` that carry client key `key`."""
    if not re.fullmatch(r"[\w.-]{1,128}", key):
        raise ValueError("a client key is 1 to 128 letters, digits, '.', '-' or '_'")
    request = graph_request(
        "GET",
        f"{owner_path(user)}/mailFolders/{folder}/messages",
        params={
            "$filter": "singleValueExtendedProperties/any(ep: ep/id eq "
            f"'{CLIENT_KEY_PROPERTY}' and ep/value eq '{key}')",
            "$select": "id",
            "$top": str(top),
        },
    )
    found = (expect_ok((yield request)).json() or {}).get("value") or []
    return [str(item["id"]) for item in found]


def _settle(
    key: str | None, user: str, draft_id: str | None, waits: Sequence[float] | None
) -> Operation[tuple[bool, str | None]]:
    """After an ambiguous failure: (sent, id of the copy in Sent Items).  Sent when the key turns
    up in Sent Items, or when the draft that was being sent is gone; not sent when neither
    happens within `waits`.  A look that fails raises: better unsure than twice."""
    for wait in (0.0, *(SETTLE_WAITS if waits is None else waits)):
        if wait:
            yield pause(wait)
        if key is not None:
            found = yield from find_sent(key, user)
            if found is not None:
                return True, found
        if draft_id is not None:
            answer = yield graph_request(
                "GET", _message_path(user, draft_id), params={"$select": "id,isDraft"}
            )
            if answer.status == 404:
                return True, None
            expect_ok(answer)
    return False, None


def _failure(response: Response) -> BaseException:
    return response.failure or error_from_response(response)


def _receipt(
    response: Response, request_id: str | None, key: str | None, **extra: Any
) -> SendReceipt:
    return SendReceipt(
        request_id=response.header("request-id"),
        client_request_id=response.header("client-request-id") or request_id,
        client_key=key,
        **extra,
    )


def _send_once(
    request_for: Any,
    accepted: int,
    key: str | None,
    user: str,
    draft_id: str | None,
    waits: Sequence[float] | None,
) -> Operation[SendReceipt]:
    """POST a send (`request_for()` makes it afresh each time, with a new client-request-id)
    until it is accepted, looking after each ambiguous failure whether it went after all."""
    for attempt in range(1, SEND_TRIES + 1):
        request = request_for()
        response = yield request
        request_id = request.headers.get("client-request-id")
        if response.status == accepted:
            return _receipt(response, request_id, key)
        if draft_id is not None and response.status == 404 and attempt > 1:
            # the draft we saw a moment ago is gone: the earlier send went through meanwhile
            return _receipt(response, request_id, key, already_sent=True)
        if response.status not in _AMBIGUOUS:
            raise _failure(response)
        sent, copy_id = yield from _settle(key, user, draft_id, waits)
        if sent:
            return _receipt(response, request_id, key, already_sent=True, sent_message_id=copy_id)
        if attempt == SEND_TRIES:
            raise _failure(response)
    raise AssertionError("unreachable")


def send_keyed(
    message: JSON,
    user: str = "me",
    key: str | None = None,
    settle_waits: Sequence[float] | None = None,
) -> Operation[SendReceipt]:
    """sendMail exactly once, in one request in the happy case: the mail carries a client key,
    and after an ambiguous failure it is sent again only if no copy with that key turned up in
    Sent Items (so it is always saved there)."""
    key = key or new_client_key()
    payload = {"message": with_client_key(message, key)}

    def request() -> Any:
        return graph_request(
            "POST",
            f"{owner_path(user)}/sendMail",
            json=payload,
            idempotent=False,
            report_failures=True,
        )

    check_send_size(message, len(request().body_bytes() or b""))
    return (yield from _send_once(request, 202, key, user, None, settle_waits))


def send_draft(
    message_id: str,
    user: str = "me",
    key: str | None = None,
    settle_waits: Sequence[float] | None = None,
) -> Operation[SendReceipt]:
    """Send a draft exactly once.

    The send is never repeated blindly after an ambiguous failure: first the draft's client
    key (when it has one, as graphpost's drafts do) is looked for in Sent Items, and the draft
    itself: sending consumes it, so a draft that is gone was sent.  Only a draft still there,
    with no copy in Sent Items, after Exchange had time to file one, is sent again.
    """

    def request() -> Any:
        return graph_request(
            "POST",
            f"{_message_path(user, message_id)}/send",
            content=b"",
            idempotent=False,
            report_failures=True,
        )

    return (yield from _send_once(request, 202, key, user, message_id, settle_waits))


def send(
    message: JSON,
    attachments: Sequence[FileAttachment] = (),
    user: str = "me",
    progress: Progress | None = None,
    key: str | None = None,
    settle_waits: Sequence[float] | None = None,
) -> Operation[SendReceipt]:
    """Send a mail with attachments of any size, exactly once: as a keyed draft (small
    attachments in it while the request stays under 4 MB, others added one by one, 3 MB and
    more through upload sessions), then sent.  Nothing is sent twice, whatever fails on the way.

    A draft is deleted when the mail fails before it was sent; with a key of the caller's (a
    retry of a mail merge's row, say), drafts an earlier try left unsent are deleted first."""
    if key is not None:
        # a process that stopped between its draft and its send leaves that draft behind
        for leftover in (yield from _keyed(key, user, "drafts", 10)):
            yield from delete_message(leftover, user)
    key = key or new_client_key()
    inline: list[FileAttachment] = []
    separate: list[FileAttachment] = []
    budget = MAX_REQUEST_BYTES - len(json.dumps(message)) - 64 * 1024
    for attachment in attachments:
        encoded = (attachment.size + 2) // 3 * 4
        if not attachment.is_large and encoded < budget:
            inline.append(attachment)
            budget -= encoded
        else:
            separate.append(attachment)
    draft_json = with_client_key(message, key)
    if inline:
        draft_json["attachments"] = [a.to_json() for a in inline]
    draft = yield from create_draft(draft_json, user)
    try:
        yield from _attach_all(draft.id, separate, user, progress)
    except Exception:
        # not sent: the draft would only clutter Drafts (a failure to delete it is not the news)
        with contextlib.suppress(Exception):
            yield from delete_message(draft.id, user)
        raise
    return (yield from send_draft(draft.id, user, key, settle_waits))


def _attach_all(
    draft_id: str, attachments: Sequence[FileAttachment], user: str, progress: Progress | None
) -> Operation[None]:
    total = sum(a.size for a in attachments)
    done = 0
    for attachment in attachments:
        if attachment.is_large:

            def step(sent: int, _size: int, base: int = done) -> None:
                if progress is not None:
                    progress(base + sent, total)

            yield from upload_attachment(draft_id, attachment, user, step)
        else:
            yield from add_attachment(draft_id, attachment, user)
        done += attachment.size
        if progress is not None:
            progress(done, total)


def fits_one_request(message: JSON, attachments: Sequence[FileAttachment]) -> bool:
    """Whether sendMail takes the mail whole: every attachment under 3 MB, all under 4 MB."""
    if any(a.is_large for a in attachments):
        return False
    encoded = sum((a.size + 2) // 3 * 4 for a in attachments)
    return len(json.dumps(message)) + encoded + 64 * 1024 < MAX_REQUEST_BYTES


def compose_and_send(
    message: JSON,
    attachments: Sequence[FileAttachment] = (),
    *,
    exactly_once: bool = True,
    save_to_sent_items: bool = True,
    user: str = "me",
    progress: Progress | None = None,
    client_key: str | None = None,
    settle_waits: Sequence[float] | None = None,
) -> Operation[SendReceipt]:
    """The usual way to send.  Exactly once (the default): in one keyed sendMail when the mail
    fits one request, else through a keyed draft and upload sessions.  ``exactly_once=False``:
    one plain sendMail, never repeated after an ambiguous failure (which then raises)."""
    if exactly_once and not save_to_sent_items:
        raise ValueError(
            "exactly once finds a mail again by its copy in Sent Items; use exactly_once=False"
        )
    whole = dict(message)
    if attachments:
        whole["attachments"] = [a.to_json() for a in attachments]
    if not exactly_once:
        if not fits_one_request(message, attachments):
            raise ValueError("attachments of 3 MB or more need exactly_once=True (a draft)")
        return (yield from send_mail(whole, save_to_sent_items, user))
    if fits_one_request(message, attachments):
        return (yield from send_keyed(whole, user, client_key, settle_waits))
    return (yield from send(message, attachments, user, progress, client_key, settle_waits))


@dataclass(frozen=True)
class OutgoingMail:
    """One mail of a `send_many`: what `build_message` takes, and whose mailbox sends it."""

    subject: str
    body: str
    to: Recipients
    cc: Recipients = ()
    bcc: Recipients = ()
    reply_to: Recipients = ()
    html: bool = True
    importance: str | None = None
    attachments: Sequence[FileAttachment] = ()
    user: str = "me"
    # a key of the caller's (a mail merge's row id, say) lets it ask later whether this very
    # mail went out (`find_sent`); by default each mail gets a fresh one
    client_key: str | None = None

    def operation(self, settle_waits: Sequence[float] | None = None) -> Operation[SendReceipt]:
        """Sent exactly once, whatever is retried on the way."""
        message = build_message(
            self.subject,
            self.body,
            self.to,
            self.cc,
            self.bcc,
            self.reply_to,
            html=self.html,
            importance=self.importance,
        )
        return compose_and_send(
            message,
            self.attachments,
            user=self.user,
            client_key=self.client_key,
            settle_waits=settle_waits,
        )


def send_order(mails: Sequence[OutgoingMail]) -> list[int]:
    """The indexes of `mails` taking their mailboxes in turn (a, b, a, b, a...), so that workers
    shared by several mailboxes keep each of them busy up to its own limit."""
    queues: dict[str, list[int]] = {}
    for index, outgoing in enumerate(mails):
        queues.setdefault(outgoing.user.lower(), []).append(index)
    order: list[int] = []
    for turn in range(max((len(q) for q in queues.values()), default=0)):
        order.extend(q[turn] for q in queues.values() if turn < len(q))
    return order


@dataclass(frozen=True)
class SendOutcome:
    """What became of one mail of a `send_many`: a receipt, or the error that stopped it."""

    index: int
    mail: OutgoingMail
    receipt: SendReceipt | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.receipt is not None
