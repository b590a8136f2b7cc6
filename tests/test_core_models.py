"""graphpost.models: Graph JSON into typed, frozen models (the raw JSON kept)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from graphpost.models import (
    Attachment,
    DriveItem,
    Message,
    Page,
    Photo,
    Recipient,
    SharingLink,
    User,
    parse_datetime,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-01-26T08:48:28Z", datetime(2017, 1, 26, 8, 48, 28, tzinfo=UTC)),
        ("2019-09-25T01:09:30.7671707Z", datetime(2019, 9, 25, 1, 9, 30, 767170, tzinfo=UTC)),
        ("2025-02-13T10:17:06", datetime(2025, 2, 13, 10, 17, 6, tzinfo=UTC)),
        (
            "2025-02-13T10:17:06+02:00",
            datetime(2025, 2, 13, 10, 17, 6, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("not a date", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_datetime(text: str | None, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


def test_user_from_json() -> None:
    data = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "businessPhones": ["+1 425 555 0109"],
        "displayName": "Adele Vance",
        "givenName": "Adele",
        "jobTitle": "Retail Manager",
        "mail": None,
        "mobilePhone": None,
        "officeLocation": "18/2111",
        "preferredLanguage": "en-US",
        "surname": "Vance",
        "userPrincipalName": "AdeleV@contoso.com",
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
    }
    user = User.from_json(data)
    assert user.id == "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
    assert (user.display_name, user.user_principal_name, user.mail) == (
        "Adele Vance",
        "AdeleV@contoso.com",
        None,
    )
    assert user.email == "AdeleV@contoso.com"  # no mail: the UPN
    assert user.business_phones == ("+1 425 555 0109",)
    assert user.raw is data
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("content_type", "content", "kind", "filename"),
    [
        ("image/pjpeg", b"\xff\xd8\xff\xe0", "image/jpeg", "photo.jpeg"),
        ("image/jpeg", b"\xff\xd8\xff\xe0", "image/jpeg", "photo.jpeg"),
        ("image/png; charset=binary", b"\x89PNG\r\n\x1a\n", "image/png", "photo.png"),
        (None, b"GIF89a", "image/gif", "photo.gif"),
        ("application/octet-stream", b"\x89PNG\r\n\x1a\n", "image/png", "photo.png"),
        ("image/svg+xml", b"<svg/>", "image/svg+xml", "photo.svg"),
        (None, b"????", "application/octet-stream", "photo.bin"),
    ],
)
def test_photo(content_type: str | None, content: bytes, kind: str, filename: str) -> None:
    photo = Photo.from_content(content, content_type)
    assert (photo.content_type, photo.filename, photo.content, photo.size) == (
        kind,
        filename,
        content,
        len(content),
    )
    assert "content=" not in repr(photo)


def test_drive_item_from_json() -> None:
    item = DriveItem.from_json(
        {
            "id": "0123456789abc",
            "name": "FileB.txt",
            "size": 35,
            "webUrl": "https://contoso-my.sharepoint.com/personal/a/Documents/FileB.txt",
            "eTag": '"{A},1"',
            "createdDateTime": "2017-01-26T08:48:28Z",
            "lastModifiedDateTime": "2017-01-27T08:48:28Z",
            "parentReference": {
                "driveId": "b!drive",
                "id": "parent-id",
                "path": "/drive/root:/FolderA",
            },
            "file": {"mimeType": "text/plain", "hashes": {}},
            "@microsoft.graph.downloadUrl": "https://download/x?tempauth=secret",
        }
    )
    assert (item.id, item.name, item.size) == ("0123456789abc", "FileB.txt", 35)
    assert (item.parent_path, item.parent_id, item.drive_id) == (
        "/drive/root:/FolderA",
        "parent-id",
        "b!drive",
    )
    assert (item.mime_type, item.is_folder) == ("text/plain", False)
    assert item.modified == datetime(2017, 1, 27, 8, 48, 28, tzinfo=UTC)
    assert item.download_url == "https://download/x?tempauth=secret"
    assert DriveItem.from_json({"id": "f", "name": "Folder", "folder": {"childCount": 0}}).is_folder


def test_sharing_link_from_json() -> None:
    data = {
        "id": "123ABC",
        "roles": ["read"],
        "link": {
            "type": "view",
            "scope": "anonymous",
            "webUrl": "https://1drv.ms/A6913278E564460AA616C71B28AD6EB6",
        },
    }
    link = SharingLink.from_json(data, created=True)
    assert (link.id, link.type, link.scope, link.created) == ("123ABC", "view", "anonymous", True)
    assert link.web_url == "https://1drv.ms/A6913278E564460AA616C71B28AD6EB6"
    assert link.roles == ("read",)
    assert not SharingLink.from_json(data, created=False).created


def test_recipient_round_trip() -> None:
    recipient = Recipient.from_json({"emailAddress": {"name": "Ada", "address": "ada@example.com"}})
    assert recipient == Recipient("ada@example.com", "Ada")
    assert recipient.to_json() == {"emailAddress": {"address": "ada@example.com", "name": "Ada"}}
    assert Recipient("b@example.com").to_json() == {"emailAddress": {"address": "b@example.com"}}
    assert str(recipient) == "Ada <ada@example.com>"
    assert Recipient.from_json(None) is None


MESSAGE = {
    "@odata.etag": 'W/"CQAAABYAAADHcgC8Hl9tRZ/hc1wEUs1TAAAwR4Hg"',
    "id": "AAMkAGUAAAwTW09AAA=",
    "receivedDateTime": "2024-03-01T09:30:00Z",
    "sentDateTime": "2024-03-01T09:29:58Z",
    "hasAttachments": True,
    "subject": "Quarterly numbers",
    "bodyPreview": "They were awesome!",
    "importance": "normal",
    "isRead": False,
    "isDraft": False,
    "conversationId": "conv-1",
    "webLink": "https://outlook.office365.com/owa/?ItemID=x",
    "body": {
        "contentType": "html",
        "content": "<html><body>They were <b>awesome</b>!</body></html>",
    },
    "sender": {"emailAddress": {"name": "Grace", "address": "grace@example.com"}},
    "from": {"emailAddress": {"name": "Grace", "address": "grace@example.com"}},
    "toRecipients": [{"emailAddress": {"name": "Ada", "address": "ada@example.com"}}],
    "ccRecipients": [{"emailAddress": {"address": "cc@example.com"}}],
    "bccRecipients": [],
    "replyTo": [],
}


def test_message_from_json() -> None:
    message = Message.from_json(MESSAGE)
    assert message.id == "AAMkAGUAAAwTW09AAA="
    assert message.subject == "Quarterly numbers"
    assert message.sender == Recipient("grace@example.com", "Grace") == message.from_
    assert message.to == (Recipient("ada@example.com", "Ada"),)
    assert message.cc == (Recipient("cc@example.com"),)
    assert message.bcc == () and message.reply_to == ()
    assert message.received == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert message.sent == datetime(2024, 3, 1, 9, 29, 58, tzinfo=UTC)
    assert (message.is_read, message.is_draft, message.has_attachments) == (False, False, True)
    assert message.body_preview == "They were awesome!"
    assert (message.body_type, message.importance) == ("html", "normal")
    assert message.body_content is not None and "<b>awesome</b>" in message.body_content
    assert "awesome</b>" not in repr(message)


def test_message_with_uppercase_enums_and_missing_fields() -> None:
    message = Message.from_json(
        {"id": "m", "body": {"contentType": "Text", "content": "x"}, "importance": "High"}
    )
    assert (message.body_type, message.importance) == ("text", "high")
    assert message.sender is None and message.received is None and message.to == ()


def test_attachment_decodes_content_bytes() -> None:
    data = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": "AAMkADNkN2R",
        "lastModifiedDateTime": "2017-01-26T08:48:28Z",
        "name": "smile",
        "contentType": "image/gif",
        "size": 1008,
        "isInline": True,
        "contentId": "my_inline_picture",
        "contentBytes": base64.b64encode(b"GIF89a...").decode(),
    }
    attachment = Attachment.from_json(data)
    assert attachment.content == b"GIF89a..."
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "smile",
        "image/gif",
        1008,
    )
    assert (attachment.is_inline, attachment.content_id, attachment.kind) == (
        True,
        "my_inline_picture",
        "file",
    )
    assert attachment.modified == datetime(2017, 1, 26, 8, 48, 28, tzinfo=UTC)


def test_attachment_without_content_and_item_attachment() -> None:
    assert Attachment.from_json({"id": "a", "name": "x"}).content is None
    assert (
        Attachment.from_json({"id": "a", "name": "x", "contentBytes": "!!not base64!!"}).content
        is None
    )
    item = Attachment.from_json(
        {"@odata.type": "#microsoft.graph.itemAttachment", "id": "i", "name": "mail"}
    )
    assert item.kind == "item"


def test_page() -> None:
    page = Page(items=(1, 2, 3), next_link="https://graph.microsoft.com/v1.0/me/messages?$skip=10")
    assert list(page) == [1, 2, 3] and len(page) == 3 and page.has_next
    assert not Page(items=()).has_next
