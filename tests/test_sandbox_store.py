"""Group commit in the sandbox's store: concurrent writers share a COMMIT, none is acknowledged
before it, and one that fails loses only its own work."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from graphpost.sandbox.store import CommitFailed, Store

WAIT_SECONDS = 10


def committed_names(store: Store) -> set[str]:
    """What another connection sees: only what a COMMIT made durable."""
    with contextlib.closing(sqlite3.connect(store.db_path)) as outside:
        return {row[0] for row in outside.execute("SELECT name FROM probe")}


def probe_store(tmp_path: Path) -> Store:
    store = Store(tmp_path)
    with store.transaction() as db:
        db.execute("CREATE TABLE probe (name TEXT PRIMARY KEY)")
        db.execute("CREATE TABLE parent (id TEXT PRIMARY KEY)")
        # checked at COMMIT: a way to make a group's commit itself fail
        db.execute(
            "CREATE TABLE child (parent_id TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return store


def wait_for_queue(store: Store, length: int) -> None:
    """Until `length` writers are queued for their turn."""
    deadline = time.monotonic() + WAIT_SECONDS
    while store.queued_writers != length:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


Work = Callable[[sqlite3.Connection], None] | None


class Writers:
    """Writers on threads: the first holds its turn until the others are queued behind it, so
    they all join its group (in whatever order the lock lets them in)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.first_in_turn = threading.Event()
        self.release_first = threading.Event()
        self.outcomes: dict[str, str] = {}
        # in each writer's turn: what was committed, and who had been answered
        self.seen_committed: dict[str, set[str]] = {}
        self.seen_answered: dict[str, set[str]] = {}
        self.threads: list[threading.Thread] = []

    def _start(self, name: str, work: Work) -> None:
        def run() -> None:
            try:
                with self.store.transaction() as db:
                    db.execute("INSERT INTO probe (name) VALUES (?)", (name,))
                    if name == "first":
                        self.first_in_turn.set()
                        self.release_first.wait(WAIT_SECONDS)
                    if work is not None:
                        work(db)
                    self.seen_committed[name] = committed_names(self.store)
                    self.seen_answered[name] = set(self.outcomes)
                self.outcomes[name] = "acknowledged"
            except CommitFailed:
                self.outcomes[name] = "commit failed"
            except RuntimeError as failure:
                self.outcomes[name] = str(failure)

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def run_group(self, *others: tuple[str, Work], first: Work = None) -> None:
        self._start("first", first)
        assert self.first_in_turn.wait(WAIT_SECONDS)
        for count, (name, work) in enumerate(others, start=1):
            self._start(name, work)
            wait_for_queue(self.store, count)
        self.release_first.set()
        for thread in self.threads:
            thread.join(WAIT_SECONDS)


def test_queued_writers_share_one_commit_and_none_is_acknowledged_before_it(tmp_path: Path) -> None:
    store = probe_store(tmp_path)
    writers = Writers(store)
    writers.run_group(("second", None), ("third", None))

    names = {"first", "second", "third"}
    assert writers.outcomes == dict.fromkeys(names, "acknowledged")
    # in every turn the writers before had done their work, yet nothing was committed and
    # nobody answered: they were all waiting for the group's one COMMIT
    assert writers.seen_committed == {name: set() for name in names}
    assert writers.seen_answered == {name: set() for name in names}
    assert committed_names(store) == names


def test_a_failing_writer_rolls_back_alone(tmp_path: Path) -> None:
    store = probe_store(tmp_path)

    def fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO probe (name) VALUES ('written by the failing one')")
        raise RuntimeError("refused")

    writers = Writers(store)
    writers.run_group(("second", None), ("failing", fail), ("fourth", None))

    assert writers.outcomes == {
        "first": "acknowledged",
        "second": "acknowledged",
        "failing": "refused",
        "fourth": "acknowledged",
    }
    assert committed_names(store) == {"first", "second", "fourth"}


def test_a_failing_first_writer_leaves_the_next_group_whole(tmp_path: Path) -> None:
    """The first of a group opened the transaction: it rolls it back whole, as it holds nothing
    else, and the writers queued behind it start a group of their own."""
    store = probe_store(tmp_path)

    def fail(db: sqlite3.Connection) -> None:
        raise RuntimeError("refused")

    writers = Writers(store)
    writers.run_group(("second", None), ("third", None), first=fail)

    assert writers.outcomes == {
        "first": "refused",
        "second": "acknowledged",
        "third": "acknowledged",
    }
    assert committed_names(store) == {"second", "third"}


def test_a_failed_commit_is_reported_to_every_writer_of_the_group(tmp_path: Path) -> None:
    store = probe_store(tmp_path)

    def orphan(db: sqlite3.Connection) -> None:
        # accepted now, refused at COMMIT (a deferred foreign key): the whole group's commit fails
        db.execute("INSERT INTO child (parent_id) VALUES ('nobody')")

    writers = Writers(store)
    writers.run_group(("orphan", orphan), ("third", None))

    assert writers.outcomes == {n: "commit failed" for n in ("first", "orphan", "third")}
    assert committed_names(store) == set()
    # and the store goes on: the next writer starts a group of its own
    with store.transaction() as db:
        db.execute("INSERT INTO probe (name) VALUES ('after')")
    assert committed_names(store) == {"after"}


def test_a_writer_that_ends_the_shared_transaction_loses_the_group_not_the_store(
    tmp_path: Path,
) -> None:
    """What an I/O error or a full disk does inside SQLite: the whole transaction is gone, so the
    writers before in the group must not be acknowledged."""
    store = probe_store(tmp_path)

    def end_everything(db: sqlite3.Connection) -> None:
        db.execute("ROLLBACK")
        raise RuntimeError("transaction lost")

    writers = Writers(store)
    writers.run_group(("ending", end_everything))

    assert writers.outcomes == {"first": "commit failed", "ending": "transaction lost"}
    assert committed_names(store) == set()
    with store.transaction() as db:  # the next writer starts a group of its own
        db.execute("INSERT INTO probe (name) VALUES ('after')")
    assert committed_names(store) == {"after"}


def test_nested_use_joins_the_outer_transaction_and_reads_see_its_writes(tmp_path: Path) -> None:
    store = probe_store(tmp_path)
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("INSERT INTO probe (name) VALUES ('outer')")
        with store.transaction() as inner:
            inner.execute("INSERT INTO probe (name) VALUES ('inner')")
        assert {r["name"] for r in store.query("SELECT name FROM probe")} == {"outer", "inner"}
        raise RuntimeError("abandon both")
    assert committed_names(store) == set()


def test_many_concurrent_writers_are_all_kept(tmp_path: Path) -> None:
    store = probe_store(tmp_path)
    names = [f"w{worker}-{n}" for worker in range(8) for n in range(50)]

    def write(mine: list[str]) -> None:
        for name in mine:
            with store.transaction() as db:
                db.execute("INSERT INTO probe (name) VALUES (?)", (name,))
            assert name in committed_names(store)  # durable, and visible, once acknowledged

    threads = [threading.Thread(target=write, args=(names[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert committed_names(store) == set(names)
