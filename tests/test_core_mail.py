"""Mail as plain data: recipients, the sendMail JSON exactly as Graph wants it, size checks, reading."""

from __future__ import annotations

import base64
import json

import pytest

from graphpost.core import mail
from graphpost.core.http import Response
from graphpost.core.mail import FileAttachment, build_message, parse_recipients
from graphpost.errors import BadRequest, InvalidRecipients, SizeLimitExceeded
from graphpost.models import Recipient
from tests.support.operations import drive, graph_error, response

MiB = 1024 * 1024


# -- recipients --------------------------------------------------------------------------


def test_parse_recipients_splits_on_semicolons_and_commas_and_trims() -> None:
    assert parse_recipients("a@x.com; b@y.com, c@z.com") == ["a@x.com", "b@y.com", "c@z.com"]
    assert parse_recipients("  a@x.com ;;, ;b@y.com;  ") == ["a@x.com", "b@y.com"]
    assert parse_recipients("") == [] and parse_recipients(" ; , ") == []


def test_parse_recipients_accepts_names_and_drops_duplicates() -> None:
    text = '"Lovelace, Ada" <ada@x.com>; Grace Hopper <grace@y.com>, ADA@x.com, mailto:bo@z.com'
    assert parse_recipients(text) == ["ada@x.com", "grace@y.com", "bo@z.com"]


def test_parse_recipients_accepts_a_list() -> None:
    assert parse_recipients(["a@x.com", "b@y.com; c@z.com"]) == ["a@x.com", "b@y.com", "c@z.com"]


def test_parse_recipients_names_the_bad_one() -> None:
    with pytest.raises(InvalidRecipients) as caught:
        parse_recipients("a@x.com; BAD_ADDRESS; b@y.com")
    assert caught.value.invalid == ("BAD_ADDRESS",)
    assert str(caught.value) == "'BAD_ADDRESS' is not an email address"
    assert isinstance(caught.value, ValueError)


def test_parse_recipients_names_every_bad_one() -> None:
    with pytest.raises(InvalidRecipients) as caught:
        parse_recipients("bob, alice@, a@x.com")
    assert caught.value.invalid == ("bob", "alice@")
    assert str(caught.value) == "'bob', 'alice@' are not email addresses"


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.ie",
        "x_y-z=1!#$%&*/?^`{|}~@example.com",
        '"john doe"@example.com',
        "user@xn--bcher-kva.example",
        "josé@exämple.de",
        "root@[192.168.0.1]",
        "ada@graphpost.test",
    ],
)
def test_valid_addresses(address: str) -> None:
    assert mail.is_email_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@localhost",
        "ada@@example.com",
        "ada example@example.com",
        ".ada@example.com",
        "ada.@example.com",
        "a..b@example.com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example..com",
        "ada@example.123",
        "a" * 65 + "@example.com",
        "ada@" + "a" * 64 + ".com",
        "ada@example.com\n",
        "<ada@example.com>",
    ],
)
def test_invalid_addresses(address: str) -> None:
    assert not mail.is_email_address(address)


# -- the message JSON ---------------------------------------------------------------------


def test_build_message_minimal_shape() -> None:
    assert build_message("Hello", "<p>Hi</p>", "ada@x.com") == {
        "subject": "Hello",
        "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
        "toRecipients": [{"emailAddress": {"address": "ada@x.com"}}],
    }


def test_build_message_full_shape() -> None:
    attachment = FileAttachment("report.csv", b"a,b\n1,2\n")
    message = build_message(
        "Numbers",
        "See attached.",
        ["ada@x.com", Recipient("grace@y.com", "Grace")],
        cc="c1@x.com, c2@x.com",
        bcc=["b@x.com"],
        reply_to="r@x.com",
        html=False,
        importance="high",
        attachments=[attachment],
    )
    assert message == {
        "subject": "Numbers",
        "body": {"contentType": "Text", "content": "See attached."},
        "toRecipients": [
            {"emailAddress": {"address": "ada@x.com"}},
            {"emailAddress": {"address": "grace@y.com", "name": "Grace"}},
        ],
        "ccRecipients": [
            {"emailAddress": {"address": "c1@x.com"}},
            {"emailAddress": {"address": "c2@x.com"}},
        ],
        "bccRecipients": [{"emailAddress": {"address": "b@x.com"}}],
        "replyTo": [{"emailAddress": {"address": "r@x.com"}}],
        "importance": "High",
        "attachments": [
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "report.csv",
                "contentType": "text/csv",
                "contentBytes": base64.b64encode(b"a,b\n1,2\n").decode(),
            }
        ],
    }


def test_build_message_subject_is_one_line() -> None:
    assert build_message("a\r\nBcc: evil@x.com", "", "ada@x.com")["subject"] == "a Bcc: evil@x.com"


def test_build_message_needs_a_recipient_and_valid_ones() -> None:
    with pytest.raises(InvalidRecipients):
        build_message("s", "b", "")
    with pytest.raises(InvalidRecipients):
        build_message("s", "b", "ada@x.com", cc="not-an-address")
    with pytest.raises(InvalidRecipients):
        build_message("s", "b", [Recipient("nope")])
    assert build_message("s", "b", (), bcc="b@x.com")["bccRecipients"]  # bcc only is fine


def test_build_message_rejects_unknown_importance() -> None:
    with pytest.raises(ValueError):
        build_message("s", "b", "ada@x.com", importance="urgent")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/etc/passwd", "passwd"),
        ("../../secret/me.jpeg", "me.jpeg"),
        ("C:\\Users\\ada\\photo.png", "photo.png"),
        ("plain.txt", "plain.txt"),
    ],
)
def test_attachment_name_is_a_base_name(name: str, expected: str) -> None:
    assert FileAttachment(name, b"x").to_json()["name"] == expected


@pytest.mark.parametrize("name", ["", "/", "dir/", "..", "C:\\"])
def test_attachment_without_a_file_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        FileAttachment(name, b"x").to_json()


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("me.jpeg", None, "image/jpeg"),
        ("notes.txt", None, "text/plain"),
        ("mystery.qqq", None, "application/octet-stream"),
        ("noextension", None, "application/octet-stream"),
        ("photo.png", "image/webp", "image/webp"),
    ],
)
def test_attachment_content_type(name: str, content_type: str | None, expected: str) -> None:
    assert FileAttachment(name, b"x", content_type).to_json()["contentType"] == expected


def test_inline_attachment() -> None:
    data = FileAttachment("logo.png", b"\x89PNG", is_inline=True, content_id="logo").to_json()
    assert data["isInline"] is True and data["contentId"] == "logo"
    assert "isInline" not in FileAttachment("a.txt", b"").to_json()


def test_file_attachment_from_path(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "hello.txt"
    path.write_bytes(b"hello")
    attachment = FileAttachment.from_path(path)
    # read when sent, a chunk at a time, never held whole
    assert (attachment.name, attachment.content, attachment.size) == ("hello.txt", b"", 5)
    assert attachment.read(1, 3) == b"ell" and not attachment.is_large
    assert attachment.to_json()["contentBytes"] == "aGVsbG8="


# -- sending ------------------------------------------------------------------------------


def test_send_mail_request_and_receipt() -> None:
    message = build_message("Hi", "Hello", "ada@x.com")
    sent, receipt = drive(
        mail.send_mail(message),
        Response(202, {"request-id": "srv-1", "client-request-id": "cli-1"}),
    )
    (request,) = sent
    assert (request.method, request.url) == ("POST", "/me/sendMail")
    assert request.json == {"message": message}  # saveToSentItems only when false
    assert not request.is_idempotent
    assert receipt.request_id == "srv-1" and receipt.client_request_id == "cli-1"


def test_send_mail_without_saving_as_another_user() -> None:
    request = next(mail.send_mail({"subject": "x"}, save_to_sent_items=False, user="ada@x.com"))
    assert request.url == "/users/ada@x.com/sendMail"
    assert request.json == {"message": {"subject": "x"}, "saveToSentItems": False}


def test_send_mail_receipt_falls_back_to_our_client_request_id() -> None:
    sent, receipt = drive(mail.send_mail({"subject": "x"}), Response(202, {}))
    assert receipt.client_request_id == sent[0].headers["client-request-id"]


def test_send_mail_refusal_raises_with_graphs_code() -> None:
    refusal = graph_error(
        400,
        "ErrorInvalidRecipients",
        "At least one recipient isn't valid., Recipient \"BAD_ADDRESS\" isn't resolved.",
    )
    with pytest.raises(BadRequest) as caught:
        drive(mail.send_mail({"subject": "x"}), refusal)
    assert caught.value.code == "ErrorInvalidRecipients"


def test_send_mail_refuses_an_attachment_of_3_mb_before_sending() -> None:
    message = build_message(
        "s", "b", "ada@x.com", attachments=[FileAttachment("big.bin", bytes(3 * MiB))]
    )
    with pytest.raises(SizeLimitExceeded) as caught:
        next(mail.send_mail(message))
    assert caught.value.limit == 3 * MiB and "big.bin" in str(caught.value)


def test_send_mail_accepts_an_attachment_whose_request_fits_in_4_mb() -> None:
    message = build_message(
        "s", "b", "ada@x.com", attachments=[FileAttachment("ok.bin", bytes(int(2.9 * MiB)))]
    )
    request = next(mail.send_mail(message))
    assert 3.8 * MiB < len(request.body_bytes() or b"") < 4 * MiB


def test_an_attachment_just_under_3_mb_is_still_over_4_mb_once_encoded() -> None:
    message = build_message(
        "s", "b", "ada@x.com", attachments=[FileAttachment("ok.bin", bytes(3 * MiB - 1))]
    )
    with pytest.raises(SizeLimitExceeded) as caught:
        next(mail.send_mail(message))
    assert caught.value.limit == 4 * MiB
    assert "4,194,304-byte limit" in str(caught.value)


def test_send_mail_refuses_a_request_over_4_mb() -> None:
    parts = [FileAttachment(f"part{i}.bin", bytes(int(1.5 * MiB))) for i in range(2)]
    message = build_message("s", "b", "ada@x.com", attachments=parts)
    with pytest.raises(SizeLimitExceeded) as caught:
        next(mail.send_mail(message))
    assert caught.value.limit == 4 * MiB
    assert caught.value.size == len(json.dumps({"message": message}, separators=(",", ":")))


def test_send_mail_refuses_a_huge_body_too() -> None:
    with pytest.raises(SizeLimitExceeded):
        next(mail.send_mail(build_message("s", "x" * (4 * MiB), "ada@x.com")))


# -- reading ------------------------------------------------------------------------------

NEXT = "https://graph.microsoft.com/v1.0/me/mailFolders/inbox/messages?$top=2&$skip=2"


def test_list_messages_first_page() -> None:
    body = {
        "value": [{"id": "m1", "subject": "one"}, {"id": "m2", "subject": "two"}],
        "@odata.nextLink": NEXT,
    }
    sent, page = drive(mail.list_messages(top=2, select=["subject"]), response(200, body))
    assert (sent[0].method, sent[0].url) == ("GET", "/me/mailFolders/inbox/messages")
    assert dict(sent[0].params) == {"$select": "subject", "$top": "2"}
    assert [m.id for m in page] == ["m1", "m2"]
    assert page.next_link == NEXT


def test_list_messages_of_all_folders_of_another_user() -> None:
    sent, page = drive(mail.list_messages(folder=None, user="u1"), response(200, {"value": []}))
    assert sent[0].url == "/users/u1/messages" and dict(sent[0].params) == {}
    assert page.items == () and page.next_link is None


def test_list_messages_top_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next(mail.list_messages(top=0))


def test_next_page_sends_the_link_as_is() -> None:
    sent, page = drive(mail.next_page(NEXT), response(200, {"value": [{"id": "m3"}]}))
    assert sent[0].url == NEXT and dict(sent[0].params) == {} and sent[0].authenticated
    assert [m.id for m in page] == ["m3"] and not page.has_next
    with pytest.raises(ValueError):
        next(mail.next_page("/me/messages?$skip=10"))


def test_get_message() -> None:
    sent, message = drive(
        mail.get_message("AAMk/+="), response(200, {"id": "AAMk/+=", "subject": "s"})
    )
    assert sent[0].url == "/me/messages/AAMk%2F%2B%3D"
    assert message.subject == "s"


def test_list_attachments_follows_next_links() -> None:
    first = {
        "value": [{"id": "a1", "name": "one.txt", "contentBytes": base64.b64encode(b"1").decode()}],
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/me/messages/m1/attachments?$skiptoken=x",
    }
    second = {
        "value": [{"id": "a2", "name": "two.txt", "contentBytes": base64.b64encode(b"2").decode()}]
    }
    sent, attachments = drive(
        mail.list_attachments("m1"), response(200, first), response(200, second)
    )
    assert [r.url for r in sent] == [
        "/me/messages/m1/attachments",
        "https://graph.microsoft.com/v1.0/me/messages/m1/attachments?$skiptoken=x",
    ]
    assert [(a.name, a.content) for a in attachments] == [("one.txt", b"1"), ("two.txt", b"2")]


def test_send_order_takes_the_mailboxes_in_turn() -> None:
    from graphpost.core.mail import OutgoingMail, send_order

    mails = [OutgoingMail("s", "b", "x@y.com", user=u) for u in ("a", "a", "a", "B", "b", "c")]
    assert send_order(mails) == [0, 3, 5, 1, 4, 2]  # a, b, c, a, b, a (mailboxes ignore case)
    assert send_order([]) == []


def test_the_client_key_rides_in_graphposts_own_extended_property() -> None:
    from graphpost.core.mail import CLIENT_KEY_PROPERTY, find_sent, with_client_key

    other = {"id": "String {00020329-0000-0000-c000-000000000046} Name x", "value": "1"}
    keyed = with_client_key({"subject": "s", "singleValueExtendedProperties": [other]}, "k1")
    again = with_client_key(keyed, "k2")  # a new key replaces the old, others stay
    assert again["singleValueExtendedProperties"] == [
        other,
        {"id": CLIENT_KEY_PROPERTY, "value": "k2"},
    ]
    request = next(find_sent("k2", "ada@x.com"))
    assert request.url == "/users/ada@x.com/mailFolders/sentitems/messages"
    assert f"ep/id eq '{CLIENT_KEY_PROPERTY}' and ep/value eq 'k2'" in request.params["$filter"]
    with pytest.raises(ValueError):
        next(find_sent("x' or true", "me"))  # never a key that could change the filter
