"""A person at the sandbox's sign-in pages, driven over HTTP: sign in, consent (or not), approve devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from graphpost.sandbox.process import RunningSandbox


@dataclass
class Form:
    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The page's first form: its action and hidden fields; and the page's error text, if any."""

    def __init__(self) -> None:
        super().__init__()
        self.form: Form | None = None
        self.title = ""
        self.alert: list[str] = []
        self._in_alert = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = Form(action=values.get("action", ""))
        elif tag == "input" and self.form is not None and values.get("type") == "hidden":
            self.form.fields[values.get("name", "")] = values.get("value", "")
        self._in_alert = values.get("class") == "error" or values.get("role") == "alert"
        self._in_h1 = tag == "h1"

    def handle_data(self, data: str) -> None:
        if self._in_alert:
            self.alert.append(data.strip())
        if self._in_h1:
            self.title += data.strip()

    def handle_endtag(self, tag: str) -> None:
        self._in_alert = self._in_h1 = False


class SignInFailed(AssertionError):
    """The sandbox answered with a page this person did not expect (it carries the page's message)."""


def _read(page: httpx.Response) -> _Forms:
    parsed = _Forms()
    parsed.feed(page.text)
    return parsed


def _submit(http: httpx.Client, page: httpx.Response, form: Form, **values: str) -> httpx.Response:
    return http.post(urljoin(str(page.url), form.action), data={**form.fields, **values})


def _answer(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    return dict(parse_qsl(parts.fragment or parts.query))


def _sign_in_and_consent(
    http: httpx.Client, page: httpx.Response, username: str, password: str, consent: bool
) -> httpx.Response:
    parsed = _read(page)
    if parsed.title == "Sign in":
        assert parsed.form is not None
        page = _submit(http, page, parsed.form, login=username, passwd=password)
        parsed = _read(page)
        if parsed.title == "Sign in":
            raise SignInFailed(" ".join(parsed.alert) or "the sign-in page came back")
    if parsed.title == "Permissions requested":
        assert parsed.form is not None
        page = _submit(http, page, parsed.form, accept="yes" if consent else "no")
    return page


def sign_in(
    sandbox: RunningSandbox,
    authorize_url: str,
    username: str,
    password: str,
    *,
    consent: bool = True,
    http: httpx.Client | None = None,
) -> dict[str, str]:
    """Follow an app's authorize URL as a person would; returns the parameters the sandbox sends
    back to the app's redirect URI (code and state, or error), without calling the app."""
    own = http is None
    http = http or sandbox.client()
    try:
        page = http.get(authorize_url)
        if page.status_code != 302:
            page = _sign_in_and_consent(http, page, username, password, consent)
        if page.status_code != 302:
            parsed = _read(page)
            raise SignInFailed(f"{parsed.title}: {' '.join(parsed.alert)}")
        return _answer(page.headers["Location"])
    finally:
        if own:
            http.close()


def approve_device(
    sandbox: RunningSandbox, user_code: str, username: str, password: str, *, consent: bool = True
) -> str:
    """Type a device code at /devicelogin, sign in and consent; returns the final page's heading."""
    with sandbox.client() as http:
        page = http.get(sandbox.info["portal_url"].rstrip("/") + "/devicelogin")
        parsed = _read(page)
        assert parsed.form is not None
        page = _submit(http, page, parsed.form, otc=user_code)
        page = _sign_in_and_consent(http, page, username, password, consent)
        parsed = _read(page)
        if parsed.title in ("Enter code", "Sign in"):
            raise SignInFailed(" ".join(parsed.alert) or parsed.title)
        return parsed.title
