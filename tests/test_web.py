"""The web app through Flask's test client, signing in at a real sandbox: flow, CSRF, error pages."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graphpost.config import Settings
from graphpost.sandbox.process import RunningSandbox, start_sandbox
from graphpost.web import create_app
from graphpost.web.security import safe_next
from tests.support import person
from tests.support.webapp import authorize, csrf_of, inbox, sign_in, textarea


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox of this module's own: these tests move its clock."""
    running = start_sandbox(tmp_path_factory.mktemp("web-sandbox"), "--userrealm-port", "0")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def app(sandbox: RunningSandbox, tmp_path: Path) -> Flask:
    return create_app(Settings.from_sandbox(sandbox.data_dir, app="web", home=tmp_path))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_home_offers_sign_in_and_private_pages_send_you_there(client: FlaskClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and b"Sign in with Microsoft" in home.data
    assert client.get("/mailform").headers["Location"].startswith("/login?next=/mailform")


def test_sign_in_uses_pkce_state_and_nonce_and_keeps_no_token_in_the_browser(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    query = parse_qs(urlsplit(authorize(client)).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://localhost/login/authorized"]
    assert set(query["scope"][0].split()) >= {"User.Read", "Mail.Send", "Files.ReadWrite"}

    answer = sign_in(client, sandbox)
    assert answer.status_code == 302 and answer.headers["Location"] == "/mailform"
    cookies = [c for c in answer.headers.getlist("Set-Cookie")]
    assert cookies and all(len(c.split(";")[0]) < 120 for c in cookies)  # an id, not a token
    assert all("eyJ" not in c for c in cookies)
    page = client.get("/mailform").get_data(as_text=True)
    assert "eyJ" not in page  # no JWT anywhere in the page


def test_the_mail_form_and_sending_the_sample_mail(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox)
    page = client.get("/mailform").get_data(as_text=True)
    assert 'value="Ada Lovelace &lt;ada@graphpost.test&gt;"' in page
    assert 'value="photo.png"' in page and 'src="data:image/png;base64,' in page
    assert 'id="recipients" name="recipients" value="ada@graphpost.test"' in page
    body = textarea(page, "body")
    link = re.search(r'href="([^"]+)"', body)
    assert link and "/:i:/g/personal/" in link.group(1)

    subject = f"web {uuid.uuid4().hex[:8]}"
    sent = client.post(
        "/send_mail",
        data={
            "csrf_token": csrf_of(page),
            "recipients": " grace@graphpost.test ; katherine@graphpost.test, ",
            "subject": subject,
            "body": body,
            # a path in the form must never become the attachment
            "profile_pic": "/etc/passwd",
        },
    )
    assert sent.status_code == 303 and sent.headers["Location"] == "/mailsent"
    result = client.get("/mailsent").get_data(as_text=True)
    assert "Graph answered 202" in result and re.search(r'id="request-id">[0-9a-f-]{36}<', result)
    for name in ("grace", "katherine"):
        arrived = [m for m in inbox(sandbox, name) if m["subject"] == subject]
        assert len(arrived) == 1 and arrived[0]["hasAttachments"]
        assert link.group(1) in arrived[0]["body"]["content"]
    # reloading the result shows it again and sends nothing more
    client.get("/mailsent")
    assert len([m for m in inbox(sandbox, "grace") if m["subject"] == subject]) == 1


def test_a_user_without_photo_gets_the_placeholder(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox, "alan")
    page = client.get("/mailform").get_data(as_text=True)
    assert 'value="no-profile-photo.png"' in page and "No profile photo" in page
    subject = f"placeholder {uuid.uuid4().hex[:8]}"
    client.post(
        "/send_mail",
        data={
            "csrf_token": csrf_of(page),
            "recipients": "grace@graphpost.test",
            "subject": subject,
            "body": "hi",
        },
    )
    user = sandbox.user("grace")
    message = next(m for m in inbox(sandbox, "grace") if m["subject"] == subject)
    with sandbox.client() as http:
        attachments = http.get(
            f"{sandbox.graph_url}/users/{user['id']}/messages/{message['id']}/attachments",
            headers={"Authorization": f"Bearer {sandbox.app_token()}"},
        ).json()["value"]
    placeholder = (
        Path(__file__).parent.parent / "src/graphpost/web/static/no-profile-photo.png"
    ).read_bytes()
    assert [base64.b64decode(a["contentBytes"]) for a in attachments] == [placeholder]


def test_send_without_csrf_token_is_refused_and_sends_nothing(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox)
    client.get("/mailform")
    subject = f"forged {uuid.uuid4().hex[:8]}"
    for token in (None, "not-the-token"):
        data = {"recipients": "grace@graphpost.test", "subject": subject, "body": "x"}
        if token:
            data["csrf_token"] = token
        refused = client.post("/send_mail", data=data)
        assert refused.status_code == 400
        assert b"This form has expired" in refused.data
    assert not [m for m in inbox(sandbox, "grace") if m["subject"] == subject]


def test_bad_recipients_get_a_clear_error_and_keep_the_input(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox)
    page = client.get("/mailform").get_data(as_text=True)
    answer = client.post(
        "/send_mail",
        data={
            "csrf_token": csrf_of(page),
            "recipients": "grace@graphpost.test; <script>alert(1)</script>",
            "subject": "kept subject",
            "body": "<p>kept body</p>",
        },
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400 and 'role="alert"' in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text  # escaped
    assert 'value="kept subject"' in text and textarea(text, "body") == "<p>kept body</p>"


def test_denied_consent_bad_state_and_expired_code_get_clear_pages(
    app: Flask, sandbox: RunningSandbox
) -> None:
    katherine = sandbox.user("katherine")  # has never consented to the web app
    client = app.test_client()
    answer = person.sign_in(
        sandbox,
        authorize(client),
        katherine["userPrincipalName"],
        katherine["password"],
        consent=False,
    )
    assert answer["error"] == "access_denied"
    page = client.get("/login/authorized?" + urlencode(answer))
    assert page.status_code == 403 and b"Access not granted" in page.data

    client = app.test_client()
    authorize(client)
    forged = client.get("/login/authorized?code=abc&state=not-ours")
    assert forged.status_code == 400 and b"Sign-in expired" in forged.data
    assert b"Traceback" not in forged.data

    client = app.test_client()
    ada = sandbox.user("ada")
    answer = person.sign_in(sandbox, authorize(client), ada["userPrincipalName"], ada["password"])
    sandbox.advance_clock(11 * 60)  # codes live ten minutes
    late = client.get("/login/authorized?" + urlencode(answer))
    assert late.status_code == 400 and b"one-time code from Microsoft expired" in late.data


def test_sign_out_is_a_post_that_ends_the_session_and_calls_entra(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox)
    page = client.get("/mailform").get_data(as_text=True)
    assert client.post("/logout").status_code == 400  # no CSRF token: refused
    assert client.get("/logout").status_code == 405
    out = client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 302
    target = urlsplit(out.headers["Location"])
    assert out.headers["Location"].startswith(sandbox.authority + "/oauth2/v2.0/logout")
    assert parse_qs(target.query)["post_logout_redirect_uri"] == ["http://localhost/"]
    assert client.get("/mailform").status_code == 302  # signed out


def test_no_open_redirect_after_sign_in(client: FlaskClient, sandbox: RunningSandbox) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        # browsers drop tabs and line breaks from a URL: these would become //evil.example
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        " //evil.example",
        "/\x00/evil.example",
    ):
        assert safe_next(target, "/mailform") == "/mailform"
    answer = sign_in(client, sandbox, path="/login?next=https://evil.example/steal")
    assert answer.headers["Location"] == "/mailform"
    answer = sign_in(client, sandbox, path="/login?next=/%09/evil.example")
    assert answer.headers["Location"] == "/mailform"
    answer = sign_in(client, sandbox, path="/login?next=/inbox%3Fpage%3D1")
    assert answer.headers["Location"] == "/inbox?page=1"  # a path of this site is kept
    assert safe_next("/mailform?x=1", "/") == "/mailform?x=1"


def test_security_headers_and_cookie_flags(client: FlaskClient, sandbox: RunningSandbox) -> None:
    answer = sign_in(client, sandbox)
    cookie = answer.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/mailform")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    secure = client.get("/", base_url="https://localhost")
    assert "Strict-Transport-Security" in secure.headers


def test_graph_errors_are_shown_escaped_with_code_and_request_id(
    client: FlaskClient, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox)
    client.get("/mailform")  # the first form shows the photo read at sign-in; later ones ask
    sandbox.inject_fault(
        "GET",
        r"/v1\.0/me/photo/\$value$",
        403,
        code="ErrorAccessDenied",
        message="<img src=x onerror=alert(1)>",
    )
    page = client.get("/mailform")
    text = page.get_data(as_text=True)
    assert page.status_code == 502
    assert "ErrorAccessDenied" in text and re.search(r"request-id <code>[0-9a-f-]{36}</code>", text)
    assert "<img src=x" not in text and "&lt;img src=x" in text


def test_a_failed_send_shows_graphs_answer(client: FlaskClient, sandbox: RunningSandbox) -> None:
    sign_in(client, sandbox)
    page = client.get("/mailform").get_data(as_text=True)
    # a refusal (not an ambiguous 5xx, which the library settles before it says anything)
    sandbox.inject_fault(
        "POST",
        "/me/sendMail$",
        403,
        code="ErrorSendAsDenied",
        message="<b>not</b> allowed & refused",
    )
    since = sandbox.request_log_position()
    client.post(
        "/send_mail",
        data={
            "csrf_token": csrf_of(page),
            "recipients": "grace@graphpost.test",
            "subject": "s",
            "body": "b",
        },
    )
    result = client.get("/mailsent").get_data(as_text=True)
    assert "Mail not sent" in result and "Graph answered 403" in result
    assert "ErrorSendAsDenied" in result and 'id="request-id"' in result
    assert "&lt;b&gt;not&lt;/b&gt; allowed &amp; refused" in result  # escaped
    sends = [e for e in sandbox.request_log(since) if e["path"].endswith("/sendMail")]
    assert [e["status"] for e in sends] == [403]  # a refusal is not sent again
