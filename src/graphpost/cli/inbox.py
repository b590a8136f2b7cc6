"""`graphpost inbox`: the newest messages, a readable table (or lines) by default, JSON with --json.

With ``--all`` every page is followed; JSON is written as the pages arrive, so a large
mailbox streams rather than piling up in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

from graphpost.cli.output import Output
from graphpost.cli.signin import act
from graphpost.models import Message

FIELDS = ["id", "subject", "from", "receivedDateTime", "isRead", "hasAttachments", "bodyPreview"]
PAGE = 100  # messages a page with --all


def run_inbox(args: argparse.Namespace) -> int:
    out = Output(args.json)
    acting = act()
    if args.all:
        top, limit = args.top or PAGE, None
    else:
        top = limit = args.top or 10
    with acting.graph as graph:
        messages = graph.messages(
            args.folder, top=min(top, 1000), limit=limit, user=acting.user, select=FIELDS
        )
        if out.json_mode:
            _write_json(messages)
        elif out.terminal:
            _table(messages)
        else:
            _lines(messages)
    return 0


def _write_json(messages: Iterable[Message]) -> None:
    sys.stdout.write("[")
    for index, message in enumerate(messages):
        shown = {k: v for k, v in message.raw.items() if not k.startswith("@odata")}
        sys.stdout.write(("," if index else "") + "\n  " + json.dumps(shown, ensure_ascii=False))
    sys.stdout.write("\n]\n")
    sys.stdout.flush()


def _sender(message: Message) -> str:
    who = message.from_ or message.sender
    if who is None:
        return ""
    return f"{who.name} <{who.address}>" if who.name else who.address


def _received(message: Message) -> str:
    return message.received.strftime("%Y-%m-%d %H:%M") if message.received else ""


def _lines(messages: Iterable[Message]) -> None:
    count = 0
    for message in messages:
        mark = " " if message.is_read else "*"
        clip = "@" if message.has_attachments else " "
        print(
            f"{_received(message):16}  {mark}{clip} {_sender(message)[:40]:40}  {message.subject or ''}",
            flush=True,
        )
        count += 1
    if not count:
        print("No messages.", flush=True)


def _table(messages: Iterable[Message]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("received", no_wrap=True)
    table.add_column("", no_wrap=True)  # unread, attachments
    table.add_column("from", max_width=40, no_wrap=True)
    table.add_column("subject")
    for message in messages:
        flags = ("•" if not message.is_read else " ") + ("📎" if message.has_attachments else "")
        style = "bold" if not message.is_read else None
        table.add_row(
            _received(message), flags, _sender(message), message.subject or "", style=style
        )
    console = Console()
    if table.row_count:
        console.print(table)
    else:
        console.print("No messages.")
