"""Typed, read-only views of Graph's JSON: users, photos, drive items, links, messages, pages.

Each model keeps Graph's whole JSON object in `raw` (not shown in repr, not compared),
so a property we do not map yet is still at hand.  Enum values Graph returns in
lower case (``html``, ``normal``) are kept as Graph sent them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
JSON = Mapping[str, Any]

__all__ = [
    "Attachment",
    "DriveItem",
    "Extension",
    "MailFolder",
    "Message",
    "Page",
    "Photo",
    "Recipient",
    "SendReceipt",
    "SharingLink",
    "User",
    "parse_datetime",
]


def parse_datetime(value: Any) -> datetime | None:
    """Graph's ``2017-01-26T08:48:28Z`` (up to 7 fractional digits, or no zone: UTC) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool:
    return value is True


@dataclass(frozen=True)
class User:
    """A user (``GET /me``, ``GET /users/{id}``)."""

    id: str
    display_name: str | None = None
    user_principal_name: str = ""  # every user has one (unless left out of $select)
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    office_location: str | None = None
    mobile_phone: str | None = None
    business_phones: tuple[str, ...] = ()
    preferred_language: str | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @property
    def email(self) -> str | None:
        """Where mail reaches them: `mail`, else the UPN (the sample's fallback)."""
        return self.mail or self.user_principal_name

    @classmethod
    def from_json(cls, data: JSON) -> User:
        return cls(
            id=str(data.get("id") or ""),
            display_name=_str(data.get("displayName")),
            user_principal_name=str(data.get("userPrincipalName") or ""),
            mail=_str(data.get("mail")),
            given_name=_str(data.get("givenName")),
            surname=_str(data.get("surname")),
            job_title=_str(data.get("jobTitle")),
            office_location=_str(data.get("officeLocation")),
            mobile_phone=_str(data.get("mobilePhone")),
            business_phones=tuple(str(p) for p in data.get("businessPhones") or ()),
            preferred_language=_str(data.get("preferredLanguage")),
            raw=data,
        )


# Internet Explorer's name for JPEG, still returned for photos uploaded long ago
_CONTENT_TYPE_ALIASES = {
    "image/pjpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/x-png": "image/png",
}
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)


def normalize_content_type(value: str | None, content: bytes = b"") -> str:
    """The bare media type (no parameters, lower case, pjpeg as jpeg); sniffed from `content` when absent."""
    bare = (value or "").split(";", 1)[0].strip().lower()
    bare = _CONTENT_TYPE_ALIASES.get(bare, bare)
    if bare and bare != "application/octet-stream":
        return bare
    for magic, sniffed in _MAGIC:
        if content.startswith(magic):
            return sniffed
    return bare or "application/octet-stream"


@dataclass(frozen=True)
class Photo:
    """A profile photo: its bytes, media type and a file name to save or attach it as."""

    content: bytes = field(repr=False)
    content_type: str
    filename: str

    @classmethod
    def from_content(cls, content: bytes, content_type: str | None, stem: str = "photo") -> Photo:
        kind = normalize_content_type(content_type, content)
        subtype = kind.split("/", 1)[-1].split("+", 1)[0]
        extension = re.sub(r"[^a-z0-9]", "", subtype)
        if not extension or kind == "application/octet-stream":
            extension = "bin"
        return cls(content=content, content_type=kind, filename=f"{stem}.{extension}")

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class DriveItem:
    """A OneDrive file or folder."""

    id: str
    name: str
    size: int | None = None
    web_url: str | None = None
    parent_id: str | None = None
    parent_path: str | None = None
    drive_id: str | None = None
    e_tag: str | None = None
    mime_type: str | None = None
    is_folder: bool = False
    created: datetime | None = None
    modified: datetime | None = None
    download_url: str | None = field(default=None, repr=False)  # pre-authenticated: a secret
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> DriveItem:
        parent = data.get("parentReference") or {}
        file = data.get("file") or {}
        size = data.get("size")
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            size=size if isinstance(size, int) else None,
            web_url=_str(data.get("webUrl")),
            parent_id=_str(parent.get("id")),
            parent_path=_str(parent.get("path")),
            drive_id=_str(parent.get("driveId")),
            e_tag=_str(data.get("eTag")),
            mime_type=_str(file.get("mimeType")),
            is_folder="folder" in data,
            created=parse_datetime(data.get("createdDateTime")),
            modified=parse_datetime(data.get("lastModifiedDateTime")),
            download_url=_str(data.get("@microsoft.graph.downloadUrl")),
            raw=data,
        )


@dataclass(frozen=True)
class SharingLink:
    """A sharing link (createLink's permission); `created` is False when Graph returned an existing one."""

    id: str
    type: str | None
    scope: str | None
    web_url: str
    created: bool
    roles: tuple[str, ...] = ()
    expires: datetime | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON, created: bool) -> SharingLink:
        link = data.get("link") or {}
        return cls(
            id=str(data.get("id") or ""),
            type=_str(link.get("type")),
            scope=_str(link.get("scope")),
            web_url=str(link.get("webUrl") or ""),
            created=created,
            roles=tuple(str(r) for r in data.get("roles") or ()),
            expires=parse_datetime(data.get("expirationDateTime")),
            raw=data,
        )


@dataclass(frozen=True)
class Recipient:
    """An email address with an optional display name (``{"emailAddress": {...}}`` in Graph)."""

    address: str
    name: str | None = None

    @classmethod
    def from_json(cls, data: JSON | None) -> Recipient | None:
        email = (data or {}).get("emailAddress") or {}
        address = _str(email.get("address"))
        if address is None and email.get("name") is None:
            return None
        return cls(address=address or "", name=_str(email.get("name")))

    def to_json(self) -> dict[str, Any]:
        email: dict[str, str] = {"address": self.address}
        if self.name:
            email["name"] = self.name
        return {"emailAddress": email}

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def _recipients(values: Any) -> tuple[Recipient, ...]:
    found = (Recipient.from_json(v) for v in values or ())
    return tuple(r for r in found if r is not None)


@dataclass(frozen=True)
class Message:
    """A mail message as listed or read (``GET /me/messages``)."""

    id: str
    subject: str | None = None
    sender: Recipient | None = None
    from_: Recipient | None = None
    to: tuple[Recipient, ...] = ()
    cc: tuple[Recipient, ...] = ()
    bcc: tuple[Recipient, ...] = ()
    reply_to: tuple[Recipient, ...] = ()
    received: datetime | None = None
    sent: datetime | None = None
    is_read: bool = False
    is_draft: bool = False
    has_attachments: bool = False
    body_preview: str | None = None
    body_content: str | None = field(default=None, repr=False)
    body_type: str | None = None  # "html" or "text", as Graph returns it
    importance: str | None = None  # "low", "normal" or "high"
    conversation_id: str | None = None
    web_link: str | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Message:
        body = data.get("body") or {}
        body_type = _str(body.get("contentType"))
        importance = _str(data.get("importance"))
        return cls(
            id=str(data.get("id") or ""),
            subject=_str(data.get("subject")),
            sender=Recipient.from_json(data.get("sender")),
            from_=Recipient.from_json(data.get("from")),
            to=_recipients(data.get("toRecipients")),
            cc=_recipients(data.get("ccRecipients")),
            bcc=_recipients(data.get("bccRecipients")),
            reply_to=_recipients(data.get("replyTo")),
            received=parse_datetime(data.get("receivedDateTime")),
            sent=parse_datetime(data.get("sentDateTime")),
            is_read=_bool(data.get("isRead")),
            is_draft=_bool(data.get("isDraft")),
            has_attachments=_bool(data.get("hasAttachments")),
            body_preview=_str(data.get("bodyPreview")),
            body_content=_str(body.get("content")),
            body_type=body_type.lower() if body_type else None,
            importance=importance.lower() if importance else None,
            conversation_id=_str(data.get("conversationId")),
            web_link=_str(data.get("webLink")),
            raw=data,
        )


@dataclass(frozen=True)
class Attachment:
    """A message attachment; `content` holds the decoded ``contentBytes`` when Graph sent them."""

    id: str
    name: str
    content_type: str | None = None
    size: int | None = None
    is_inline: bool = False
    content_id: str | None = None
    kind: str = "file"  # "file", "item" or "reference", from @odata.type
    modified: datetime | None = None
    content: bytes | None = field(default=None, repr=False)
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Attachment:
        odata_type = str(data.get("@odata.type") or "#microsoft.graph.fileAttachment")
        kind = odata_type.rsplit(".", 1)[-1].removesuffix("Attachment") or "file"
        encoded = data.get("contentBytes")
        content: bytes | None = None
        if isinstance(encoded, str):
            try:
                content = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                content = None
        size = data.get("size")
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            content_type=_str(data.get("contentType")),
            size=size if isinstance(size, int) else None,
            is_inline=_bool(data.get("isInline")),
            content_id=_str(data.get("contentId")),
            kind=kind,
            modified=parse_datetime(data.get("lastModifiedDateTime")),
            content=content,
            raw=data,
        )


@dataclass(frozen=True)
class MailFolder:
    """A mail folder with its counts."""

    id: str
    display_name: str
    total: int = 0
    unread: int = 0
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> MailFolder:
        return cls(
            id=str(data.get("id") or ""),
            display_name=str(data.get("displayName") or ""),
            total=int(data.get("totalItemCount") or 0),
            unread=int(data.get("unreadItemCount") or 0),
            raw=data,
        )


@dataclass(frozen=True)
class Extension:
    """An open extension: its name and the values kept in it."""

    name: str
    values: JSON
    id: str = ""
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Extension:
        values = {
            k: v
            for k, v in data.items()
            if k not in ("@odata.type", "extensionName", "id") and not k.startswith("@")
        }
        return cls(
            name=str(data.get("extensionName") or ""),
            values=values,
            id=str(data.get("id") or ""),
            raw=data,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a collection; `next_link` is None on the last page."""

    items: tuple[T, ...]
    next_link: str | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_next(self) -> bool:
        return bool(self.next_link)


@dataclass(frozen=True)
class SendReceipt:
    """Graph accepted a mail for delivery (202): the ids to quote when asking what became of it."""

    request_id: str | None
    client_request_id: str | None
    # an earlier attempt, whose answer was lost, had sent it: found in Sent Items by its client
    # key (`sent_message_id` is that copy), or the draft was gone
    already_sent: bool = False
    client_key: str | None = None  # the key the mail carries (`graphpost.core.mail.find_sent`)
    sent_message_id: str | None = None
