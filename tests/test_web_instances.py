"""Two `graphpost web` processes sharing only a real redis-server: one signed-in person served by
either, the first stopped and the work going on, a sign-out on one ending it on both."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import redis

from graphpost.config import Settings
from graphpost.sandbox.process import RunningSandbox
from graphpost.web import create_app
from tests.support import person
from tests.support.redis_server import redis_server
from tests.support.webapp import csrf_of, find_message, textarea

STARTED = re.compile(r"graphpost web app on (http://127\.0\.0\.1:\d+/)")


@contextmanager
def web_process(
    sandbox: RunningSandbox, home: Path, redis_url: str, log: Path
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`graphpost web --port 0` on the sandbox's registration, sessions and tokens in Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHPOST_")}
    env.update(
        GRAPHPOST_SANDBOX=str(sandbox.data_dir),
        GRAPHPOST_HOME=str(home),
        GRAPHPOST_REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    with open(log, "a") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "graphpost.cli", "web", "--port", "0", "--threads", "4"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            cwd=home,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = STARTED.search(line)
        assert found, f"graphpost web did not start: {line!r} {log.read_text()}"
        yield found.group(1), process
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def send(http: httpx.Client, base: str, sandbox: RunningSandbox, to: str) -> str:
    """The mail form and a send through the instance at `base`; returns the subject."""
    form = http.get(base + "mailform")
    assert form.status_code == 200, form.text
    subject = f"two instances {uuid.uuid4().hex[:6]}"
    sent = http.post(
        base + "send_mail",
        data={
            "csrf_token": csrf_of(form.text),
            "recipients": sandbox.user(to)["mail"],
            "subject": subject,
            "body": textarea(form.text, "body"),
        },
    )
    assert sent.status_code == 303
    assert "Graph answered 202" in http.get(base + "mailsent").text
    return subject


@pytest.mark.timeout(180)
def test_two_instances_share_the_signed_in_person_through_redis(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    log = tmp_path / "web-stderr.log"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    with (
        redis_server(tmp_path) as redis_url,
        web_process(graph_sandbox, tmp_path / "a", redis_url, log) as (first, first_process),
        web_process(graph_sandbox, tmp_path / "b", redis_url, log) as (second, _),
        httpx.Client(timeout=60) as http,  # one browser: its cookie goes to both (same host)
    ):
        # sign in on the first
        started = http.get(first + "login")
        assert started.status_code == 302
        ada = graph_sandbox.user("ada")
        answer = person.sign_in(
            graph_sandbox, started.headers["location"], ada["userPrincipalName"], ada["password"]
        )
        back = http.get(first + "login/authorized?" + urlencode(answer))
        assert back.status_code == 302 and back.headers["location"] == "/mailform"

        shared = redis.Redis.from_url(redis_url)
        sessions = shared.keys("graphpost:web:session:*")
        assert len(sessions) == 1 and 0 < shared.ttl(sessions[0]) <= 8 * 3600  # Redis expires it
        assert shared.keys("graphpost:web:tokencache:*")

        # send from the second: same session, same token cache, same signing key
        subject = send(http, second, graph_sandbox, "grace")
        find_message(graph_sandbox, "grace", subject)
        assert http.get(second + "healthz").json() == {"status": "ok"}

        # the first stops; the second goes on
        stop(first_process)
        with pytest.raises(httpx.ConnectError):
            http.get(first + "mailform")
        assert http.get(second + "inbox").status_code == 200
        find_message(graph_sandbox, "katherine", send(http, second, graph_sandbox, "katherine"))

        # a new instance joins and serves the same person at once
        with web_process(graph_sandbox, tmp_path / "c", redis_url, log) as (third, _):
            assert http.get(third + "settings").status_code == 200
            # sign out on one: signed out on both, and the tokens are gone from Redis
            page = http.get(second + "inbox")
            out = http.post(second + "logout", data={"csrf_token": csrf_of(page.text)})
            assert out.status_code == 302
            assert out.headers["location"].startswith(
                graph_sandbox.authority + "/oauth2/v2.0/logout"
            )
            for instance in (third, second):
                after = http.get(instance + "mailform")
                assert after.status_code == 302 and after.headers["location"].startswith("/login")
            assert not shared.keys("graphpost:web:tokencache:*")
            assert not shared.keys("graphpost:web:session:*")
            assert shared.get("graphpost:web:secret-key")  # the one key every instance signs with

    # the access log named every request, and no sign-in code or state
    written = log.read_text()
    assert "GET /login/authorized?… 302" in written and "POST /send_mail" in written
    assert answer["code"] not in written and answer["state"] not in written


def test_health_reports_a_lost_redis(graph_sandbox: RunningSandbox, tmp_path: Path) -> None:
    settings = Settings.from_sandbox(graph_sandbox.data_dir, app="web", home=tmp_path)
    with redis_server(tmp_path) as redis_url:
        app = create_app(dataclasses.replace(settings, redis_url=redis_url))
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
    # redis-server has stopped: the load balancer must take this instance out
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json == {"status": "store unreachable"}
    assert redis_url not in answer.get_data(as_text=True)
