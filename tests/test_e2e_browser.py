"""The web app in a real browser: Chromium signs in at the sandbox, sends the sample's mail, pages
through the inbox, opens a hostile mail (nothing in it runs), keeps settings across sign-ins, and
sends a large file from the browser.  Screenshots go to artifacts/."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from graphpost.config import Settings
from graphpost.sandbox.process import RunningSandbox
from graphpost.web import create_app
from graphpost.web.serve import WebServer
from tests.support.chromium import ARTIFACTS, chromium
from tests.support.webapp import deliver, find_message, forget_settings, graph, inbox, png

pytestmark = pytest.mark.browser
PAGE_SIZE = 5


@pytest.fixture(scope="module")
def web_url(
    graph_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    settings = Settings.from_sandbox(
        graph_sandbox.data_dir, app="web", home=tmp_path_factory.mktemp("web-home")
    )
    app = create_app(settings)
    app.config["GRAPHPOST_INBOX_PAGE_SIZE"] = PAGE_SIZE
    server = WebServer(app, "127.0.0.1", 0)
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


def sign_in(page: Any, web_url: str, user: dict[str, Any]) -> None:
    """From the home page through the sandbox's sign-in (its password page only when it asks)."""
    page.goto(web_url)
    page.get_by_role("link", name="Sign in with Microsoft").click()
    email = page.get_by_label("Email, phone, or Skype")
    heading = page.get_by_role("heading", name="Send mail")
    email.or_(heading).first.wait_for()
    if email.is_visible():
        email.fill(user["userPrincipalName"])
        page.get_by_label("Password").fill(user["password"])
        page.get_by_role("button", name="Sign in").click()
    if page.get_by_role("heading", name="Permissions requested").is_visible():
        page.get_by_role("button", name="Accept").click()
    heading.wait_for()


def test_inbox_pages_forward_and_back(
    graph_sandbox: RunningSandbox, web_url: str, browser: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    for number in range(2 * PAGE_SIZE + 1):
        deliver(graph_sandbox, "grace", f"browser paging {tag} {number}", sender="katherine")
    newest = [m["subject"] for m in inbox(graph_sandbox, "grace")]
    page = browser.new_page()
    try:
        sign_in(page, web_url, graph_sandbox.user("grace"))
        page.get_by_role("link", name="Inbox").click()
        rows = page.locator("table.messages tbody tr")
        seen: list[list[str]] = []
        for number in (1, 2, 3):
            page.get_by_text(f"Page {number}, newest first").wait_for()
            seen.append(
                [
                    rows.nth(i).locator("td").nth(1).locator("a").inner_text()
                    for i in range(rows.count())
                ]
            )
            if number == 3:
                page.screenshot(path=str(ARTIFACTS / "inbox-page-3.png"), full_page=True)
                break
            page.get_by_role("link", name="Next page").click()
        assert [s for chunk in seen for s in chunk] == newest[: 3 * PAGE_SIZE]
        page.get_by_role("link", name="Previous page").click()
        page.get_by_text("Page 2, newest first").wait_for()
        assert rows.first.locator("td").nth(1).inner_text().startswith(seen[1][0])
    finally:
        page.close()


def open_message(page: Any, web_url: str, user: dict[str, Any], subject: str) -> None:
    """Signed in as `user`, from the inbox to the message with this subject."""
    sign_in(page, web_url, user)
    page.get_by_role("link", name="Inbox").click()
    page.get_by_role("link", name=subject).click()
    page.get_by_role("heading", name=subject).wait_for()


class Beacon:
    """A loopback HTTP server that records every request: what a script in a mail would call."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                if self.path.startswith("/page"):  # a page a link in a mail leads to
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    self.wfile.write(b"<!doctype html><title>Linked page</title><p>linked</p>")
                    return
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hostile_html(beacon: str) -> str:
    return f"""<html><head>
<meta http-equiv="refresh" content="0;url={beacon}/refresh">
<link rel="stylesheet" href="{beacon}/stylesheet">
<style>@import url("{beacon}/import"); p {{ background: url("{beacon}/background"); }}</style>
</head><body>
<p id="greeting">Hello from a hostile mail</p>
<script>new Image().src = "{beacon}/script"; document.getElementById("greeting").textContent = "SCRIPT RAN";</script>
<img src="x" alt="broken" onerror="new Image().src='{beacon}/onerror'; this.alt='ONERROR RAN'">
<img src="{beacon}/tracking-pixel" alt="pixel">
<svg onload="fetch('{beacon}/svg')"><rect width="1" height="1"/></svg>
<iframe src="{beacon}/frame"></iframe>
<object data="{beacon}/object"></object>
<form action="{beacon}/form" method="post"><input name="q" autofocus onfocus="fetch('{beacon}/focus')"></form>
</body></html>"""


def test_a_hostile_mail_runs_nothing_and_loads_nothing(
    graph_sandbox: RunningSandbox, web_url: str, browser: Any
) -> None:
    # the check can fail: the same mail opened without the app's defences calls a beacon (its own,
    # so that a late request of that page, its meta refresh say, cannot count against the app)
    control_beacon = Beacon()
    try:
        control = browser.new_page()
        try:
            control.set_content(hostile_html(control_beacon.url))
            expected = {"/script", "/onerror", "/tracking-pixel"}
            deadline = time.monotonic() + 10
            while not expected <= set(control_beacon.hits) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert expected <= set(control_beacon.hits)
        finally:
            control.close()
    finally:
        control_beacon.close()

    beacon = Beacon()
    try:
        body = hostile_html(beacon.url)
        subject = f"hostile {uuid.uuid4().hex[:6]}"
        deliver(graph_sandbox, "ada", subject, body=body)
        page = browser.new_page()
        try:
            open_message(page, web_url, graph_sandbox.user("ada"), subject)
            page.wait_for_load_state("load")
            frame = page.frame_locator("iframe.mail-body")
            frame.locator("#greeting").wait_for()
            time.sleep(1.0)  # long enough for any script, handler or refresh to have fired
            page.screenshot(path=str(ARTIFACTS / "hostile-mail.png"), full_page=True)
            assert beacon.hits == []
            assert frame.locator("#greeting").inner_text() == "Hello from a hostile mail"
            assert frame.locator("img[alt='broken']").count() == 1  # onerror never ran
            assert page.title() == f"{subject} · graphpost"
        finally:
            page.close()
    finally:
        beacon.close()


def test_inline_images_show_and_links_open_in_a_new_tab(
    graph_sandbox: RunningSandbox, web_url: str, browser: Any
) -> None:
    beacon = Beacon()
    try:
        subject = f"inline {uuid.uuid4().hex[:6]}"
        body = (
            '<p id="text">Our logo: <img id="logo" src="cid:logo@graphpost.test" alt="logo"></p>'
            f'<p><a id="away" href="{beacon.url}/page">the linked page</a></p>'
        )
        deliver(
            graph_sandbox,
            "ada",
            subject,
            body=body,
            inline_images={"logo@graphpost.test": png(24, 16)},
        )
        page = browser.new_page()
        try:
            open_message(page, web_url, graph_sandbox.user("ada"), subject)
            frame = page.frame_locator("iframe.mail-body")
            logo = frame.locator("#logo")
            logo.wait_for()
            page.wait_for_load_state("load")
            # from the outer page, through the frame: the image decoded at its own size
            assert logo.evaluate("image => image.complete && image.naturalWidth") == 24
            assert logo.evaluate("image => image.naturalHeight") == 16
            page.screenshot(path=str(ARTIFACTS / "inline-image.png"), full_page=True)

            with page.expect_popup() as opened:
                frame.locator("#away").click()
            linked = opened.value
            linked.wait_for_load_state()
            assert linked.url == f"{beacon.url}/page"
            assert linked.title() == "Linked page"
            assert linked.evaluate("window.opener") is None  # it cannot reach back to the mail
            linked.close()
            # the mail stays where it was, in its frame
            assert frame.locator("#text").inner_text().startswith("Our logo")
            body_frames = [f for f in page.frames if f.url.endswith("/body")]
            assert len(body_frames) == 1
        finally:
            page.close()
    finally:
        beacon.close()


def test_settings_kept_across_a_sign_out_and_keyboard_use(
    graph_sandbox: RunningSandbox, web_url: str, browser: Any
) -> None:
    katherine = graph_sandbox.user("katherine")
    forget_settings(graph_sandbox, "katherine")  # whatever another test left
    page = browser.new_page()
    try:
        sign_in(page, web_url, katherine)
        # the mail form starts in its first field to fill
        assert page.evaluate("document.activeElement.id") == "recipients"
        # keyboard: on a page without a form, the first Tab reaches the skip link, which takes
        # focus to the content
        page.goto(web_url + "inbox")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"

        page.get_by_role("link", name="Settings").click()
        page.get_by_label("Default recipients").fill("grace@graphpost.test")
        page.get_by_label("Signature").fill("Katherine Johnson\nFlight Research")
        page.get_by_label("Dark").check()
        page.get_by_role("button", name="Save settings").click()
        page.get_by_text("Settings saved.").wait_for()
        page.screenshot(path=str(ARTIFACTS / "settings-saved.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in with Microsoft").wait_for()
        sign_in(page, web_url, katherine)
        assert page.locator("html").get_attribute("data-theme") == "dark"
        assert page.get_by_label("To", exact=True).input_value() == "grace@graphpost.test"
        assert "Flight Research" in page.get_by_label("Body (HTML)").input_value()
        page.get_by_role("link", name="Settings").click()
        assert page.get_by_label("Signature").input_value() == "Katherine Johnson\nFlight Research"
        assert page.get_by_label("Dark").is_checked()
        page.screenshot(path=str(ARTIFACTS / "settings-after-sign-in.png"), full_page=True)
    finally:
        page.close()
        forget_settings(graph_sandbox, "katherine")


def test_a_large_file_from_the_browser_arrives_intact(
    graph_sandbox: RunningSandbox, web_url: str, browser: Any
) -> None:
    content = os.urandom(5 * 1024 * 1024 + 123)  # over 3 MB: an upload session to Outlook
    subject = f"large file {uuid.uuid4().hex[:6]}"
    page = browser.new_page()
    try:
        sign_in(page, web_url, graph_sandbox.user("ada"))
        page.get_by_label("To", exact=True).fill("grace@graphpost.test")
        page.get_by_label("Subject").fill(subject)
        page.get_by_label("More attachments").set_input_files(
            {"name": "measurements.bin", "mimeType": "application/octet-stream", "buffer": content}
        )
        page.get_by_role("button", name="Send message").click()
        page.get_by_role("heading", name="Mail sent").wait_for()
        page.screenshot(path=str(ARTIFACTS / "large-file-sent.png"), full_page=True)
    finally:
        page.close()
    grace = graph_sandbox.user("grace")
    message = find_message(graph_sandbox, "grace", subject)
    listed = graph(
        graph_sandbox, "GET", f"/users/{grace['id']}/messages/{message['id']}/attachments"
    )
    large = next(a for a in listed["value"] if a["name"] == "measurements.bin")
    assert large["size"] == len(content)
    arrived = graph(
        graph_sandbox,
        "GET",
        f"/users/{grace['id']}/messages/{message['id']}/attachments/{large['id']}/$value",
    )
    assert hashlib.sha256(arrived).hexdigest() == hashlib.sha256(content).hexdigest()
