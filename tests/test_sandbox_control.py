"""The sandbox's behaviour around Graph: Outlook's throttling, scripted faults, the request log."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from graphpost.sandbox.process import RunningSandbox, start_sandbox
from graphpost.sandbox.requestlog import KEPT_ENTRIES, RequestLog
from graphpost.sandbox.throttling import OutlookThrottle, Throttled

LATENCY_MS = 800


@pytest.fixture(scope="module")
def slow_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """Every Graph request takes LATENCY_MS, so requests in flight overlap for certain."""
    running = start_sandbox(
        tmp_path_factory.mktemp("slow"), "--latency-ms", str(LATENCY_MS), "--userrealm-port", "0"
    )
    try:
        yield running
    finally:
        running.stop()


def together(sandbox: RunningSandbox, calls: list[tuple[str, str]]) -> list[httpx.Response]:
    """Send (token, path) GETs all at once, each on its own connection."""
    start = threading.Barrier(len(calls))

    def one(call: tuple[str, str]) -> httpx.Response:
        token, path = call
        with sandbox.client() as http:
            start.wait()
            return http.get(sandbox.graph_url + path, headers={"Authorization": f"Bearer {token}"})

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_outlook_allows_four_requests_at_once_per_app_and_mailbox(
    slow_sandbox: RunningSandbox,
) -> None:
    app = slow_sandbox.app_token()
    ada, grace = slow_sandbox.user("ada")["id"], slow_sandbox.user("grace")["id"]
    ada_herself = slow_sandbox.user_token("ada")
    answers = together(
        slow_sandbox,
        [(app, f"/users/{ada}/messages")] * 6  # one app, one mailbox: two too many
        + [(app, f"/users/{grace}/messages")] * 2  # another mailbox
        + [(ada_herself, "/me/messages")] * 2,  # another app on the same mailbox
    )
    same = [a.status_code for a in answers[:6]]
    assert sorted(same) == [200, 200, 200, 200, 429, 429]
    assert [a.status_code for a in answers[6:]] == [200, 200, 200, 200]
    refused = next(a for a in answers[:6] if a.status_code == 429)
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {
        "error": {
            "code": "ApplicationThrottled",
            "message": "Application is over its MailboxConcurrency limit.",
        }
    }
    # directory requests are not Outlook's: no mailbox limit, but the same service time
    began = time.perf_counter()
    assert [a.status_code for a in together(slow_sandbox, [(app, f"/users/{ada}")] * 6)] == [
        200
    ] * 6
    assert time.perf_counter() - began >= LATENCY_MS / 1000


def test_a_batch_item_over_the_mailbox_limit_is_throttled_alone(
    slow_sandbox: RunningSandbox,
) -> None:
    app, ada = slow_sandbox.app_token(), slow_sandbox.user("ada")["id"]
    with ThreadPoolExecutor(4) as pool:
        # four requests hold the app's four slots on Ada's mailbox for LATENCY_MS
        holders = [
            pool.submit(together, slow_sandbox, [(app, f"/users/{ada}/mailFolders")])
            for _ in range(4)
        ]
        time.sleep(LATENCY_MS / 2000)
        with slow_sandbox.client() as http:
            answer = http.post(
                f"{slow_sandbox.graph_url}/$batch",
                headers={"Authorization": f"Bearer {app}"},
                json={
                    "requests": [
                        {"id": "mail", "method": "GET", "url": f"/users/{ada}/messages"},
                        {"id": "profile", "method": "GET", "url": f"/users/{ada}"},
                    ]
                },
            )
        assert [h.result()[0].status_code for h in holders] == [200] * 4
    assert answer.status_code == 200  # the envelope succeeds; the item fails on its own
    items = {item["id"]: item for item in answer.json()["responses"]}
    assert items["mail"]["status"] == 429 and items["mail"]["headers"]["Retry-After"] == "1"
    assert items["mail"]["body"]["error"]["code"] == "ApplicationThrottled"
    assert items["profile"]["status"] == 200


def test_outlooks_own_numbers() -> None:
    """The defaults are Outlook's: 10,000 requests per app and mailbox in 10 minutes."""
    now = [0.0]
    throttle = OutlookThrottle(now=lambda: now[0])
    for _ in range(10_000):
        with throttle.admit("app", "mailbox"):
            now[0] += 0.01
    with pytest.raises(Throttled) as refused, throttle.admit("app", "mailbox"):
        pass
    assert refused.value.message == "Application is over its MailboxRequests limit."
    assert 0 < refused.value.retry_after <= 601
    now[0] = 600.0 + 0.005  # the first request leaves the window
    with throttle.admit("app", "mailbox"):
        pass
    held = [throttle.admit("app", "another mailbox") for _ in range(5)]
    for slot in held[:4]:
        slot.__enter__()
    with pytest.raises(Throttled) as busy:
        held[4].__enter__()
    assert busy.value.message == "Application is over its MailboxConcurrency limit."
    for slot in held[:4]:
        slot.__exit__(None, None, None)


def test_the_ten_minute_window() -> None:
    now = [1000.0]
    throttle = OutlookThrottle(now=lambda: now[0], window_requests=3, window_seconds=600)
    for _ in range(3):
        with throttle.admit("app", "mailbox"):
            pass
    with pytest.raises(Throttled) as refused, throttle.admit("app", "mailbox"):
        pass
    assert refused.value.retry_after == 601
    with throttle.admit("other app", "mailbox"), throttle.admit("app", "other mailbox"):
        pass
    now[0] += 600.5  # the first requests leave the window
    with throttle.admit("app", "mailbox"):
        pass


def test_faults_are_deterministic(graph_sandbox: RunningSandbox, tmp_path: Path) -> None:
    token = graph_sandbox.user_token("ada")
    graph_sandbox.inject_fault("PUT", r"/fault-test/.*:/content$", 503, after=2, retry_after=2)
    with graph_sandbox.client() as http:
        statuses = []
        for number in range(5):
            answer = http.put(
                f"{graph_sandbox.graph_url}/me/drive/root:/fault-test/chunk{number}.bin:/content",
                headers={"Authorization": f"Bearer {token}"},
                content=b"x",
            )
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                failed = answer
    assert statuses == [201, 201, 503, 201, 201]  # the third PUT, once
    assert failed.headers["Retry-After"] == "2"
    error = failed.json()["error"]
    assert error["code"] == "serviceNotAvailable" and error["innerError"]["request-id"]
    assert graph_sandbox.admin("GET", "/_sandbox/faults").json() == []


def test_the_third_chunk_put_fails_with_503_once(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("ada")
    unit = 320 * 1024
    content = os.urandom(5 * unit)
    with graph_sandbox.client(headers={"Authorization": f"Bearer {token}"}) as http:
        url = http.post(
            f"{graph_sandbox.graph_url}/me/drive/root:/faults/{uuid.uuid4().hex}.bin:/createUploadSession"
        ).json()["uploadUrl"]
    graph_sandbox.inject_fault("PUT", r"^/_upload/drive/", 503, after=2, retry_after=1)
    statuses = []
    with graph_sandbox.client() as anonymous:
        start = 0
        while start < len(content):
            end = start + unit - 1
            answer = anonymous.put(
                url,
                content=content[start : end + 1],
                headers={"Content-Range": f"bytes {start}-{end}/{len(content)}"},
            )
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                assert answer.headers["Retry-After"] == "1"
                continue  # the same chunk again, as a client following Retry-After would
            start = end + 1
        assert statuses == [202, 202, 503, 202, 202, 201]  # the third chunk PUT, once
        item = answer.json()
        with graph_sandbox.client(headers={"Authorization": f"Bearer {token}"}) as http:
            location = http.get(f"{graph_sandbox.graph_url}/me/drive/items/{item['id']}/content")
        assert anonymous.get(location.headers["Location"]).content == content


def test_a_fault_after_the_work_loses_only_the_answer(graph_sandbox: RunningSandbox) -> None:
    token = graph_sandbox.user_token("ada")
    grace = graph_sandbox.user("grace")
    subject = f"lost answer {uuid.uuid4().hex[:8]}"
    graph_sandbox.inject_fault("POST", r"/me/sendMail$", 503, times=2, when="after", delay_ms=600)
    with graph_sandbox.client(headers={"Authorization": f"Bearer {token}"}) as http:
        statuses, seconds = [], []
        for _ in range(3):
            began = time.perf_counter()
            statuses.append(
                http.post(
                    f"{graph_sandbox.graph_url}/me/sendMail",
                    json={
                        "message": {
                            "subject": subject,
                            "toRecipients": [{"emailAddress": {"address": grace["mail"]}}],
                        }
                    },
                ).status_code
            )
            seconds.append(time.perf_counter() - began)
        assert statuses == [503, 503, 202]  # the third is past the fault
        assert min(seconds[:2]) >= 0.6 > seconds[2]  # the lost answers were held back too
        inbox = http.get(
            f"{graph_sandbox.graph_url}/users/{grace['id']}/messages",
            params={"$filter": f"subject eq '{subject}'"},
            headers={"Authorization": f"Bearer {graph_sandbox.app_token()}"},
        ).json()["value"]
    assert len(inbox) == 3  # each 503 came after the mail went: what makes a blind retry resend


def test_the_control_plane_needs_the_admin_key(graph_sandbox: RunningSandbox) -> None:
    with graph_sandbox.client() as http:
        base = graph_sandbox.info["portal_url"].rstrip("/")
        assert http.get(base + "/_sandbox/requests").status_code == 401
        assert http.post(base + "/_sandbox/faults", json={"status": 503}).status_code == 401
        wrong = http.get(base + "/_sandbox/requests", headers={"X-Sandbox-Key": "nope"})
        assert wrong.status_code == 401
    assert graph_sandbox.admin("POST", "/_sandbox/faults", json={"status": 200}).status_code == 400


def test_the_request_log_names_who_called_what_and_never_a_secret(
    graph_sandbox: RunningSandbox,
) -> None:
    last = graph_sandbox.request_log_position()
    token = graph_sandbox.user_token("grace")
    with graph_sandbox.client() as http:
        answer = http.get(
            f"{graph_sandbox.graph_url}/me/mailFolders/inbox/messages",
            params={"$top": "2", "code": "not-for-the-log"},
            headers={"Authorization": f"Bearer {token}"},
        )
    log = graph_sandbox.request_log(since=last)
    entry = next(e for e in log if e["request_id"] == answer.headers["request-id"])
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["ms"] >= 0
    assert entry["path"] == "/v1.0/me/mailFolders/inbox/messages?$top=2"
    assert entry["client"] == graph_sandbox.info["public_app"]["client_id"]
    assert entry["user"] == graph_sandbox.user("grace")["userPrincipalName"]
    text = str(log)
    assert token not in text and "not-for-the-log" not in text
    assert not any(s in text for s in (graph_sandbox.user("grace")["password"], "Bearer"))
    # sign-ins are logged too, without their secrets
    daemon = graph_sandbox.info["daemon_app"]
    with graph_sandbox.client() as http:
        http.post(
            f"{graph_sandbox.authority}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": daemon["client_id"],
                "client_secret": daemon["client_secret"],
                "scope": "https://graph.microsoft.com/.default",
            },
        ).raise_for_status()
    signed_in = graph_sandbox.request_log(since=log[-1]["seq"])
    assert [(e["method"], e["path"].rsplit("/", 3)[-3:], e["client"]) for e in signed_in] == [
        ("POST", ["oauth2", "v2.0", "token"], daemon["client_id"])
    ]
    assert daemon["client_secret"] not in str(signed_in)


def test_the_log_position_keeps_counting_after_old_entries_are_dropped() -> None:
    log = RequestLog()
    for n in range(KEPT_ENTRIES + 5):
        log.add({"path": f"/v1.0/me/{n}"})
    assert len(log.since()) == KEPT_ENTRIES  # the oldest five are gone
    assert log.since(limit=1)[0]["seq"] == KEPT_ENTRIES + 5
    log.add({"path": "/v1.0/me/next"})
    assert [e["path"] for e in log.since(KEPT_ENTRIES + 5)] == ["/v1.0/me/next"]


def test_clearing_faults_waits_for_the_answers_they_hold_back(
    graph_sandbox: RunningSandbox,
) -> None:
    token = graph_sandbox.app_token()
    ada = graph_sandbox.user("ada")["id"]
    graph_sandbox.inject_fault("GET", f"/users/{ada}$", 503, when="after", delay_ms=1500)

    def held() -> int:
        return int(graph_sandbox.admin("GET", "/_sandbox/faults/held").json()["held"])

    with ThreadPoolExecutor(1) as pool, graph_sandbox.client() as http:
        answer = pool.submit(
            http.get,
            f"{graph_sandbox.graph_url}/users/{ada}",
            headers={"Authorization": f"Bearer {token}"},
        )
        deadline = time.monotonic() + 10
        while not held() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert held() == 1
        mark = graph_sandbox.request_log_position()
        graph_sandbox.clear_faults()
        assert held() == 0
        # the held request is in the log now, not during whatever comes next
        assert [e["status"] for e in graph_sandbox.request_log(mark)] == [503]
        assert answer.result().status_code == 503
