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
from graphpost.sandbox.graph.mail import query
from graphpost.sandbox.graph.wire import GraphError, as_bool, ci_get
from graphpost.sandbox.seed import outlook_id

INLINE_ATTACHMENT_LIMIT = 3 * 1024 * 1024  # "under 3 MB" for attachments sent inline
MESSAGES_PAGE_DEFAULT, MESSAGES_PAGE_MAX = 10, 1000
ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
_BODY = re.compile(r"<body>(.*)</body>", re.DOTALL | re.IGNORECASE)
MB = 1024 * 1024
# Exchange Online's message size limit: 35 MB by default (the tip in
# attachment-createuploadsession.md), which admins may raise up to 150 MB; a tenant setting here,
# the meta key below, read at each send
DEFAULT_MESSAGE_SIZE_LIMIT = 35 * MB
MAX_MESSAGE_SIZE_LIMIT = 150 * MB
MESSAGE_SIZE_SETTING = "mail_max_message_size"
# what a message may hold while it is composed: "attach files up to 150 MB" (outlook-large-attachments.md)
MAX_DRAFT_SIZE = 150 * MB
RECOVERABLE = "recoverableitemsdeletions"


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
    categories: tuple[str, ...] | list[str] = ()
    # singleValueExtendedProperties as (id, value): kept, and filterable, but never shown unasked
    extended: tuple[tuple[str, str], ...] = ()


def invalid_recipient(address: str) -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidRecipients",
        f"At least one recipient isn't valid., Recipient \"{address}\" isn't resolved. All recipients"
        " must be resolved before a message can be submitted.",
    )


def _addresses(message: dict[str, Any], name: str, draft: bool = False) -> list[str]:
    items = ci_get(message, name) or []
    if not isinstance(items, list):
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value of the parameter '{name}' is not valid."
        )
    addresses = []
    for item in items:
        email = ci_get(item, "emailAddress") if isinstance(item, dict) else None
        address = ci_get(email, "address") if isinstance(email, dict) else None
        if not isinstance(address, str) or not (
            address.strip() if draft else ADDRESS.match(address.strip())
        ):
            # a draft keeps any address; sending checks them
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


def parse_message(message: Any, draft: bool = False) -> OutgoingMessage:
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
        to=_addresses(message, "toRecipients", draft),
        cc=_addresses(message, "ccRecipients", draft),
        bcc=_addresses(message, "bccRecipients", draft),
        reply_to=_addresses(message, "replyTo", draft),
        importance=_enum(
            ci_get(message, "importance"), ("low", "normal", "high"), "normal", "Importance"
        ),
        attachments=attachments,
        categories=_categories(ci_get(message, "categories")),
        extended=_extended_properties(ci_get(message, "singleValueExtendedProperties")),
    )


EXTENDED = "singleValueExtendedProperties"
# a property's id: "{type} {guid} Name {name}", "{type} {guid} Id 0x...", or "{type} 0x{tag}"
_EXTENDED_ID = re.compile(
    r"^\w+ (?:\{[0-9A-Fa-f-]{36}\} (?:Name \S.*|Id 0x[0-9A-Fa-f]{1,4})|0x[0-9A-Fa-f]{1,4})$"
)


def _extended_properties(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    found: list[tuple[str, str]] = []
    for item in value if isinstance(value, list) else [value]:
        property_id = ci_get(item, "id") if isinstance(item, dict) else None
        property_value = ci_get(item, "value") if isinstance(item, dict) else None
        if not isinstance(property_id, str) or not _EXTENDED_ID.match(property_id):
            raise GraphError(
                400, "ErrorInvalidExtendedPropertyValue", "The extended property id is not valid."
            )
        if not isinstance(property_value, str):
            raise GraphError(
                400, "ErrorInvalidExtendedPropertyValue", "An extended property needs a value."
            )
        found.append((property_id, property_value))
    return tuple(found)


def _categories(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise GraphError(400, "ErrorInvalidProperty", "categories must be a list of strings.")
    return value


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


# (user id, well-known name) -> folder id: made at seeding, never changed, looked up on every send
_WELL_KNOWN_IDS: dict[tuple[str, str], str] = {}


def folder_id(sb: Sandbox, user_id: str, well_known: str) -> str:
    known = _WELL_KNOWN_IDS.get((user_id, well_known))
    if known is None:
        row = sb.store.query_one(
            "SELECT id FROM mail_folders WHERE user_id = ? AND well_known_name = ?",
            user_id,
            well_known,
        )
        assert row is not None, f"mailbox {user_id} lacks {well_known}"
        known = _WELL_KNOWN_IDS[(user_id, well_known)] = str(row["id"])
    return known


def folder(sb: Sandbox, user: User, name_or_id: str) -> dict[str, Any]:
    """A folder by id or well-known name (any case)."""
    row = sb.store.query_one(
        "SELECT * FROM mail_folders WHERE user_id = ? AND (well_known_name = ? COLLATE NOCASE OR id = ?)",
        user.id,
        name_or_id,
        name_or_id,
    )
    if row is None and name_or_id.lower() == RECOVERABLE:
        return recoverable_folder(sb, user.id)
    if row is None:
        raise GraphError(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store., The process failed to get the correct properties.",
        )
    return dict(row)


def recoverable_folder(sb: Sandbox, user_id: str) -> dict[str, Any]:
    """Recoverable Items/Deletions, made on first use: where DELETE puts a message. It sits
    outside the folder tree a client sees, so neither /mailFolders nor /messages shows it."""
    with sb.store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO mail_folders (id, user_id, well_known_name, display_name)"
            " VALUES (?, ?, ?, ?)",
            (outlook_id("AAMkAGI"), user_id, RECOVERABLE, "Deletions"),
        )
    row = sb.store.query_one(
        "SELECT * FROM mail_folders WHERE user_id = ? AND well_known_name = ?", user_id, RECOVERABLE
    )
    assert row is not None
    return dict(row)


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment whose bytes are already a blob (shared by every copy of a message)."""

    name: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    blob: str


def store_attachments(sb: Sandbox, attachments: list[Attachment]) -> list[StoredAttachment]:
    return [
        StoredAttachment(
            a.name,
            a.content_type,
            len(a.content),
            a.is_inline,
            a.content_id,
            sb.store.write_blob_bytes(a.content),
        )
        for a in attachments
    ]


def no_recipients() -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidRecipients",
        "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
    )


def message_size_limit(sb: Sandbox) -> int:
    """The tenant's largest message (Exchange's default 35 MB unless raised, at most 150 MB)."""
    setting = sb.store.meta(MESSAGE_SIZE_SETTING)
    if setting and setting.isdigit():
        return min(int(setting), MAX_MESSAGE_SIZE_LIMIT)
    return DEFAULT_MESSAGE_SIZE_LIMIT


def mime_size(body: str, attachments: list[StoredAttachment]) -> int:
    """About the size of the message as MIME, which is what Exchange's limit measures: attachments
    travel in base64 (4 bytes for 3, in lines of 76 characters plus CRLF), so a 30 MB file makes
    a message over 35 MB (as msgraph-sdk-java#2148 found)."""
    headers = 2048
    encoded = sum((a.size + 2) // 3 * 4 for a in attachments)
    return headers + len(body.encode()) + encoded + encoded // 76 * 2 + 512 * len(attachments)


def stored_size(sb: Sandbox, message_id: str) -> int:
    """The bytes a message holds now: its body and its attachments."""
    row = sb.store.query_one(
        "SELECT length(CAST(json_extract(resource, '$.body.content') AS BLOB)) AS body,"
        " (SELECT COALESCE(SUM(size), 0) FROM attachments WHERE message_id = messages.id) AS files"
        " FROM messages WHERE id = ?",
        message_id,
    )
    return int(row["body"] or 0) + int(row["files"] or 0) if row else 0


def check_message_size(
    sb: Sandbox, message: OutgoingMessage, attachments: list[StoredAttachment]
) -> None:
    if mime_size(message.body, attachments) > message_size_limit(sb):
        # Exchange's ErrorMessageSizeExceeded is a 400 (ResponseCodeType's OData status)
        raise GraphError(
            400,
            "ErrorMessageSizeExceeded",
            "The message exceeds the maximum supported size., Cannot submit the message.",
        )


def send(sb: Sandbox, sender: User, message: OutgoingMessage, save_to_sent_items: bool) -> None:
    """sendMail: deliver a message given whole in the request."""
    deliver(sb, sender, message, store_attachments(sb, message.attachments), save_to_sent_items)


def deliver(
    sb: Sandbox,
    sender: User,
    message: OutgoingMessage,
    attachments: list[StoredAttachment],
    save_to_sent_items: bool,
    draft_id: str | None = None,
) -> None:
    """Deliver to every tenant mailbox among the recipients, keep outside mail as outbound; a
    sent draft leaves the Drafts folder in the same transaction."""
    everyone = list(dict.fromkeys(a.lower() for a in message.to + message.cc + message.bcc))
    if not everyone:
        raise no_recipients()
    for address in everyone:
        if not ADDRESS.match(address):
            raise invalid_recipient(address)
    check_message_size(sb, message, attachments)
    now = sb.clock.iso()
    common = message_resource(sb, message, now, attachments)
    common.update(
        internetMessageId=f"<{secrets.token_hex(16).upper()}@{sb.tenant_domain}>",
        conversationId=outlook_id("AAQkA"),
        isDraft=False,
        sender=mailbox_address(sender),
        **{"from": mailbox_address(sender)},
    )
    # every copy is made ready before the transaction, which then only inserts: writers take
    # turns (see Store.transaction), so what a turn holds is what they wait for
    copies: list[NewMessage] = []
    if save_to_sent_items:
        sent = dict(common, isRead=True, bccRecipients=[recipient(sb, a) for a in message.bcc])
        copies.append(new_message(sb, sender.id, folder_id(sb, sender.id, "sentitems"), sent))
    sent_id = copies[0].id if copies else ""
    bcc = {a.lower() for a in message.bcc}
    outside: list[str] = []
    for address in everyone:
        owner = sb.directory.user_by_address(address)
        if owner is None:
            outside.append(address)
            continue
        # recipients never see the Bcc line, except their own address on their copy
        delivered = dict(
            common,
            **{EXTENDED: []},
            isRead=False,
            bccRecipients=[recipient(sb, address)] if address in bcc else [],
        )
        copies.append(new_message(sb, owner.id, folder_id(sb, owner.id, "inbox"), delivered))
    dropped: list[str] = []
    with sb.store.transaction() as db:
        for copy in copies:
            insert_message(db, copy, attachments)
        if outside:
            db.execute(
                "INSERT INTO outbound_mail (id, sender_id, message_id, recipients, created) VALUES (?, ?, ?, ?, ?)",
                (outlook_id("AAMkAO"), sender.id, sent_id, json.dumps(outside), now),
            )
        if draft_id:
            if not _exists(db, sender, draft_id):  # sent or deleted meanwhile
                raise item_not_found()
            dropped = _remove(db, draft_id)
    forget_blobs(sb, dropped)


def mailbox_address(user: User) -> dict[str, Any]:
    return {"emailAddress": {"name": user.display_name, "address": user.mail or user.upn}}


def message_resource(
    sb: Sandbox, message: OutgoingMessage, now: str, attachments: list[StoredAttachment]
) -> dict[str, Any]:
    """The properties Outlook keeps for a message, as it returns them."""
    return {
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "categories": list(message.categories),
        "receivedDateTime": now,
        "sentDateTime": now,
        "hasAttachments": any(not a.is_inline for a in attachments),
        "subject": message.subject,
        "bodyPreview": body_preview(message.body_type, message.body),
        "importance": message.importance,
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "inferenceClassification": "focused",
        "body": {
            "contentType": message.body_type,
            "content": stored_body(message.body_type, message.body),
        },
        "toRecipients": [recipient(sb, a) for a in message.to],
        "ccRecipients": [recipient(sb, a) for a in message.cc],
        "bccRecipients": [recipient(sb, a) for a in message.bcc],
        "replyTo": [recipient(sb, a) for a in message.reply_to],
        "flag": {"flagStatus": "notFlagged"},
        EXTENDED: [{"id": i, "value": v} for i, v in message.extended],
    }


def _new_change_key() -> str:
    return "CQAAABYAAA" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class NewMessage:
    """A message's row, made ready before the transaction that inserts it."""

    id: str
    user_id: str
    folder_id: str
    received: str
    resource: str  # the JSON Outlook answers with


def new_message(sb: Sandbox, user_id: str, in_folder: str, resource: dict[str, Any]) -> NewMessage:
    message_id = outlook_id()
    change_key = _new_change_key()
    resource = dict(
        resource,
        id=message_id,
        parentFolderId=in_folder,
        changeKey=change_key,
        conversationIndex=base64.b64encode(secrets.token_bytes(22)).decode(),
        webLink=f"{sb.base_url}/portal/mail/{message_id}",
    )
    resource["@odata.etag"] = f'W/"{change_key}"'
    return NewMessage(
        message_id, user_id, in_folder, resource["receivedDateTime"], json.dumps(resource)
    )


def insert_message(db: Any, message: NewMessage, attachments: list[StoredAttachment]) -> str:
    db.execute(
        "INSERT INTO messages (id, user_id, folder_id, received, seq, resource)"
        " VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages), ?)",
        (message.id, message.user_id, message.folder_id, message.received, message.resource),
    )
    for attachment in attachments:
        add_attachment_row(db, message.id, attachment, message.received)
    return message.id


def store_message(
    sb: Sandbox,
    db: Any,
    user_id: str,
    in_folder: str,
    resource: dict[str, Any],
    attachments: list[StoredAttachment],
) -> str:
    return insert_message(db, new_message(sb, user_id, in_folder, resource), attachments)


def add_attachment_row(
    db: Any, message_id: str, attachment: StoredAttachment, modified: str
) -> str:
    attachment_id = message_id + "_" + base64.urlsafe_b64encode(secrets.token_bytes(9)).decode()
    position = db.execute(
        "SELECT COALESCE(MAX(position), -1) + 1 FROM attachments WHERE message_id = ?",
        (message_id,),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO attachments (id, message_id, position, name, content_type, size, is_inline,"
        " content_id, last_modified, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            attachment_id,
            message_id,
            position,
            attachment.name,
            attachment.content_type,
            attachment.size,
            int(attachment.is_inline),
            attachment.content_id,
            modified,
            attachment.blob,
        ),
    )
    return attachment_id


def _save(db: Any, resource: dict[str, Any], now: str) -> dict[str, Any]:
    """Write back a changed message: a new change key, as every Exchange update makes."""
    change_key = _new_change_key()
    resource.update(changeKey=change_key, lastModifiedDateTime=now)
    resource["@odata.etag"] = f'W/"{change_key}"'
    db.execute(
        "UPDATE messages SET resource = ?, folder_id = ? WHERE id = ?",
        (json.dumps(resource), resource["parentFolderId"], resource["id"]),
    )
    return resource


def _remove(db: Any, message_id: str) -> list[str]:
    """A message and its attachments go (in the caller's transaction); returns the blobs they
    used, for `forget_blobs` once the transaction is committed."""
    blobs = [
        row[0]
        for row in db.execute("SELECT blob FROM attachments WHERE message_id = ?", (message_id,))
    ]
    db.execute("DELETE FROM attachments WHERE message_id = ?", (message_id,))
    db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
    db.execute(
        "DELETE FROM extensions WHERE owner_kind = 'message' AND owner_id = ?", (message_id,)
    )
    return blobs


def forget_blobs(sb: Sandbox, blobs: list[str]) -> None:
    """Delete the blobs no attachment refers to any more: after the commit that dropped the
    rows, so a crash leaves at worst an unused file, never a row without its bytes."""
    for blob in set(blobs):
        if sb.store.query_one("SELECT 1 FROM attachments WHERE blob = ? LIMIT 1", blob) is None:
            sb.store.delete_blob(blob)


# folders


def folder_resource(sb: Sandbox, row: dict[str, Any]) -> dict[str, Any]:
    counts = sb.store.query_one(
        "SELECT COUNT(*) AS total, SUM(CASE WHEN json_extract(resource, '$.isRead') THEN 0 ELSE 1 END) AS unread"
        " FROM messages WHERE folder_id = ?",
        row["id"],
    )
    return {
        "id": row["id"],
        "displayName": row["display_name"],
        "parentFolderId": "AAMkAGmsgfolderroot" + row["user_id"][:8],
        "childFolderCount": 0,
        "unreadItemCount": int(counts["unread"] or 0) if counts else 0,
        "totalItemCount": int(counts["total"] or 0) if counts else 0,
        "isHidden": False,
    }


def folders(sb: Sandbox, user: User) -> list[dict[str, Any]]:
    """The folders under the mailbox's root (Recoverable Items is not among them)."""
    rows = sb.store.query(
        "SELECT * FROM mail_folders WHERE user_id = ? AND well_known_name IS NOT ? ORDER BY rowid",
        user.id,
        RECOVERABLE,
    )
    return [folder_resource(sb, dict(row)) for row in rows]


# drafts and changes


def parse_draft(message: Any) -> OutgoingMessage:
    """A draft's content: like a message to send, but recipients may still be missing."""
    return parse_message(message, draft=True)


def create_draft(sb: Sandbox, user: User, in_folder: str, body: dict[str, Any]) -> dict[str, Any]:
    message = parse_draft(body)
    attachments = store_attachments(sb, message.attachments)
    now = sb.clock.iso()
    resource = message_resource(sb, message, now, attachments)
    resource.update(
        isDraft=True,
        isRead=True,
        internetMessageId=f"<{secrets.token_hex(16).upper()}@{sb.tenant_domain}>",
        conversationId=outlook_id("AAQkA"),
    )
    with sb.store.transaction() as db:
        message_id = store_message(sb, db, user.id, in_folder, resource, attachments)
    return get_message(sb, user, message_id)


# what may change after a message is sent or received; the rest only on drafts
ALWAYS_UPDATABLE = {
    "isread": "isRead",
    "categories": "categories",
    "flag": "flag",
    "importance": "importance",
    "inferenceclassification": "inferenceClassification",
}
DRAFT_UPDATABLE = {"subject", "body", "torecipients", "ccrecipients", "bccrecipients", "replyto"}


def update_message(
    sb: Sandbox, user: User, message_id: str, patch: dict[str, Any]
) -> dict[str, Any]:
    resource = get_message(sb, user, message_id)
    changes: dict[str, Any] = {}
    draft_changed = False
    for key, value in patch.items():
        lowered = key.lower()
        if lowered.startswith("@odata"):
            continue
        if lowered == "isread":
            changes["isRead"] = as_bool(value, False)
        elif lowered == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise GraphError(
                    400, "ErrorInvalidProperty", "categories must be a list of strings."
                )
            changes["categories"] = value
        elif lowered == "importance":
            changes["importance"] = _enum(value, ("low", "normal", "high"), "normal", "Importance")
        elif lowered == "flag":
            status = ci_get(value, "flagStatus")
            changes["flag"] = {
                "flagStatus": _enum(
                    status, ("notflagged", "complete", "flagged"), "notflagged", "FlagStatus"
                ).replace("notflagged", "notFlagged")
            }
        elif lowered == "inferenceclassification":
            changes["inferenceClassification"] = _enum(
                value, ("focused", "other"), "focused", "InferenceClassification"
            )
        elif lowered in DRAFT_UPDATABLE:
            if not resource.get("isDraft"):
                raise GraphError(
                    400,
                    "ErrorInvalidPropertyUpdateSentMessage",
                    "Update operation is invalid for property of a sent message.",
                )
            draft_changed = True
        else:
            raise GraphError(
                400,
                "ErrorInvalidProperty",
                f"The property '{key}' does not exist on the message or cannot be updated.",
            )
    if draft_changed:
        current = _as_outgoing(resource)
        merged = {
            "subject": current.subject,
            "body": {"contentType": current.body_type, "content": current.body},
            "toRecipients": resource["toRecipients"],
            "ccRecipients": resource["ccRecipients"],
            "bccRecipients": resource.get("bccRecipients", []),
            "replyTo": resource["replyTo"],
        }
        for key, value in patch.items():
            if key.lower() in DRAFT_UPDATABLE:
                merged[next(k for k in merged if k.lower() == key.lower())] = value
        draft = parse_draft(merged)
        rows = attachments(sb, message_id)
        stored = [
            StoredAttachment(
                r["name"],
                r["content_type"],
                r["size"],
                bool(r["is_inline"]),
                r["content_id"],
                r["blob"],
            )
            for r in rows
        ]
        fresh = message_resource(sb, draft, resource["createdDateTime"], stored)
        for name in (
            "subject",
            "body",
            "bodyPreview",
            "toRecipients",
            "ccRecipients",
            "bccRecipients",
            "replyTo",
        ):
            resource[name] = fresh[name]
    resource.update(changes)
    with sb.store.transaction() as db:
        return _save(db, resource, sb.clock.iso())


def _as_outgoing(resource: dict[str, Any]) -> OutgoingMessage:
    """The content of a stored message (a draft) as a message to send."""
    body = resource.get("body") or {}
    content = str(body.get("content") or "")
    if body.get("contentType") == "html":
        content = unwrap_body(content)

    def addresses(name: str) -> list[str]:
        return [r["emailAddress"]["address"] for r in resource.get(name) or []]

    return OutgoingMessage(
        subject=resource.get("subject") or "",
        body_type=body.get("contentType") or "text",
        body=content,
        to=addresses("toRecipients"),
        cc=addresses("ccRecipients"),
        bcc=addresses("bccRecipients"),
        reply_to=addresses("replyTo"),
        importance=resource.get("importance") or "normal",
        attachments=[],
        categories=list(resource.get("categories") or []),
        extended=tuple((p["id"], p["value"]) for p in resource.get(EXTENDED) or []),
    )


def send_draft(sb: Sandbox, user: User, message_id: str) -> None:
    resource = get_message(sb, user, message_id)
    if not resource.get("isDraft"):
        raise GraphError(400, "ErrorInvalidOperation", "Only draft messages can be sent.")
    rows = attachments(sb, message_id)
    stored = [
        StoredAttachment(
            r["name"],
            r["content_type"],
            r["size"],
            bool(r["is_inline"]),
            r["content_id"],
            r["blob"],
        )
        for r in rows
    ]
    # a draft is always saved to Sent Items when sent
    deliver(sb, user, _as_outgoing(resource), stored, True, draft_id=message_id)


def delete_message(sb: Sandbox, user: User, message_id: str) -> None:
    """DELETE is Exchange's soft delete: the message leaves every folder a client sees for
    Recoverable Items/Deletions (message-delete.md's note on `recoverableitemsdeletions`), not
    Deleted Items; deleting it there purges it. `permanentDelete` skips the first step."""
    resource = get_message(sb, user, message_id)
    recoverable = recoverable_folder(sb, user.id)
    if resource.get("parentFolderId") == recoverable["id"]:
        permanently_delete(sb, user, message_id)
        return
    move_message(sb, user, message_id, recoverable["id"], keep_original=False)


def permanently_delete(sb: Sandbox, user: User, message_id: str) -> None:
    get_message(sb, user, message_id)
    with sb.store.transaction() as db:
        if not _exists(db, user, message_id):
            raise item_not_found()
        blobs = _remove(db, message_id)
    forget_blobs(sb, blobs)


def move_message(
    sb: Sandbox, user: User, message_id: str, destination: Any, keep_original: bool
) -> dict[str, Any]:
    """move (and copy): Exchange gives the message in its new folder a new id."""
    if not isinstance(destination, str) or not destination:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    target = folder(sb, user, destination)
    resource = get_message(sb, user, message_id)
    rows = attachments(sb, message_id)
    stored = [
        StoredAttachment(
            r["name"],
            r["content_type"],
            r["size"],
            bool(r["is_inline"]),
            r["content_id"],
            r["blob"],
        )
        for r in rows
    ]
    with sb.store.transaction() as db:
        for name in (
            "id",
            "parentFolderId",
            "changeKey",
            "webLink",
            "conversationIndex",
            "@odata.etag",
        ):
            resource.pop(name, None)
        if not _exists(db, user, message_id):  # deleted or moved meanwhile
            raise item_not_found()
        new_id = store_message(sb, db, user.id, target["id"], resource, stored)
        # open extensions travel with the message (and are copied with it)
        db.execute(
            "INSERT INTO extensions (owner_kind, owner_id, name, app_id, data)"
            " SELECT owner_kind, ?, name, app_id, data FROM extensions"
            " WHERE owner_kind = 'message' AND owner_id = ?",
            (new_id, message_id),
        )
        if not keep_original:
            _remove(db, message_id)  # its blobs now belong to the moved message
    return get_message(sb, user, new_id)


def _exists(db: Any, user: User, message_id: str) -> bool:
    found = db.execute(
        "SELECT 1 FROM messages WHERE id = ? AND user_id = ?", (message_id, user.id)
    ).fetchone()
    return found is not None


def item_not_found() -> GraphError:
    return GraphError(
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store., Item not found.",
    )


def unwrap_body(content: str) -> str:
    """The HTML a client wrote, out of the document Outlook wrapped it in."""
    found = _BODY.search(content)
    return found.group(1).strip("\r\n") if found else content


def _non_negative(raw: str, option: str) -> int:
    """A $top or $skip value as Graph's OData parser reads it."""
    if not raw.strip().isdigit():
        raise GraphError(
            400,
            "BadRequest",
            f"Invalid value '{raw}' for {option} query option found. The {option} query option"
            " requires a non-negative integer value.",
        )
    return int(raw)


def page_size(raw: str | None) -> int:
    """$top: 10 by default, 1 to 1000 (user-list-messages.md); larger asks get 1000."""
    if raw is None:
        return MESSAGES_PAGE_DEFAULT
    top = _non_negative(raw, "$top")
    if top < 1:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{raw}' of parameter '$top' is not valid."
        )
    return min(top, MESSAGES_PAGE_MAX)


def skip_count(raw: str | None) -> int:
    return 0 if raw is None else _non_negative(raw, "$skip")


def list_messages(
    sb: Sandbox,
    user: User,
    in_folder: str | None,
    top: int,
    skip: int,
    found_by: query.Filter | None = None,
    order: list[tuple[str, bool]] | None = None,
) -> tuple[list[dict[str, Any]], bool, int]:
    """A page of messages (newest first unless ordered otherwise), whether more follow, and how
    many match in all. The whole mailbox is every folder but Recoverable Items."""
    if in_folder:
        where, args = "folder_id = ?", [in_folder]
    else:
        where = (
            "user_id = ? AND folder_id NOT IN"
            " (SELECT id FROM mail_folders WHERE user_id = ? AND well_known_name = ?)"
        )
        args = [user.id, user.id, RECOVERABLE]
    if found_by is None and order in (None, query.DEFAULT_ORDER):
        total_row = sb.store.query_one(f"SELECT COUNT(*) AS n FROM messages WHERE {where}", *args)  # noqa: S608 - fixed clauses
        rows = sb.store.query(
            f"SELECT resource FROM messages WHERE {where} ORDER BY received DESC, seq DESC LIMIT ? OFFSET ?",  # noqa: S608 - fixed clauses
            *args,
            top + 1,
            skip,
        )
        total = int(total_row["n"]) if total_row else 0
        return [json.loads(row["resource"]) for row in rows[:top]], len(rows) > top, total
    rows = sb.store.query(
        f"SELECT resource FROM messages WHERE {where} ORDER BY received DESC, seq DESC",  # noqa: S608 - fixed clauses
        *args,
    )
    found = [json.loads(row["resource"]) for row in rows]
    if found_by is not None:
        found = [m for m in found if found_by.predicate(m)]
    found = query.sort(found, order or query.DEFAULT_ORDER)
    return found[skip : skip + top], len(found) > skip + top, len(found)


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


def select_properties(resource: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    """The resource cut to $select's properties; Outlook keeps the etag and the id.  Extended
    properties are never part of it (Graph returns them only to an $expand)."""
    resource = {k: v for k, v in resource.items() if k != EXTENDED}
    if names is None:
        return resource
    selected: dict[str, Any] = {"@odata.etag": resource.get("@odata.etag"), "id": resource["id"]}
    for name in names:
        if name == "uniqueBody":  # only on request; the sandbox keeps no conversation history
            selected[name] = resource.get("body")
        elif name in resource:
            selected[name] = resource[name]
    return selected


def refresh_has_attachments(db: Any, message_id: str) -> None:
    """hasAttachments follows the message's (non-inline) attachments."""
    row = db.execute("SELECT resource FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        return
    resource = json.loads(row[0])
    has = db.execute(
        "SELECT 1 FROM attachments WHERE message_id = ? AND is_inline = 0 LIMIT 1", (message_id,)
    ).fetchone()
    resource["hasAttachments"] = has is not None
    db.execute("UPDATE messages SET resource = ? WHERE id = ?", (json.dumps(resource), message_id))


def add_attachment(
    sb: Sandbox, user: User, message_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST attachments: one file attachment under 3 MB."""
    get_message(sb, user, message_id)
    [stored] = store_attachments(sb, [parse_file_attachment(body)])
    with sb.store.transaction() as db:
        attachment_id = add_attachment_row(db, message_id, stored, sb.clock.iso())
        refresh_has_attachments(db, message_id)
    row = next(r for r in attachments(sb, message_id) if r["id"] == attachment_id)
    return attachment_resource(sb, row)


def delete_attachment(sb: Sandbox, user: User, message_id: str, attachment_id: str) -> None:
    get_message(sb, user, message_id)
    row = next((r for r in attachments(sb, message_id) if r["id"] == attachment_id), None)
    if row is None:
        raise GraphError(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store., Item not found.",
        )
    with sb.store.transaction() as db:
        db.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
        refresh_has_attachments(db, message_id)
    forget_blobs(sb, [row["blob"]])
