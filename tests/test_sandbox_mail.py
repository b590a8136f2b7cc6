"""The sandbox's mail surface beyond sendMail: folders, listing options, drafts, changes, moves,
attachments and Outlook's upload sessions for large attachments."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import httpx
import pytest

from graphpost.sandbox.process import RunningSandbox, start_sandbox


class Mailbox:
    """Plain httpx calls as one signed-in user."""

    def __init__(self, sandbox: RunningSandbox, name: str) -> None:
        self.sandbox, self.user = sandbox, sandbox.user(name)
        self.http = sandbox.client(headers={"Authorization": f"Bearer {sandbox.user_token(name)}"})

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = (
            path if path.startswith("https://") else f"{self.sandbox.graph_url}/{path.lstrip('/')}"
        )
        return self.http.request(method, url, **kwargs)

    def send(self, subject: str, to: str, **message: Any) -> None:
        body = {
            "message": {
                "subject": subject,
                "toRecipients": [{"emailAddress": {"address": to}}],
                **message,
            }
        }
        assert self("POST", "me/sendMail", json=body).status_code == 202

    def find(self, folder: str, subject: str) -> dict[str, Any]:
        listed = self("GET", f"me/mailFolders/{folder}/messages", params={"$top": "1000"}).json()[
            "value"
        ]
        [found] = [m for m in listed if m["subject"] == subject]
        return found


@pytest.fixture(scope="module")
def ada(graph_sandbox: RunningSandbox) -> Mailbox:
    return Mailbox(graph_sandbox, "ada")


@pytest.fixture(scope="module")
def grace(graph_sandbox: RunningSandbox) -> Mailbox:
    return Mailbox(graph_sandbox, "grace")


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def test_well_known_folders(ada: Mailbox) -> None:
    folders = ada("GET", "me/mailFolders").json()["value"]
    assert [f["displayName"] for f in folders] == ["Inbox", "Sent Items", "Drafts", "Deleted Items"]
    inbox = ada("GET", "me/mailFolders/Inbox").json()
    assert inbox["id"] == folders[0]["id"] and {"totalItemCount", "unreadItemCount"} <= set(inbox)
    assert ada("GET", f"me/mailFolders/{inbox['id']}").json()["displayName"] == "Inbox"
    assert ada("GET", "me/mailFolders/nope").json()["error"]["code"] == "ErrorItemNotFound"


def test_filters_order_and_count(ada: Mailbox, grace: Mailbox) -> None:
    tag = uuid.uuid4().hex[:8]
    for number in range(3):
        ada.send(
            f"filter {tag} {number}",
            grace.user["mail"],
            importance="High" if number == 1 else "Normal",
        )
    first = grace.find("inbox", f"filter {tag} 0")
    grace("PATCH", f"me/messages/{first['id']}", json={"isRead": True}).raise_for_status()

    def subjects(**params: str) -> list[str]:
        answer = grace("GET", "me/mailFolders/inbox/messages", params={"$top": "1000", **params})
        assert answer.status_code == 200, answer.text
        return [m["subject"] for m in answer.json()["value"] if tag in m["subject"]]

    assert subjects(**{"$filter": f"startswith(subject,'filter {tag}') and isRead eq false"}) == [
        f"filter {tag} 2",
        f"filter {tag} 1",
    ]
    assert subjects(
        **{"$filter": "importance eq 'high' and from/emailAddress/address eq 'ADA@graphpost.test'"}
    )[:1] == [f"filter {tag} 1"]
    since = first["receivedDateTime"]
    assert f"filter {tag} 0" in subjects(**{"$filter": f"receivedDateTime ge {since}"})
    assert subjects(
        **{
            "$filter": f"receivedDateTime ge {since} and startswith(subject,'filter {tag}')",
            "$orderby": "receivedDateTime asc",
        }
    ) == [f"filter {tag} {n}" for n in range(3)]
    counted = grace(
        "GET",
        "me/mailFolders/inbox/messages",
        params={"$count": "true", "$top": "1", "$filter": f"startswith(subject,'filter {tag}')"},
    ).json()
    assert (
        counted["@odata.count"] == 3 and len(counted["value"]) == 1 and "@odata.nextLink" in counted
    )
    inefficient = grace(
        "GET",
        "me/messages",
        params={"$filter": "isRead eq false", "$orderby": "receivedDateTime desc"},
    )
    assert (
        inefficient.status_code == 400
        and inefficient.json()["error"]["code"] == "InefficientFilter"
    )
    for bad in ("bodyPreview eq 'x'", "isRead eq 'yes'", "subject eq", "(isRead eq true"):
        answer = grace("GET", "me/messages", params={"$filter": bad})
        assert (
            answer.status_code == 400
            and answer.json()["error"]["code"] == "ErrorInvalidUrlQueryFilter"
        )


def test_select_keeps_only_the_named_properties(ada: Mailbox) -> None:
    listed = ada("GET", "me/messages", params={"$select": "subject,from", "$top": "1"}).json()[
        "value"
    ]
    assert listed and set(listed[0]) <= {"@odata.etag", "id", "subject", "from"}


def test_drafts_are_created_changed_and_sent(ada: Mailbox, grace: Mailbox) -> None:
    subject = unique("draft")
    created = ada(
        "POST",
        "me/messages",
        json={"subject": subject, "body": {"contentType": "HTML", "content": "<p>first</p>"}},
    )
    assert created.status_code == 201
    draft = created.json()
    assert (
        draft["isDraft"] is True
        and draft["parentFolderId"] == ada("GET", "me/mailFolders/drafts").json()["id"]
    )
    assert "from" not in draft and draft["toRecipients"] == []
    assert (
        ada("POST", f"me/messages/{draft['id']}/send").json()["error"]["code"]
        == "ErrorInvalidRecipients"
    )
    changed = ada(
        "PATCH",
        f"me/messages/{draft['id']}",
        json={
            "toRecipients": [{"emailAddress": {"address": grace.user["mail"]}}],
            "body": {"contentType": "HTML", "content": "<p>second</p>"},
        },
    )
    assert changed.status_code == 200 and changed.json()["changeKey"] != draft["changeKey"]
    assert (
        "<p>second</p>" in changed.json()["body"]["content"]
        and changed.json()["subject"] == subject
    )
    note = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "n.txt",
        "contentBytes": "aGk=",
    }
    added = ada("POST", f"me/messages/{draft['id']}/attachments", json=note)
    assert added.status_code == 201 and added.json()["size"] == 2
    assert ada("POST", f"me/messages/{draft['id']}/send").status_code == 202
    assert ada("GET", f"me/messages/{draft['id']}").status_code == 404  # the draft left Drafts
    arrived = grace.find("inbox", subject)
    assert arrived["hasAttachments"] and "<p>second</p>" in arrived["body"]["content"]
    assert ada.find("sentitems", subject)["isDraft"] is False


def test_sent_messages_only_change_what_outlook_allows(ada: Mailbox, grace: Mailbox) -> None:
    subject = unique("change")
    ada.send(subject, grace.user["mail"])
    message = grace.find("inbox", subject)
    changed = grace(
        "PATCH",
        f"me/messages/{message['id']}",
        json={"isRead": "true", "categories": ["Blue"], "flag": {"flagStatus": "flagged"}},
    )
    assert changed.status_code == 200
    assert (changed.json()["isRead"], changed.json()["categories"], changed.json()["flag"]) == (
        True,
        ["Blue"],
        {"flagStatus": "flagged"},
    )
    refused = grace("PATCH", f"me/messages/{message['id']}", json={"subject": "rewritten"})
    assert (
        refused.status_code == 400
        and refused.json()["error"]["code"] == "ErrorInvalidPropertyUpdateSentMessage"
    )
    assert grace("PATCH", f"me/messages/{message['id']}", json={"nonsense": 1}).status_code == 400


def test_move_copy_and_delete(ada: Mailbox, grace: Mailbox) -> None:
    subject = unique("move")
    ada.send(subject, grace.user["mail"])
    message = grace.find("inbox", subject)
    moved = grace(
        "POST", f"me/messages/{message['id']}/move", json={"destinationId": "deleteditems"}
    )
    assert moved.status_code == 201 and moved.json()["id"] != message["id"]
    assert grace("GET", f"me/messages/{message['id']}").status_code == 404
    assert grace.find("deleteditems", subject)["id"] == moved.json()["id"]
    copied = grace(
        "POST", f"me/messages/{moved.json()['id']}/copy", json={"destinationId": "inbox"}
    )
    assert copied.status_code == 201 and grace.find("inbox", subject)["id"] == copied.json()["id"]
    assert grace("DELETE", f"me/messages/{copied.json()['id']}").status_code == 204
    assert (
        grace("GET", f"me/messages/{copied.json()['id']}").json()["error"]["code"]
        == "ErrorItemNotFound"
    )
    assert (
        grace(
            "POST", f"me/messages/{moved.json()['id']}/move", json={"destinationId": "nowhere"}
        ).status_code
        == 404
    )


def test_attachments_under_3_mb_in_one_post(ada: Mailbox) -> None:
    draft = ada("POST", "me/messages", json={"subject": unique("attach")}).json()
    too_big = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "big.bin",
        "contentBytes": base64.b64encode(os.urandom(3 * 1024 * 1024)).decode(),
    }
    assert (
        ada("POST", f"me/messages/{draft['id']}/attachments", json=too_big).status_code == 413
    )  # over 4 MB as JSON
    small = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "a.txt",
        "contentBytes": "YQ==",
    }
    added = ada("POST", f"me/messages/{draft['id']}/attachments", json=small).json()
    assert ada("GET", f"me/messages/{draft['id']}/attachments/{added['id']}/$value").content == b"a"
    assert ada("GET", f"me/messages/{draft['id']}").json()["hasAttachments"] is True
    assert ada("DELETE", f"me/messages/{draft['id']}/attachments/{added['id']}").status_code == 204
    assert ada("GET", f"me/messages/{draft['id']}/attachments").json()["value"] == []
    assert ada("GET", f"me/messages/{draft['id']}").json()["hasAttachments"] is False


def test_large_attachment_upload_session(
    ada: Mailbox, grace: Mailbox, graph_sandbox: RunningSandbox
) -> None:
    subject = unique("large")
    content = os.urandom(5 * 1024 * 1024 + 123)
    draft = ada(
        "POST",
        "me/messages",
        json={
            "subject": subject,
            "toRecipients": [{"emailAddress": {"address": grace.user["mail"]}}],
        },
    ).json()
    base = f"me/messages/{draft['id']}/attachments/createUploadSession"
    small = ada(
        "POST",
        base,
        json={"AttachmentItem": {"attachmentType": "file", "name": "s.bin", "size": 1000}},
    )
    assert small.json()["error"]["code"] == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    created = ada(
        "POST",
        base,
        json={
            "AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": len(content)}
        },
    )
    assert created.status_code == 201
    session = created.json()
    assert session["nextExpectedRanges"] == ["0-"] and session["expirationDateTime"].endswith("Z")
    url = session["uploadUrl"]
    assert url.startswith(graph_sandbox.info["portal_url"] + "_upload/outlook/")
    with graph_sandbox.client() as anonymous:

        def put(start: int, end: int, **headers: str) -> httpx.Response:
            return anonymous.put(
                url,
                content=content[start : end + 1],
                headers={"Content-Range": f"bytes {start}-{end}/{len(content)}", **headers},
            )

        chunk = 2 * 1024 * 1024
        assert (
            put(0, chunk - 1, Authorization="Bearer x").status_code == 401
        )  # pre-authenticated URL
        first = put(0, chunk - 1)
        assert first.status_code == 200
        assert (
            first.json()["nextExpectedRanges"] == [str(chunk)]
            and "ExpirationDateTime" in first.json()
        )
        assert put(0, chunk - 1).status_code == 416  # again: Outlook takes chunks in order only
        too_big = anonymous.put(
            url,
            content=content[chunk : chunk + 4 * 1024 * 1024],
            headers={
                "Content-Range": f"bytes {chunk}-{chunk + 4 * 1024 * 1024 - 1}/{len(content)}"
            },
        )
        assert too_big.status_code == 400
        assert put(chunk, 2 * chunk - 1).status_code == 200
        last = put(2 * chunk, len(content) - 1)
        assert last.status_code == 201 and last.content == b""
        assert f"Messages('{draft['id']}')/Attachments(" in last.headers["Location"]
        assert (
            anonymous.put(url, content=b"x", headers={"Content-Range": "bytes 0-0/1"}).status_code
            == 404
        )
    listed = ada("GET", f"me/messages/{draft['id']}/attachments").json()["value"]
    assert [(a["name"], a["size"]) for a in listed] == [("big.bin", len(content))]
    assert ada("POST", f"me/messages/{draft['id']}/send").status_code == 202
    arrived = grace.find("inbox", subject)
    [attachment] = grace("GET", f"me/messages/{arrived['id']}/attachments").json()["value"]
    assert (
        grace("GET", f"me/messages/{arrived['id']}/attachments/{attachment['id']}/$value").content
        == content
    )


def test_upload_sessions_can_be_cancelled_and_expire(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sessions"), "--userrealm-port", "0")
    try:
        ada = Mailbox(sandbox, "ada")
        draft = ada("POST", "me/messages", json={"subject": "s"}).json()
        item = {
            "AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": 4 * 1024 * 1024}
        }
        base = f"me/messages/{draft['id']}/attachments/createUploadSession"
        with sandbox.client() as anonymous:
            cancelled = ada("POST", base, json=item).json()["uploadUrl"]
            assert anonymous.delete(cancelled).status_code == 204
            assert (
                anonymous.put(
                    cancelled, content=b"x", headers={"Content-Range": "bytes 0-0/4194304"}
                ).status_code
                == 404
            )
            expiring = ada("POST", base, json=item).json()["uploadUrl"]
            sandbox.advance_clock(3 * 3600)
            assert (
                anonymous.put(
                    expiring, content=b"x", headers={"Content-Range": "bytes 0-0/4194304"}
                ).status_code
                == 404
            )
    finally:
        sandbox.stop()
