"""The web app's pages beyond the sample, through Flask's test client at a real sandbox: the inbox
and its pages, a message and its attachments, settings in an open extension, mail with cc, bcc
and uploaded files, CSRF on every state-changing route, the health endpoint and the access log."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from graphpost.config import Settings
from graphpost.models import Photo
from graphpost.sandbox.process import RunningSandbox
from graphpost.web import create_app
from graphpost.web.account import EXTENSION_NAME, SignInRead
from graphpost.web.display import human_size
from graphpost.web.mailbody import (
    InlineImage,
    content_id,
    open_links_in_new_tabs,
    show_inline_images,
)
from graphpost.web.mailform import (
    SIGNED_IN_PHOTO_MAX,
    json_object,
    keep_signed_in_photo,
    take_signed_in_photo,
)
from graphpost.web.security import mail_body_policy
from graphpost.web.serve import WebServer
from graphpost.web.store import FileStore
from tests.support.webapp import (
    csrf_of,
    deliver,
    empty_inbox,
    find_message,
    forget_settings,
    graph,
    inbox,
    png,
    sign_in,
    textarea,
)

PAGE_SIZE = 5


@pytest.fixture
def app(graph_sandbox: RunningSandbox, tmp_path: Path) -> Flask:
    app = create_app(Settings.from_sandbox(graph_sandbox.data_dir, app="web", home=tmp_path))
    app.config["GRAPHPOST_INBOX_PAGE_SIZE"] = PAGE_SIZE
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def message_links(page: str) -> list[str]:
    return [unquote(found) for found in re.findall(r'href="/messages/([^"/]+)"', page)]


def pager_link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_inbox_pages_follow_graphs_next_links_and_go_back(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    tag = uuid.uuid4().hex[:6]
    for number in range(11):
        deliver(graph_sandbox, "katherine", f"paging {tag} {number}")
    expected = [m["id"] for m in inbox(graph_sandbox, "katherine")]
    assert len(expected) >= 11

    sign_in(client, graph_sandbox, "katherine")
    pages: list[list[str]] = []
    texts: list[str] = []
    target: str | None = "/inbox"
    while target:
        answer = client.get(target)
        assert answer.status_code == 200
        text = answer.get_data(as_text=True)
        pages.append(message_links(text))
        texts.append(text)
        assert f"Page {len(pages)}" in text
        target = pager_link(text, "next")
    assert len(pages) == math.ceil(len(expected) / PAGE_SIZE) >= 3
    assert [i for page in pages for i in page] == expected  # every message once, in Graph's order
    # the newest page holds the mails just delivered: from Grace, not yet read
    assert f"paging {tag} 10" in texts[0] and "Grace Hopper" in texts[0] and "Unread" in texts[0]

    # back from the last page, one page at a time, to the first
    for index in range(len(pages) - 1, 0, -1):
        previous = pager_link(client.get(f"/inbox?page={index}").get_data(as_text=True), "prev")
        assert previous is not None
        assert message_links(client.get(previous).get_data(as_text=True)) == pages[index - 1]
    first = client.get("/inbox?page=1").get_data(as_text=True)
    assert pager_link(first, "prev") == "/inbox"
    # a page this session never reached, or nonsense, starts again at the first
    assert client.get("/inbox?page=99").headers["Location"] == "/inbox"
    assert client.get("/inbox?page=x").headers["Location"] == "/inbox"


def graph_round_trips(
    sandbox: RunningSandbox, action: Callable[[], Any]
) -> tuple[list[str], list[list[str]]]:
    """What `action` asked of Graph, from the sandbox's request log: its round trips (a $batch
    is one) and, for each batch, the requests run in it (each names its batch), with status."""
    since = sandbox.request_log_position()
    action()
    logged = [e for e in sandbox.request_log(since) if e["path"].startswith("/v1.0/")]
    trips = [e for e in logged if "batch" not in e]
    batches = [
        sorted(
            f"{e['method']} {e['path']} {e['status']}"
            for e in logged
            if e.get("batch") == trip["request_id"]
        )
        for trip in trips
        if trip["path"] == "/v1.0/$batch"
    ]
    return [f"{e['method']} {e['path']}" for e in trips], batches


def form_of(client: FlaskClient) -> Callable[[], str]:
    def open_form() -> str:
        answer = client.get("/mailform")
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    return open_form


PROFILE_READ = "GET /v1.0/me?$select=displayName,userPrincipalName,mail"
SIGN_IN_BATCH = sorted(
    [PROFILE_READ, f"GET /v1.0/me/extensions/{EXTENSION_NAME}", "GET /v1.0/me/photo/$value"]
)


def test_a_new_users_first_mail_form_takes_one_batch_after_a_sign_in_that_read_the_photo(
    app: Flask, client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    """The photo is read in the sign-in's batch (beside the profile and the settings, in
    parallel), so the first form needs only the upload and its link; later ones ask for the
    photo (one request) and upload it only when it changed."""
    # a brand-new user: no state in the app, no photo in OneDrive yet
    grace = graph_sandbox.user("grace")
    with graph_sandbox.client() as http:
        gone = http.delete(
            f"{graph_sandbox.graph_url}/users/{grace['id']}/drive/root:/photo.png:",
            headers={"Authorization": f"Bearer {graph_sandbox.app_token()}"},
        )
    assert gone.status_code in (204, 404)
    trips, batches = graph_round_trips(
        graph_sandbox, lambda: sign_in(client, graph_sandbox, "grace")
    )
    assert trips == ["POST /v1.0/$batch"]
    assert [entry.rsplit(" ", 1)[0] for entry in batches[0]] == SIGN_IN_BATCH
    assert "GET /v1.0/me/photo/$value 200" in batches[0]

    trips, batches = graph_round_trips(graph_sandbox, form_of(client))
    assert trips == ["POST /v1.0/$batch"]  # nothing else: the photo came with the sign-in
    assert batches == [
        [
            "POST /v1.0/me/drive/root:/photo.png:/createLink 201",
            "PUT /v1.0/me/drive/root:/photo.png:/content 201",
        ]
    ]
    trips, _ = graph_round_trips(graph_sandbox, form_of(client))
    assert trips == ["GET /v1.0/me/photo/$value"]  # the profile is the session's, the link kept
    page = form_of(client)()
    link = re.search(r'href="([^"]+)"', textarea(page, "body"))
    assert link and "/:i:/g/personal/" in link.group(1)
    assert 'value="photo.png"' in page and 'src="data:image/png;base64,' in page

    # another photo: the file is replaced, and its sharing link stays the same
    store = app.extensions["graphpost"]["store"]
    with client.session_transaction() as session:
        key = f"web:photo:{session['user']['home_account_id']}"
    state = json.loads(store.get(key))
    assert state["item_id"] and state["name"] == "photo.png"
    store.set(key, json.dumps({**state, "sha256": "an earlier photo"}))
    trips, batches = graph_round_trips(graph_sandbox, form_of(client))
    assert trips == ["GET /v1.0/me/photo/$value", "PUT /v1.0/me/drive/root:/photo.png:/content"]
    assert json.loads(store.get(key))["link"] == state["link"] and batches == []

    # signing in again on another device: the first form asks Graph nothing at all
    other = app.test_client()
    trips, _ = graph_round_trips(graph_sandbox, lambda: sign_in(other, graph_sandbox, "grace"))
    assert trips == ["POST /v1.0/$batch"]
    trips, _ = graph_round_trips(graph_sandbox, form_of(other))
    assert trips == []
    assert f'href="{state["link"]}"' in textarea(form_of(other)(), "body").replace("&amp;", "&")


def test_a_user_without_a_photo_gets_the_placeholder_from_the_sign_in_and_sign_out_forgets_it(
    app: Flask, client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    store = app.extensions["graphpost"]["store"]
    trips, batches = graph_round_trips(
        graph_sandbox, lambda: sign_in(client, graph_sandbox, "alan")
    )
    assert trips == ["POST /v1.0/$batch"] and "GET /v1.0/me/photo/$value 404" in batches[0]
    with client.session_transaction() as session:
        key = f"web:signed-in-photo:{session['user']['home_account_id']}"
    assert json.loads(store.get(key)) == {"none": True}
    # signing out forgets what the sign-in read
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/settings").get_data(True))})
    assert store.get(key) is None

    sign_in(client, graph_sandbox, "alan")
    page: list[str] = []
    trips, batches = graph_round_trips(graph_sandbox, lambda: page.append(form_of(client)()))
    assert trips == ["POST /v1.0/$batch"]  # the placeholder shared, and no photo asked for
    assert [entry.rsplit(" ", 1)[0] for entry in batches[0]] == [
        "POST /v1.0/me/drive/root:/no-profile-photo.png:/createLink",
        "PUT /v1.0/me/drive/root:/no-profile-photo.png:/content",
    ]
    assert 'value="no-profile-photo.png"' in page[0] and "No profile photo" in page[0]
    assert store.get(key) is None  # taken once: the next form asks Graph
    trips, _ = graph_round_trips(graph_sandbox, form_of(client))
    assert trips == ["GET /v1.0/me/photo/$value"]


def test_a_photo_the_sign_in_could_not_read_is_asked_for_by_the_form_and_an_older_one_forgotten(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    sign_in(client, graph_sandbox, "ada")  # keeps the photo it read
    graph_sandbox.inject_fault("GET", r"/v1\.0/me/photo/\$value$", 503)
    trips, batches = graph_round_trips(graph_sandbox, lambda: sign_in(client, graph_sandbox, "ada"))
    assert trips == ["POST /v1.0/$batch"] and "GET /v1.0/me/photo/$value 503" in batches[0]
    assert f"{PROFILE_READ} 200" in batches[0]  # the rest of the batch still counts
    page: list[str] = []
    trips, _ = graph_round_trips(graph_sandbox, lambda: page.append(form_of(client)()))
    assert trips[0] == "GET /v1.0/me/photo/$value"
    assert 'value="photo.png"' in page[0]


def test_only_a_photo_of_a_bounded_size_is_kept_from_the_sign_in(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    small = Photo(b"\x89PNG small", "image/png", "photo.png")
    keep_signed_in_photo(store, "home", SignInRead(photo=small, photo_read=True))
    taken = take_signed_in_photo(store, "home")
    assert taken is not None and taken.content == small.content and not taken.is_placeholder
    assert take_signed_in_photo(store, "home") is None  # once

    large = Photo(b"\0" * (SIGNED_IN_PHOTO_MAX + 1), "image/jpeg", "photo.jpeg")
    keep_signed_in_photo(store, "home", SignInRead(photo=small, photo_read=True))
    keep_signed_in_photo(store, "home", SignInRead(photo=large, photo_read=True))
    assert take_signed_in_photo(store, "home") is None  # not kept, and the older one forgotten


def test_a_failed_upload_in_the_batch_leaves_the_link_out_and_is_tried_again(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    sign_in(client, graph_sandbox, "ada")
    graph_sandbox.inject_fault("PUT", r"/v1\.0/me/drive/root:/photo\.png:/content$", 503)
    page = client.get("/mailform").get_data(as_text=True)
    assert "The photo could not be shared from OneDrive" in page
    assert "href=" not in textarea(page, "body")
    # nothing was kept of the failure: the next form uploads and shares the photo
    page = client.get("/mailform").get_data(as_text=True)
    assert "could not be shared" not in page and "/:i:/g/personal/" in textarea(page, "body")


def test_a_batch_answer_base64_encoded_under_a_json_content_type_is_read() -> None:
    """Graph's way with the answer to a request whose body went in base64 (the upload)."""
    item = {"id": "01ABC", "name": "photo.png"}
    encoded = base64.b64encode(json.dumps(item).encode()).decode()
    assert json_object(encoded) == item == json_object(item)
    assert json_object("not base64 at all!") == {} == json_object(None)


def test_an_empty_inbox_and_one_graph_cannot_read(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    empty_inbox(graph_sandbox, "alan")
    sign_in(client, graph_sandbox, "alan")
    text = client.get("/inbox").get_data(as_text=True)
    assert "Your inbox is empty." in text and 'rel="next"' not in text

    # a person is waiting: one retry, then the page says what Graph said
    graph_sandbox.inject_fault(
        "GET", r"/me/mailFolders/inbox/messages$", 503, times=2, message="<i>down</i>"
    )
    failed = client.get("/inbox")
    text = failed.get_data(as_text=True)
    assert failed.status_code == 502 and 'role="alert"' in text
    assert "&lt;i&gt;down&lt;/i&gt;" in text and "<i>down</i>" not in text
    assert re.search(r"request-id <code>[0-9a-f-]{36}</code>", text)
    assert 'href="/inbox">Try again' in text


def test_a_message_its_attachments_and_marking_it_read(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    subject = f"view {uuid.uuid4().hex[:6]}"
    data = os.urandom(200_000)
    deliver(
        graph_sandbox,
        "alan",
        subject,
        body="<p>The <b>body</b> of it</p>",
        files=[("data.bin", data), ("résumé.txt", "naïve\n".encode())],
    )
    message = find_message(graph_sandbox, "alan", subject)
    alan = graph_sandbox.user("alan")
    sign_in(client, graph_sandbox, "alan")
    # the inbox shows Outlook's size of it (PidTagMessageSize): the body and the files
    expanded = graph(
        graph_sandbox,
        "GET",
        f"/users/{alan['id']}/messages/{message['id']}"
        "?$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')",
    )
    size = int(expanded["singleValueExtendedProperties"][0]["value"])
    assert size >= len(data) + len("naïve\n".encode()) + len("<p>The <b>body</b> of it</p>")
    row = re.search(rf">{subject}</a>.*?</tr>", client.get("/inbox").get_data(as_text=True), re.S)
    assert row and f"<td>{human_size(size)}</td>" in row.group(0)
    since = graph_sandbox.request_log_position()
    page = client.get(f"/messages/{message['id']}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and f"<h1>{subject}</h1>" in text
    assert "Grace Hopper &lt;grace@graphpost.test&gt;" in text
    assert "data.bin</a> (195.3 KB)" in text and "résumé.txt</a>" in text
    # headers and attachment list in one round trip
    assert [e["path"] for e in graph_sandbox.request_log(since) if "$batch" in e["path"]] == [
        "/v1.0/$batch"
    ]

    frame = re.search(
        r'<iframe class="mail-body"[^>]*'
        r'sandbox="allow-popups allow-popups-to-escape-sandbox"[^>]*src="([^"]+)"',
        text,
        re.S,
    )
    assert frame, "the body is shown in a sandboxed frame, whose links may open new tabs"
    body = client.get(frame.group(1).replace("&amp;", "&"))
    assert body.headers["Content-Security-Policy"] == mail_body_policy("http://localhost/inline/")
    assert body.headers["X-Frame-Options"] == "SAMEORIGIN"
    served = body.get_data(as_text=True)
    # links open in a new tab: our <base> comes first, before Exchange's <html> around the body
    assert served.startswith('<base target="_blank"><html>')
    assert "<p>The <b>body</b> of it</p>" in served

    links = dict(
        (name, href.replace("&amp;", "&"))
        for href, name in re.findall(
            r'<a href="([^"]+/attachments/[^"]+)" download>([^<]+)</a>', text
        )
    )
    downloaded = client.get(links["data.bin"])
    assert downloaded.status_code == 200 and downloaded.data == data
    assert downloaded.headers["Content-Disposition"].startswith('attachment; filename="data.bin"')
    accented = client.get(links["résumé.txt"])
    assert accented.data == "naïve\n".encode()
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.txt" in accented.headers["Content-Disposition"]
    assert accented.headers["Content-Security-Policy"].startswith("sandbox")

    def is_read() -> bool:
        found = graph(graph_sandbox, "GET", f"/users/{alan['id']}/messages/{message['id']}")
        return bool(found["isRead"])

    assert not is_read() and "Mark as read" in text
    marked = client.post(
        f"/messages/{message['id']}/read", data={"csrf_token": csrf_of(text), "read": "true"}
    )
    assert marked.status_code == 303 and is_read()
    again = client.get(marked.headers["Location"]).get_data(as_text=True)
    assert "Mark as unread" in again and '<dd id="read-state">Read</dd>' in again
    client.post(f"/messages/{message['id']}/read", data={"csrf_token": csrf_of(again)})
    assert not is_read()

    gone = client.get("/messages/AAMkNoSuchMessage")
    assert gone.status_code == 404 and "not in your mailbox" in gone.get_data(as_text=True)


def extension_of(sandbox: RunningSandbox, name: str) -> dict[str, Any] | None:
    user = sandbox.user(name)
    with sandbox.client() as http:
        answer = http.get(
            f"{sandbox.graph_url}/users/{user['id']}/extensions/{EXTENSION_NAME}",
            headers={"Authorization": f"Bearer {sandbox.app_token()}"},
        )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def test_inline_images_come_from_the_app_at_addresses_signed_for_them(
    app: Flask, client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    logo, chart = png(4, 3), png(9, 5)
    subject = f"inline {uuid.uuid4().hex[:6]}"
    body = (
        '<p><img src="cid:logo@graphpost.test" alt="logo"> '
        "<img src='CID:chart%40graphpost.test' alt=\"chart\">"
        ' <img src="cid:nowhere@graphpost.test" alt="missing">'
        ' <a href="cid:logo@graphpost.test">not an image source</a></p>'
    )
    deliver(
        graph_sandbox,
        "alan",
        subject,
        body=body,
        inline_images={"logo@graphpost.test": logo, "chart@graphpost.test": chart},
    )
    message = find_message(graph_sandbox, "alan", subject)
    sign_in(client, graph_sandbox, "alan")
    since = graph_sandbox.request_log_position()
    served = client.get(f"/messages/{message['id']}/body").get_data(as_text=True)
    trips = [e["path"] for e in graph_sandbox.request_log(since) if "batch" not in e]
    assert trips == ["/v1.0/$batch"]  # the body and its attachments in one round trip
    sources = re.findall(r'<img src="([^"]*)" alt="(\w+)">', served)
    addresses = {alt: source.replace("&amp;", "&") for source, alt in sources}
    assert set(addresses) == {"logo", "chart", "missing"}
    assert addresses["missing"] == "cid:nowhere@graphpost.test"  # no such attachment: as it was
    assert '<a href="cid:logo@graphpost.test">' in served
    # the frame's requests carry no session cookie: the address alone shows the image
    stranger = app.test_client()
    for name, content in (("logo", logo), ("chart", chart)):
        assert addresses[name].startswith("/inline/")
        image = stranger.get(addresses[name])
        assert image.status_code == 200 and image.data == content, name
        assert image.mimetype == "image/png" and "graphpost_session" not in image.headers.get(
            "Set-Cookie", ""
        )
    token = addresses["logo"].removeprefix("/inline/")
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert stranger.get(f"/inline/{forged}").status_code == 404
    other_key = InlineImage.verified("another instance's key", token)
    assert other_key is None
    # signed out: the account's tokens are gone, and its images with them
    page = client.get("/mailform").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert stranger.get(addresses["logo"]).status_code == 404


def test_a_mails_html_keeps_its_start_and_gets_links_to_new_tabs() -> None:
    assert open_links_in_new_tabs("<p>hi</p>") == '<base target="_blank"><p>hi</p>'
    doctype = '\ufeff<!-- generated --> <!DOCTYPE html><html><head><base target="_self">'
    assert open_links_in_new_tabs(doctype) == (
        '\ufeff<!-- generated --> <!DOCTYPE html><base target="_blank">'
        '<html><head><base target="_self">'
    )
    assert content_id("&lt;a%40b&gt;") == "a@b"
    shown = show_inline_images(
        '<img src=cid:a@b><td background="cid:b@c"><img\nsrc = " cid:a@b ">',
        {"a@b": "/inline/1?x=<&>", "b@c": "/inline/2"}.get,
    )
    assert shown == (
        '<img src="/inline/1?x=&lt;&amp;&gt;"><td background="/inline/2">'
        '<img\nsrc = "/inline/1?x=&lt;&amp;&gt;">'
    )
    assert mail_body_policy("http://evil; script-src *") == mail_body_policy()


def test_settings_are_kept_in_an_open_extension_and_read_back_at_sign_in(
    app: Flask, graph_sandbox: RunningSandbox
) -> None:
    forget_settings(graph_sandbox, "katherine")  # whatever another test left
    try:
        client = app.test_client()
        sign_in(client, graph_sandbox, "katherine")
        page = client.get("/settings").get_data(as_text=True)
        assert 'id="default_recipients"' in page and 'value="system" checked' in page

        refused = client.post(
            "/settings",
            data={"csrf_token": csrf_of(page), "default_recipients": "not an address"},
        )
        assert refused.status_code == 400 and 'aria-invalid="true"' in refused.get_data(True)
        assert extension_of(graph_sandbox, "katherine") is None  # nothing saved

        saved = client.post(
            "/settings",
            data={
                "csrf_token": csrf_of(page),
                "default_recipients": "grace@graphpost.test , ada@graphpost.test",
                "signature": "Katherine\r\n<Langley> & NASA",
                "theme": "dark",
            },
        )
        assert saved.status_code == 303
        assert "Settings saved." in client.get(saved.headers["Location"]).get_data(True)
        kept = extension_of(graph_sandbox, "katherine")
        assert kept is not None and kept["theme"] == "dark"
        assert kept["defaultRecipients"] == "grace@graphpost.test; ada@graphpost.test"
        assert kept["signature"] == "Katherine\n<Langley> & NASA"

        # another session (another instance, another device) reads them back at sign-in
        other = app.test_client()
        since = graph_sandbox.request_log_position()
        sign_in(other, graph_sandbox, "katherine")
        batches = [e for e in graph_sandbox.request_log(since) if e["path"] == "/v1.0/$batch"]
        assert len(batches) == 1  # the profile and the settings in one round trip
        form = other.get("/mailform").get_data(as_text=True)
        assert 'data-theme="dark"' in form
        assert 'name="recipients" value="grace@graphpost.test; ada@graphpost.test"' in form
        body = textarea(form, "body")
        assert "Katherine<br>&lt;Langley&gt; &amp; NASA" in body  # escaped in the HTML body
        settings_page = other.get("/settings").get_data(as_text=True)
        assert 'value="dark" checked' in settings_page
        assert "Katherine\n&lt;Langley&gt; &amp; NASA</textarea>" in settings_page
    finally:
        forget_settings(graph_sandbox, "katherine")


def test_sign_in_goes_on_when_the_profile_and_settings_cannot_be_read(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    since = max((e["seq"] for e in graph_sandbox.request_log()), default=0)
    graph_sandbox.inject_fault("POST", r"/v1\.0/\$batch$", 503, times=2)
    assert sign_in(client, graph_sandbox, "ada").headers["Location"] == "/mailform"
    signed_in = [e["path"] for e in graph_sandbox.request_log(since)]
    assert signed_in.count("/v1.0/$batch") == 2  # refused, and refused again when retried
    # the name from the ID token; the settings read when first needed
    page = client.get("/mailform").get_data(as_text=True)
    assert 'value="Ada Lovelace &lt;ada@graphpost.test&gt;"' in page
    paths = [e["path"] for e in graph_sandbox.request_log(since)]
    assert f"/v1.0/me/extensions/{EXTENSION_NAME}" in paths


def upload_files() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("graphpost-upload-*")}


def test_mail_with_cc_bcc_and_uploaded_files_arrives_intact(
    client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    sign_in(client, graph_sandbox, "ada")
    page = client.get("/mailform").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    large = os.urandom(3_500_000)  # 3 MB and more: through an upload session
    small = b"a small file\n"
    subject = f"files {uuid.uuid4().hex[:6]}"
    before = upload_files()
    sent = client.post(
        "/send_mail",
        data={
            "csrf_token": csrf_of(page),
            "recipients": "grace@graphpost.test",
            "cc": "katherine@graphpost.test",
            "bcc": "alan@graphpost.test",
            "subject": subject,
            "body": textarea(page, "body"),
            "attachments": [(io.BytesIO(large), "large.bin"), (io.BytesIO(small), "small.txt")],
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 303
    assert upload_files() == before  # the temporary files are gone with the request
    result = client.get("/mailsent").get_data(as_text=True)
    assert "Graph answered 202" in result and "large.bin (3.3 MB)" in result

    grace = graph_sandbox.user("grace")
    message = find_message(graph_sandbox, "grace", subject)
    assert [r["emailAddress"]["address"] for r in message["ccRecipients"]] == [
        "katherine@graphpost.test"
    ]
    assert not message.get("bccRecipients")  # bcc is not shown to the others
    listed = graph(
        graph_sandbox, "GET", f"/users/{grace['id']}/messages/{message['id']}/attachments"
    )
    contents = {
        a["name"]: graph(
            graph_sandbox,
            "GET",
            f"/users/{grace['id']}/messages/{message['id']}/attachments/{a['id']}/$value",
        )
        for a in listed["value"]
    }
    assert set(contents) == {"photo.png", "large.bin", "small.txt"}
    assert hashlib.sha256(contents["large.bin"]).digest() == hashlib.sha256(large).digest()
    assert contents["small.txt"] == small
    find_message(graph_sandbox, "katherine", subject)
    find_message(graph_sandbox, "alan", subject)


def test_attachments_over_the_limit_get_a_clear_page_and_nothing_is_sent(
    app: Flask, graph_sandbox: RunningSandbox
) -> None:
    client = app.test_client()
    sign_in(client, graph_sandbox, "ada")
    page = client.get("/mailform").get_data(as_text=True)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    subject = f"too big {uuid.uuid4().hex[:6]}"
    answer = client.post(
        "/send_mail",
        data={
            "csrf_token": csrf_of(page),
            "recipients": "grace@graphpost.test",
            "subject": subject,
            "attachments": [(io.BytesIO(os.urandom(2 * 1024 * 1024)), "big.bin")],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
    assert "The attachments are too large" in answer.get_data(as_text=True)
    assert not [m for m in inbox(graph_sandbox, "grace") if m["subject"] == subject]


def test_every_state_changing_route_refuses_a_missing_or_wrong_csrf_token(
    app: Flask, client: FlaskClient, graph_sandbox: RunningSandbox
) -> None:
    sign_in(client, graph_sandbox, "ada")
    client.get("/settings")  # the session has a token now
    routes = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.methods and rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    )
    assert routes == ["/logout", "/messages/<message_id>/read", "/send_mail", "/settings"]
    for route in routes:
        url = route.replace("<message_id>", "AAMkSomething")
        for data in ({}, {"csrf_token": "forged"}):
            refused = client.post(url, data={**data, "read": "true", "theme": "dark"})
            assert refused.status_code == 400, route
            assert "This form has expired" in refused.get_data(as_text=True)
    assert client.get("/mailform").status_code == 200  # still signed in: sign-out was refused


def test_secure_cookies_over_https_only(client: FlaskClient) -> None:
    plain = client.get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    secure = client.get("/login", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in secure


def test_https_behind_a_trusted_proxy_only(graph_sandbox: RunningSandbox, tmp_path: Path) -> None:
    settings = Settings.from_sandbox(graph_sandbox.data_dir, app="web", home=tmp_path)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "mail.example.org"}
    behind = create_app(settings, trusted_proxies=1).test_client().get("/login", headers=forwarded)
    assert "redirect_uri=https%3A%2F%2Fmail.example.org%2Flogin%2Fauthorized" in behind.location
    assert "Secure" in behind.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in behind.headers
    # without trusted proxies, anyone could claim https or another host
    direct = create_app(settings).test_client().get("/login", headers=forwarded)
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Flogin%2Fauthorized" in direct.location
    assert "Secure" not in direct.headers["Set-Cookie"]


def test_health_and_an_access_log_without_secrets(
    app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = WebServer(app, "127.0.0.1", 0, threads=2)
    url = server.start()
    with caplog.at_level(logging.INFO, logger="graphpost.web.access"):
        try:
            with httpx.Client() as http:
                health = http.get(url + "healthz")
                http.get(url + "login/authorized?code=SECRET-CODE&state=SECRET-STATE")
        finally:
            server.stop()  # a line is written once its answer is sent: stopping waits for it
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    lines = [r.getMessage() for r in caplog.records if r.name == "graphpost.web.access"]
    assert any(re.fullmatch(r"127\.0\.0\.1 GET /healthz 200 \d+ \d+ms", line) for line in lines)
    assert any(" GET /login/authorized?… 400 " in line for line in lines)
    assert not any("SECRET" in line for line in lines)

    broken = FileStore(tmp_path / "store")
    unhealthy = create_app(app.extensions["graphpost"]["settings"], store=broken)
    (tmp_path / "store").rename(tmp_path / "gone")
    answer = unhealthy.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.json == {"status": "store unreachable"}
