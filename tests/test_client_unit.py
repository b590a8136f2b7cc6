"""The sync client over httpx.MockTransport: headers, URLs, retries, paging; and the lazy `import graphpost`."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

import graphpost
from graphpost.client import USER_AGENT, Graph
from graphpost.config import ConfigError, Settings
from graphpost.core.http import Request
from graphpost.core.mail import FileAttachment
from graphpost.core.retry import RetryPolicy
from graphpost.errors import BadRequest, NotFound, ServerError, Throttled, TransportError
from graphpost.transport import tls_verification as _tls_verification

BASE = "https://graph.example/v1.0"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering from a queue of responses (or exceptions to raise)."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def make_graph(
    recorder: Handler, auth: str | Callable[[], str] = "tok", **options: object
) -> tuple[Graph, list[float]]:
    sleeps: list[float] = []
    options.setdefault("retry", RetryPolicy(random=lambda: 0.0))
    graph = Graph(
        auth,
        graph_url=BASE,
        transport=httpx.MockTransport(recorder),
        sleep=sleeps.append,
        **options,  # type: ignore[arg-type]
    )
    return graph, sleeps


def ok(body: object, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def error(status: int, code: str, message: str = "failed", **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": "rid-1"}}}
    return httpx.Response(status, json=body, headers=headers)


ME = {
    "id": "u1",
    "displayName": "Ada Lovelace",
    "userPrincipalName": "ada@x.com",
    "mail": "ada@x.com",
}


def test_me_sends_token_user_agent_and_ids() -> None:
    recorder = Recorder(ok(ME))
    graph, _ = make_graph(recorder)
    user = graph.me(select=["displayName", "userPrincipalName"])
    assert user.display_name == "Ada Lovelace"
    (sent,) = recorder.requests
    assert str(sent.url) == f"{BASE}/me?$select=displayName,userPrincipalName"
    assert sent.headers["Authorization"] == "Bearer tok"
    assert sent.headers["User-Agent"] == USER_AGENT == f"graphpost/{graphpost.__version__}"
    assert sent.headers["client-request-id"] and sent.headers["return-client-request-id"] == "true"


def test_token_provider_is_called_for_every_request() -> None:
    tokens = iter(["first", "second"])
    recorder = Recorder(ok(ME), ok(ME))
    graph, _ = make_graph(recorder, auth=lambda: next(tokens))
    graph.me()
    graph.me()
    assert [r.headers["Authorization"] for r in recorder.requests] == [
        "Bearer first",
        "Bearer second",
    ]


def test_send_mail_posts_the_json_and_returns_the_receipt() -> None:
    recorder = Recorder(
        httpx.Response(202, headers={"request-id": "srv", "client-request-id": "cli"})
    )
    graph, _ = make_graph(recorder)
    receipt = graph.send_mail(
        "Hello",
        "<p>Hi</p>",
        "ada@x.com; grace@y.com",
        attachments=[FileAttachment("/tmp/me.jpeg", b"\xff\xd8")],
        exactly_once=False,  # one sendMail request
    )
    assert (receipt.request_id, receipt.client_request_id) == ("srv", "cli")
    (sent,) = recorder.requests
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE}/me/sendMail")
    assert sent.headers["Content-Type"] == "application/json"
    body = json.loads(sent.content)
    assert [r["emailAddress"]["address"] for r in body["message"]["toRecipients"]] == [
        "ada@x.com",
        "grace@y.com",
    ]
    assert body["message"]["attachments"][0]["name"] == "me.jpeg"
    assert base64.b64decode(body["message"]["attachments"][0]["contentBytes"]) == b"\xff\xd8"


def test_graph_error_is_raised_with_its_code_and_request_id() -> None:
    graph, _ = make_graph(
        Recorder(error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid."))
    )
    with pytest.raises(BadRequest) as caught:
        graph.send_mail("s", "b", "ada@x.com", exactly_once=False)
    assert (caught.value.code, caught.value.request_id) == ("ErrorInvalidRecipients", "rid-1")


def test_send_mail_throttled_is_sent_again_after_retry_after() -> None:
    recorder = Recorder(
        error(
            429,
            "ApplicationThrottled",
            "over its MailboxConcurrency limit",
            **{"Retry-After": "1.5"},
        ),
        httpx.Response(202),
    )
    graph, sleeps = make_graph(recorder)
    graph.send_mail("s", "b", "ada@x.com", exactly_once=False)
    assert sleeps == [1.5]
    first, second = recorder.requests
    assert (
        first.headers["client-request-id"] == second.headers["client-request-id"]
    )  # the same Request
    assert first.content == second.content


def test_send_mail_is_never_sent_twice_after_a_503() -> None:
    recorder = Recorder(
        error(503, "serviceNotAvailable", **{"Retry-After": "1"}), httpx.Response(202)
    )
    graph, sleeps = make_graph(recorder)
    with pytest.raises(ServerError):
        graph.send_mail("s", "b", "ada@x.com", exactly_once=False)
    assert len(recorder.requests) == 1 and sleeps == []


def test_send_mail_is_never_sent_twice_after_a_lost_connection() -> None:
    recorder = Recorder(httpx.ReadError("connection reset"), httpx.Response(202))
    graph, _ = make_graph(recorder)
    with pytest.raises(TransportError) as caught:
        graph.send_mail("s", "b", "ada@x.com", exactly_once=False)
    assert caught.value.request_sent and len(recorder.requests) == 1
    assert isinstance(caught.value.__cause__, httpx.ReadError)


def test_a_connection_that_never_opened_is_retried_even_for_send_mail() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), httpx.Response(202))
    graph, sleeps = make_graph(recorder)
    graph.send_mail("s", "b", "ada@x.com", exactly_once=False)
    assert len(recorder.requests) == 2 and len(sleeps) == 1


def test_get_is_retried_after_503_and_read_errors() -> None:
    recorder = Recorder(
        error(503, "serviceNotAvailable", **{"Retry-After": "2"}), httpx.ReadError("reset"), ok(ME)
    )
    graph, sleeps = make_graph(recorder)
    assert graph.me().id == "u1"
    assert len(recorder.requests) == 3 and sleeps[0] == 2.0


def test_retries_stop_at_max_attempts_and_report_the_last_answer() -> None:
    throttled = [error(429, "TooManyRequests", **{"Retry-After": "0.1"}) for _ in range(3)]
    graph, sleeps = make_graph(Recorder(*throttled), retry=RetryPolicy(max_attempts=3))
    with pytest.raises(Throttled) as caught:
        graph.me()
    assert sleeps == [0.1, 0.1] and caught.value.retry_after == 0.1


def test_photo_upload_and_link_the_mail_form_way() -> None:
    permission = {
        "id": "p1",
        "link": {"type": "view", "scope": "organization", "webUrl": "https://share/x"},
    }
    recorder = Recorder(
        httpx.Response(200, content=b"\xff\xd8\xff", headers={"Content-Type": "image/pjpeg"}),
        ok({"id": "item-1", "name": "photo.jpeg"}, status=201),
        ok(permission, status=201),
    )
    graph, _ = make_graph(recorder)
    photo = graph.photo()
    assert photo is not None and photo.filename == "photo.jpeg"
    item = graph.upload(photo.filename, photo.content, content_type=photo.content_type)
    link = graph.create_link(item.id, scope="organization")
    assert link.web_url == "https://share/x" and link.created
    urls = [(r.method, str(r.url)) for r in recorder.requests]
    assert urls == [
        ("GET", f"{BASE}/me/photo/$value"),
        ("PUT", f"{BASE}/me/drive/root:/photo.jpeg:/content"),
        ("POST", f"{BASE}/me/drive/items/item-1/createLink"),
    ]
    assert recorder.requests[1].content == b"\xff\xd8\xff"
    assert recorder.requests[1].headers["Content-Type"] == "image/jpeg"


def test_no_photo_is_none() -> None:
    graph, _ = make_graph(Recorder(error(404, "ImageNotFound")))
    assert graph.photo("u2") is None


def test_upload_with_conflict_behavior_in_the_query() -> None:
    recorder = Recorder(ok({"id": "i", "name": "a 1.txt"}, status=201))
    graph, _ = make_graph(recorder)
    graph.upload("docs/a.txt", b"x", conflict_behavior="rename")
    assert (
        str(recorder.requests[0].url)
        == f"{BASE}/me/drive/root:/docs/a.txt:/content?@microsoft.graph.conflictBehavior=rename"
    )


def page(ids: list[str], next_link: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"value": [{"id": i, "subject": f"subject {i}"} for i in ids]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return ok(body)


def test_messages_follow_next_links_up_to_the_limit() -> None:
    second = f"{BASE}/me/mailFolders/inbox/messages?$top=2&$skip=2"
    third = f"{BASE}/me/mailFolders/inbox/messages?$top=2&$skip=4"
    recorder = Recorder(page(["m1", "m2"], second), page(["m3", "m4"], third), page(["m5"]))
    graph, _ = make_graph(recorder)
    assert [m.id for m in graph.messages(top=2, limit=3)] == ["m1", "m2", "m3"]
    assert [str(r.url) for r in recorder.requests] == [
        f"{BASE}/me/mailFolders/inbox/messages?$top=2",
        second,
    ]
    assert all(r.headers["Authorization"] == "Bearer tok" for r in recorder.requests)


def test_messages_without_limit_read_every_page() -> None:
    recorder = Recorder(page(["m1"], f"{BASE}/me/messages?$skip=1"), page(["m2"]))
    graph, _ = make_graph(recorder)
    assert [m.id for m in graph.messages(folder=None)] == ["m1", "m2"]


def test_the_token_never_goes_to_another_host() -> None:
    recorder = Recorder(page(["m1"], "https://evil.example/v1.0/me/messages?$skip=1"))
    graph, _ = make_graph(recorder)
    messages = graph.messages()
    assert next(messages).id == "m1"
    with pytest.raises(ValueError, match="refusing to send the access token"):
        next(messages)
    assert len(recorder.requests) == 1


def test_unauthenticated_requests_carry_no_token() -> None:
    recorder = Recorder(httpx.Response(200))
    graph, _ = make_graph(recorder)
    graph.send(
        Request("PUT", "https://upload.example/session/1", content=b"x", authenticated=False)
    )
    assert "Authorization" not in recorder.requests[0].headers
    assert str(recorder.requests[0].url) == "https://upload.example/session/1"


def test_message_and_attachments() -> None:
    attachment = {"id": "a1", "name": "x.txt", "contentBytes": base64.b64encode(b"hi").decode()}
    recorder = Recorder(ok({"id": "m1", "subject": "s"}), ok({"value": [attachment]}))
    graph, _ = make_graph(recorder)
    assert graph.message("m1").subject == "s"
    assert [a.content for a in graph.attachments("m1")] == [b"hi"]


def test_user_not_found() -> None:
    graph, _ = make_graph(Recorder(error(404, "Request_ResourceNotFound")))
    with pytest.raises(NotFound):
        graph.user("ghost@x.com")


def test_from_settings_and_repr(tmp_path: Path) -> None:
    from graphpost.sandbox.tls import ensure_certificates

    ca, _, _ = ensure_certificates(tmp_path, "127.0.0.1")
    settings = Settings(graph_url="https://127.0.0.1:8443/v1.0", ca_file=str(ca))
    recorder = Recorder(ok(ME))
    graph = Graph.from_settings(
        settings, "secret-token-value", transport=httpx.MockTransport(recorder)
    )
    assert graph.graph_url == "https://127.0.0.1:8443/v1.0"
    graph.me()
    assert str(recorder.requests[0].url) == "https://127.0.0.1:8443/v1.0/me"
    assert "secret-token-value" not in repr(graph)


def test_a_ca_file_is_trusted_besides_the_system_store_without_deprecation_warnings(
    tmp_path: Path,
) -> None:
    from graphpost.sandbox.tls import ensure_certificates

    ca_file, _, _ = ensure_certificates(tmp_path, "127.0.0.1")
    context = _tls_verification(ca_file)
    assert isinstance(context, ssl.SSLContext)
    ours = ssl.create_default_context(cafile=str(ca_file)).get_ca_certs()
    trusted = [c["subject"] for c in context.get_ca_certs()]
    assert all(c["subject"] in trusted for c in ours)
    system = ssl.create_default_context().get_ca_certs()
    assert len(trusted) == len(system) + len(ours)  # GRAPHPOST_CA_FILE adds, it does not replace
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert _tls_verification(True) is True and _tls_verification(False) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Graph("t", verify=str(ca_file)).close()
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        Graph("t", verify=tmp_path / "missing.pem")


def test_context_manager_closes_its_own_client_only() -> None:
    with Graph("t", transport=httpx.MockTransport(Recorder())) as graph:
        pass
    assert graph._http.is_closed
    shared = httpx.Client(transport=httpx.MockTransport(Recorder()))
    with Graph("t", http_client=shared):
        pass
    assert not shared.is_closed
    shared.close()


# -- the package -----------------------------------------------------------------------------


def test_import_graphpost_loads_neither_httpx_nor_msal() -> None:
    code = (
        "import sys, graphpost\n"
        "heavy = [m for m in ('httpx', 'msal', 'requests', 'platformdirs') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(graphpost.__version__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line
    }
    assert "graphpost" in imported
    assert not {"httpx", "msal"} & imported


def test_public_names_resolve_lazily() -> None:
    for name in graphpost.__all__:
        assert getattr(graphpost, name) is not None, name
    assert graphpost.Graph is Graph
    assert set(graphpost.__all__) == {"__version__", *graphpost._EXPORTS}
    with pytest.raises(AttributeError):
        graphpost.NoSuchThing  # noqa: B018


def test_version_matches_the_distribution() -> None:
    assert graphpost.__version__ == version("graphpost")


def test_package_is_typed() -> None:
    assert (Path(graphpost.__file__).parent / "py.typed").exists()


def test_a_429_holds_back_its_mailbox_only() -> None:
    recorder = Recorder(
        error(429, "ApplicationThrottled", **{"Retry-After": "30"}),  # ada's sendMail
        ok(ME),  # grace's profile: another mailbox, sent at once
        httpx.Response(202),  # ada's sendMail again, after the wait
        ok(ME),  # ada's profile: held back by ada's 429 too
    )
    graph, sleeps = make_graph(recorder)
    graph.send_mail("s", "b", "x@y.com", user="ada@x.com", exactly_once=False)
    assert sleeps == [30.0]
    graph.user("grace@x.com")
    assert sleeps == [30.0]  # grace's mailbox is not throttled
    graph.user("ada@x.com")
    assert len(sleeps) == 2 and 29 < sleeps[1] <= 30  # ada's is, still
    assert graph.mailbox_of(mail_request("/me/messages")) == "me"
    assert (
        graph.mailbox_of(mail_request(f"{BASE}/users/A@x.com/messages?$skip=10")) == "users/a@x.com"
    )
    assert graph.mailbox_of(mail_request("/users('$odd@x.com')/sendMail")) == "users('$odd@x.com')"
    assert graph.mailbox_of(mail_request("/$batch")) == ""


def mail_request(url: str) -> Request:
    return Request("GET", url)
