"""Driving the web app in tests: sign in through the sandbox, read forms, put mail in a mailbox."""

from __future__ import annotations

import base64
import html
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from flask.testing import FlaskClient

from graphpost.sandbox.process import RunningSandbox
from tests.support import person


def authorize(client: FlaskClient, path: str = "/login") -> str:
    answer = client.get(path)
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def sign_in(
    client: FlaskClient, sandbox: RunningSandbox, name: str = "ada", path: str = "/login"
) -> Any:
    """The whole sign-in: the app sends the browser to the sandbox, the person signs in, the
    sandbox sends them back; returns the app's answer to that return."""
    user = sandbox.user(name)
    answer = person.sign_in(
        sandbox, authorize(client, path), user["userPrincipalName"], user["password"]
    )
    return client.get("/login/authorized?" + urlencode(answer))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has a CSRF token"
    return found.group(1)


def textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found
    return html.unescape(found.group(1))


def graph(sandbox: RunningSandbox, method: str, path: str, **kwargs: Any) -> Any:
    """A Graph call with the daemon app's token; the JSON answer (None for an empty one)."""
    with sandbox.client() as http:
        answer = http.request(
            method,
            sandbox.graph_url + path,
            headers={"Authorization": f"Bearer {sandbox.app_token()}"},
            **kwargs,
        )
    answer.raise_for_status()
    return (
        answer.json()
        if answer.content and "json" in answer.headers.get("content-type", "")
        else answer.content
    )


def inbox(sandbox: RunningSandbox, name: str) -> list[dict[str, Any]]:
    """Every message in the user's inbox, following next links."""
    user = sandbox.user(name)
    found: list[dict[str, Any]] = []
    path: str | None = f"/users/{user['id']}/mailFolders/inbox/messages?$top=100"
    while path:
        page = graph(sandbox, "GET", path)
        found.extend(page["value"])
        link = page.get("@odata.nextLink")
        path = link[len(sandbox.graph_url) :] if link else None
    return found


def empty_inbox(sandbox: RunningSandbox, name: str) -> None:
    user = sandbox.user(name)
    for message in inbox(sandbox, name):
        graph(sandbox, "DELETE", f"/users/{user['id']}/messages/{message['id']}")


def deliver(
    sandbox: RunningSandbox,
    to: str,
    subject: str,
    body: str = "<p>hello</p>",
    sender: str = "grace",
    files: Sequence[tuple[str, bytes]] = (),
    inline_images: Mapping[str, bytes] = {},
) -> None:
    """A mail from `sender` to `to` (given names), sent by the daemon app with sendMail;
    `inline_images` are PNGs by content id, for the body's ``cid:`` references."""
    message: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "HTML", "content": body},
        "toRecipients": [{"emailAddress": {"address": sandbox.user(to)["mail"]}}],
    }
    attachments = [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": name,
            "contentBytes": base64.b64encode(content).decode(),
        }
        for name, content in files
    ] + [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": f"{content_id.split('@')[0]}.png",
            "contentType": "image/png",
            "contentId": content_id,
            "isInline": True,
            "contentBytes": base64.b64encode(content).decode(),
        }
        for content_id, content in inline_images.items()
    ]
    if attachments:
        message["attachments"] = attachments
    graph(
        sandbox,
        "POST",
        f"/users/{sandbox.user(sender)['id']}/sendMail",
        json={"message": message},
    )


def png(width: int, height: int) -> bytes:
    """A valid PNG of one colour, made here (a browser shows it: its naturalWidth is `width`)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xcc\x33\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def find_message(sandbox: RunningSandbox, name: str, subject: str) -> dict[str, Any]:
    found = [m for m in inbox(sandbox, name) if m["subject"] == subject]
    assert len(found) == 1, f"{len(found)} messages with subject {subject!r}"
    return found[0]


def forget_settings(sandbox: RunningSandbox, name: str) -> None:
    """Delete the web app's settings extension of user `name`, as the user (the daemon app may
    only read users, so its DELETE is refused), and make sure it is gone."""
    from graphpost.web.account import EXTENSION_NAME

    with sandbox.client() as http:
        answer = http.delete(
            f"{sandbox.graph_url}/me/extensions/{EXTENSION_NAME}",
            headers={"Authorization": f"Bearer {sandbox.user_token(name, 'User.ReadWrite')}"},
        )
    assert answer.status_code in (204, 404), answer.text
