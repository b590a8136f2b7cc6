"""The library's whole surface against the sandbox, each test run with `Graph` and with `AsyncGraph`,
with faults injected where failures matter."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphpost import AsyncGraph, Graph
from graphpost.auth import AppTokenProvider, build_confidential_app
from graphpost.config import Settings
from graphpost.core.batch import BatchRequest
from graphpost.core.mail import FileAttachment, OutgoingMail, build_message, with_client_key
from graphpost.errors import Forbidden
from graphpost.sandbox.process import RunningSandbox, start_sandbox
from graphpost.tokencache import RedisTokenCache
from tests.support.redis_server import redis_server

MIB = 1024 * 1024


class Client:
    """One test body for both clients: AsyncGraph's calls run on one event loop of their own."""

    def __init__(self, kind: str, make: Callable[[type[Any]], Any]) -> None:
        self.kind = kind
        self.runner = asyncio.Runner() if kind == "async" else None
        self.graph = make(AsyncGraph if kind == "async" else Graph)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.graph, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if self.runner is None:
                return list(result) if isinstance(result, Iterator) else result
            if inspect.isasyncgen(result):
                return self.runner.run(_collect(result))
            return self.runner.run(result) if inspect.isawaitable(result) else result

        return call

    def close(self) -> None:
        if self.runner is None:
            self.graph.close()
        else:
            self.runner.run(self.graph.aclose())
            self.runner.close()


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client_for(sandbox: RunningSandbox, kind: str, token: Any, tmp: Path, **options: Any) -> Client:
    return Client(
        kind,
        lambda cls: cls(
            token,
            graph_url=sandbox.graph_url,
            verify=sandbox.ca_file,
            state_dir=tmp / "state",
            **options,
        ),
    )


@pytest.fixture
def ada(graph_sandbox: RunningSandbox, kind: str, tmp_path: Path) -> Iterator[Client]:
    client = client_for(graph_sandbox, kind, graph_sandbox.user_token("ada"), tmp_path)
    yield client
    client.close()


@pytest.fixture
def app(graph_sandbox: RunningSandbox, tmp_path: Path) -> Iterator[Graph]:
    with Graph(
        graph_sandbox.app_token(),
        graph_url=graph_sandbox.graph_url,
        verify=graph_sandbox.ca_file,
        state_dir=tmp_path,
    ) as graph:
        yield graph


def arrived(app: Graph, user: dict[str, Any], subject: str) -> list[Any]:
    return [m for m in app.messages(user=user["id"], top=100, limit=400) if m.subject == subject]


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# mail


def test_a_big_attachment_goes_through_a_draft_and_an_upload_session(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph, tmp_path: Path
) -> None:
    big = tmp_path / "report.bin"
    big.write_bytes(os.urandom(6 * MIB + 17))
    small = FileAttachment("note.txt", b"see the report")
    subject = unique("big")
    steps: list[int] = []
    receipt = ada.send_mail(
        subject,
        "<p>attached</p>",
        graph_sandbox.user("grace")["mail"],
        attachments=[FileAttachment.from_path(big), small],
        progress=lambda done, total: steps.append(done),
    )
    assert receipt.request_id and not receipt.already_sent
    assert steps == sorted(steps) and steps[-1] == 6 * MIB + 17
    [message] = arrived(app, graph_sandbox.user("grace"), subject)
    got = {
        a.name: a.size for a in app.attachments(message.id, user=graph_sandbox.user("grace")["id"])
    }
    assert got == {"report.bin": 6 * MIB + 17, "note.txt": 14}


@pytest.fixture
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exchange takes seconds to file a sent mail; the sandbox files it at once."""
    monkeypatch.setattr("graphpost.core.mail.SETTLE_WAITS", (0.1, 0.2))


def key_lookups(sandbox: RunningSandbox, since: int) -> list[dict[str, Any]]:
    return [
        e
        for e in sandbox.request_log(since=since)
        if e["method"] == "GET" and "/mailFolders/sentitems/messages?" in e["path"]
    ]


def test_a_lost_answer_to_send_mail_never_becomes_a_second_mail(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph
) -> None:
    subject = unique("lost answer")
    before = graph_sandbox.request_log_position()
    # sendMail is carried out, then its 202 is lost: the client sees a 503
    graph_sandbox.inject_fault("POST", r"/me/sendMail$", 503, when="after")
    receipt = ada.send_mail(subject, "once", graph_sandbox.user("grace")["mail"])
    assert receipt.already_sent and receipt.client_key and receipt.sent_message_id
    assert len(arrived(app, graph_sandbox.user("grace"), subject)) == 1
    assert len(key_lookups(graph_sandbox, before)) == 1  # found in Sent Items at the first look
    assert ada.find_sent(receipt.client_key) == receipt.sent_message_id


def test_a_send_mail_refused_before_it_was_carried_out_is_sent_again_once(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph, quick_settle: None
) -> None:
    subject = unique("refused")
    before = graph_sandbox.request_log_position()
    graph_sandbox.inject_fault("POST", r"/me/sendMail$", 503)  # nothing was done
    receipt = ada.send_mail(subject, "once", graph_sandbox.user("grace")["mail"])
    assert not receipt.already_sent
    assert len(arrived(app, graph_sandbox.user("grace"), subject)) == 1
    assert len(key_lookups(graph_sandbox, before)) == 3  # looked, waited, looked again, twice
    sends = [e for e in graph_sandbox.request_log(since=before) if "sendMail" in e["path"]]
    assert [e["status"] for e in sends] == [503, 202]


def test_a_lost_answer_to_a_draft_send_never_becomes_a_second_mail(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MIB + 1))  # 3 MB and more: through a draft
    subject = unique("lost draft answer")
    graph_sandbox.inject_fault("POST", r"/messages/[^/]+/send$", 503, when="after")
    receipt = ada.send_mail(
        subject,
        "once",
        graph_sandbox.user("grace")["mail"],
        attachments=[FileAttachment.from_path(big)],
    )
    assert receipt.already_sent and receipt.sent_message_id
    assert len(arrived(app, graph_sandbox.user("grace"), subject)) == 1


def test_a_draft_send_refused_before_it_was_carried_out_is_sent_again_once(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph, tmp_path: Path, quick_settle: None
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MIB + 1))
    subject = unique("refused draft")
    before = graph_sandbox.request_log_position()
    graph_sandbox.inject_fault("POST", r"/messages/[^/]+/send$", 502)  # nothing was done
    receipt = ada.send_mail(
        subject,
        "once",
        graph_sandbox.user("grace")["mail"],
        attachments=[FileAttachment.from_path(big)],
    )
    assert not receipt.already_sent
    assert len(arrived(app, graph_sandbox.user("grace"), subject)) == 1
    log = graph_sandbox.request_log(since=before)
    sends = [e["status"] for e in log if e["method"] == "POST" and e["path"].endswith("/send")]
    assert sends == [502, 202]
    draft_looks = [e for e in log if e["method"] == "GET" and "isDraft" in e["path"]]
    assert len(draft_looks) == 3 and all(e["status"] == 200 for e in draft_looks)


def test_a_timeout_after_the_send_was_taken_never_becomes_a_second_mail(
    graph_sandbox: RunningSandbox, kind: str, app: Graph, tmp_path: Path
) -> None:
    client = client_for(graph_sandbox, kind, graph_sandbox.user_token("ada"), tmp_path, timeout=1.0)
    try:
        subject = unique("timeout")
        # carried out, then the answer held back past the client's timeout
        graph_sandbox.inject_fault("POST", r"/me/sendMail$", 503, when="after", delay_ms=2500)
        receipt = client.send_mail(subject, "once", graph_sandbox.user("grace")["mail"])
        assert receipt.already_sent and receipt.sent_message_id
        assert len(arrived(app, graph_sandbox.user("grace"), subject)) == 1
    finally:
        client.close()


def test_send_many_through_a_429_storm_loses_and_doubles_nothing(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph
) -> None:
    katherine = graph_sandbox.user("katherine")
    tag = uuid.uuid4().hex[:8]
    mails = [OutgoingMail(f"many {tag} {n}", "hello", katherine["mail"]) for n in range(30)]
    mails.append(OutgoingMail(f"many {tag} bad", "x", "not an address"))
    before = graph_sandbox.request_log_position()
    graph_sandbox.inject_fault("POST", r"/me/sendMail$", 429, times=8, retry_after=0.2)
    # and two whose answers are lost after they went out
    graph_sandbox.inject_fault("POST", r"/me/sendMail$", 503, times=2, when="after", after=3)
    progress: list[int] = []
    heard: list[int] = []
    outcomes = ada.send_many(
        mails,
        progress=lambda done, total: progress.append(done),
        on_outcome=lambda outcome: heard.append(outcome.index),
    )
    assert [o.index for o in outcomes] == list(range(31))
    assert all(o.ok for o in outcomes[:30]) and not outcomes[30].ok
    assert "not an address" in str(outcomes[30].error)
    assert sorted(progress) == list(range(1, 32)) and sorted(heard) == list(range(31))
    assert sum(1 for o in outcomes if o.receipt and o.receipt.already_sent) == 2
    statuses = [
        e["status"] for e in graph_sandbox.request_log(since=before) if "sendMail" in e["path"]
    ]
    # (>=: the answer a previous test's fault held back can be logged after this test began)
    assert statuses.count(429) == 8 and statuses.count(503) >= 2
    subjects = [
        m.subject
        for m in app.messages(user=katherine["id"], top=200, limit=2000)
        if tag in (m.subject or "")
    ]
    assert sorted(subjects) == sorted(m.subject for m in mails[:30])  # each exactly once


def test_inline_images_by_content_id_reply_to_and_importance(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph
) -> None:
    grace = graph_sandbox.user("grace")
    subject = unique("inline")
    logo = FileAttachment(
        "logo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(64), is_inline=True, content_id="logo"
    )
    ada.send_mail(
        subject,
        '<p>Our logo: <img src="cid:logo"></p>',
        grace["mail"],
        reply_to="katherine@graphpost.test",
        importance="high",
        attachments=[logo],
    )
    [message] = arrived(app, grace, subject)
    assert message.importance == "high" and not message.has_attachments  # inline only
    assert [r.address for r in message.reply_to] == ["katherine@graphpost.test"]
    [attachment] = app.attachments(message.id, user=grace["id"])
    assert attachment.is_inline and attachment.content_id == "logo"
    assert attachment.content == logo.content


def test_send_many_keeps_several_mailboxes_busy_at_once(
    graph_sandbox: RunningSandbox, app: Graph
) -> None:
    ada, katherine = graph_sandbox.user("ada"), graph_sandbox.user("katherine")
    tag = uuid.uuid4().hex[:8]
    mails = [
        OutgoingMail(f"two {tag} {n}", "x", "alan@graphpost.test", user=sender["id"])
        for n in range(12)
        for sender in (ada, katherine)
    ]
    before = graph_sandbox.request_log_position()
    outcomes = app.send_many(mails)
    assert all(o.ok for o in outcomes)
    log = [e for e in graph_sandbox.request_log(since=before) if "sendMail" in e["path"]]
    assert len(log) == 24 and all(e["status"] == 202 for e in log)  # never over 4 per mailbox


def drafts_titled(ada: Client, subject: str) -> list[Any]:
    return [m for m in ada.messages("drafts", top=100, limit=400) if m.subject == subject]


def test_a_draft_an_earlier_try_left_is_deleted_before_the_mail_goes_once(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MIB + 1))
    subject, key = unique("leftover"), f"merge-row-{uuid.uuid4().hex}"
    to = graph_sandbox.user("grace")["mail"]
    # what a process killed after its draft and before its send leaves behind
    ada.create_draft(with_client_key(build_message(subject, "half done", to), key))
    assert len(drafts_titled(ada, subject)) == 1
    receipt = ada.send_mail(
        subject, "once", to, attachments=[FileAttachment.from_path(big)], client_key=key
    )
    assert not receipt.already_sent
    assert drafts_titled(ada, subject) == []
    assert len(arrived(app, graph_sandbox.user("grace"), subject)) == 1
    assert ada.find_sent(key) is not None


def test_a_mail_that_fails_before_it_is_sent_leaves_no_draft(
    graph_sandbox: RunningSandbox, ada: Client, app: Graph, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MIB + 1))
    subject = unique("no draft left")
    graph_sandbox.inject_fault(
        "POST", r"/attachments/createUploadSession$", 403, code="ErrorAccessDenied"
    )
    with pytest.raises(Forbidden):
        ada.send_mail(
            subject, "never", graph_sandbox.user("grace")["mail"],
            attachments=[FileAttachment.from_path(big)],
        )  # fmt: skip
    assert drafts_titled(ada, subject) == []
    assert arrived(app, graph_sandbox.user("grace"), subject) == []


def test_drafts_folders_changes_and_moves(graph_sandbox: RunningSandbox, ada: Client) -> None:
    folders = {f.display_name for f in ada.folders()}
    assert {"Inbox", "Drafts", "Sent Items", "Deleted Items"} <= folders
    draft = ada.create_draft(
        {
            "subject": unique("draft"),
            "toRecipients": [{"emailAddress": {"address": "ada@graphpost.test"}}],
        }
    )
    assert draft.is_draft
    ada.attach(draft.id, FileAttachment("a.txt", b"a"))
    changed = ada.update_message(draft.id, {"importance": "high"})
    assert changed.importance == "high"
    moved = ada.move_message(draft.id, "deleteditems")
    assert moved.id != draft.id
    ada.delete_message(moved.id)
    assert [m.id for m in ada.messages("deleteditems", top=50, limit=200) if m.id == moved.id] == []


def test_paging_with_a_limit(ada: Client, graph_sandbox: RunningSandbox) -> None:
    for n in range(6):
        ada.send_mail(unique(f"page {n}"), "x", "ada@graphpost.test", exactly_once=False)
    assert len(ada.messages("inbox", top=2, limit=5)) == 5
    assert ada.messages("inbox", top=2, limit=0) == []


# OneDrive


def test_an_upload_session_survives_a_failed_chunk(
    graph_sandbox: RunningSandbox, ada: Client, tmp_path: Path
) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(25 * MIB))
    graph_sandbox.inject_fault("PUT", r"/_upload/drive/", 503, after=1)  # the second chunk, once
    item = ada.upload(f"lib/{uuid.uuid4().hex[:6]}.bin", source)
    assert item.size == 25 * MIB
    assert (
        item.raw["file"]["hashes"]["sha256Hash"]
        == hashlib.sha256(source.read_bytes()).hexdigest().upper()
    )


def test_a_killed_upload_continues_where_it_stopped(
    graph_sandbox: RunningSandbox, ada: Client, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(60 * MIB))
    remote = f"lib/killed-{uuid.uuid4().hex[:6]}.bin"
    state = tmp_path / "state"
    script = (
        "import sys, time\n"
        "from graphpost import Graph\n"
        f"graph = Graph({graph_sandbox.user_token('ada')!r}, graph_url={graph_sandbox.graph_url!r},"
        f" verify={graph_sandbox.ca_file!r}, state_dir={str(state)!r})\n"
        "def progress(done, total):\n"
        "    print(done, flush=True)\n"
        "    time.sleep(5)  # killed here, after the first chunk\n"
        f"graph.upload({remote!r}, {str(source)!r}, progress=progress)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    first = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 0 < first < 60 * MIB
    before = graph_sandbox.request_log_position()
    item = ada.upload(remote, source)  # same journal folder: state_dir is tmp_path / "state"
    assert item.size == 60 * MIB
    assert (
        item.raw["file"]["hashes"]["sha256Hash"]
        == hashlib.sha256(source.read_bytes()).hexdigest().upper()
    )
    again = graph_sandbox.request_log(since=before)
    assert not [
        e for e in again if e["path"].endswith("createUploadSession")
    ]  # the old session went on
    puts = [e for e in again if e["method"] == "PUT"]
    assert len(puts) < 6  # fewer chunks than the whole file: it did not start over


def test_a_download_resumes_from_what_is_on_disk(ada: Client, tmp_path: Path) -> None:
    content = os.urandom(5 * MIB)
    remote = f"lib/dl-{uuid.uuid4().hex[:6]}.bin"
    ada.upload(remote, content)
    target = tmp_path / "copy.bin"
    (tmp_path / "copy.bin.part").write_bytes(content[: 2 * MIB])
    seen: list[int] = []
    ada.download(target, remote, progress=lambda done, total: seen.append(done))
    assert target.read_bytes() == content
    assert min(seen) > 2 * MIB  # only the rest was fetched


def test_items_folders_children_links_and_delete(ada: Client) -> None:
    folder = f"lib-{uuid.uuid4().hex[:6]}"
    created = ada.create_folder(folder)
    assert created.is_folder
    for n in range(3):
        ada.upload(f"{folder}/f{n}.txt", b"x" * n)
    names = [c.name for c in ada.children(folder, top=2)]
    assert names == ["f0.txt", "f1.txt", "f2.txt"]
    item = ada.item(f"{folder}/f2.txt")
    link = ada.create_link(item.id, type="edit", scope="organization")
    assert link.created and link.type == "edit"
    ada.delete(folder)
    ada.delete(folder)  # gone already: no error


# extensions, batch, tokens


def test_open_extensions(graph_sandbox: RunningSandbox, kind: str, tmp_path: Path) -> None:
    client = client_for(
        graph_sandbox,
        kind,
        graph_sandbox.user_token("katherine", scopes="User.ReadWrite"),
        tmp_path,
    )
    try:
        name = f"com.graphpost.lib{uuid.uuid4().hex[:6]}"
        assert client.extension(name) is None
        client.save_extension(name, {"theme": "dark"})
        client.save_extension(name, {"theme": "light", "signature": "K."})
        saved = client.extension(name)
        assert saved is not None and dict(saved.values) == {"theme": "light", "signature": "K."}
        client.delete_extension(name)
        assert client.extension(name) is None
    finally:
        client.close()


def test_batch_splits_orders_and_retries_throttled_items(
    graph_sandbox: RunningSandbox, ada: Client
) -> None:
    folder = f"batch-{uuid.uuid4().hex[:6]}"
    requests = [BatchRequest(str(n), "GET", "/me?$select=id") for n in range(22)]
    requests.append(
        BatchRequest(
            "put",
            "PUT",
            f"/me/drive/root:/{folder}/a.txt:/content",
            body=b"abc",
            headers={"Content-Type": "text/plain"},
        )
    )
    requests.append(
        BatchRequest("get", "GET", f"/me/drive/root:/{folder}/a.txt", depends_on=["put"])
    )
    graph_sandbox.inject_fault("GET", r"/v1\.0/me$", 429, times=2, retry_after=0.2)
    results = ada.batch(requests)
    assert set(results) == {r.id for r in requests}
    assert all(result.ok for result in results.values()), {
        k: v.status for k, v in results.items() if not v.ok
    }
    assert results["get"].body["size"] == 3


def test_a_token_that_expires_mid_run_is_replaced(
    tmp_path_factory: pytest.TempPathFactory, kind: str, tmp_path: Path
) -> None:
    sandbox = start_sandbox(tmp_path_factory.mktemp("expiry"), "--userrealm-port", "0")
    try:
        settings = Settings.from_sandbox(sandbox.data_dir, app="daemon")
        client = client_for(sandbox, kind, AppTokenProvider(settings), tmp_path)
        grace = sandbox.user("grace")
        assert client.user(grace["id"]).display_name == "Grace Hopper"
        sandbox.advance_clock(2 * 3600)  # MSAL still thinks its token good; Graph does not
        assert client.user(grace["id"]).display_name == "Grace Hopper"
        client.close()
    finally:
        sandbox.stop()


def test_tokens_cached_in_redis_are_shared(graph_sandbox: RunningSandbox, tmp_path: Path) -> None:
    import redis

    settings = Settings.from_sandbox(graph_sandbox.data_dir, app="daemon")
    with redis_server(tmp_path) as url:
        store = redis.Redis.from_url(url)
        first = RedisTokenCache(store, "tokens:daemon")
        token = build_confidential_app(settings, first).acquire_token_for_client(
            ["https://graph.microsoft.com/.default"]
        )
        assert first.save() and store.ttl("tokens:daemon") > 0
        before = graph_sandbox.request_log_position()
        second = RedisTokenCache(store, "tokens:daemon")  # another process, same Redis
        again = build_confidential_app(settings, second).acquire_token_for_client(
            ["https://graph.microsoft.com/.default"]
        )
        assert again["access_token"] == token["access_token"]
        assert not [
            e for e in graph_sandbox.request_log(since=before) if e["path"].endswith("/token")
        ]
        second.clear()
        assert store.get("tokens:daemon") is None


def test_the_clients_have_the_same_methods() -> None:
    public = {n for n in dir(Graph) if not n.startswith("_")} - {"close"}
    assert public == {n for n in dir(AsyncGraph) if not n.startswith("_")} - {"aclose"}
