"""The command line's parts without a sandbox: templates, CSV checks, the merge journal, the
in-flight limit, file names, and how failures become exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from graphpost.cli.failures import Busy, UsageError, explain
from graphpost.cli.files import local_for, remote_for
from graphpost.cli.inflight import InFlightLimit
from graphpost.cli.journal import MergeJournal, journal_path
from graphpost.cli.merge import MergeProblems, MergeTemplates, Template, parse_sheet, plan
from graphpost.config import ConfigError
from graphpost.errors import AuthError, GraphError, InvalidRecipients, TransportError


def sheet(text: str):  # type: ignore[no-untyped-def]
    return parse_sheet(text.splitlines(keepends=True), "people.csv")


def templates(
    subject: str = "Hi {name}", body: str = "Dear {name}", **more: object
) -> MergeTemplates:
    return MergeTemplates(
        Template.parse("--subject", subject), Template.parse("the body", body), **more
    )  # type: ignore[arg-type]


# -- templates and the CSV ---------------------------------------------------------------------


def test_a_template_names_its_columns_and_keeps_literal_braces() -> None:
    template = Template.parse("the body", "Dear {first name}, {{not a field}} {amount:>6}")
    assert template.fields == ("first name", "amount")
    assert (
        template.render({"first name": "Ada", "amount": "12"}) == "Dear Ada, {not a field}     12"
    )


@pytest.mark.parametrize(
    "text", ["Dear {name", "Dear {}", "{0}", "{name.upper}", "{name[0]}", "{name!r}"]
)
def test_a_template_that_is_not_column_placeholders_is_refused(text: str) -> None:
    with pytest.raises(MergeProblems) as problem:
        Template.parse("--subject", text)
    assert str(problem.value).startswith("--subject:")


def test_every_row_is_rendered_with_values_escaped_in_an_html_body() -> None:
    rows = sheet('email,name\nada@example.com,"O\'Brien & <Co>"\ngrace@example.com,Grace\n')
    mails = plan(rows, templates(body="<p>Dear {name}</p>", html=True))
    assert [m.to for m in mails] == ["ada@example.com", "grace@example.com"]
    assert mails[0].subject == "Hi O'Brien & <Co>"  # a subject is text
    assert mails[0].body == "<p>Dear O&#x27;Brien &amp; &lt;Co&gt;</p>"


def test_a_row_is_known_by_its_address_and_how_often_it_came_before() -> None:
    rows = sheet("email,n\nAda@Example.com,1\ngrace@example.com,2\nada@example.com,3\n")
    assert [m.key for m in plan(rows, templates("{n}", ""))] == [
        "ada@example.com#1",
        "grace@example.com#1",
        "ada@example.com#2",
    ]


def test_blank_rows_are_skipped_and_rows_keep_their_line_numbers() -> None:
    rows = sheet('email,note\n\nada@example.com,"two\nlines"\n,\ngrace@example.com,x\n')
    assert [(r.number, r.line) for r in rows.rows] == [(1, 3), (2, 6)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("name,city\nAda,London\n", "has no 'email' column (its columns: name, city)"),
        ("email,name,Name\nada@example.com,a,b\n", "two columns named 'Name'"),
        ("email,,x\nada@example.com,a,b\n", "column 2 of the header has no name"),
        ("email,name\n", "has a header but no rows"),
        (
            "email,name\nada@example.com,Ada,extra\n",
            "row 1 (line 2): 3 fields where the header has 2",
        ),
    ],
)
def test_a_csv_that_does_not_check_out_says_where(text: str, expected: str) -> None:
    with pytest.raises(MergeProblems) as problem:
        sheet(text)
    assert expected in str(problem.value)


def test_every_bad_row_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "ada.pdf").write_bytes(b"%PDF")
    rows = sheet(
        "email,name,file,boss\n"
        f"ada@example.com,Ada,{tmp_path}/ada.pdf,b@example.com\n"
        "bob@,Bob,x,b@example.com\n"
        ",Nobody,x,b@example.com\n"
        f"grace@example.com,Grace,{tmp_path}/missing.pdf,not an address\n"
    )
    with pytest.raises(MergeProblems) as problem:
        plan(
            rows,
            templates(
                attachments=(Template.parse("--attach", "{file}"),),
                cc=(Template.parse("--cc", "{boss}"),),
            ),
        )
    assert problem.value.problems == [
        "row 2 (line 3): 'bob@' is not an email address",
        "row 3 (line 4): no address in the 'email' column",
        "row 4 (line 5): --cc: 'not an address' is not an email address",
        f"row 4 (line 5): --attach: no file at {tmp_path}/missing.pdf",
    ]


def test_an_unknown_placeholder_names_the_columns_there_are() -> None:
    with pytest.raises(MergeProblems) as problem:
        plan(sheet("email,name\nada@example.com,Ada\n"), templates(body="Dear {nmae}"))
    assert (
        str(problem.value)
        == "the body: unknown placeholder {nmae} (the CSV's columns: email, name)"
    )


def test_many_problems_are_shown_up_to_a_limit() -> None:
    rows = sheet("email\n" + "bad\n" * 30)
    with pytest.raises(MergeProblems) as problem:
        plan(rows, templates("x", "y"))
    lines = str(problem.value).splitlines()
    assert len(lines) == 21 and lines[-1] == "... and 10 more"


# -- the journal -------------------------------------------------------------------------------


def test_the_journal_remembers_rows_across_runs_and_keeps_their_keys(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "https://graph", "user x", tmp_path / "people.csv")
    first = MergeJournal.open(path, {"csv": "people.csv"})
    key = first.client_key("ada@example.com#1")
    first.attempt("ada@example.com#1", 1)
    first.sent("ada@example.com#1", 1, "req-1")
    first.attempt("grace@example.com#1", 2)
    first.attempt("alan@example.com#1", 3)
    first.failed("alan@example.com#1", 3, "400 ErrorInvalidRecipients", refused=True)
    first.attempt("katherine@example.com#1", 4)
    first.failed("katherine@example.com#1", 4, "cannot reach Graph", refused=False)
    first.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    again = MergeJournal.open(path, {"csv": "people.csv"})
    try:
        assert again.client_key("ada@example.com#1") == key
        assert again.rows["ada@example.com#1"].sent
        assert again.rows["grace@example.com#1"].in_doubt  # tried; no answer on record
        refused = again.rows["alan@example.com#1"]
        assert refused.error == "400 ErrorInvalidRecipients" and refused.refused
        assert again.rows["katherine@example.com#1"].in_doubt  # unknown whether it went
        assert not again.rows["katherine@example.com#1"].refused
        assert again.client_key("grace@example.com#1") != key
    finally:
        again.close()
    other = journal_path(tmp_path, "https://graph", "user y", tmp_path / "people.csv")
    assert other != path  # another sender has a journal of its own


def test_a_line_torn_by_a_crash_is_dropped_and_the_journal_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "merge.jsonl"
    journal = MergeJournal.open(path, {})
    journal.sent("ada@example.com#1", 1, None)
    journal.close()
    with open(path, "ab") as damaged:
        damaged.write(b'{"key":"grace@example.com#1","row":2,"se')
    journal = MergeJournal.open(path, {})
    journal.sent("grace@example.com#1", 2, None)
    journal.close()
    assert all(json.loads(line) for line in path.read_text().splitlines())
    reread = MergeJournal.open(path, {})
    reread.close()
    assert reread.rows.keys() == {"ada@example.com#1", "grace@example.com#1"}


def test_a_live_process_keeps_the_merge_and_a_dead_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "merge.jsonl"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from graphpost.cli.journal import MergeJournal;"
            f" MergeJournal.open(Path({str(path)!r}), {{}}); print('held', flush=True);"
            " time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy) as busy:
            MergeJournal.open(path, {})
        assert f"pid {holder.pid}" in str(busy.value)
    finally:
        holder.kill()
        holder.wait()
    journal = MergeJournal.open(path, {})  # its owner is gone: the merge can go on
    journal.close()
    assert not path.with_name(path.name + ".owner").exists()


# -- the in-flight limit -----------------------------------------------------------------------


def test_no_more_than_the_limit_is_ever_in_flight_and_every_slot_comes_back() -> None:
    lock = threading.Lock()
    now = peak = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(0.02)
        with lock:
            now -= 1
        if request.url.path == "/fail":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"ok": True})

    with httpx.Client(transport=InFlightLimit(httpx.MockTransport(answer), 4)) as http:

        def work(index: int) -> None:
            for _ in range(5):
                path = "/fail" if index == 0 else "/"
                with contextlib.suppress(httpx.ConnectError):
                    assert http.get(f"https://graph.test{path}").json() == {"ok": True}

        threads = [threading.Thread(target=work, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert peak == 4
        # every slot came back (failures too): four more go at once
        for _ in range(4):
            http.get("https://graph.test/")


# -- file names and failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        (None, "report.pdf"),
        ("docs/", "docs/report.pdf"),
        ("/docs/q1.pdf", "docs/q1.pdf"),
        ("/", "report.pdf"),
    ],
)
def test_where_an_upload_goes(remote: str | None, expected: str) -> None:
    assert remote_for(Path("out/report.pdf"), remote) == expected


def test_where_a_download_goes(tmp_path: Path) -> None:
    assert local_for("docs/q1.pdf", None) == Path("q1.pdf")
    assert local_for("docs/q1.pdf", str(tmp_path)) == tmp_path / "q1.pdf"
    assert local_for("docs/q1.pdf", str(tmp_path / "x.pdf")) == tmp_path / "x.pdf"
    with pytest.raises(UsageError):
        local_for("/", None)


def test_failures_become_an_exit_code_and_one_line_without_secrets() -> None:
    graph = GraphError(
        403, "ErrorAccessDenied", "Access is denied.\r\nCheck credentials.", request_id="r-1"
    )
    assert explain(graph) == (
        1,
        "403 ErrorAccessDenied: Access is denied. Check credentials. (request-id: r-1)",
    )
    code, line = explain(
        GraphError.class_for_status(401)(401, "InvalidAuthenticationToken", "expired")
    ) or (0, "")
    assert code == 1 and "graphpost login" in line
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"
    code, line = explain(AuthError("invalid_grant", f"AADSTS70008: expired {token}")) or (0, "")
    assert code == 1 and token not in line and "AADSTS70008" in line
    assert explain(
        TransportError("reset", method="POST", url="https://g/x?sig=secret", request_sent=True)
    ) == (
        1,
        "cannot reach Graph: POST https://g/x: reset",
    )
    assert explain(ConfigError("no app registration"))[0] == 2  # type: ignore[index]
    assert explain(InvalidRecipients("'x' is not an email address"))[0] == 2  # type: ignore[index]
    assert explain(Busy("another graphpost"))[0] == 1  # type: ignore[index]
    assert explain(ValueError("a bug")) is None  # a bug is not dressed up as a failure


def test_importing_the_cli_loads_no_library_http_or_msal() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, graphpost.cli; print(sorted(m for m in sys.modules if m.split('.')[0]"
            " in ('httpx', 'msal', 'rich', 'requests') or m in ('graphpost.client', 'graphpost.cli.send')))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_a_new_merge_of_the_same_csv_forgets_the_rows_before_it(tmp_path: Path) -> None:
    path = journal_path(tmp_path, "https://graph", "user x", tmp_path / "people.csv")
    first = MergeJournal.open(path, {"message": "a"})
    old_key = first.client_key("ada@example.com#1")
    first.sent("ada@example.com#1", 1, "req-1")
    first.finish()
    first.close()
    reread = MergeJournal.open(path, {"message": "ignored: the journal has its merge"})
    assert reread.merge.done and reread.merge.about["message"] == "a"
    reread.start_over({"message": "b"})
    assert reread.rows == {} and not reread.merge.done
    assert reread.client_key("ada@example.com#1") != old_key
    reread.rename("c")
    reread.close()
    last = MergeJournal.open(path, {})
    last.close()
    assert (last.merge.about["message"], last.merge.done, last.rows) == ("c", False, {})
    assert last.client_key("ada@example.com#1") == reread.client_key("ada@example.com#1")
