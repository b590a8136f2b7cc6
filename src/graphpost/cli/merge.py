"""Mail merge, the part without I/O to Graph: the CSV's rows, `{column}` templates, and every mail
checked and rendered before the first one is sent.

A row is known by its recipient and how many rows before it have the same recipient
(``ada@example.com#2``), so that adding rows, or fixing a typo in a template (with
``--continue``), keeps what the journal knows about the rows already sent.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphpost.cli.failures import UsageError
from graphpost.core.mail import MAX_LARGE_ATTACHMENT_BYTES, is_email_address, parse_recipients
from graphpost.errors import InvalidRecipients

EMAIL_COLUMN = "email"
MAX_PROBLEMS_SHOWN = 20


class MergeProblems(UsageError):
    """The CSV or the templates do not check out; nothing was sent.  One problem a line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        more = len(self.problems) - len(shown)
        lines = shown + ([f"... and {more} more"] if more > 0 else [])
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Template:
    """Text with ``{column}`` placeholders (``{{`` and ``}}`` are literal braces)."""

    what: str  # "subject", "body", "--attach": for messages
    text: str
    fields: tuple[str, ...]

    @classmethod
    def parse(cls, what: str, text: str) -> Template:
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as problem:
            raise MergeProblems(
                [f"{what}: {problem} (write {{{{ and }}}} for literal braces)"]
            ) from None
        names: list[str] = []
        for _, name, _, conversion in parts:
            if name is None:
                continue
            if name == "" or name.isdigit() or any(c in name for c in ".[]") or conversion:
                raise MergeProblems(
                    [
                        f"{what}: {{{name}{'!' + conversion if conversion else ''}}} is not a column"
                        " placeholder; write {column} (or {{ and }} for literal braces)"
                    ]
                )
            names.append(name)
        return cls(what, text, tuple(dict.fromkeys(names)))

    def render(self, values: Mapping[str, str], escape_html: bool = False) -> str:
        shown = {k: html.escape(v) for k, v in values.items()} if escape_html else values
        return self.text.format_map(shown)


@dataclass(frozen=True)
class Row:
    number: int  # 1 for the first row after the header
    line: int  # where it starts in the file
    values: dict[str, str]

    @property
    def where(self) -> str:
        return f"row {self.number} (line {self.line})"


@dataclass(frozen=True)
class Sheet:
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    email_column: str


def read_sheet(path: Path) -> Sheet:
    """The CSV's header and rows (UTF-8, a BOM allowed; rows with every field empty skipped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MergeProblems([f"{path}: no such file"]) from None
    except UnicodeDecodeError as problem:
        raise MergeProblems(
            [f"{path}: not UTF-8 text (byte {problem.start}); save the CSV as UTF-8"]
        ) from None
    return parse_sheet(text.splitlines(keepends=True), str(path))


def parse_sheet(lines: Iterable[str], name: str = "the CSV") -> Sheet:
    reader = csv.reader(lines)
    problems: list[str] = []
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise MergeProblems([f"{name} is empty: it needs a header line, with an email column"])
        columns = tuple(cell.strip() for cell in header)
        seen: set[str] = set()
        for index, column in enumerate(columns, 1):
            if not column:
                problems.append(f"{name}: column {index} of the header has no name")
            elif column.lower() in seen:
                problems.append(f"{name}: the header has two columns named {column!r}")
            seen.add(column.lower())
        email = next((c for c in columns if c.lower() == EMAIL_COLUMN), None)
        if email is None:
            problems.append(
                f"{name} has no {EMAIL_COLUMN!r} column (its columns: {', '.join(columns)})"
            )
        rows: list[Row] = []
        line = reader.line_num + 1
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                line = reader.line_num + 1
                continue
            row = Row(len(rows) + 1, line, dict(zip(columns, cells, strict=False)))
            if len(cells) != len(columns):
                problems.append(
                    f"{name}, {row.where}: {len(cells)} fields where the header has {len(columns)}"
                )
            rows.append(row)
            line = reader.line_num + 1
    except csv.Error as problem:
        raise MergeProblems([f"{name}, line {reader.line_num}: {problem}"]) from None
    if not rows and not problems:
        problems.append(f"{name} has a header but no rows: there is nobody to send to")
    if problems:
        raise MergeProblems(problems)
    assert email is not None
    return Sheet(columns, tuple(rows), email)


@dataclass(frozen=True)
class MergeTemplates:
    subject: Template
    body: Template
    cc: tuple[Template, ...] = ()
    bcc: tuple[Template, ...] = ()
    attachments: tuple[Template, ...] = ()
    html: bool = False

    def all(self) -> tuple[Template, ...]:
        return (self.subject, self.body, *self.cc, *self.bcc, *self.attachments)

    def identity(self) -> str:
        """What makes two merges the same message, whatever CSV file they read."""
        texts = {
            "subject": self.subject.text,
            "body": self.body.text,
            "cc": [t.text for t in self.cc],
            "bcc": [t.text for t in self.bcc],
            "attach": [t.text for t in self.attachments],
            "html": self.html,
        }
        return hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PlannedMail:
    """One row's mail, rendered and checked."""

    row: Row
    key: str  # the row's identity across runs (see the module's docstring)
    to: str
    subject: str
    body: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    attachments: tuple[Path, ...] = field(default=())


def plan(sheet: Sheet, templates: MergeTemplates) -> list[PlannedMail]:
    """Every row's mail, or `MergeProblems` naming each row and template that does not work:
    an unknown placeholder, a bad address, a missing attachment."""
    known = set(sheet.columns)
    problems = [
        f"{template.what}: unknown placeholder {{{name}}} (the CSV's columns: "
        f"{', '.join(sheet.columns)})"
        for template in templates.all()
        for name in template.fields
        if name not in known
    ]
    if problems:
        raise MergeProblems(problems)
    mails: list[PlannedMail] = []
    occurrences: dict[str, int] = {}
    for row in sheet.rows:
        values = {column: row.values.get(column) or "" for column in sheet.columns}
        address = values[sheet.email_column].strip()
        if not address:
            problems.append(f"{row.where}: no address in the {sheet.email_column!r} column")
            continue
        if not is_email_address(address):
            problems.append(f"{row.where}: {address!r} is not an email address")
            continue
        try:
            rendered = _render(row, values, templates)
        except MergeProblems as found:
            problems.extend(found.problems)
            continue
        occurrences[address.lower()] = occurrences.get(address.lower(), 0) + 1
        key = f"{address.lower()}#{occurrences[address.lower()]}"
        mails.append(PlannedMail(row, key, address, *rendered))
    if problems:
        raise MergeProblems(problems)
    return mails


def _render(
    row: Row, values: dict[str, str], templates: MergeTemplates
) -> tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[Path, ...]]:
    problems: list[str] = []

    def render(template: Template, escape_html: bool = False) -> str:
        try:
            return template.render(values, escape_html)
        except (ValueError, KeyError) as problem:
            problems.append(f"{row.where}: {template.what}: {problem}")
            return ""

    subject = render(templates.subject)
    body = render(templates.body, escape_html=templates.html)
    copies: list[tuple[str, ...]] = []
    for group in (templates.cc, templates.bcc):
        addresses: list[str] = []
        for template in group:
            try:
                addresses.extend(parse_recipients(render(template)))
            except InvalidRecipients as problem:
                problems.append(f"{row.where}: {template.what}: {problem}")
        copies.append(tuple(addresses))
    files: list[Path] = []
    for template in templates.attachments:
        name = render(template)
        if not name:
            continue
        path = Path(name)  # relative to the working folder, as on the command line
        if not path.is_file():
            problems.append(f"{row.where}: {template.what}: no file at {name}")
        elif path.stat().st_size > MAX_LARGE_ATTACHMENT_BYTES:
            problems.append(f"{row.where}: {template.what}: {name} is over Outlook's 150 MB")
        else:
            files.append(path)
    if problems:
        raise MergeProblems(problems)
    return subject, body, copies[0], copies[1], tuple(files)
