"""The sandbox's durable state: one SQLite database in WAL mode plus a folder of blobs.

A 2xx from the sandbox means the data is on disk: blobs are written to a temporary
file, fsynced and renamed before the row that names them is committed, and SQLite
runs with ``synchronous=FULL``.  Writers share one connection and commit in groups
(see `Store.transaction`); each thread reads on a connection of its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    upn TEXT NOT NULL UNIQUE COLLATE NOCASE,
    mail TEXT COLLATE NOCASE,
    display_name TEXT NOT NULL,
    given_name TEXT,
    surname TEXT,
    job_title TEXT,
    office_location TEXT,
    mobile_phone TEXT,
    business_phones TEXT NOT NULL DEFAULT '[]',
    preferred_language TEXT,
    password_hash TEXT NOT NULL,
    photo_blob TEXT,
    photo_type TEXT,
    photo_size INTEGER,
    photo_etag TEXT
);

-- smaller sizes of a user's photo (the full size is on the user's row)
CREATE TABLE IF NOT EXISTS photo_renditions (
    user_id TEXT NOT NULL,
    pixels INTEGER NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (user_id, pixels)
);

CREATE TABLE IF NOT EXISTS apps (
    client_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    service_principal_id TEXT NOT NULL,
    is_public INTEGER NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    delegated_permissions TEXT NOT NULL DEFAULT '[]',
    app_roles TEXT NOT NULL DEFAULT '[]'
);

-- user_id '' is a tenant-wide (admin) consent
CREATE TABLE IF NOT EXISTS consents (
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    PRIMARY KEY (client_id, user_id)
);

CREATE TABLE IF NOT EXISTS auth_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    nonce TEXT,
    auth_time INTEGER NOT NULL,
    created REAL NOT NULL,
    redeemed REAL
);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    created REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    user_id TEXT,
    auth_time INTEGER,
    redeemed REAL
);

CREATE TABLE IF NOT EXISTS mail_folders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    well_known_name TEXT,
    display_name TEXT NOT NULL,
    UNIQUE (user_id, well_known_name)
);

CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    received TEXT NOT NULL,
    seq INTEGER NOT NULL,
    resource TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_folder ON messages (folder_id, received DESC, seq DESC);
CREATE INDEX IF NOT EXISTS messages_by_user ON messages (user_id, received DESC, seq DESC);
CREATE INDEX IF NOT EXISTS messages_by_seq ON messages (seq);

CREATE TABLE IF NOT EXISTS attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    is_inline INTEGER NOT NULL,
    content_id TEXT,
    last_modified TEXT NOT NULL,
    blob TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_by_message ON attachments (message_id, position);

-- large attachments arriving in chunks; the bytes so far are in the part file
CREATE TABLE IF NOT EXISTS attachment_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    is_inline INTEGER NOT NULL,
    content_id TEXT,
    received INTEGER NOT NULL DEFAULT 0,
    expires REAL NOT NULL
);

-- OneDrive uploads arriving in chunks; the bytes so far are in the part file
CREATE TABLE IF NOT EXISTS drive_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_id TEXT NOT NULL,
    path TEXT NOT NULL,
    conflict TEXT NOT NULL,
    size INTEGER,
    received INTEGER NOT NULL DEFAULT 0,
    expires REAL NOT NULL,
    app_id TEXT NOT NULL
);

-- mail for addresses outside the tenant: kept, never delivered anywhere
CREATE TABLE IF NOT EXISTS outbound_mail (
    id TEXT PRIMARY KEY,
    sender_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    recipients TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS drive_items (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL COLLATE NOCASE,
    is_folder INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mime_type TEXT,
    blob TEXT,
    sha256 TEXT,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_by_app TEXT,
    UNIQUE (parent_id, name)
);

-- open extensions on users and messages; data is the caller's own properties
CREATE TABLE IF NOT EXISTS extensions (
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    app_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, name)
);

CREATE TABLE IF NOT EXISTS sharing_links (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    link_type TEXT NOT NULL,
    scope TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    application_id TEXT,
    created TEXT NOT NULL,
    UNIQUE (item_id, link_type, scope)
);
"""


# a group commits at the latest when this many transactions are in it, so a steady stream of
# writers cannot keep the first of them waiting for ever
MAX_GROUP = 64


class CommitFailed(sqlite3.OperationalError):
    """The commit of a group of transactions failed: nothing of this transaction was kept."""


@dataclass(eq=False)
class _Group:
    """Transactions that share one COMMIT: each waits for `done`; `error` says the group was lost."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    size: int = 0


class Store:
    """SQLite (WAL) plus content-addressed-by-random-name blob files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = root / "sandbox.db"
        self._local = threading.local()
        # the one connection that writes, used by one thread at a time (the holder of _write_lock)
        self._writer = self._open(check_same_thread=False)
        self._writer.executescript(SCHEMA)  # runs in its own transaction
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queued = 0  # writers waiting for _write_lock
        self._group: _Group | None = None  # the group the writer connection's transaction holds

    def _open(self, check_same_thread: bool = True) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.db_path, timeout=30, isolation_level=None, check_same_thread=check_same_thread
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL: SQLite fsyncs the WAL at every COMMIT, so an acknowledged write survives the
        # process being killed (SIGKILL) and also an OS crash or a power loss, as far as the disk
        # honours fsync (which the blobs' fsyncs assume too). NORMAL would keep only the first:
        # SQLite's documentation (pragma.html#pragma_synchronous) says transactions are durable
        # across application crashes whatever the setting, but that with WAL and NORMAL one
        # "might roll back following a power loss or system crash". Group commit (transaction()
        # below) shares each fsync among the writers waiting; measured beside it on the sendMail
        # benchmark, NORMAL gained nothing clear of the noise.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        # a group's savepoints keep the pages they change in a sub-journal, which SQLite would
        # otherwise spill to a temporary file (created, written, deleted) past 64 KiB
        connection.execute("PRAGMA temp_store=MEMORY")
        return connection

    @property
    def queued_writers(self) -> int:
        """Writers waiting for their turn: they will join the group of the writer in its turn."""
        return self._queued

    def _connection(self) -> sqlite3.Connection:
        if getattr(self._local, "writing", False):
            return self._writer  # inside a transaction, reads see its own writes
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._open()
        return connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, durable when the block ends; if the block raises, nothing of it
        is kept. Nested use joins the outer transaction.

        Group commit: writers take turns on one connection inside a transaction they share, the
        first opening it and each one after in a SAVEPOINT of its own (so one that fails rolls
        back alone); the last of a turn (nobody queued behind it, or MAX_GROUP reached) commits
        for the whole group, fsyncing once. Every writer of the group leaves this block only
        after that COMMIT returned, so nothing is acknowledged before it is on disk; writers
        arriving during the fsync form the next group.
        """
        if getattr(self._local, "writing", False):
            yield self._writer
            return
        # writers queue on a lock of ours: SQLite's own busy handler waits by sleeping
        with self._queue_lock:
            self._queued += 1
        self._write_lock.acquire()
        with self._queue_lock:
            self._queued -= 1
        db = self._writer
        try:
            group = self._group
            first = group is None
            if group is None:
                db.execute("BEGIN IMMEDIATE")
                group = self._group = _Group()
            else:
                # never RELEASEd: COMMIT releases it with those of the writers after this one,
                # one statement fewer (and one less wait for the GIL) per writer
                try:
                    db.execute("SAVEPOINT unit")
                except BaseException:
                    self._commit(group)  # the writers before keep their work; this one has none
                    raise
            self._local.writing = True
            try:
                yield db
            except BaseException as failure:
                self._undo(group, first, failure)
                raise
            finally:
                self._local.writing = False
                group.size += 1
                if group is self._group and (self._queued == 0 or group.size >= MAX_GROUP):
                    self._commit(group)
        finally:
            self._write_lock.release()
        group.done.wait()
        if group.error is not None:
            raise CommitFailed(f"the transaction was not committed: {group.error}") from group.error

    def _undo(self, group: _Group, first: bool, failure: BaseException) -> None:
        """Roll back the failed writer's work alone, unless it opened the transaction (which then
        holds nothing else) or SQLite already ended it (an I/O error or a full disk does): then
        the group is over, and any writers in it learn that their work is lost."""
        db = self._writer
        if db.in_transaction and not first:
            try:
                db.execute("ROLLBACK TO unit")
                return
            except sqlite3.Error as undo_failure:
                failure = undo_failure
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")
        self._close(group, failure)

    def _commit(self, group: _Group) -> None:
        try:
            self._writer.execute("COMMIT")
        except BaseException as failure:
            with contextlib.suppress(sqlite3.Error):
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
            self._close(group, failure)
        else:
            self._close(group, None)

    def _close(self, group: _Group, error: BaseException | None) -> None:
        group.error = error
        self._group = None
        group.done.set()

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self._connection().execute(sql, args).fetchall()

    def query_one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._connection().execute(sql, args).fetchone()
        return row

    def meta(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM meta WHERE key = ?", key)
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # blobs

    def blob_path(self, name: str) -> Path:
        return self.blob_dir / name[:2] / name

    def write_blob(self, chunks: Any) -> tuple[str, int]:
        """Stream `chunks` (an iterable of bytes) into a new durable blob; returns (name, size)."""
        name = secrets.token_hex(16)
        with self.blob_writer(name) as out:
            for chunk in chunks:
                out.write(chunk)
        return name, self.blob_path(name).stat().st_size

    def write_blob_bytes(self, data: bytes) -> str:
        return self.write_blob([data])[0]

    @contextlib.contextmanager
    def blob_writer(self, name: str) -> Iterator[IO[bytes]]:
        """Write a blob under `name`: visible only once complete and fsynced."""
        final = self.blob_path(name)
        final.parent.mkdir(exist_ok=True)
        temporary = final.with_suffix(".part")
        try:
            with open(temporary, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)  # a refused or broken upload leaves nothing behind
            raise
        os.replace(temporary, final)
        _fsync_dir(final.parent)

    def part_path(self, name: str) -> Path:
        """A file that grows chunk by chunk (an upload session's bytes so far)."""
        folder = self.root / "parts"
        folder.mkdir(exist_ok=True)
        return folder / name

    def append_part(self, name: str, offset: int, chunks: Iterable[bytes]) -> int:
        """Write `chunks` at `offset` of the part file (dropping anything after it, which a crash
        may have left unacknowledged), fsync, and return the new length."""
        path = self.part_path(name)
        with open(path, "ab" if path.exists() else "wb") as out:
            out.truncate(offset)
            out.seek(offset)
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            return out.tell()

    def seal_part(self, name: str) -> str:
        """A complete part file becomes a blob; returns the blob's name."""
        blob = secrets.token_hex(16)
        final = self.blob_path(blob)
        final.parent.mkdir(exist_ok=True)
        os.replace(self.part_path(name), final)
        _fsync_dir(final.parent)
        return blob

    def drop_part(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.part_path(name).unlink()

    def read_blob(self, name: str) -> bytes:
        return self.blob_path(name).read_bytes()

    def delete_blob(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.blob_path(name).unlink()


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
