"""FileTokenCache: private (0600), atomic, written only on change, and a lock no crash can wedge."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphpost import tokencache
from graphpost.tokencache import FileTokenCache, LockTimeout, file_lock, pid_alive

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def add_token(cache: FileTokenCache, value: str = "AT-1") -> None:
    cache.add(
        {
            "client_id": "cid",
            "scope": ["https://graph.microsoft.com/.default"],
            "token_endpoint": "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
            "response": {"access_token": value, "expires_in": 3600, "token_type": "Bearer"},
        }
    )


def tokens_in(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    return [entry["secret"] for entry in data.get("AccessToken", {}).values()]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(path: Path, pid: int, age: float, host: str | None = None) -> None:
    record = {
        "pid": pid,
        "host": host or socket.gethostname(),
        "time": time.time() - age,
        "token": "x",
    }
    path.write_text(json.dumps(record))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.json"
    cache = FileTokenCache(path)
    add_token(cache, "AT-round-trip")
    assert cache.save() is True
    assert tokens_in(path) == ["AT-round-trip"]
    again = FileTokenCache(path)
    assert not again.has_state_changed
    assert [t["secret"] for t in again.search(again.CredentialType.ACCESS_TOKEN)] == [
        "AT-round-trip"
    ]


def test_save_writes_only_when_msal_changed_something(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = FileTokenCache(path)
    assert cache.save() is False and not path.exists()
    add_token(cache)
    assert cache.save() is True
    path.write_text("{}")  # would be overwritten by a needless save
    assert cache.save() is False
    assert path.read_text() == "{}"


@posix_only
def test_file_is_private_from_creation(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        cache = FileTokenCache(path)
        add_token(cache)
        cache.save()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@posix_only
def test_a_world_readable_file_becomes_private_on_save(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text("{}")
    path.chmod(0o644)
    cache = FileTokenCache(path)
    add_token(cache)
    cache.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_is_atomic_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache.json"
    first = FileTokenCache(path)
    add_token(first, "AT-old")
    first.save()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    second = FileTokenCache(path)
    add_token(second, "AT-new")
    monkeypatch.setattr("graphpost.tokencache.os.replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        second.save()
    assert tokens_in(path) == ["AT-old"]  # the old file is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache.json"
    ]  # no temp file, no lock left


def test_save_leaves_no_temporary_or_lock_files(tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path / "cache.json")
    add_token(cache)
    cache.save()
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_a_damaged_file_is_an_empty_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text("{not json")
    cache = FileTokenCache(path)
    assert list(cache.search(cache.CredentialType.ACCESS_TOKEN)) == []


def test_clear_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = FileTokenCache(path)
    add_token(cache)
    cache.save()
    cache.clear()
    assert not path.exists()
    assert list(cache.search(cache.CredentialType.ACCESS_TOKEN)) == []


def test_a_held_lock_makes_others_wait_then_give_up(tmp_path: Path) -> None:
    lock = tmp_path / "cache.json.lock"
    write_lock(lock, os.getpid(), age=0)  # a live holder: this very process
    cache = FileTokenCache(tmp_path / "cache.json", lock_timeout=0.1)
    add_token(cache)
    with pytest.raises(LockTimeout):
        cache.save()
    assert lock.exists()  # not ours to remove


def test_lock_of_a_crashed_process_is_broken(tmp_path: Path) -> None:
    lock = tmp_path / "cache.json.lock"
    write_lock(lock, dead_pid(), age=tokencache.STALE_AFTER_SECONDS + 1)
    cache = FileTokenCache(tmp_path / "cache.json", lock_timeout=1)
    add_token(cache)
    assert cache.save() is True
    assert not lock.exists()


def test_young_lock_of_a_dead_pid_is_respected_for_a_moment(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    write_lock(lock, dead_pid(), age=0)  # maybe a process that just started: wait first
    with pytest.raises(LockTimeout), file_lock(lock, timeout=0.05):
        pass


def test_abandoned_lock_is_broken_even_if_its_pid_was_reused(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    write_lock(lock, os.getpid(), age=tokencache.ABANDONED_AFTER_SECONDS + 1)
    with file_lock(lock, timeout=1):
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["time"] > time.time() - 5
    assert not lock.exists()


def test_lock_from_another_host_is_only_broken_when_abandoned(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    write_lock(lock, 999_999, age=tokencache.STALE_AFTER_SECONDS + 1, host="elsewhere")
    with pytest.raises(LockTimeout), file_lock(lock, timeout=0.05):
        pass


def test_empty_or_garbage_lock_file_is_judged_by_its_age(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("garbage")
    with pytest.raises(LockTimeout), file_lock(lock, timeout=0.05):
        pass
    old = time.time() - tokencache.ABANDONED_AFTER_SECONDS - 1
    os.utime(lock, (old, old))
    with file_lock(lock, timeout=1):
        pass
    assert not lock.exists()


def test_releasing_does_not_remove_someone_elses_lock(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with file_lock(lock):
        write_lock(lock, 12345, age=0)  # ours was broken and another process took it
    assert lock.exists()


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0) and not pid_alive(-1)
