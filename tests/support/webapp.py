"""Driving the web app in tests: sign in through the sandbox, read forms, put mail in a mailbox."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
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
) -> None:
    """A mail from `sender` to `to` (given names), sent by the daemon app with sendMail."""
    message: dict[str, Any] = {
        "subject": subject,
        "body": {"contentType": "HTML", "content": body},
        "toRecipients": [{"emailAddress": {"address": sandbox.user(to)["mail"]}}],
    }
    if files:
        message["attachments"] = [
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": name,
                "contentBytes": base64.b64encode(content).decode(),
            }
            for name, content in files
        ]
    graph(
        sandbox,
        "POST",
        f"/users/{sandbox.user(sender)['id']}/sendMail",
        json={"message": message},
    )


def find_message(sandbox: RunningSandbox, name: str, subject: str) -> dict[str, Any]:
    found = [m for m in inbox(sandbox, name) if m["subject"] == subject]
    assert len(found) == 1, f"{len(found)} messages with subject {subject!r}"
    return found[0]
