"""The sandbox's portal in Chromium: mailboxes, a hostile mail that runs nothing, downloads, drives,
outbound mail and the request log."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphpost.sandbox.app import create_app
from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.process import RunningSandbox, start_sandbox
from tests.support.chromium import ARTIFACTS, chromium

pytestmark = pytest.mark.browser

# Each trick would leave a trace if it ran: a request the sandbox logs, or a changed title.
HOSTILE = """
<p id="visible">Quarterly numbers attached.</p>
<script>parent.document.title = 'pwned'; fetch('/v1.0/pwned-by-script');</script>
<img src="x" onerror="parent.document.title = 'pwned'; fetch('/v1.0/pwned-by-onerror')">
<img src="/v1.0/pwned-by-image">
<form action="/v1.0/pwned-by-form" method="post"><button id="go">Go</button></form>
<a href="javascript:parent.document.title='pwned'">click</a>
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    running = start_sandbox(tmp_path_factory.mktemp("portal"), "--userrealm-port", "0")
    try:
        yield running
    finally:
        running.stop()


def graph(sandbox: RunningSandbox, method: str, path: str, **kwargs: Any) -> Any:
    with sandbox.client() as http:
        answer = http.request(
            method,
            f"{sandbox.graph_url}/{path}",
            headers={"Authorization": f"Bearer {sandbox.user_token('ada')}"},
            **kwargs,
        )
    answer.raise_for_status()
    return answer


def test_the_portal_shows_everything_and_runs_nothing_from_a_mail(sandbox: RunningSandbox) -> None:
    grace = sandbox.user("grace")
    subject = f"hostile {uuid.uuid4().hex[:6]}"
    report = b"name,amount\nada,42\n"
    graph(
        sandbox,
        "POST",
        "me/sendMail",
        json={
            "message": {
                "subject": subject,
                "body": {"contentType": "HTML", "content": HOSTILE},
                "toRecipients": [
                    {"emailAddress": {"address": grace["mail"]}},
                    {"emailAddress": {"address": "partner@example.com"}},
                ],
                "attachments": [
                    {
                        "@odata.type": "#microsoft.graph.fileAttachment",
                        "name": "report.csv",
                        "contentType": "text/csv",
                        "contentBytes": base64.b64encode(report).decode(),
                    }
                ],
            }
        },
    )
    item = graph(
        sandbox, "PUT", "me/drive/root:/portal/notes.txt:/content", content=b"notes"
    ).json()
    link = graph(
        sandbox,
        "POST",
        f"me/drive/items/{item['id']}/createLink",
        json={"type": "view", "scope": "anonymous"},
    ).json()

    with chromium(sandbox.data_dir / "server-cert.pem") as browser:
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(sandbox.info["portal_url"])
        page.get_by_role("row", name="Grace Hopper").get_by_role("link", name="Mailbox").click()
        page.get_by_role("link", name=subject).click()
        page.get_by_role("heading", name=subject).wait_for()
        frame = page.frame_locator("iframe[title='Message body']")
        assert frame.locator("#visible").inner_text() == "Quarterly numbers attached."
        frame.locator("#go").click()  # a form in a sandboxed frame cannot submit
        page.wait_for_timeout(500)
        assert page.title() != "pwned"
        page.screenshot(path=str(ARTIFACTS / "portal-message.png"), full_page=True)

        with page.expect_download() as download:
            page.get_by_role("link", name="report.csv").click()
        assert download.value.suggested_filename == "report.csv"
        assert Path(download.value.path()).read_bytes() == report

        # the sender's folders: the Sent Items copy is there, the Inbox does not have it
        page.goto(sandbox.info["portal_url"])
        page.get_by_role("row", name="Ada Lovelace").get_by_role("link", name="Mailbox").click()
        folders = page.get_by_role("navigation", name="Folders")
        assert folders.get_by_role("link", name="Inbox").get_attribute("aria-current") == "page"
        assert page.get_by_role("link", name=subject).count() == 0
        folders.get_by_role("link", name="Sent Items").click()
        page.get_by_role("heading", name="Sent Items").wait_for()
        assert page.get_by_role("link", name=subject).count() == 1

        # mail for outside addresses: kept, listed, and opening its Sent Items copy
        page.goto(sandbox.info["portal_url"] + "portal/outbound")
        row = page.get_by_role("row").filter(has_text="partner@example.com")
        assert row.count() == 1 and "ada@graphpost.test" in row.inner_text()
        row.get_by_role("link", name=subject).click()
        page.get_by_role("heading", name=subject).wait_for()

        # drives and their sharing links
        page.goto(sandbox.info["portal_url"])
        page.get_by_role("row", name="Ada Lovelace").get_by_role("link", name="Files").click()
        with page.expect_download() as saved:
            page.get_by_role("link", name="/portal/notes.txt").click()
        assert Path(saved.value.path()).read_bytes() == b"notes"
        shared = page.get_by_role("link", name=link["link"]["webUrl"])
        assert shared.count() == 1
        files_page = page.url
        shared.click()
        assert page.locator("body").inner_text().strip() == "notes"  # the link serves the file
        page.goto(files_page)
        page.get_by_role("link", name="Request log").click()
        assert "/v1.0/me/sendMail" in page.get_by_role("table").inner_text()
        page.screenshot(path=str(ARTIFACTS / "portal-requests.png"), full_page=True)
        context.close()

    # nothing from the mail reached the sandbox
    assert not [e for e in sandbox.request_log() if "pwned" in e["path"]]


def test_off_loopback_the_portal_asks_for_the_admin_key(tmp_path: Path) -> None:
    # in process, so nothing listens beyond 127.0.0.1: the app believes it serves another address
    sb = Sandbox.open(tmp_path / "sandbox")
    sb.base_url = "https://192.0.2.10:8443"
    client = create_app(sb).test_client()
    gate = client.get("/", base_url=sb.base_url)
    assert gate.status_code == 303 and "/portal/login" in gate.headers["Location"]
    assert client.get("/portal/requests", base_url=sb.base_url).status_code == 303
    refused = client.post("/portal/login", data={"key": "nope", "next": "/"}, base_url=sb.base_url)
    assert refused.status_code == 401
    opened = client.post(
        "/portal/login", data={"key": sb.admin_key, "next": "/"}, base_url=sb.base_url
    )
    assert opened.status_code == 303
    assert client.get("/", base_url=sb.base_url).status_code == 200  # the cookie now opens it
