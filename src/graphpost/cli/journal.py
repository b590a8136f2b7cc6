"""A mail merge's journal: which rows Graph accepted, so that a re-run sends only the others.

One JSON line per event, appended and flushed to disk (fsync) before the run goes on:

- a header with the merge's id, from which every row's client key is made, and which message
  (templates) it sends; a later header starts a new merge of the same CSV, and the rows before it
  no longer count;
- ``attempt`` before a row's first request leaves: from then on the mail may have gone;
- ``sent`` once Graph accepted it (or it was found in Sent Items);
- ``failed`` with the error, for the summary (a failed row is tried again next run), and
  whether Graph refused it (a 4xx: it was not sent) or the outcome is unknown;
- ``done`` once a run ended with every row sent: the merge is finished.

A crash (Ctrl-C, SIGKILL, a power cut) can fall between "Graph accepted" and ``sent``.  Such a
row is *in doubt*: the next run looks for its client key in the sender's Sent Items before it
sends anything, and sends it only if no copy is there once Exchange has had time to file one.
A refused row is looked for too (cheap), without waiting for Exchange.
A torn last line, from a crash in the middle of a write, is ignored.

Each message (the templates, whatever CSV file they read) has an index of the journals that sent
it, so that a new merge of a message another CSV's merge already sent can wait to be told.

Only one process may run a merge at a time: the journal's owner file names it, and a second
run refuses while that process is alive.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphpost.cli.failures import Busy
from graphpost.tokencache import file_lock, pid_alive

VERSION = 1


@dataclass
class RowState:
    row: int
    attempted_at: float | None = None
    sent: bool = False
    error: str | None = None
    refused: bool = False  # the last attempt was refused by Graph: it was not sent

    @property
    def in_doubt(self) -> bool:
        """Tried, and not known to be sent: look in Sent Items before sending it again."""
        return self.attempted_at is not None and not self.sent


def journal_path(folder: Path, graph_url: str, sender: str, csv_file: Path) -> Path:
    """One journal per (Graph, who sends, which CSV file)."""
    identity = f"{graph_url}\n{sender}\n{csv_file.resolve()}"
    return folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.jsonl"


def message_index(folder: Path, graph_url: str, sender: str, message: str) -> Path:
    """Where the journals of one message's merges are listed, whatever CSV file each read: the
    same message run from a moved or copied CSV would otherwise mail everybody again."""
    identity = f"{graph_url}\n{sender}\n{message}"
    return folder / "messages" / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.txt"


def list_in_index(index: Path, journal: Path) -> None:
    if journal.name in _listed(index):
        return
    index.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(index, "a", encoding="utf-8") as listing:
        listing.write(journal.name + "\n")


def sent_elsewhere(index: Path, journal: Path, message: str) -> tuple[Merge, int] | None:
    """Another journal's merge of `message` that sent at least one row, and how many it sent."""
    for name in _listed(index):
        other = _read(journal.with_name(name)) if name != journal.name else None
        if other is not None and other.about.get("message") == message:
            sent = sum(1 for state in other.rows.values() if state.sent)
            if sent:
                return other, sent
    return None


def _listed(index: Path) -> list[str]:
    try:
        return index.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return []


class MergeJournal:
    """Open with `MergeJournal.open` (which claims it for this process); `close()` releases it."""

    def __init__(self, path: Path, merge: Merge) -> None:
        self.path = path
        self.merge = merge
        self._lock = threading.Lock()
        self._file = open(path, "ab")  # noqa: SIM115 - kept open for the merge, closed by close()

    @classmethod
    def open(cls, path: Path, about: dict[str, Any]) -> MergeJournal:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _claim(path)
        try:
            return cls(path, _read(path) or _start(path, about))
        except BaseException:
            _release(path)
            raise

    @property
    def rows(self) -> dict[str, RowState]:
        return self.merge.rows

    def start_over(self, about: dict[str, Any]) -> None:
        """A new merge of this CSV: every row is to be sent, with new client keys."""
        with self._lock:
            self._file.flush()
            self.merge = _start(self.path, about)

    def rename(self, message: str) -> None:
        """The merge goes on with another message (templates changed, a typo fixed, say)."""
        self._write({"message": message})
        self.merge.about["message"] = message

    def finish(self) -> None:
        """Every row is sent: the next run of this merge has nothing left to do."""
        self._write({"done": time.time()})
        self.merge.done = True

    def client_key(self, row_key: str) -> str:
        """The key a row's mail carries, findable in Sent Items: the same in every run."""
        digest = hashlib.sha256(row_key.encode()).hexdigest()[:24]
        return f"graphpost-merge.{self.merge.id}.{digest}"

    def attempt(self, row_key: str, row: int) -> None:
        now = time.time()
        self._write({"key": row_key, "row": row, "attempt": now})
        with self._lock:
            state = self.rows.setdefault(row_key, RowState(row))
            state.attempted_at, state.refused = now, False

    def sent(self, row_key: str, row: int, request_id: str | None) -> None:
        self._write({"key": row_key, "row": row, "sent": True, "request_id": request_id})
        with self._lock:
            self.rows.setdefault(row_key, RowState(row)).sent = True

    def failed(self, row_key: str, row: int, error: str, refused: bool) -> None:
        self._write({"key": row_key, "row": row, "failed": error, "refused": refused})

    def close(self) -> None:
        self._file.close()
        _release(self.path)

    def _write(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())


@dataclass
class Merge:
    """The merge under way in a journal: its header and what each row's last record says."""

    id: str
    about: dict[str, Any]
    rows: dict[str, RowState] = field(default_factory=dict)
    done: bool = False


def _read(path: Path) -> Merge | None:
    merge: Merge | None = None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if raw and not raw.endswith(b"\n"):
        # a write torn by a crash: drop it, so that the next record starts on a line of its own
        with open(path, "r+b") as damaged:
            damaged.truncate(raw.rfind(b"\n") + 1)
        raw = raw[: raw.rfind(b"\n") + 1]
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "merge" in record:  # a new merge: what came before is done with
            merge = Merge(str(record["merge"]), record)
            continue
        if merge is None:
            continue
        if "done" in record:
            merge.done = True
            continue
        if "message" in record:
            merge.about["message"] = record["message"]
            continue
        key, row = record.get("key"), record.get("row")
        if not isinstance(key, str) or not isinstance(row, int):
            continue
        state = merge.rows.setdefault(key, RowState(row))
        if "attempt" in record:
            state.attempted_at, state.refused = float(record["attempt"]), False
        if record.get("sent"):
            state.sent = True
        if "failed" in record:
            state.error, state.refused = str(record["failed"]), bool(record.get("refused"))
    return merge


def _start(path: Path, about: dict[str, Any]) -> Merge:
    header = {"merge": uuid.uuid4().hex, "version": VERSION, "started": time.time(), **about}
    _append(path, header)
    return Merge(header["merge"], header)


def _append(path: Path, record: dict[str, Any]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, json.dumps(record, separators=(",", ":")).encode() + b"\n")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- one process at a time ---------------------------------------------------------------------


def _owner_path(path: Path) -> Path:
    return path.with_name(path.name + ".owner")


def _claim(path: Path) -> None:
    """Become the journal's owner, unless a live process is (a crashed owner is replaced)."""
    owner = _owner_path(path)
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    # the lock guards only reading and writing the owner file: milliseconds
    with file_lock(path.with_name(path.name + ".lock")):
        with contextlib.suppress(FileNotFoundError, ValueError):
            holder = json.loads(owner.read_text(encoding="utf-8"))
            pid = holder.get("pid")
            elsewhere = holder.get("host") != me["host"]
            if isinstance(pid, int) and pid != me["pid"] and (elsewhere or pid_alive(pid)):
                where = f" on {holder.get('host')}" if elsewhere else ""
                raise Busy(
                    f"another graphpost (pid {pid}{where}) is sending this mail merge; wait for it"
                    f" to finish, or stop it (its journal: {path})"
                )
        owner.write_text(json.dumps(me), encoding="utf-8")


def _release(path: Path) -> None:
    owner = _owner_path(path)
    with file_lock(path.with_name(path.name + ".lock")), contextlib.suppress(OSError, ValueError):
        if json.loads(owner.read_text(encoding="utf-8")).get("pid") == os.getpid():
            owner.unlink()
