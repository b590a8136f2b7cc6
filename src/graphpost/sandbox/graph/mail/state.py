"""Mailboxes as Outlook keeps them: folders, messages, attachments, delivery (no HTTP here).

Input is read the way Outlook reads it (property names and enum values in any case,
string booleans); output is written the way it writes it (camelCase, lowercase enums,
wrapped HTML bodies, UTC times ending in Z).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.directory import User
from graphpost.sandbox.graph.wire import GraphError, ci_get
from graphpost.sandbox.seed import outlook_id

INLINE_ATTACHMENT_LIMIT = 3 * 1024 * 1024  # "under 3 MB" for attachments sent inline
REQUEST_LIMIT = 4 * 1024 * 1024
MESSAGES_PAGE_DEFAULT, MESSAGES_PAGE_MAX = 10, 1000
ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    content: bytes
    is_inline: bool
    content_id: str | None


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    body_type: str
    body: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    importance: str
    attachments: list[Attachment]


def invalid_recipient(address: str) -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidRecipients",
        f"At least one recipient isn't valid., Recipient \"{address}\" isn't resolved. All recipients"
        " must be resolved before a message can be submitted.",
    )


def _addresses(message: dict[str, Any], name: str) -> list[str]:
    items = ci_get(message, name) or []
    if not isinstance(items, list):
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value of the parameter '{name}' is not valid."
        )
    addresses = []
    for item in items:
        email = ci_get(item, "emailAddress") if isinstance(item, dict) else None
        address = ci_get(email, "address") if isinstance(email, dict) else None
        if not isinstance(address, str) or not ADDRESS.match(address.strip()):
            raise invalid_recipient(address if isinstance(address, str) else json.dumps(item))
        addresses.append(address.strip())
    return addresses


def _enum(value: Any, allowed: tuple[str, ...], default: str, name: str) -> str:
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise GraphError(
        400, "ErrorInvalidParameter", f"The value '{value}' of parameter '{name}' is not valid."
    )


def parse_message(message: Any) -> OutgoingMessage:
    """A message from a request body, validated as Outlook validates it."""
    if not isinstance(message, dict):
        raise GraphError(
            400, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty."
        )
    body = ci_get(message, "body") or {}
    attachments = []
    for item in ci_get(message, "attachments") or []:
        attachments.append(parse_file_attachment(item))
    return OutgoingMessage(
        subject=str(ci_get(message, "subject") or ""),
        body_type=_enum(ci_get(body, "contentType"), ("html", "text"), "text", "ContentType"),
        body=str(ci_get(body, "content") or ""),
        to=_addresses(message, "toRecipients"),
        cc=_addresses(message, "ccRecipients"),
        bcc=_addresses(message, "bccRecipients"),
        reply_to=_addresses(message, "replyTo"),
        importance=_enum(
            ci_get(message, "importance"), ("low", "normal", "high"), "normal", "Importance"
        ),
        attachments=attachments,
    )


def parse_file_attachment(item: Any) -> Attachment:
    if not isinstance(item, dict):
        raise GraphError(400, "ErrorInvalidParameter", "The attachment is not valid.")
    kind = str(ci_get(item, "@odata.type") or "").lstrip("#").lower()
    if kind != "microsoft.graph.fileattachment":
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "Only #microsoft.graph.fileAttachment attachments are supported.",
        )
    name = ci_get(item, "name")
    if not isinstance(name, str) or not name:
        raise GraphError(400, "ErrorInvalidParameter", "The attachment name is required.")
    try:
        content = base64.b64decode(str(ci_get(item, "contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise GraphError(
            400, "ErrorInvalidParameter", "The attachment content is not a valid base64 string."
        ) from None
    if len(content) >= INLINE_ATTACHMENT_LIMIT:
        raise GraphError(
            400,
            "ErrorAttachmentSizeLimitExceeded",
            "The attachment is 3 MB or larger; use an upload session for attachments from 3 MB to 150 MB.",
        )
    return Attachment(
        name=name,
        content_type=str(ci_get(item, "contentType") or "application/octet-stream"),
        content=content,
        is_inline=bool(ci_get(item, "isInline") or False),
        content_id=ci_get(item, "contentId"),
    )


def body_preview(body_type: str, content: str) -> str:
    text = content
    if body_type == "html":
        text = html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", content)))
    return _SPACE.sub(" ", text).strip()[:255]


def stored_body(body_type: str, content: str) -> str:
    """Outlook hands HTML back wrapped in a full document."""
    if body_type != "html" or "<html" in content.lower():
        return content
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        f"</head>\r\n<body>\r\n{content}\r\n</body>\r\n</html>\r\n"
    )


def recipient(sb: Sandbox, address: str) -> dict[str, Any]:
    user = sb.directory.user_by_address(address)
    return {"emailAddress": {"name": user.display_name if user else address, "address": address}}


def _folder_id(sb: Sandbox, user_id: str, well_known: str) -> str:
    row = sb.store.query_one(
        "SELECT id FROM mail_folders WHERE user_id = ? AND well_known_name = ?", user_id, well_known
    )
    assert row is not None, f"mailbox {user_id} lacks {well_known}"
    return str(row["id"])


def folder(sb: Sandbox, user: User, name_or_id: str) -> dict[str, Any]:
    row = sb.store.query_one(
        "SELECT * FROM mail_folders WHERE user_id = ? AND (well_known_name = ? COLLATE NOCASE OR id = ?)",
        user.id,
        name_or_id,
        name_or_id,
    )
    if row is None:
        raise GraphError(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store., The process failed to get the correct properties.",
        )
    return dict(row)


def send(sb: Sandbox, sender: User, message: OutgoingMessage, save_to_sent_items: bool) -> None:
    """Deliver to every tenant mailbox among the recipients, keep outside mail as outbound."""
    everyone = list(dict.fromkeys(a.lower() for a in message.to + message.cc + message.bcc))
    if not everyone:
        raise GraphError(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
        )
    now = sb.clock.iso()
    internet_id = f"<{secrets.token_hex(16).upper()}@{sb.tenant_domain}>"
    conversation = outlook_id("AAQkA")
    blobs = [sb.store.write_blob_bytes(a.content) for a in message.attachments]
    common: dict[str, Any] = {
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "categories": [],
        "receivedDateTime": now,
        "sentDateTime": now,
        "hasAttachments": any(not a.is_inline for a in message.attachments),
        "internetMessageId": internet_id,
        "subject": message.subject,
        "bodyPreview": body_preview(message.body_type, message.body),
        "importance": message.importance,
        "conversationId": conversation,
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isDraft": False,
        "inferenceClassification": "focused",
        "body": {
            "contentType": message.body_type,
            "content": stored_body(message.body_type, message.body),
        },
        "sender": {
            "emailAddress": {"name": sender.display_name, "address": sender.mail or sender.upn}
        },
        "from": {
            "emailAddress": {"name": sender.display_name, "address": sender.mail or sender.upn}
        },
        "toRecipients": [recipient(sb, a) for a in message.to],
        "ccRecipients": [recipient(sb, a) for a in message.cc],
        "replyTo": [recipient(sb, a) for a in message.reply_to],
        "flag": {"flagStatus": "notFlagged"},
    }
    outside: list[str] = []
    with sb.store.transaction() as db:
        if save_to_sent_items:
            sent = dict(common, isRead=True, bccRecipients=[recipient(sb, a) for a in message.bcc])
            sent_id = _store_message(
                sb, db, sender.id, _folder_id(sb, sender.id, "sentitems"), sent, message, blobs
            )
        else:
            sent_id = ""
        for address in everyone:
            owner = sb.directory.user_by_address(address)
            if owner is None:
                outside.append(address)
                continue
            # recipients never see the Bcc line
            delivered = dict(common, isRead=False, bccRecipients=[])
            if address in (a.lower() for a in message.bcc):
                delivered["bccRecipients"] = [recipient(sb, address)]
            _store_message(
                sb, db, owner.id, _folder_id(sb, owner.id, "inbox"), delivered, message, blobs
            )
        if outside:
            db.execute(
                "INSERT INTO outbound_mail (id, sender_id, message_id, recipients, created) VALUES (?, ?, ?, ?, ?)",
                (outlook_id("AAMkAO"), sender.id, sent_id, json.dumps(outside), now),
            )


def _store_message(
    sb: Sandbox,
    db: Any,
    user_id: str,
    folder_id: str,
    resource: dict[str, Any],
    message: OutgoingMessage,
    blobs: list[str],
) -> str:
    message_id = outlook_id()
    change_key = "CQAAABYAAA" + secrets.token_urlsafe(18)
    resource = dict(
        resource,
        id=message_id,
        parentFolderId=folder_id,
        changeKey=change_key,
        conversationIndex=base64.b64encode(secrets.token_bytes(22)).decode(),
        webLink=f"{sb.base_url}/portal/mail/{message_id}",
    )
    resource["@odata.etag"] = f'W/"{change_key}"'
    seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchone()[0]
    db.execute(
        "INSERT INTO messages (id, user_id, folder_id, received, seq, resource) VALUES (?, ?, ?, ?, ?, ?)",
        (message_id, user_id, folder_id, resource["receivedDateTime"], seq, json.dumps(resource)),
    )
    for position, (attachment, blob) in enumerate(zip(message.attachments, blobs, strict=True)):
        db.execute(
            "INSERT INTO attachments (id, message_id, position, name, content_type, size, is_inline,"
            " content_id, last_modified, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id + "_" + base64.urlsafe_b64encode(secrets.token_bytes(9)).decode(),
                message_id,
                position,
                attachment.name,
                attachment.content_type,
                len(attachment.content),
                int(attachment.is_inline),
                attachment.content_id,
                resource["receivedDateTime"],
                blob,
            ),
        )
    return message_id


def page_size(raw: str | None) -> int:
    if raw is None:
        return MESSAGES_PAGE_DEFAULT
    if not raw.lstrip("-").isdigit() or int(raw) < 1:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{raw}' of parameter '$top' is not valid."
        )
    return min(int(raw), MESSAGES_PAGE_MAX)


def list_messages(
    sb: Sandbox, user: User, folder_id: str | None, top: int, skip: int
) -> tuple[list[dict[str, Any]], bool]:
    """A page of messages, newest first; and whether more follow."""
    where, args = ("folder_id = ?", [folder_id]) if folder_id else ("user_id = ?", [user.id])
    rows = sb.store.query(
        f"SELECT resource FROM messages WHERE {where} ORDER BY received DESC, seq DESC LIMIT ? OFFSET ?",  # noqa: S608 - fixed clauses
        *args,
        top + 1,
        skip,
    )
    return [json.loads(row["resource"]) for row in rows[:top]], len(rows) > top


def get_message(sb: Sandbox, user: User, message_id: str) -> dict[str, Any]:
    row = sb.store.query_one(
        "SELECT resource FROM messages WHERE id = ? AND user_id = ?", message_id, user.id
    )
    if row is None:
        raise GraphError(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store., Item not found.",
        )
    resource: dict[str, Any] = json.loads(row["resource"])
    return resource


def attachments(sb: Sandbox, message_id: str) -> list[dict[str, Any]]:
    rows = sb.store.query(
        "SELECT * FROM attachments WHERE message_id = ? ORDER BY position", message_id
    )
    return [dict(row) for row in rows]


def attachment_resource(
    sb: Sandbox, row: dict[str, Any], with_content: bool = True
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "@odata.mediaContentType": row["content_type"],
        "id": row["id"],
        "lastModifiedDateTime": row["last_modified"],
        "name": row["name"],
        "contentType": row["content_type"],
        "size": row["size"],
        "isInline": bool(row["is_inline"]),
        "contentId": row["content_id"],
        "contentLocation": None,
    }
    if with_content:
        resource["contentBytes"] = base64.b64encode(sb.store.read_blob(row["blob"])).decode()
    return resource


def select_properties(resource: dict[str, Any], raw: str | None) -> dict[str, Any]:
    if not raw:
        return resource
    wanted = {name.strip().lower() for name in raw.split(",") if name.strip()}
    wanted.add("id")
    return {k: v for k, v in resource.items() if k.lower() in wanted or k == "@odata.etag"}
