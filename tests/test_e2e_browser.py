"""The sample's whole flow in a real browser: Chromium signs in at the sandbox and sends the mail."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from graphpost.config import Settings
from graphpost.sandbox.process import RunningSandbox
from graphpost.web import create_app
from graphpost.web.serve import WebServer
from tests.support.chromium import ARTIFACTS, chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def web_url(
    graph_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    settings = Settings.from_sandbox(
        graph_sandbox.data_dir, app="web", home=tmp_path_factory.mktemp("web-home")
    )
    server = WebServer(create_app(settings), "127.0.0.1", 0)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(graph_sandbox: RunningSandbox) -> Iterator[Any]:
    with chromium(graph_sandbox.data_dir / "server-cert.pem") as launched:
        yield launched


def graph_get(sandbox: RunningSandbox, path: str) -> Any:
    with sandbox.client() as http:
        response = http.get(
            sandbox.graph_url + path, headers={"Authorization": f"Bearer {sandbox.app_token()}"}
        )
    response.raise_for_status()
    return response.json()


def test_sign_in_send_the_sample_mail_and_open_the_link(
    graph_sandbox: RunningSandbox, web_url: str, browser: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    ada, grace = graph_sandbox.user("ada"), graph_sandbox.user("grace")
    subject = f"email from Microsoft Graph {uuid.uuid4().hex[:8]}"
    page = browser.new_page()
    try:
        page.goto(web_url)
        page.get_by_role("link", name="Sign in with Microsoft").click()

        # the sandbox's sign-in page, as a person sees it
        page.get_by_label("Email, phone, or Skype").fill(ada["userPrincipalName"])
        page.get_by_label("Password").fill(ada["password"])
        page.get_by_role("button", name="Sign in").click()
        if page.get_by_role("heading", name="Permissions requested").is_visible():
            page.get_by_role("button", name="Accept").click()

        page.get_by_role("heading", name="Send mail").wait_for()
        assert (
            page.get_by_label("From").input_value() == f"Ada Lovelace <{ada['userPrincipalName']}>"
        )
        body = page.get_by_label("Body (HTML)").input_value()
        link = re.search(r'href="([^"]+)"', body)
        assert link, "the prefilled body links to the photo in OneDrive"
        page.get_by_label("To").fill(grace["mail"])
        page.get_by_label("Subject").fill(subject)
        page.screenshot(path=str(ARTIFACTS / "mail-form.png"), full_page=True)

        page.get_by_role("button", name="Send message").click()
        page.get_by_role("heading", name="Mail sent").wait_for()
        assert "Graph answered 202" in page.locator("#outcome").inner_text()
        page.screenshot(path=str(ARTIFACTS / "mail-sent.png"), full_page=True)

        # the mail is in Grace's inbox, with Ada's photo attached and the link in its body
        messages = graph_get(
            graph_sandbox, f"/users/{grace['id']}/mailFolders/inbox/messages?$top=50"
        )["value"]
        delivered = [m for m in messages if m["subject"] == subject]
        assert len(delivered) == 1
        message = delivered[0]
        assert message["from"]["emailAddress"]["address"] == ada["mail"]
        assert link.group(1) in message["body"]["content"]
        attachments = graph_get(
            graph_sandbox, f"/users/{grace['id']}/messages/{message['id']}/attachments"
        )["value"]
        with graph_sandbox.client() as http:
            photo = http.get(
                f"{graph_sandbox.graph_url}/users/{ada['id']}/photo/$value",
                headers={"Authorization": f"Bearer {graph_sandbox.app_token()}"},
            ).content
        assert [base64.b64decode(a["contentBytes"]) for a in attachments] == [photo]

        # the sharing link opens the photo (the browser is signed in at the sandbox)
        opened = page.goto(link.group(1).replace("&amp;", "&"))
        assert opened is not None and opened.status == 200
        assert opened.body() == photo
    finally:
        page.close()
