"""The sandbox's mail surface beyond sendMail, with plain httpx: folders, listing options, drafts,
changes, moves and deletes, attachments and Outlook's upload sessions for large attachments."""

from __future__ import annotations

import base64
import os
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphpost.sandbox.graph.mail import query, state
from graphpost.sandbox.graph.wire import GraphError
from graphpost.sandbox.process import RunningSandbox, start_sandbox
from tests.support import person

MB = 1024 * 1024


class Mailbox:
    """Plain httpx calls as one caller: a signed-in user on /me, or the daemon app on /users/{upn}."""

    def __init__(self, sandbox: RunningSandbox, name: str, token: str, owner: str = "me") -> None:
        self.sandbox, self.user, self.owner = sandbox, sandbox.user(name), owner
        self.http = sandbox.client(headers={"Authorization": f"Bearer {token}"})

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if path.startswith("https://"):
            url = path
        else:
            url = f"{self.sandbox.graph_url}/{path.lstrip('/').replace('me/', self.owner + '/', 1)}"
        return self.http.request(method, url, **kwargs)

    def send(self, subject: str, *to: str, **message: Any) -> None:
        recipients = [{"emailAddress": {"address": address}} for address in to]
        body = {"message": {"subject": subject, "toRecipients": recipients, **message}}
        answer = self("POST", "me/sendMail", json=body)
        assert answer.status_code == 202, answer.text

    def listed(self, path: str, **params: str) -> list[dict[str, Any]]:
        answer = self("GET", path, params={"$top": "1000", **params})
        assert answer.status_code == 200, answer.text
        value: list[dict[str, Any]] = answer.json()["value"]
        return value

    def find(self, folder: str, subject: str) -> dict[str, Any]:
        [found] = [
            m for m in self.listed(f"me/mailFolders/{folder}/messages") if m["subject"] == subject
        ]
        return found

    def draft(self, subject: str, **fields: Any) -> dict[str, Any]:
        created = self("POST", "me/messages", json={"subject": subject, **fields})
        assert created.status_code == 201, created.text
        value: dict[str, Any] = created.json()
        return value


def user_mailbox(sandbox: RunningSandbox, name: str) -> Mailbox:
    return Mailbox(sandbox, name, sandbox.user_token(name))


@pytest.fixture(scope="module")
def ada(graph_sandbox: RunningSandbox) -> Mailbox:
    return user_mailbox(graph_sandbox, "ada")


@pytest.fixture(scope="module")
def grace(graph_sandbox: RunningSandbox) -> Mailbox:
    return user_mailbox(graph_sandbox, "grace")


@pytest.fixture(scope="module")
def daemon_on_katherine(graph_sandbox: RunningSandbox) -> Mailbox:
    """The daemon app (Mail.Send, Mail.ReadWrite roles) on Katherine's mailbox by UPN."""
    upn = graph_sandbox.user("katherine")["userPrincipalName"]
    return Mailbox(graph_sandbox, "katherine", graph_sandbox.app_token(), f"users/{upn}")


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def file_attachment(name: str, content: bytes, **more: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentBytes": base64.b64encode(content).decode(),
        **more,
    }


# folders


def test_well_known_folders_by_name_and_id(ada: Mailbox) -> None:
    folders = ada("GET", "me/mailFolders").json()
    assert folders["@odata.context"].endswith("/mailFolders")
    names = [f["displayName"] for f in folders["value"]]
    assert names == ["Inbox", "Sent Items", "Drafts", "Deleted Items"]
    inbox = ada("GET", "me/mailFolders/Inbox").json()
    assert inbox["id"] == folders["value"][0]["id"]
    assert {"totalItemCount", "unreadItemCount", "childFolderCount", "parentFolderId"} <= set(inbox)
    assert ada("GET", f"me/mailFolders/{inbox['id']}").json()["displayName"] == "Inbox"
    for name in ("sentitems", "drafts", "deleteditems"):
        assert ada("GET", f"me/mailFolders/{name}").status_code == 200
    missing = ada("GET", "me/mailFolders/nope")
    assert missing.status_code == 404 and error_code(missing) == "ErrorItemNotFound"


def test_folder_counts_follow_the_messages(ada: Mailbox, grace: Mailbox) -> None:
    before = grace("GET", "me/mailFolders/inbox").json()
    ada.send(unique("count"), grace.user["mail"])
    after = grace("GET", "me/mailFolders/inbox").json()
    assert after["totalItemCount"] == before["totalItemCount"] + 1
    assert after["unreadItemCount"] == before["unreadItemCount"] + 1


# listing: paging, $select, $count, $orderby, $filter


def test_pages_of_ten_by_default_with_skip_links(ada: Mailbox, grace: Mailbox) -> None:
    for number in range(12):
        ada.send(f"page {number}", grace.user["mail"])
    first = grace("GET", "me/mailFolders/inbox/messages").json()
    assert len(first["value"]) == 10
    link = first["@odata.nextLink"]
    query = parse_qs(urlsplit(link).query)
    assert query["$skip"] == ["10"] and link.startswith(
        grace.sandbox.graph_url + "/me/mailFolders/inbox/messages?"
    )
    second = grace("GET", link).json()
    whole = grace("GET", "me/mailFolders/inbox/messages", params={"$top": "20"}).json()["value"]
    assert [m["id"] for m in first["value"] + second["value"]][:20] == [m["id"] for m in whole]
    three = grace("GET", "me/messages", params={"$top": "3", "$select": "subject"}).json()
    assert len(three["value"]) == 3
    kept = parse_qs(urlsplit(three["@odata.nextLink"]).query)
    assert kept["$select"] == ["subject"] and kept["$top"] == ["3"] and kept["$skip"] == ["3"]
    assert len(grace("GET", "me/messages", params={"$top": "1000"}).json()["value"]) > 10
    assert grace("GET", "me/messages", params={"$top": "5000"}).status_code == 200  # capped at 1000
    for bad in ("0", "-1", "ten"):
        assert grace("GET", "me/messages", params={"$top": bad}).status_code == 400
    assert error_code(grace("GET", "me/messages", params={"$skip": "x"})) == "BadRequest"


def test_select_names_the_properties_in_the_context(ada: Mailbox) -> None:
    ada.send(unique("select"), ada.user["mail"])
    listed = ada("GET", "me/messages", params={"$select": "subject,from", "$top": "2"}).json()
    assert listed["@odata.context"].endswith(
        f"/$metadata#users('{ada.user['id']}')/messages(subject,from)"
    )
    assert all(set(m) == {"@odata.etag", "id", "subject", "from"} for m in listed["value"])
    message_id = listed["value"][0]["id"]
    one = ada("GET", f"me/messages/{message_id}", params={"$select": "Subject,isRead"}).json()
    assert one["@odata.context"].endswith("/messages(subject,isRead)/$entity")
    assert set(one) == {"@odata.context", "@odata.etag", "id", "subject", "isRead"}
    full = ada("GET", f"me/messages/{message_id}").json()
    assert full["@odata.context"].endswith(f"users('{ada.user['id']}')/messages/$entity")
    assert {"body", "toRecipients", "receivedDateTime", "changeKey"} <= set(full)
    for path in ("me/messages", f"me/messages/{message_id}"):
        refused = ada("GET", path, params={"$select": "subject,nonsense"})
        assert refused.status_code == 400 and error_code(refused) == "RequestBroker--ParseUri"
        assert "'nonsense'" in refused.json()["error"]["message"]


def test_count_and_orderby(ada: Mailbox, grace: Mailbox) -> None:
    tag = uuid.uuid4().hex[:8]
    for number in range(3):
        ada.send(f"order {tag} {number}", grace.user["mail"])
    params = {"$filter": f"startswith(subject,'order {tag}')", "$count": "true", "$top": "2"}
    counted = grace("GET", "me/messages", params=params).json()
    assert counted["@odata.count"] == 3 and len(counted["value"]) == 2
    assert [m["subject"] for m in counted["value"]] == [f"order {tag} 2", f"order {tag} 1"]
    ascending = grace.listed("me/messages", **{"$orderby": "receivedDateTime asc"})
    ours = [m["subject"] for m in ascending if tag in m["subject"]]
    assert ours == [f"order {tag} {n}" for n in range(3)]
    descending = grace.listed("me/messages", **{"$orderby": "receivedDateTime desc"})
    assert [m["subject"] for m in descending if tag in m["subject"]] == ours[::-1]
    unknown = grace("GET", "me/messages", params={"$orderby": "colour desc"})
    assert unknown.status_code == 400 and error_code(unknown) == "RequestBroker--ParseUri"
    assert grace("GET", "me/messages", params={"$count": "maybe"}).status_code == 400


def test_filters_outlook_runs(ada: Mailbox, grace: Mailbox) -> None:
    tag = uuid.uuid4().hex[:8]
    for number in range(3):
        ada.send(
            f"filter {tag} {number}",
            grace.user["mail"],
            importance="High" if number == 1 else "Normal",
        )
    first = grace.find("inbox", f"filter {tag} 0")
    assert grace("PATCH", f"me/messages/{first['id']}", json={"isRead": True}).status_code == 200

    def subjects(expression: str, **params: str) -> list[str]:
        found = grace.listed("me/mailFolders/inbox/messages", **{"$filter": expression, **params})
        return [m["subject"] for m in found if tag in m["subject"]]

    mine = f"startswith(subject,'filter {tag}')"
    assert subjects(f"{mine} and isRead eq false") == [f"filter {tag} 2", f"filter {tag} 1"]
    assert subjects(f"{mine} and isRead eq true") == [f"filter {tag} 0"]
    assert subjects(f"{mine} and not isRead") == [f"filter {tag} 2", f"filter {tag} 1"]
    assert subjects(f"subject eq 'FILTER {tag} 1'") == [
        f"filter {tag} 1"
    ]  # text compares in any case
    address = ada.user["mail"].upper()
    assert subjects(
        f"from/emailAddress/address eq '{address}' and importance eq 'high' and {mine}"
    ) == [f"filter {tag} 1"]
    assert subjects(f"{mine} and (subject eq 'filter {tag} 0' or subject eq 'filter {tag} 2')") == [
        f"filter {tag} 2",
        f"filter {tag} 0",
    ]
    since = first["receivedDateTime"]
    assert f"filter {tag} 0" in subjects(f"receivedDateTime ge {since}")
    assert f"filter {tag} 0" not in subjects(f"receivedDateTime gt {since}")
    assert subjects("receivedDateTime lt 2000-01-01T00:00:00Z") == []
    assert len(subjects(f"receivedDateTime le 2999-01-01 and {mine}")) == 3
    # $orderby with $filter: the sort property first in the filter (named twice is fine)
    ordered = subjects(
        f"receivedDateTime ge {since} and receivedDateTime le 2999-01-01T00:00:00Z and {mine}",
        **{"$orderby": "receivedDateTime asc"},
    )
    assert ordered == [f"filter {tag} {n}" for n in range(3)]


@pytest.mark.parametrize(
    ("expression", "orderby", "code"),
    [
        # Exchange's rule for $filter with $orderby (user-list-messages.md)
        ("isRead eq false", "receivedDateTime desc", "InefficientFilter"),
        (
            "isRead eq false and receivedDateTime ge 2020-01-01T00:00:00Z",
            "receivedDateTime desc",
            "InefficientFilter",
        ),
        # Graph's OData parser: syntax, names, types
        ("subject eq", None, "BadRequest"),
        ("(isRead eq true", None, "BadRequest"),
        ("isRead eq 'yes'", None, "BadRequest"),
        ("colour eq 'blue'", None, "BadRequest"),
        ("from/emailAddress/street eq 'x'", None, "BadRequest"),
        ("substringof('x', subject)", None, "BadRequest"),
        ("importance eq 'urgent'", None, "BadRequest"),
        ("subject eq 'a' and", None, "BadRequest"),
        ("isRead eq true true", None, "BadRequest"),
        # parsed, but not run by Exchange (nor by the sandbox)
        (
            "toRecipients/any(r:r/emailAddress/address eq 'a@b.c')",
            None,
            "ErrorInvalidUrlQueryFilter",
        ),
        ("bodyPreview eq 'x'", None, "ErrorInvalidUrlQueryFilter"),
        ("subject gt 'a'", None, "ErrorInvalidUrlQueryFilter"),
    ],
)
def test_filters_refused_in_graphs_words(
    grace: Mailbox, expression: str, orderby: str | None, code: str
) -> None:
    params = {"$filter": expression, **({"$orderby": orderby} if orderby else {})}
    answer = grace("GET", "me/messages", params=params)
    assert answer.status_code == 400 and error_code(answer) == code, answer.text
    if code == "BadRequest":
        assert answer.json()["error"]["message"].startswith("Invalid filter clause: ")


def test_categories_filter(grace: Mailbox, ada: Mailbox) -> None:
    subject = unique("category")
    ada.send(subject, grace.user["mail"])
    message = grace.find("inbox", subject)
    grace(
        "PATCH", f"me/messages/{message['id']}", json={"categories": ["Red Category"]}
    ).raise_for_status()
    found = grace.listed("me/messages", **{"$filter": "categories/any(c:c eq 'red category')"})
    assert message["id"] in [m["id"] for m in found] and all(
        "Red Category" in m["categories"] for m in found
    )


# drafts


def test_drafts_are_created_changed_and_sent(
    ada: Mailbox, grace: Mailbox, graph_sandbox: RunningSandbox
) -> None:
    subject = unique("draft")
    draft = ada.draft(subject, body={"contentType": "HTML", "content": "<p>first</p>"})
    drafts = ada("GET", "me/mailFolders/drafts").json()
    assert draft["isDraft"] is True and draft["parentFolderId"] == drafts["id"]
    assert draft["@odata.context"].endswith(f"users('{ada.user['id']}')/messages/$entity")
    assert (
        "from" not in draft
        and draft["toRecipients"] == []
        and draft["body"]["contentType"] == "html"
    )
    assert error_code(ada("POST", f"me/messages/{draft['id']}/send")) == "ErrorInvalidRecipients"
    outside = f"someone.{uuid.uuid4().hex[:6]}@example.org"
    changed = ada(
        "PATCH",
        f"me/messages/{draft['id']}",
        json={
            "toRecipients": [{"emailAddress": {"address": grace.user["mail"]}}],
            "ccRecipients": [{"emailAddress": {"address": outside}}],
            "body": {"contentType": "HTML", "content": "<p>second</p>"},
        },
    )
    assert changed.status_code == 200 and changed.json()["changeKey"] != draft["changeKey"]
    assert (
        "<p>second</p>" in changed.json()["body"]["content"]
        and changed.json()["subject"] == subject
    )
    added = ada(
        "POST", f"me/messages/{draft['id']}/attachments", json=file_attachment("n.txt", b"hi")
    )
    assert added.status_code == 201
    sent = ada("POST", f"me/messages/{draft['id']}/send")
    assert sent.status_code == 202 and sent.content == b""
    assert ada("GET", f"me/messages/{draft['id']}").status_code == 404  # the draft left Drafts
    assert [
        m for m in ada.listed("me/mailFolders/drafts/messages") if m["subject"] == subject
    ] == []
    arrived = grace.find("inbox", subject)
    assert arrived["hasAttachments"] and "<p>second</p>" in arrived["body"]["content"]
    assert (
        arrived["from"]["emailAddress"]["address"] == ada.user["mail"]
        and arrived["isRead"] is False
    )
    kept = ada.find("sentitems", subject)
    assert kept["isDraft"] is False and kept["isRead"] is True
    with sqlite3.connect(graph_sandbox.data_dir / "sandbox.db") as db:
        outbound = [row[0] for row in db.execute("SELECT recipients FROM outbound_mail")]
    assert any(
        outside in recipients for recipients in outbound
    )  # outside mail is kept, not delivered


def test_a_message_created_in_a_folder(ada: Mailbox) -> None:
    inbox = ada("GET", "me/mailFolders/inbox").json()
    created = ada(
        "POST", f"me/mailFolders/{inbox['id']}/messages", json={"subject": unique("in inbox")}
    )
    assert created.status_code == 201
    assert created.json()["parentFolderId"] == inbox["id"] and created.json()["isDraft"] is True
    by_name = ada("POST", "me/mailFolders/drafts/messages", json={"subject": "x"})
    assert by_name.status_code == 201
    assert ada("POST", "me/mailFolders/nowhere/messages", json={"subject": "x"}).status_code == 404


def test_only_drafts_change_their_content(ada: Mailbox, grace: Mailbox) -> None:
    subject = unique("change")
    ada.send(subject, grace.user["mail"])
    message = grace.find("inbox", subject)
    changed = grace(
        "PATCH",
        f"me/messages/{message['id']}",
        json={"isRead": "true", "categories": ["Blue"], "flag": {"flagStatus": "flagged"}},
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["isRead"], body["categories"], body["flag"]) == (
        True,
        ["Blue"],
        {"flagStatus": "flagged"},
    )
    refused = grace("PATCH", f"me/messages/{message['id']}", json={"subject": "rewritten"})
    assert (
        refused.status_code == 400
        and error_code(refused) == "ErrorInvalidPropertyUpdateSentMessage"
    )
    assert grace("PATCH", f"me/messages/{message['id']}", json={"nonsense": 1}).status_code == 400
    assert (
        grace("PATCH", f"me/messages/{message['id']}", json={"isRead": "perhaps"}).status_code
        == 400
    )
    assert grace("PATCH", f"me/messages/{message['id']}", content=b"[1]").status_code == 400
    draft = ada.draft(unique("draft change"))
    renamed = ada(
        "PATCH", f"me/messages/{draft['id']}", json={"subject": "renamed", "categories": ["Red"]}
    )
    assert (renamed.json()["subject"], renamed.json()["categories"]) == ("renamed", ["Red"])


# move, copy, delete


def test_move_gives_a_new_id(ada: Mailbox, grace: Mailbox) -> None:
    subject = unique("move")
    ada.send(subject, grace.user["mail"])
    message = grace.find("inbox", subject)
    moved = grace(
        "POST", f"me/messages/{message['id']}/move", json={"destinationId": "deleteditems"}
    )
    assert moved.status_code == 201 and moved.json()["id"] != message["id"]
    deleted_items = grace("GET", "me/mailFolders/deleteditems").json()["id"]
    assert moved.json()["parentFolderId"] == deleted_items and moved.json()["subject"] == subject
    assert grace("GET", f"me/messages/{message['id']}").status_code == 404
    assert grace.find("deleteditems", subject)["id"] == moved.json()["id"]
    inbox = grace("GET", "me/mailFolders/inbox").json()["id"]
    copied = grace("POST", f"me/messages/{moved.json()['id']}/copy", json={"DestinationId": inbox})
    assert copied.status_code == 201 and grace.find("inbox", subject)["id"] == copied.json()["id"]
    assert (
        grace.find("deleteditems", subject)["id"] == moved.json()["id"]
    )  # a copy keeps the original
    nowhere = grace(
        "POST", f"me/messages/{copied.json()['id']}/move", json={"destinationId": "nowhere"}
    )
    assert nowhere.status_code == 404 and error_code(nowhere) == "ErrorItemNotFound"
    assert grace("POST", f"me/messages/{copied.json()['id']}/move", json={}).status_code == 400


def test_delete_is_exchanges_soft_delete(ada: Mailbox, grace: Mailbox) -> None:
    subject = unique("delete")
    ada.send(subject, grace.user["mail"])
    message = grace.find("inbox", subject)
    deleted = grace("DELETE", f"me/messages/{message['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    gone = grace("GET", f"me/messages/{message['id']}")
    assert gone.status_code == 404 and error_code(gone) == "ErrorItemNotFound"
    assert subject not in [m["subject"] for m in grace.listed("me/messages")]
    assert subject not in [
        m["subject"] for m in grace.listed("me/mailFolders/deleteditems/messages")
    ]
    folders = [f["displayName"] for f in grace("GET", "me/mailFolders").json()["value"]]
    assert "Deletions" not in folders
    # recoverable, as Exchange keeps it, under the well-known name recoverableitemsdeletions
    recoverable = grace.find("recoverableitemsdeletions", subject)
    assert (
        grace(
            "DELETE", f"me/mailFolders/recoverableitemsdeletions/messages/{recoverable['id']}"
        ).status_code
        == 204
    )
    assert subject not in [
        m["subject"] for m in grace.listed("me/mailFolders/recoverableitemsdeletions/messages")
    ]
    assert grace("DELETE", f"me/messages/{message['id']}").status_code == 404
    draft = ada.draft(unique("purged"))
    assert ada("POST", f"me/messages/{draft['id']}/permanentDelete").status_code == 204
    assert (
        ada.listed(
            "me/mailFolders/recoverableitemsdeletions/messages",
            **{"$filter": f"subject eq '{draft['subject']}'"},
        )
        == []
    )


# attachments under 3 MB


def test_attachments_in_one_post(ada: Mailbox) -> None:
    draft = ada.draft(unique("attach"))
    base = f"me/messages/{draft['id']}/attachments"
    added = ada("POST", base, json=file_attachment("a.txt", b"a", contentType="text/plain"))
    assert added.status_code == 201
    attachment = added.json()
    assert attachment["@odata.context"].endswith("/attachments/$entity")
    assert (
        attachment["name"],
        attachment["size"],
        attachment["contentBytes"],
        attachment["isInline"],
    ) == (
        "a.txt",
        1,
        "YQ==",
        False,
    )
    assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
    listed = ada("GET", base).json()["value"]
    assert [a["id"] for a in listed] == [attachment["id"]]
    assert ada("GET", f"{base}/{attachment['id']}").json()["name"] == "a.txt"
    raw = ada("GET", f"{base}/{attachment['id']}/$value")
    assert raw.content == b"a" and raw.headers["Content-Type"].startswith("text/plain")
    assert ada("GET", f"me/messages/{draft['id']}").json()["hasAttachments"] is True
    assert ada("DELETE", f"{base}/{attachment['id']}").status_code == 204
    assert ada("GET", base).json()["value"] == []
    assert ada("GET", f"me/messages/{draft['id']}").json()["hasAttachments"] is False
    for path in (f"{base}/{attachment['id']}", f"{base}/{attachment['id']}/$value"):
        assert error_code(ada("GET", path)) == "ErrorItemNotFound"
    assert ada("DELETE", f"{base}/{attachment['id']}").status_code == 404
    assert (
        ada("POST", base, json={"name": "x", "contentBytes": "YQ=="}).status_code == 400
    )  # no @odata.type
    bad = dict(file_attachment("b.bin", b"x"), contentBytes="not base64!")
    assert ada("POST", base, json=bad).status_code == 400


def test_an_attachment_of_3_mb_needs_an_upload_session(ada: Mailbox) -> None:
    draft = ada.draft(unique("too big"))
    too_big = file_attachment("big.bin", os.urandom(3 * MB))
    answer = ada("POST", f"me/messages/{draft['id']}/attachments", json=too_big)
    assert answer.status_code == 413  # the JSON of 3 MB of bytes is over Graph's 4 MB request limit
    assert ada("GET", f"me/messages/{draft['id']}/attachments").json()["value"] == []


# large attachments: Outlook's upload sessions


def create_session(
    box: Mailbox, message_id: str, size: int, name: str = "big.bin"
) -> httpx.Response:
    item = {"AttachmentItem": {"attachmentType": "file", "name": name, "size": size}}
    return box("POST", f"me/messages/{message_id}/attachments/createUploadSession", json=item)


def put(
    http: httpx.Client, url: str, content: bytes, start: int, total: int, **headers: str
) -> httpx.Response:
    end = start + len(content) - 1
    return http.put(
        url,
        content=content,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {start}-{end}/{total}",
            **headers,
        },
    )


def test_large_attachment_in_ordered_chunks(
    ada: Mailbox, grace: Mailbox, graph_sandbox: RunningSandbox
) -> None:
    subject = unique("large")
    content = os.urandom(5 * MB + 123)
    total = len(content)
    draft = ada.draft(subject, toRecipients=[{"emailAddress": {"address": grace.user["mail"]}}])
    created = create_session(ada, draft["id"], total)
    assert created.status_code == 201
    session = created.json()
    assert session["@odata.context"].endswith("/$metadata#microsoft.graph.uploadSession")
    assert session["nextExpectedRanges"] == ["0-"]
    assert session["expirationDateTime"].endswith("Z") and len(session["expirationDateTime"]) == 28
    url = session["uploadUrl"]
    # on the sandbox's other loopback name, as Outlook's URLs are on another host than Graph's
    graph, upload = urlsplit(graph_sandbox.graph_url), urlsplit(url)
    assert {graph.hostname, upload.hostname} == {"127.0.0.1", "localhost"}
    assert upload.port == graph.port and upload.path.startswith("/_upload/outlook/api/v2.0/Users('")
    assert f"/Messages('{draft['id']}')/AttachmentSessions('" in url and "?authtoken=" in url
    chunk = 2 * MB
    with graph_sandbox.client() as anonymous:
        bearer = put(anonymous, url, content[:chunk], 0, total, Authorization="Bearer x")
        assert bearer.status_code == 401  # the URL carries its own token; a bearer token is refused
        four_mb = put(anonymous, url, content[: 4 * MB], 0, total)
        assert four_mb.status_code == 413  # each range under 4 MB
        first = put(anonymous, url, content[:chunk], 0, total)
        assert first.status_code == 200
        assert first.json()["nextExpectedRanges"] == [str(chunk)]
        assert first.json()["ExpirationDateTime"] == session["expirationDateTime"]
        assert "/AttachmentSessions/$entity" in first.json()["@odata.context"]
        again = put(anonymous, url, content[:chunk], 0, total)  # overlaps what is there
        assert again.status_code == 416
        skipped = put(
            anonymous, url, content[chunk + 1 : 2 * chunk], chunk + 1, total
        )  # leaves a gap
        assert skipped.status_code == 416
        wrong_total = put(anonymous, url, content[chunk : 2 * chunk], chunk, total + 1)
        assert wrong_total.status_code == 400
        no_range = anonymous.put(url, content=b"x")
        assert no_range.status_code == 400
        short = anonymous.put(
            url,
            content=content[chunk : chunk + 10],
            headers={"Content-Range": f"bytes {chunk}-{chunk + 19}/{total}"},
        )
        assert short.status_code == 400
        second = put(anonymous, url, content[chunk : 2 * chunk], chunk, total)
        assert second.status_code == 200 and second.json()["nextExpectedRanges"] == [str(2 * chunk)]
        last = put(anonymous, url, content[2 * chunk :], 2 * chunk, total)
        assert last.status_code == 201 and last.content == b""
        location = last.headers["Location"]
        assert f"/Messages('{draft['id']}')/Attachments('" in location
        attachment_id = location.rsplit("Attachments('", 1)[1].rstrip("')")
        assert put(anonymous, url, b"x", 0, total).status_code == 404  # the session is over
    listed = ada("GET", f"me/messages/{draft['id']}/attachments").json()["value"]
    assert [(a["id"], a["name"], a["size"]) for a in listed] == [(attachment_id, "big.bin", total)]
    raw = ada("GET", f"me/messages/{draft['id']}/attachments/{attachment_id}/$value")
    assert raw.content == content
    log = [
        entry
        for entry in graph_sandbox.request_log()
        if entry["path"].startswith("/_upload/outlook/")
    ]
    assert log and all(
        "authtoken" not in entry["path"] for entry in log
    )  # logged, without the token
    assert ada("POST", f"me/messages/{draft['id']}/send").status_code == 202
    arrived = grace.find("inbox", subject)
    [attachment] = grace("GET", f"me/messages/{arrived['id']}/attachments").json()["value"]
    value = grace("GET", f"me/messages/{arrived['id']}/attachments/{attachment['id']}/$value")
    assert value.content == content


def test_upload_session_sizes(ada: Mailbox) -> None:
    draft = ada.draft(unique("sizes"))
    small = create_session(ada, draft["id"], 3 * MB - 1)
    assert small.status_code == 400
    assert error_code(small) == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    assert create_session(ada, draft["id"], 3 * MB).status_code == 201
    assert create_session(ada, draft["id"], 150 * MB).status_code == 201
    huge = create_session(ada, draft["id"], 150 * MB + 1)
    assert huge.status_code == 400 and error_code(huge) == "ErrorAttachmentSizeLimitExceeded"
    for item in (
        {},
        {"AttachmentItem": {"attachmentType": "file", "name": "x"}},
        {"AttachmentItem": {"attachmentType": "file", "name": "x", "size": "big"}},
        {"AttachmentItem": {"attachmentType": "reference", "name": "x", "size": 4 * MB}},
        {"AttachmentItem": {"attachmentType": "file", "size": 4 * MB}},
        {"AttachmentItem": "file"},
    ):
        answer = ada(
            "POST", f"me/messages/{draft['id']}/attachments/createUploadSession", json=item
        )
        assert answer.status_code == 400, item
    assert create_session(ada, "AAMkAnope", 4 * MB).status_code == 404


def test_upload_sessions_are_cancelled_and_fail_like_graph(
    ada: Mailbox, graph_sandbox: RunningSandbox
) -> None:
    draft = ada.draft(unique("cancel"))
    total = 3 * MB + 5
    with graph_sandbox.client() as anonymous:
        cancelled = create_session(ada, draft["id"], total).json()["uploadUrl"]
        assert put(anonymous, cancelled, b"x" * 10, 0, total).status_code == 200
        assert anonymous.delete(cancelled, headers={"Authorization": "Bearer x"}).status_code == 401
        assert anonymous.delete(cancelled).status_code == 204
        assert put(anonymous, cancelled, b"x", 10, total).status_code == 404
        assert anonymous.delete(cancelled).status_code == 404
        forged = cancelled.split("authtoken=")[0] + "authtoken=forged"
        assert put(anonymous, forged, b"x", 0, total).status_code == 404
        # a scripted fault on the upload URL, then the client resumes where the session stands
        url = create_session(ada, draft["id"], total).json()["uploadUrl"]
        graph_sandbox.inject_fault("PUT", r"^/_upload/outlook/", 503, retry_after=1)
        failed = put(anonymous, url, b"y" * MB, 0, total)
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
        assert put(anonymous, url, b"y" * MB, 0, total).json()["nextExpectedRanges"] == [str(MB)]
        # the message goes before the upload ends: the last chunk finds nothing to attach to
        assert ada("POST", f"me/messages/{draft['id']}/permanentDelete").status_code == 204
        assert put(anonymous, url, b"y" * (total - MB), MB, total).status_code == 404


# permissions


def test_the_daemon_app_on_a_users_mailbox(daemon_on_katherine: Mailbox, ada: Mailbox) -> None:
    app = daemon_on_katherine
    subject = unique("app")
    ada.send(subject, app.user["mail"])
    found = app.find("inbox", subject)
    assert (
        app("PATCH", f"me/messages/{found['id']}", json={"isRead": True}).json()["isRead"] is True
    )
    draft = app.draft(
        unique("app draft"), toRecipients=[{"emailAddress": {"address": ada.user["mail"]}}]
    )
    assert app("POST", f"me/messages/{draft['id']}/send").status_code == 202
    by_id = Mailbox(app.sandbox, "katherine", app.sandbox.app_token(), f"users/{app.user['id']}")
    assert by_id("GET", "me/mailFolders/inbox").status_code == 200
    on_me = app.http.get(f"{app.sandbox.graph_url}/me/messages")
    assert on_me.status_code == 400  # an app token has no /me
    nobody = app.http.get(f"{app.sandbox.graph_url}/users/nobody@graphpost.test/messages")
    assert nobody.status_code == 404 and error_code(nobody) == "ErrorInvalidUser"


def consented_token(sandbox: RunningSandbox, name: str, scopes: list[str]) -> str:
    """A token through the web app for a user who consents to `scopes` alone."""
    person_info = sandbox.user(name)
    web = sandbox.info["web_app"]
    app = msal.ConfidentialClientApplication(
        web["client_id"],
        client_credential=web["client_secret"],
        authority=sandbox.authority,
        instance_discovery=False,
        verify=sandbox.ca_file,
    )
    flow = app.initiate_auth_code_flow(
        scopes, redirect_uri="http://localhost:5000/login/authorized"
    )
    answer = person.sign_in(
        sandbox, flow["auth_uri"], person_info["userPrincipalName"], person_info["password"]
    )
    token: str = app.acquire_token_by_auth_code_flow(flow, answer)["access_token"]
    return token


def test_delegated_scopes_are_enforced(small_tenant: RunningSandbox) -> None:
    grace = small_tenant.user("grace")
    profile_only = Mailbox(
        small_tenant, "katherine", consented_token(small_tenant, "katherine", ["User.Read"])
    )
    for method, path in (
        ("GET", "me/messages"),
        ("GET", "me/mailFolders"),
        ("POST", "me/messages"),
    ):
        refused = profile_only(method, path, json={"subject": "x"} if method == "POST" else None)
        assert refused.status_code == 403 and error_code(refused) == "ErrorAccessDenied"
    no_send = Mailbox(
        small_tenant, "alan", consented_token(small_tenant, "alan", ["Mail.ReadWrite"])
    )
    draft = no_send.draft(
        unique("no send"), toRecipients=[{"emailAddress": {"address": grace["mail"]}}]
    )
    assert no_send("GET", "me/messages").status_code == 200
    unsent = no_send("POST", f"me/messages/{draft['id']}/send")
    assert unsent.status_code == 403 and error_code(unsent) == "ErrorAccessDenied"
    assert no_send("POST", "me/sendMail", json={"message": {}}).status_code == 403


def test_delegated_access_is_to_ones_own_mailbox(ada: Mailbox, grace: Mailbox) -> None:
    upn = grace.user["userPrincipalName"]
    for method, path in (("GET", "messages"), ("GET", "mailFolders"), ("POST", "sendMail")):
        refused = ada(method, f"users/{upn}/{path}", json={} if method == "POST" else None)
        assert refused.status_code == 403 and error_code(refused) == "ErrorAccessDenied"
    own = ada("GET", f"users/{ada.user['userPrincipalName']}/mailFolders/inbox")
    assert own.status_code == 200  # /users/{own upn} is the same mailbox as /me


# the tenant's message size limit (Exchange's default 35 MB, measured as MIME)


def test_message_size_is_measured_as_mime() -> None:
    thirty_mb = [state.StoredAttachment("a", "x", 30 * MB, False, None, "b")]
    twenty_mb = [state.StoredAttachment("a", "x", 20 * MB, False, None, "b")]
    assert (
        state.mime_size("", thirty_mb) > state.DEFAULT_MESSAGE_SIZE_LIMIT
    )  # msgraph-sdk-java#2148
    assert state.mime_size("", twenty_mb) < state.DEFAULT_MESSAGE_SIZE_LIMIT


@pytest.fixture(scope="module")
def small_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox of its own (its clock moves) whose tenant limits messages to 3 MB."""
    data = tmp_path_factory.mktemp("small-tenant")
    with sqlite3.connect(Path(data) / "sandbox.db") as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES (?, ?)", (state.MESSAGE_SIZE_SETTING, str(3 * MB)))
    sandbox = start_sandbox(data, "--userrealm-port", "0")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_a_message_over_the_tenants_limit_is_not_sent(small_tenant: RunningSandbox) -> None:
    ada = user_mailbox(small_tenant, "ada")
    grace = small_tenant.user("grace")
    subject = unique("over the limit")
    draft = ada.draft(subject, toRecipients=[{"emailAddress": {"address": grace["mail"]}}])
    total = 3 * MB  # 4 MB once in base64
    url = create_session(ada, draft["id"], total).json()["uploadUrl"]
    with small_tenant.client() as anonymous:
        assert put(anonymous, url, b"z" * (2 * MB), 0, total).status_code == 200
        assert put(anonymous, url, b"z" * MB, 2 * MB, total).status_code == 201
    refused = ada("POST", f"me/messages/{draft['id']}/send")
    assert refused.status_code == 400 and error_code(refused) == "ErrorMessageSizeExceeded"
    assert ada.find("drafts", subject)["id"] == draft["id"]  # the draft stays
    [attachment] = ada("GET", f"me/messages/{draft['id']}/attachments").json()["value"]
    assert (
        ada("DELETE", f"me/messages/{draft['id']}/attachments/{attachment['id']}").status_code
        == 204
    )
    assert ada("POST", f"me/messages/{draft['id']}/send").status_code == 202
    # sendMail answers the same: 2.5 MB of attachment is 3.3 MB as MIME
    big = file_attachment("photo.jpg", b"p" * (5 * MB // 2))
    refused = ada(
        "POST",
        "me/sendMail",
        json={
            "message": {
                "subject": "big",
                "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
                "attachments": [big],
            }
        },
    )
    assert refused.status_code == 400 and error_code(refused) == "ErrorMessageSizeExceeded"
    ada.send(unique("small enough"), grace["mail"], attachments=[file_attachment("a.txt", b"a")])


def test_upload_sessions_expire_by_the_sandbox_clock(small_tenant: RunningSandbox) -> None:
    ada = user_mailbox(small_tenant, "ada")
    draft = ada.draft("expiring")
    url = create_session(ada, draft["id"], 4 * MB).json()["uploadUrl"]
    with small_tenant.client() as anonymous:
        assert put(anonymous, url, b"x", 0, 4 * MB).status_code == 200
        small_tenant.advance_clock(3 * 3600)
        expired = put(anonymous, url, b"x", 1, 4 * MB)
        assert expired.status_code == 404 and error_code(expired) == "ErrorItemNotFound"


def test_a_moved_message_keeps_its_open_extensions(ada: Mailbox) -> None:
    draft = ada.draft(unique("extended"))
    extension = {
        "@odata.type": "microsoft.graph.openTypeExtension",
        "extensionName": "Com.Graphpost.Test",
        "colour": "teal",
    }
    assert ada("POST", f"me/messages/{draft['id']}/extensions", json=extension).status_code == 201
    moved = ada("POST", f"me/messages/{draft['id']}/move", json={"destinationId": "inbox"}).json()
    found = ada("GET", f"me/messages/{moved['id']}/extensions").json()["value"]
    assert [e["colour"] for e in found] == ["teal"]


# bad input of any shape is a 4xx


FILTER_WORDS = st.sampled_from(
    [
        "isRead", "subject", "eq", "ne", "gt", "and", "or", "not", "(", ")", ",", ":", "'x'", "'",
        "true", "null", "2024-01-01", "2024-01-01T00:00:00Z", "2024-13-45T99:99:99+99:99",
        "startswith", "contains", "endswith", "categories/any", "c:c", "importance", "'high'",
        "from/emailAddress/address", "receivedDateTime", "1", "-1.5", "toRecipients/any", "/",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(FILTER_WORDS, max_size=12).map(" ".join), st.text(max_size=30)))
def test_any_filter_text_runs_or_is_a_400(raw: str) -> None:
    message = {"subject": "Hi", "isRead": False, "receivedDateTime": "2024-01-01T00:00:00Z"}
    try:
        found = query.parse_filter(raw)
        found.predicate(message)
        found.predicate({})
    except GraphError as refusal:
        assert refusal.status == 400 and refusal.code in (
            "BadRequest",
            "ErrorInvalidUrlQueryFilter",
        )


def test_deeply_nested_filters_are_a_400(grace: Mailbox) -> None:
    for raw in (
        "(" * 300 + "isRead" + ")" * 300,
        "not " * 300 + "isRead",
        " or ".join(["isRead"] * 2000),
    ):
        answer = grace("GET", "me/messages", params={"$filter": raw, "$top": "1"})
        assert answer.status_code in (200, 400), answer.status_code


@pytest.fixture(scope="module")
def upload_target(ada: Mailbox) -> str:
    draft = ada.draft(unique("fuzzed upload"))
    url: str = create_session(ada, draft["id"], 3 * MB).json()["uploadUrl"]
    return url


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["PUT", "DELETE", "GET", "POST", "PATCH"]),
    content_range=st.one_of(
        st.none(),
        st.text(max_size=30),
        st.builds(
            "bytes {}-{}/{}".format,
            st.integers(-5, 2**70),
            st.integers(-5, 2**70),
            st.sampled_from([3 * MB, 0, 2**70]),
        ),
    ),
    body=st.binary(max_size=64),
    suffix=st.sampled_from(["", "x", "/..", "%00", "')"]),
    token=st.sampled_from([None, "", "forged", "%ff"]),
)
def test_the_upload_url_answers_bad_input_with_4xx(
    graph_sandbox: RunningSandbox,
    upload_target: str,
    method: str,
    content_range: str | None,
    body: bytes,
    suffix: str,
    token: str | None,
) -> None:
    address, _, real_token = upload_target.partition("?authtoken=")
    url = f"{address}{suffix}?authtoken={real_token if token is None else token}"
    headers = {"Content-Range": content_range} if content_range is not None else {}
    if method == "DELETE":
        method = "PUT"  # cancelling would end the fixture's session
    with graph_sandbox.client() as anonymous:
        try:
            answer = anonymous.request(method, url, content=body, headers=headers)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return  # a header httpx itself will not send
    assert answer.status_code < 500, answer.text


def test_racing_requests_do_one_thing_once(
    ada: Mailbox, grace: Mailbox, graph_sandbox: RunningSandbox
) -> None:
    subject = unique("race")
    draft = ada.draft(subject, toRecipients=[{"emailAddress": {"address": grace.user["mail"]}}])
    with ThreadPoolExecutor(2) as pool:
        sends = list(
            pool.map(lambda _: ada("POST", f"me/messages/{draft['id']}/send").status_code, range(2))
        )
    assert sorted(sends) == [202, 404]
    assert (
        len([m for m in grace.listed("me/mailFolders/inbox/messages") if m["subject"] == subject])
        == 1
    )
    upload = ada.draft(unique("race upload"))
    total = 3 * MB + 1
    url = create_session(ada, upload["id"], total).json()["uploadUrl"]
    first = os.urandom(2 * MB)
    with graph_sandbox.client() as anonymous, ThreadPoolExecutor(3) as pool:
        chunks = list(
            pool.map(lambda _: put(anonymous, url, first, 0, total).status_code, range(3))
        )
        assert sorted(chunks) == [200, 416, 416]
        rest = os.urandom(total - 2 * MB)
        assert put(anonymous, url, rest, 2 * MB, total).status_code == 201
    [attachment] = ada("GET", f"me/messages/{upload['id']}/attachments").json()["value"]
    raw = ada("GET", f"me/messages/{upload['id']}/attachments/{attachment['id']}/$value")
    assert raw.content == first + rest
