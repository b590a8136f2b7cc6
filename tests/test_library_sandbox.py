"""The library against a running sandbox: MSAL sign-in, the sample's calls, errors, TLS trust."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from graphpost.auth import AppTokenProvider, app_token, build_public_app
from graphpost.client import Graph
from graphpost.config import Settings
from graphpost.core import mail as mail_operations
from graphpost.core.mail import FileAttachment
from graphpost.errors import Forbidden, GraphError, NotFound
from graphpost.sandbox.process import RunningSandbox


@pytest.fixture
def ada(graph_sandbox: RunningSandbox) -> Iterator[Graph]:
    with Graph(
        graph_sandbox.user_token("ada"),
        graph_url=graph_sandbox.graph_url,
        verify=graph_sandbox.ca_file,
    ) as graph:
        yield graph


@pytest.fixture
def daemon(graph_sandbox: RunningSandbox) -> Iterator[Graph]:
    settings = Settings.from_sandbox(graph_sandbox.data_dir, app="daemon")
    with Graph.from_settings(settings, AppTokenProvider(settings)) as graph:
        yield graph


def test_msal_trusts_the_sandbox_ca_even_when_requests_ca_bundle_points_elsewhere(
    graph_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests would let these override MSAL's verify=; the library's session must not
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    settings = Settings.from_sandbox(graph_sandbox.data_dir, app="daemon")
    token = app_token(settings)
    assert token.count(".") == 2
    public = build_public_app(Settings.from_sandbox(graph_sandbox.data_dir, app="public"))
    assert public.get_accounts() == []  # discovery over TLS succeeded when the app was built


def test_the_sample_calls_as_the_signed_in_user(
    graph_sandbox: RunningSandbox, ada: Graph, daemon: Graph
) -> None:
    me = ada.me()
    assert (me.display_name, me.user_principal_name) == ("Ada Lovelace", "ada@graphpost.test")
    photo = ada.photo()
    assert photo is not None and photo.content_type == "image/png"
    assert photo.content.startswith(b"\x89PNG") and photo.filename.endswith(".png")

    name = f"photo-{uuid.uuid4().hex[:8]}.png"
    item = ada.upload(name, photo.content, content_type=photo.content_type)
    assert (item.name, item.size) == (name, len(photo.content))
    link = ada.create_link(item.id, type="view", scope="anonymous")
    assert link.created and link.type == "view" and link.scope == "anonymous"
    assert ada.create_link(item.id, type="view", scope="anonymous").created is False
    with graph_sandbox.client() as http:
        assert http.get(str(link.web_url)).content == photo.content

    grace = graph_sandbox.user("grace")
    subject = f"library {uuid.uuid4().hex[:8]}"
    receipt = ada.send_mail(
        subject=subject,
        body=f'<p>Here is <a href="{link.web_url}">my photo</a>.</p>',
        to=[grace["mail"]],
        attachments=[FileAttachment(photo.filename, photo.content, photo.content_type)],
    )
    assert len(receipt.request_id) == 36
    received = [m for m in daemon.messages(user=grace["id"], top=5) if m.subject == subject]
    assert len(received) == 1 and received[0].has_attachments
    attachments = daemon.attachments(received[0].id, user=grace["id"])
    assert [(a.name, a.content) for a in attachments] == [(photo.filename, photo.content)]
    sent = [m for m in ada.messages("sentitems", top=5) if m.subject == subject]
    assert len(sent) == 1


def test_no_photo_is_none_not_an_error(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("alan")
    with Graph(token, graph_url=graph_sandbox.graph_url, verify=graph_sandbox.ca_file) as alan:
        assert alan.photo() is None


def test_paging_follows_next_links_to_the_end(graph_sandbox: RunningSandbox, ada: Graph) -> None:
    katherine = graph_sandbox.user("katherine")
    tag = uuid.uuid4().hex[:8]
    for number in range(7):
        ada.send_mail(subject=f"page {tag} {number}", body="x", to=[katherine["mail"]], html=False)
    settings = Settings.from_sandbox(graph_sandbox.data_dir, app="daemon")
    with Graph.from_settings(settings, AppTokenProvider(settings)) as daemon:
        subjects = [m.subject for m in daemon.messages(user=katherine["id"], top=3)]
    mine = [s for s in subjects if tag in s]
    assert mine == [f"page {tag} {n}" for n in reversed(range(7))]


def test_graph_errors_carry_code_and_request_id(graph_sandbox: RunningSandbox, ada: Graph) -> None:
    with pytest.raises(NotFound) as missing:
        ada.user("nobody@graphpost.test")
    assert missing.value.code == "Request_ResourceNotFound"
    assert missing.value.request_id and missing.value.request_id in str(missing.value)
    assert "\n" not in str(missing.value)

    # a delegated token may not send as someone else (no shared-mailbox rights)
    grace = graph_sandbox.user("grace")
    with pytest.raises(Forbidden) as refused:
        ada.send_mail(subject="s", body="b", to=[grace["mail"]], user=grace["id"])
    assert refused.value.code == "ErrorAccessDenied"
    with pytest.raises(GraphError) as bad:
        ada.run(
            mail_operations.send_mail(
                {"toRecipients": [{"emailAddress": {"address": "BAD_ADDRESS"}}]}
            )
        )
    assert (bad.value.status, bad.value.code) == (400, "ErrorInvalidRecipients")
