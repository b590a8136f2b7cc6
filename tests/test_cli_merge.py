"""`graphpost send --each FILE.csv` as a real process: placeholders, a CSV checked before anything
is sent, and exactly once across Ctrl-C, SIGKILL in the window between "Graph accepted" and
"journal written", a failed row and a second process."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from graphpost.sandbox.process import RunningSandbox
from tests.support.cli import (
    GRAPHPOST,
    graphpost,
    home,
    in_terminal,
    messages,
    signed_in_env,
)


@pytest.fixture(scope="module")
def ada(graph_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return signed_in_env(graph_sandbox, tmp_path_factory, "ada", "merge")


def people(env: dict[str, str], rows: int) -> tuple[Path, str]:
    """A CSV of `rows` outside recipients, and the tag its subjects carry."""
    tag = uuid.uuid4().hex[:8]
    table = home(env) / f"people-{tag}.csv"
    table.write_text(
        "email,name,n\n" + "".join(f"p{n}@example.com,Person {n},{n}\n" for n in range(rows))
    )
    return table, tag


def merge(table: Path, tag: str, *more: str) -> list[str]:
    return [
        "send",
        "--each",
        str(table),
        "--subject",
        f"{tag} row {{n}}",
        "--body",
        "Dear {name}",
        *more,
    ]


def sent_subjects(
    sandbox: RunningSandbox, tag: str, token: str | None = None
) -> collections.Counter[str]:
    """Subjects in Ada's Sent Items, read with `token` (the daemon app's by default): a test
    watching a running merge reads as an app other than the merge's, since Outlook gives each
    app only 4 requests at once per mailbox."""
    return collections.Counter(
        m["subject"] for m in messages(sandbox, "ada", "sentitems", subject_prefix=tag, token=token)
    )


def journal(env: dict[str, str], table: Path) -> list[dict[str, object]]:
    """The records of the merge of `table` (its header names the CSV)."""
    for path in (home(env) / "merges").glob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        if records[0]["csv"] == str(table.resolve()):
            return records
    raise AssertionError(f"no journal for {table}")


def wait_for(condition, what: str, process: subprocess.Popen[str], timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the merge ended before {what}"
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.1)


def test_placeholders_fill_subject_body_cc_and_attachment_names(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    folder = home(ada) / tag
    folder.mkdir()
    names = {"grace": "Grace Hopper", "katherine": "Katherine <Johnson>", "alan": "Alan Turing"}
    for person in names:
        (folder / f"{person}.txt").write_text(f"report for {person}")
    table = folder / "team.csv"
    table.write_text(
        "email,name,file,boss\n"
        + "".join(
            f'{p}@graphpost.test,"{n}",{tag}/{p}.txt,ada@graphpost.test\n' for p, n in names.items()
        )
    )
    run = graphpost(
        "send", "--each", str(table), "--subject", f"{tag} report for {{name}}", "--html",
        "--body", "<p>Dear {name}, {{this}} is yours.</p>", "--attach", "{file}", "--cc", "{boss}",
        env=ada,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("3 rows: 3 sent, 0 failed (")
    with graph_sandbox.client(
        headers={"Authorization": f"Bearer {graph_sandbox.app_token()}"}
    ) as http:
        for person, name in names.items():
            [mail] = [
                m
                for m in messages(graph_sandbox, person, select="subject,body,ccRecipients")
                if m["subject"] == f"{tag} report for {name}"
            ]
            escaped = name.replace("<", "&lt;").replace(">", "&gt;")
            assert f"<p>Dear {escaped}, {{this}} is yours.</p>" in mail["body"]["content"]
            assert mail["ccRecipients"][0]["emailAddress"]["address"] == "ada@graphpost.test"
            user = graph_sandbox.user(person)["id"]
            attached = http.get(
                f"{graph_sandbox.graph_url}/users/{user}/messages/{mail['id']}/attachments"
            ).json()["value"]
            assert [a["name"] for a in attached] == [f"{person}.txt"]


@pytest.mark.parametrize(
    ("csv", "arguments", "expected"),
    [
        ("name,n\nAda,1\n", [], "has no 'email' column (its columns: name, n)"),
        ("email,name,n\na@example.com,A,1\n", ["--body", "Dear {nmae}"], "the body: unknown placeholder {nmae}"),
        ("email,name,n\na@example.com,A,1\nb@example.com,B,2\nbob@,C,3\n", [], "row 3 (line 4): 'bob@' is not an email address"),
        ("email,name,n\na@example.com,A,1\nb@example.com,B,2,extra\n", [], "row 2 (line 3): 4 fields where the header has 3"),
        ("email,name,n\na@example.com,A,1\nb@example.com,B,2\n", ["--attach", "missing-{n}.pdf"], "row 1 (line 2): --attach: no file at missing-1.pdf"),
        ("email,name,n\na@example.com,A,1\n", ["--to", "x@example.com"], "--each takes each recipient from the CSV's email column"),
        ("email,name,n\n\xff\xfe,A,1\n", [], "not UTF-8 text"),
    ],
)  # fmt: skip
def test_a_bad_csv_exits_2_naming_the_row_and_nothing_is_sent(
    graph_sandbox: RunningSandbox,
    ada: dict[str, str],
    csv: str,
    arguments: list[str],
    expected: str,
) -> None:
    table = home(ada) / f"bad-{uuid.uuid4().hex[:8]}.csv"
    table.write_bytes(csv.encode("latin-1") if "\xff" in csv else csv.encode())
    since = graph_sandbox.request_log_position()
    run = graphpost(
        "send",
        "--each",
        str(table),
        "--subject",
        "{name}",
        "--body",
        "Hi {name}",
        *arguments,
        env=ada,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("graphpost send: ") and expected in run.stderr
    assert graph_sandbox.request_log(since) == []  # not even a sign-in: checked before anything


def test_killed_between_accepted_and_journaled_a_rerun_mails_nobody_twice(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    rows = 200
    table, tag = people(ada, rows)
    # after 100 mails, the next 4 are sent but their answers held back: every sending slot is
    # then in the window between "Graph accepted" and "journal written" when SIGKILL comes
    graph_sandbox.inject_fault(
        "POST", "/me/sendMail$", 503, times=4, after=100, when="after", delay_ms=8000
    )
    first = subprocess.Popen(
        [*GRAPHPOST, *merge(table, tag)], env=ada, cwd=home(ada), text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: sum(sent_subjects(graph_sandbox, tag).values()) == 104, "104 mails", first)
        # a second run of the same merge meanwhile is refused: it would race the first
        second = graphpost(*merge(table, tag), env=ada)
        assert second.returncode == 1
        assert f"another graphpost (pid {first.pid}) is sending this mail merge" in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        first.kill()
    records = journal(ada, table)
    assert sum(1 for r in records if r.get("sent")) == 100
    # 4 accepted but not journaled, and up to 4 more threads that had their mail ready
    assert 104 <= sum(1 for r in records if "attempt" in r) <= 108

    since = graph_sandbox.request_log_position()
    again = graphpost(*merge(table, tag), env=ada)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(
        f"{rows} rows: 96 sent, 100 sent by an earlier run, 4 found already sent, 0 failed ("
    )
    assert sent_subjects(graph_sandbox, tag) == collections.Counter(
        {f"{tag} row {n}": 1 for n in range(rows)}
    )
    # the first run's 4 held-back answers (503) are logged when they go, maybe during this run
    log = [e for e in graph_sandbox.request_log(since) if e["status"] != 503]
    assert sum(e["path"].endswith("/sendMail") for e in log) == 96
    lookups = [e for e in log if e["path"].startswith("/v1.0/me/mailFolders/sentitems/")]
    # each row in doubt (4 accepted, up to 4 never sent) looked for, again after a pause if absent
    assert 4 <= len(lookups) <= 16
    assert not any(e["status"] == 429 for e in log)  # 8 threads, never over 4 at once


def test_a_failed_row_is_listed_and_a_rerun_sends_only_it(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    table, tag = people(ada, 5)
    graph_sandbox.inject_fault(
        "POST", "/me/sendMail$", 400, after=2, code="ErrorInvalidRecipients",
        message="At least one recipient is not valid.",
    )  # fmt: skip
    since = graph_sandbox.request_log_position()
    run = graphpost(*merge(table, tag), env=ada)
    assert run.returncode == 1
    assert run.stdout.startswith("5 rows: 4 sent, 1 failed (")
    [refused] = [e for e in graph_sandbox.request_log(since) if e["status"] == 400]
    failed, advice = run.stderr.splitlines()
    assert failed.startswith("graphpost: row ") and failed.endswith(
        "): 400 ErrorInvalidRecipients: At least one recipient is not valid."
        f" (request-id: {refused['request_id']})"
    )
    row = int(failed.split()[2])
    assert f"(p{row - 1}@example.com)" in failed
    assert advice.startswith("graphpost: run the same command again")

    since = graph_sandbox.request_log_position()
    again = graphpost(*merge(table, tag, "--json"), env=ada)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["sent"], summary["sentEarlier"], summary["failed"]) == (1, 4, [])
    mail = [e["path"] for e in graph_sandbox.request_log(since) if "/me/" in e["path"]]
    # refused, so not sent: looked for once all the same (cheap), then sent
    assert [p.split("?")[0] for p in mail] == [
        "/v1.0/me/mailFolders/sentitems/messages",
        "/v1.0/me/sendMail",
    ]
    assert sent_subjects(graph_sandbox, tag) == collections.Counter(
        {f"{tag} row {n}": 1 for n in range(5)}
    )


def test_ctrl_c_stops_after_the_mails_in_flight_and_a_rerun_sends_the_rest(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    rows = 60
    table, tag = people(ada, rows)
    sender = ["--from", "ada@graphpost.test"]  # the app's own permission, in a cron job
    graph_sandbox.inject_fault(
        "POST", "/sendMail$", 503, times=4, after=20, when="after", delay_ms=5000
    )  # mails 21 to 24 go out, and their answers keep the merge waiting while it is stopped
    first = subprocess.Popen(
        [*GRAPHPOST, *merge(table, tag, *sender)], env=ada, cwd=home(ada), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        as_ada = graph_sandbox.user_token("ada")  # the merge sends as the daemon app
        wait_for(
            lambda: sum(sent_subjects(graph_sandbox, tag, as_ada).values()) >= 24, "24 mails", first
        )
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 130, err
    assert "stopping after the mails in flight" in err
    assert "not sent (stopped)" in out and "run the same command again" in err
    stopped = int(out.split(" not sent (stopped)")[0].rsplit(", ", 1)[1])
    assert stopped > 0

    again = graphpost(*merge(table, tag, *sender, "--json"), env=ada)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["sent"] == stopped and summary["sentEarlier"] == rows - stopped
    assert sent_subjects(graph_sandbox, tag) == collections.Counter(
        {f"{tag} row {n}": 1 for n in range(rows)}
    )


def test_a_dry_run_shows_each_mail_and_sends_nothing(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    table, tag = people(ada, 3)
    since = graph_sandbox.request_log_position()
    run = graphpost(*merge(table, tag, "--dry-run"), env=ada)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"row {n + 1}: to p{n}@example.com: {tag} row {n}" for n in range(3)
    ] + ["3 mail(s) checked; nothing sent (--dry-run)."]
    assert graph_sandbox.request_log(since) == []


def test_a_progress_bar_on_a_terminal_and_the_summary_alone_elsewhere(
    ada: dict[str, str],
) -> None:
    table, tag = people(ada, 6)
    code, screen = in_terminal(*merge(table, tag), env=ada)
    assert code == 0, screen
    assert "sending" in screen and "6/6" in screen and "━" in screen
    assert "6 rows: 6 sent, 0 failed" in screen

    table, tag = people(ada, 6)
    piped = graphpost(*merge(table, tag), env=ada)
    assert piped.returncode == 0
    assert piped.stdout.startswith("6 rows: 6 sent, 0 failed (") and piped.stdout.count("\n") == 1
    assert "\x1b" not in piped.stdout + piped.stderr


def test_a_new_message_to_the_same_csv_is_a_new_merge(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    table, tag = people(ada, 3)
    first = graphpost(*merge(table, tag), env=ada)
    assert first.returncode == 0 and first.stdout.startswith("3 rows: 3 sent,"), first.stderr
    news = ["send", "--each", str(table), "--subject", f"{tag} news {{n}}", "--body", "News"]
    second = graphpost(*news, env=ada)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("3 rows: 3 sent, 0 failed (")  # nobody skipped
    assert sent_subjects(graph_sandbox, tag) == collections.Counter(
        {f"{tag} {kind} {n}": 1 for kind in ("row", "news") for n in range(3)}
    )


def test_a_finished_merge_sends_nothing_again_until_asked_with_again(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    table, tag = people(ada, 3)
    assert graphpost(*merge(table, tag), env=ada).returncode == 0
    since = graph_sandbox.request_log_position()
    rerun = graphpost(*merge(table, tag), env=ada)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith("3 rows: 0 sent, 3 sent by an earlier run, 0 failed (")
    assert "every row was sent by an earlier run of this merge" in rerun.stderr
    assert "--again sends every row again" in rerun.stderr
    assert not [e for e in graph_sandbox.request_log(since) if "/me/" in e["path"]]

    again = graphpost(*merge(table, tag, "--again", "--json"), env=ada)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["sent"], summary["sentEarlier"], summary["foundInSentItems"]) == (3, 0, 0)
    assert sent_subjects(graph_sandbox, tag) == collections.Counter(
        {f"{tag} row {n}": 2 for n in range(3)}
    )


def test_another_message_while_a_merge_is_unfinished_waits_for_continue_or_again(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    table, tag = people(ada, 3)
    graph_sandbox.inject_fault("POST", "/me/sendMail$", 400, after=1, code="ErrorInvalidRecipients")
    assert graphpost(*merge(table, tag), env=ada).returncode == 1  # 2 sent, 1 refused
    fixed = ["send", "--each", str(table), "--subject", f"{tag} fixed {{n}}", "--body", "Dear {n}"]
    since = graph_sandbox.request_log_position()
    refused = graphpost(*fixed, env=ada)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "unfinished mail merge of another message" in refused.stderr
    assert "2 of 3 rows sent" in refused.stderr and "nothing was sent" in refused.stderr
    assert not [e for e in graph_sandbox.request_log(since) if "/me/" in e["path"]]
    both = graphpost(*fixed, "--again", "--continue", env=ada)
    assert both.returncode == 2 and "give one" in both.stderr

    carried_on = graphpost(*fixed, "--continue", env=ada)
    assert carried_on.returncode == 0, carried_on.stderr
    assert carried_on.stdout.startswith("3 rows: 1 sent, 2 sent by an earlier run, 0 failed (")
    sent = sent_subjects(graph_sandbox, tag)
    assert sum(sent.values()) == 3 and sum(1 for s in sent if " fixed " in s) == 1
    # finished now, with the fixed message: its next run sends nothing
    assert graphpost(*fixed, env=ada).stdout.startswith("3 rows: 0 sent, 3 sent by an earlier run")


def test_the_same_message_from_a_moved_csv_waits_for_again(
    graph_sandbox: RunningSandbox, ada: dict[str, str]
) -> None:
    table, tag = people(ada, 3)
    assert graphpost(*merge(table, tag), env=ada).returncode == 0
    moved = table.with_name(f"moved-{table.name}")
    table.rename(moved)
    since = graph_sandbox.request_log_position()
    refused = graphpost(*merge(moved, tag), env=ada)
    assert refused.returncode == 2 and refused.stdout == ""
    assert f"this message went to 3 row(s) of {table.resolve()}" in refused.stderr
    assert "nothing was sent. --again sends it anyway" in refused.stderr
    assert not [e for e in graph_sandbox.request_log(since) if "/me/" in e["path"]]
    # another message from the moved file is no such risk
    other = ["send", "--each", str(moved), "--subject", f"{tag} other {{n}}", "--body", "Hi"]
    assert graphpost(*other, env=ada).stdout.startswith("3 rows: 3 sent, 0 failed (")

    anyway = graphpost(*merge(moved, tag, "--again"), env=ada)
    assert anyway.returncode == 0, anyway.stderr
    assert anyway.stdout.startswith("3 rows: 3 sent, 0 failed (")
    assert sent_subjects(graph_sandbox, tag) == collections.Counter(
        {f"{tag} {kind} {n}": count for kind, count in (("row", 2), ("other", 1)) for n in range(3)}
    )
