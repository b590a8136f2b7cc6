"""`graphpost send` (one mail) and `graphpost inbox` as real processes against the sandbox."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from graphpost.sandbox.process import RunningSandbox
from tests.support.cli import (
    assert_no_secrets,
    cli_env,
    colours,
    graphpost,
    in_terminal,
    messages,
    sign_in,
)


@pytest.fixture(scope="module")
def ada(graph_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a terminal where Ada has run `graphpost login`."""
    home = tmp_path_factory.mktemp("ada-home")
    sign_in(home, graph_sandbox, "ada")
    return cli_env(home, graph_sandbox)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def received(sandbox: RunningSandbox, user: str, subject: str, folder: str = "inbox") -> dict:  # type: ignore[type-arg]
    found = [
        m
        for m in messages(
            sandbox, user, folder, "subject,body,toRecipients,ccRecipients,bccRecipients,from"
        )
        if m["subject"] == subject
    ]
    assert len(found) == 1, f"{len(found)} messages {subject!r} in {user}'s {folder}"
    return found[0]


def test_one_mail_to_recipients_separated_every_way_with_the_body_from_stdin(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    subject = unique("report")
    run = graphpost(
        "send",
        "--to",
        "grace@graphpost.test; katherine@graphpost.test",
        "--cc",
        "Alan Turing <alan@graphpost.test>",
        "--bcc",
        "someone@example.com,another@example.com",
        "--subject",
        subject,
        input="Numbers are up.\nSee you Monday.\n",
        env=ada,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(
        "Sent to grace@graphpost.test, katherine@graphpost.test, alan@graphpost.test,"
        " someone@example.com, another@example.com (request-id: "
    )
    copy = received(graph_sandbox, "ada", subject, "sentitems")
    assert [r["emailAddress"]["address"] for r in copy["toRecipients"]] == [
        "grace@graphpost.test",
        "katherine@graphpost.test",
    ]
    assert [r["emailAddress"]["address"] for r in copy["ccRecipients"]] == ["alan@graphpost.test"]
    assert len(copy["bccRecipients"]) == 2
    assert copy["body"] == {"contentType": "text", "content": "Numbers are up.\nSee you Monday.\n"}
    for person in ("grace", "katherine", "alan"):
        received(graph_sandbox, person, subject)
    assert run.stderr == ""


def test_an_html_body_from_a_file_and_the_result_as_json(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    note = Path(ada["GRAPHPOST_HOME"]) / "note.html"
    note.write_text("<p>Hello <b>Grace</b></p>", encoding="utf-8")
    subject = unique("html")
    run = graphpost(
        "send", "--to", "grace@graphpost.test", "--subject", subject, "--body-file", str(note),
        "--html", "--json", env=ada,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["sent"] is True and result["to"] == ["grace@graphpost.test"]
    logged = [e for e in graph_sandbox.request_log() if e["request_id"] == result["requestId"]]
    assert [e["path"] for e in logged] == ["/v1.0/me/sendMail"]
    body = received(graph_sandbox, "grace", subject)["body"]
    assert body["contentType"] == "html" and "<b>Grace</b>" in body["content"]


def test_a_6_mb_attachment_goes_through_an_upload_session(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    big = Path(ada["GRAPHPOST_HOME"]) / "figures.bin"
    content = os.urandom(6 * 1024 * 1024)
    big.write_bytes(content)
    subject = unique("figures")
    since = graph_sandbox.request_log_position()
    run = graphpost(
        "send", "--to", "grace@graphpost.test", "--subject", subject, "--body", "attached",
        "--attach", str(big), env=ada,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "with 1 attachment(s)" in run.stdout
    paths = [e["path"] for e in graph_sandbox.request_log(since)]
    assert any(p.endswith("/attachments/createUploadSession") for p in paths)
    assert sum("/_upload/outlook/" in p for p in paths) == 2  # two chunks of at most 4 MB
    mail = received(graph_sandbox, "grace", subject)
    with graph_sandbox.client(
        headers={"Authorization": f"Bearer {graph_sandbox.user_token('grace')}"}
    ) as http:
        [attachment] = (
            http.get(f"{graph_sandbox.graph_url}/me/messages/{mail['id']}/attachments")
            .raise_for_status()
            .json()["value"]
        )
    assert attachment["name"] == "figures.bin" and attachment["size"] == len(content)
    got = base64.b64decode(attachment["contentBytes"])
    assert hashlib.sha256(got).digest() == hashlib.sha256(content).digest()


def test_from_another_user_with_the_apps_own_permission(
    graph_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    subject = unique("on behalf")
    since = graph_sandbox.request_log_position()
    # nobody signed in here: --from uses the daemon registration's client credentials
    run = graphpost(
        "send", "--from", "katherine@graphpost.test", "--to", "ada@graphpost.test",
        "--subject", subject, "--body", "from the app", env=cli_env(tmp_path, graph_sandbox),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    mail = received(graph_sandbox, "ada", subject)
    assert mail["from"]["emailAddress"]["address"] == "katherine@graphpost.test"
    [sent] = [e for e in graph_sandbox.request_log(since) if e["path"].endswith("/sendMail")]
    assert sent["path"] == "/v1.0/users/katherine@graphpost.test/sendMail"
    assert sent["client"] == graph_sandbox.info["daemon_app"]["client_id"]
    assert_no_secrets(graph_sandbox, run.stdout, run.stderr)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--subject", "x", "--body", "y"], "a mail needs a recipient: give --to, --cc or --bcc"),
        (["--to", "grace@graphpost.test; bob@", "--body", "y"], "'bob@' is not an email address"),
        (["--to", "grace@graphpost.test", "--attach", "missing.pdf"], "--attach: no file at missing.pdf"),
        (["--to", "grace@graphpost.test", "--body-file", "missing.txt"], "--body-file: no file at missing.txt"),
        (["--to", "grace@graphpost.test", "--body", "y", "--dry-run"], "--dry-run: only with --each FILE.csv; nothing was sent"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_in_one_line_and_sends_nothing(
    graph_sandbox: RunningSandbox, ada: dict[str, str], arguments: list[str], expected: str
) -> None:
    since = graph_sandbox.request_log_position()
    run = graphpost("send", *arguments, env=ada)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [f"graphpost send: {expected}"]
    assert graph_sandbox.request_log(since) == []


def test_a_refusal_by_graph_exits_1_with_its_code_and_request_id(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    graph_sandbox.inject_fault(
        "POST", "/me/sendMail$", 403, code="ErrorAccessDenied", message="Access is denied."
    )
    since = graph_sandbox.request_log_position()
    run = graphpost("send", "--to", "grace@graphpost.test", "--body", "x", env=ada)
    assert run.returncode == 1 and run.stdout == ""
    [refused] = [e for e in graph_sandbox.request_log(since) if e["status"] == 403]
    assert run.stderr.splitlines() == [
        f"graphpost: 403 ErrorAccessDenied: Access is denied. (request-id: {refused['request_id']})"
    ]


def test_inbox_pages_lines_json_and_a_table_on_a_terminal(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    subjects = [unique(f"inbox {n}") for n in range(3)]
    with graph_sandbox.client(
        headers={"Authorization": f"Bearer {graph_sandbox.user_token('grace')}"}
    ) as http:
        for subject in subjects:
            http.post(
                f"{graph_sandbox.graph_url}/me/sendMail",
                json={"message": {"subject": subject, "toRecipients": [
                    {"emailAddress": {"address": "ada@graphpost.test"}}]}},
            ).raise_for_status()  # fmt: skip
    newest_first = subjects[::-1]

    lines = graphpost("inbox", "--top", "2", env=ada)
    assert lines.returncode == 0, lines.stderr
    shown = lines.stdout.splitlines()
    assert len(shown) == 2 and "\x1b" not in lines.stdout
    assert [line.endswith(s) for line, s in zip(shown, newest_first, strict=False)] == [True, True]
    assert "Grace Hopper <grace@graphpost.test>" in shown[0] and " * " in shown[0]  # unread

    as_json = json.loads(graphpost("inbox", "--top", "3", "--json", env=ada).stdout)
    assert [m["subject"] for m in as_json] == newest_first
    assert as_json[0]["from"]["emailAddress"]["address"] == "grace@graphpost.test"

    everything = len(messages(graph_sandbox, "ada"))
    since = graph_sandbox.request_log_position()
    every = json.loads(graphpost("inbox", "--all", "--top", "4", "--json", env=ada).stdout)
    assert len(every) == everything
    pages = [e for e in graph_sandbox.request_log(since) if "/messages" in e["path"]]
    assert len(pages) == -(-everything // 4)  # followed every next link, 4 a page

    code, screen = in_terminal("inbox", "--top", "3", env=ada)
    assert code == 0
    assert "received" in screen and "subject" in screen and subjects[2] in screen
    assert colours(screen) or "\x1b[1m" in screen  # styled for a terminal
