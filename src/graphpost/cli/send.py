"""`graphpost send`: one mail, or with ``--each FILE.csv`` one mail per row (a mail merge).

A merge checks the whole CSV and every template first and sends nothing if anything is wrong.
Then it sends through the library's `send_many` (as many at once as Outlook allows), each mail
with a client key the journal derives from its row, so that a re-run after Ctrl-C, a crash or
SIGKILL sends only what Graph had not accepted and nobody gets a mail twice.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphpost.cli.failures import FAILED, INTERRUPTED, UsageError
from graphpost.cli.journal import (
    Merge,
    MergeJournal,
    RowState,
    journal_path,
    list_in_index,
    message_index,
    sent_elsewhere,
)
from graphpost.cli.merge import MergeTemplates, PlannedMail, Template, plan, read_sheet
from graphpost.cli.output import Output, size_text
from graphpost.cli.signin import act
from graphpost.client import OUTLOOK_CONCURRENCY
from graphpost.core import mail
from graphpost.core.http import Operation, pause
from graphpost.errors import GraphError, InvalidRecipients
from graphpost.models import SendReceipt

# Exchange files a sent mail in Sent Items within seconds: a row in doubt younger than this is
# looked for again after a pause before it counts as not sent
SETTLE_SECONDS = sum(mail.SETTLE_WAITS)
# threads preparing and journaling mails while the transport keeps 4 requests in flight
SENDING_THREADS = 8
MERGE_ONLY = {"--dry-run": "dry_run", "--again": "again", "--continue": "carry_on"}


def run_send(args: argparse.Namespace) -> int:
    if args.each is not None:
        return run_merge(args)
    merge_only = [name for name, given in MERGE_ONLY.items() if getattr(args, given)]
    if merge_only:
        raise UsageError(f"{' and '.join(merge_only)}: only with --each FILE.csv; nothing was sent")
    out = Output(args.json)
    to, cc, bcc = (_addresses(args.to), _addresses(args.cc), _addresses(args.bcc))
    if not (to or cc or bcc):
        raise UsageError("a mail needs a recipient: give --to, --cc or --bcc")
    body = _body(args)
    attachments = [_attachment(name) for name in args.attach]
    # a bar only for what takes a while: attachments that go up through upload sessions
    bar = out.progress("attaching") if any(a.is_large for a in attachments) else nullcontext()
    acting = act(args.sender)
    with acting.graph as graph, bar as progress:
        receipt = graph.send_mail(
            args.subject,
            body,
            to,
            cc,
            bcc,
            html=args.html,
            attachments=attachments,
            user=acting.user,
            progress=progress,
        )
    everyone = to + cc + bcc
    if out.json_mode:
        out.data(
            {
                "sent": True,
                "to": to,
                "cc": cc,
                "bcc": bcc,
                "subject": args.subject,
                "attachments": [a.filename for a in attachments],
                "requestId": receipt.request_id,
                "clientRequestId": receipt.client_request_id,
                "alreadySent": receipt.already_sent,
            }
        )
    else:
        out.line(
            f"Sent to {', '.join(everyone)}"
            + (f" with {len(attachments)} attachment(s)" if attachments else "")
            + (f" (request-id: {receipt.request_id})" if receipt.request_id else "")
        )
    return 0


def _addresses(values: Sequence[str]) -> list[str]:
    try:
        return mail.parse_recipients(values)
    except InvalidRecipients as problem:
        raise UsageError(str(problem)) from None


def _body(args: argparse.Namespace) -> str:
    """--body, --body-file (``-`` for stdin), else stdin when it is not a terminal."""
    if args.body is not None:
        return str(args.body)
    if args.body_file is not None and args.body_file != "-":
        try:
            return Path(args.body_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--body-file: no file at {args.body_file}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--body-file: {args.body_file} is not UTF-8 text") from None
    if args.body_file == "-" or not sys.stdin.isatty():
        try:
            return sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("the body on standard input is not UTF-8 text") from None
    return ""


def _attachment(name: str) -> mail.FileAttachment:
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"--attach: no file at {name}")
    if path.stat().st_size > mail.MAX_LARGE_ATTACHMENT_BYTES:
        raise UsageError(f"--attach: {name} is {size_text(path.stat().st_size)}, over 150 MB")
    return mail.FileAttachment.from_path(path)


# -- mail merge --------------------------------------------------------------------------------


class MergeStopped(Exception):
    """Ctrl-C or SIGTERM came before this row's turn: it was not sent."""


@dataclass(frozen=True, eq=False)
class MergeMail(mail.OutgoingMail):
    """One row's mail, journaled: its attempt is on disk before its first request leaves, and a
    row in doubt from an earlier run is looked for in Sent Items before it is sent again."""

    row: int = 0
    row_key: str = ""
    journal: MergeJournal | None = field(default=None, repr=False)
    look_first: bool = False  # tried before: it may be in Sent Items already
    settle_until: float = 0.0  # when Exchange has surely filed it, if it went
    stop: threading.Event | None = field(default=None, repr=False)

    def operation(self, settle_waits: Sequence[float] | None = None) -> Operation[SendReceipt]:
        if self.stop is not None and self.stop.is_set():
            raise MergeStopped()
        assert self.journal is not None and self.client_key is not None
        if self.look_first:
            copy = yield from self._find_copy()
            if copy is not None:
                return SendReceipt(
                    None, None, already_sent=True, client_key=self.client_key, sent_message_id=copy
                )
        self.journal.attempt(self.row_key, self.row)
        return (yield from super().operation(settle_waits))

    def _find_copy(self) -> Operation[str | None]:
        assert self.client_key is not None
        found = yield from mail.find_sent(self.client_key, self.user)
        wait = self.settle_until - time.time()
        if found is None and wait > 0:
            yield pause(wait)
            found = yield from mail.find_sent(self.client_key, self.user)
        return found


@dataclass
class Tally:
    rows: int = 0
    earlier: int = 0  # sent by an earlier run, per the journal
    sent: int = 0
    found: int = 0  # in doubt, and found in Sent Items: sent before, not again
    stopped: int = 0
    failed: list[tuple[PlannedMail, str]] = field(default_factory=list)
    seconds: float = 0.0  # spent sending


def run_merge(args: argparse.Namespace) -> int:
    out = Output(args.json)
    if args.to:
        raise UsageError("--each takes each recipient from the CSV's email column: drop --to")
    if args.again and args.carry_on:
        raise UsageError("--again starts a new merge and --continue goes on with one: give one")
    csv_file = Path(args.each)
    templates = _templates(args)
    mails = plan(read_sheet(csv_file), templates)
    if args.dry_run:
        return _show_plan(out, mails)
    acting = act(args.sender, in_flight=OUTLOOK_CONCURRENCY)
    path = journal_path(acting.home / "merges", acting.graph.graph_url, acting.identity, csv_file)
    about = {"csv": str(csv_file.resolve()), "sender": acting.identity}
    journal = MergeJournal.open(path, {**about, "message": templates.identity()})
    try:
        index = message_index(
            path.parent, acting.graph.graph_url, acting.identity, templates.identity()
        )
        _choose_merge(journal, index, about, templates.identity(), mails, args)
        list_in_index(index, journal.path)
    except BaseException:
        journal.close()
        raise
    tally = Tally(rows=len(mails))
    stop = threading.Event()
    todo: list[MergeMail] = []
    for planned in mails:
        state = journal.rows.get(planned.key)
        if state is not None and state.sent:
            tally.earlier += 1
            continue
        todo.append(
            MergeMail(
                subject=planned.subject,
                body=planned.body,
                to=[planned.to],
                cc=planned.cc,
                bcc=planned.bcc,
                html=args.html,
                attachments=[mail.FileAttachment.from_path(p) for p in planned.attachments],
                user=acting.user,
                client_key=journal.client_key(planned.key),
                row=planned.row.number,
                row_key=planned.key,
                journal=journal,
                look_first=state is not None and state.in_doubt,
                settle_until=_settled(state),
                stop=stop,
            )
        )
    by_key = {m.key: m for m in mails}

    def heard(outcome: mail.SendOutcome) -> None:
        sent = outcome.mail
        assert isinstance(sent, MergeMail) and journal is not None
        if outcome.receipt is not None:
            journal.sent(sent.row_key, sent.row, outcome.receipt.request_id)
            if outcome.receipt.already_sent:
                tally.found += 1
            else:
                tally.sent += 1
        elif isinstance(outcome.error, MergeStopped):
            tally.stopped += 1
        else:
            text = str(outcome.error)
            journal.failed(sent.row_key, sent.row, text, _refused(outcome.error))
            tally.failed.append((by_key[sent.row_key], text))

    try:
        with (
            acting.graph as graph,
            _stopping(stop),
            out.progress("sending", unit="mails") as progress,
        ):
            began = time.monotonic()
            if todo:
                graph.send_many(todo, workers=SENDING_THREADS, progress=progress, on_outcome=heard)
            tally.seconds = time.monotonic() - began
        if not (tally.stopped or tally.failed or journal.merge.done):
            journal.finish()
    finally:
        journal.close()
    return _summary(out, tally, journal.path)


def _settled(state: RowState | None) -> float:
    """Until when a row in doubt may still turn up in Sent Items (none for a refused one)."""
    if state is None or not state.in_doubt or state.refused or state.attempted_at is None:
        return 0.0
    return state.attempted_at + SETTLE_SECONDS


def _refused(error: BaseException | None) -> bool:
    """Graph said no (a 4xx other than 408 and 429): that attempt sent nothing."""
    return (
        isinstance(error, GraphError)
        and 400 <= error.status < 500
        and error.status
        not in (
            408,
            429,
        )
    )


def _templates(args: argparse.Namespace) -> MergeTemplates:
    """The message, checked: `MergeProblems` (exit 2) before anything is sent."""
    return MergeTemplates(
        subject=Template.parse("--subject", args.subject),
        body=Template.parse("the body", _body(args)),
        cc=tuple(Template.parse("--cc", text) for text in args.cc),
        bcc=tuple(Template.parse("--bcc", text) for text in args.bcc),
        attachments=tuple(Template.parse("--attach", text) for text in args.attach),
        html=args.html,
    )


def _choose_merge(
    journal: MergeJournal,
    index: Path,
    about: dict[str, str],
    message: str,
    mails: Sequence[PlannedMail],
    args: argparse.Namespace,
) -> None:
    """Go on with the CSV's merge, or start a new one: the same message goes on (after Ctrl-C, a
    crash, a failed row, or rows added), unless every row was sent and --again asks for a new
    merge; another message starts a new merge once the earlier one is finished, and while it is
    not, nothing is sent until --continue or --again says which is meant. A new merge of a
    message that another CSV file's merge has sent waits for --again."""
    merge = journal.merge
    started = _when(merge)
    sent = sum(1 for m in mails if (state := merge.rows.get(m.key)) is not None and state.sent)
    same = merge.about.get("message") == message
    if not args.again and not (same and merge.rows):
        found = sent_elsewhere(index, journal.path, message)
        if found is not None:
            other, count = found
            raise UsageError(
                f"this message went to {count} row(s) of {other.about.get('csv')} (a merge started"
                f" {_when(other)}); from {args.each} it would reach them again, so nothing was"
                " sent. --again sends it anyway"
            )
    if same:
        if sent < len(mails):
            if args.again:
                _note(f"--again: the merge of this message started {started} has not sent every")
                _note("row yet; it goes on, and no row is sent twice")
            return
        if args.again:
            journal.start_over({**about, "message": message})
        else:
            _note(f"every row was sent by an earlier run of this merge (started {started});")
            _note("nothing sent. --again sends every row again")
        return
    if merge.done or not merge.rows or args.again:
        journal.start_over({**about, "message": message})
    elif args.carry_on:
        journal.rename(message)
    else:
        raise UsageError(
            f"{args.each} has an unfinished mail merge of another message (started {started},"
            f" {sent} of {len(mails)} rows sent); nothing was sent. --continue sends this message"
            " to the rows it has not sent; --again starts a new merge and sends every row"
        )


def _when(merge: Merge) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(merge.about.get("started", 0)))


def _note(text: str) -> None:
    print(f"graphpost: {text}", file=sys.stderr, flush=True)


@contextmanager
def _stopping(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM lets the mails in flight finish and sends no more (a second one skips
    the summary); the journal knows where the merge stands either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "graphpost: stopping after the mails in flight (Ctrl-C again: no summary)",
            file=sys.stderr,
            flush=True,
        )

    signals = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, request_stop) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show_plan(out: Output, mails: list[PlannedMail]) -> int:
    if out.json_mode:
        out.data(
            [
                {
                    "row": m.row.number,
                    "to": m.to,
                    "cc": list(m.cc),
                    "bcc": list(m.bcc),
                    "subject": m.subject,
                    "attachments": [str(p) for p in m.attachments],
                }
                for m in mails
            ]
        )
        return 0
    for m in mails:
        out.line(f"row {m.row.number}: to {m.to}: {m.subject}")
    out.line(f"{len(mails)} mail(s) checked; nothing sent (--dry-run).")
    return 0


def _summary(out: Output, tally: Tally, journal: Path) -> int:
    failed = [
        {"row": m.row.number, "line": m.row.line, "to": m.to, "error": error}
        for m, error in sorted(tally.failed, key=lambda item: item[0].row.number)
    ]
    if out.json_mode:
        out.data(
            {
                "rows": tally.rows,
                "sent": tally.sent,
                "sentEarlier": tally.earlier,
                "foundInSentItems": tally.found,
                "notSent": tally.stopped,
                "failed": failed,
                "seconds": round(tally.seconds, 3),
                "journal": str(journal),
            }
        )
    else:
        parts = [f"{tally.sent} sent"]
        if tally.earlier:
            parts.append(f"{tally.earlier} sent by an earlier run")
        if tally.found:
            parts.append(f"{tally.found} found already sent")
        if tally.stopped:
            parts.append(f"{tally.stopped} not sent (stopped)")
        parts.append(f"{len(failed)} failed")
        out.line(f"{tally.rows} rows: {', '.join(parts)} ({tally.seconds:.1f} s).")
    for item in failed:
        print(f"graphpost: row {item['row']} ({item['to']}): {item['error']}", file=sys.stderr)
    if tally.stopped or failed:
        print(
            "graphpost: run the same command again to send the rows not sent; no row is sent twice",
            file=sys.stderr,
            flush=True,
        )
    if tally.stopped:
        return INTERRUPTED
    return FAILED if failed else 0
