"""MSAL's token cache kept in a file: private (mode 0600), written atomically, guarded by a lock file.

The lock is a file created with O_EXCL that holds the owner's pid, host and start
time, so it works on Windows as well as POSIX (no fcntl).  A lock left behind by a
crashed process is broken once it is older than a few seconds and its pid is gone,
or in any case once it is older than any save could take.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msal

__all__ = [
    "FileTokenCache",
    "LockTimeout",
    "RedisTokenCache",
    "file_lock",
    "pid_alive",
    "write_private_file",
]

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 5.0  # a dead holder's lock is broken after this long
ABANDONED_AFTER_SECONDS = 60.0  # any lock this old is broken: a save takes milliseconds
LOCK_TIMEOUT_SECONDS = 10.0


class LockTimeout(TimeoutError):
    """Another process held the token cache's lock for longer than we wait."""


class FileTokenCache(msal.SerializableTokenCache):  # type: ignore[misc]
    """A `msal.SerializableTokenCache` loaded from `path` and saved back by `save()`.

    Pass it as ``token_cache=`` to an MSAL app, then call `save()` after acquiring
    tokens; it writes only when MSAL changed something.
    """

    def __init__(self, path: str | Path, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.load()

    def __repr__(self) -> str:
        return f"FileTokenCache({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def load(self) -> None:
        """Read the file again (a missing or unreadable file is an empty cache)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        try:
            self.deserialize(text)
        except ValueError:
            # a damaged cache only costs a sign-in; refusing to start would cost more
            log.warning("token cache %s is not valid JSON; starting with an empty cache", self.path)
            self.deserialize("{}")
        self.has_state_changed = False

    def save(self) -> bool:
        """Write the cache if MSAL changed it; returns whether it wrote."""
        if not self.has_state_changed:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with file_lock(self.lock_path, timeout=self.lock_timeout):
            write_private_file(self.path, self.serialize().encode("utf-8"))
        self.has_state_changed = False
        return True

    def clear(self) -> None:
        """Forget every account and token, and remove the file (sign-out)."""
        self.deserialize("{}")
        with (
            file_lock(self.lock_path, timeout=self.lock_timeout),
            contextlib.suppress(FileNotFoundError),
        ):
            self.path.unlink()
        self.has_state_changed = False


class RedisTokenCache(msal.SerializableTokenCache):  # type: ignore[misc]
    """MSAL's token cache in Redis, for processes on several machines that share sign-ins.

    `client` is a ``redis.Redis``; the value expires `ttl_seconds` after the last save
    (Entra's refresh tokens die after 90 days unused anyway).
    """

    def __init__(self, client: Any, key: str, *, ttl_seconds: int = 90 * 24 * 3600) -> None:
        super().__init__()
        self.client, self.key, self.ttl_seconds = client, key, ttl_seconds
        self.load()

    def __repr__(self) -> str:
        return f"RedisTokenCache({self.key!r})"

    def load(self) -> None:
        raw = self.client.get(self.key)
        if raw:
            try:
                self.deserialize(raw.decode() if isinstance(raw, bytes) else str(raw))
            except ValueError:
                log.warning("token cache %s in Redis is not valid JSON; starting empty", self.key)
                self.deserialize("{}")
        self.has_state_changed = False

    def save(self) -> bool:
        if not self.has_state_changed:
            return False
        self.client.set(self.key, self.serialize(), ex=self.ttl_seconds)
        self.has_state_changed = False
        return True

    def clear(self) -> None:
        self.deserialize("{}")
        self.client.delete(self.key)
        self.has_state_changed = False


def write_private_file(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically: readers see the old or the new file, never a part.

    The temporary file is created with mode 0600 (never readable by others, not even
    briefly), flushed to disk, then renamed over `path`.
    """
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open folders this way)."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _lock_record(token: str) -> bytes:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(), "token": token}
    return json.dumps(record).encode()


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    timeout: float = LOCK_TIMEOUT_SECONDS,
    poll: float = 0.02,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Iterator[None]:
    """Hold the lock file `path` (created with O_EXCL) for the body of the with-statement."""
    token = uuid.uuid4().hex
    record = _lock_record(token)
    deadline = clock() + timeout
    while True:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if _break_if_stale(path, clock()):
                continue
            if clock() >= deadline:
                raise LockTimeout(f"{path} is held by another process") from None
            sleep(poll)
            continue
        try:
            os.write(descriptor, record)
        finally:
            os.close(descriptor)
        break
    try:
        yield
    finally:
        # only our own lock: if it was broken as abandoned, it may be someone else's now
        with contextlib.suppress(OSError):
            if path.read_bytes() == record:
                path.unlink()


def _break_if_stale(path: Path, now: float) -> bool:
    """Remove a lock whose holder crashed; True when it is gone (or vanished meanwhile)."""
    try:
        stat = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError:
        return True
    record: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        loaded = json.loads(raw) if raw else {}
        record = loaded if isinstance(loaded, dict) else {}
    started = record.get("time")
    if not isinstance(started, int | float):
        started = stat.st_mtime  # created but not yet filled in, or damaged
    age = now - float(started)
    if age < STALE_AFTER_SECONDS:
        return False
    pid = record.get("pid")
    same_host = record.get("host") == socket.gethostname()
    holder_alive = isinstance(pid, int) and (not same_host or pid_alive(pid))
    if holder_alive and age < ABANDONED_AFTER_SECONDS:
        return False
    # Rename, then check it is the lock we judged: another waiter may have broken it and
    # taken a fresh one in between, which must not be deleted.
    grave = path.with_name(f"{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if grave.read_bytes() != raw:
            with contextlib.suppress(OSError):
                os.link(grave, path)  # give it back, unless a newer lock exists already
            return False
        log.warning("broke stale lock %s (pid %s, %.0f s old)", path, pid, age)
        return True
    finally:
        with contextlib.suppress(OSError):
            grave.unlink()


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(kernel32.GetLastError() == 5)  # ERROR_ACCESS_DENIED: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    # signal 0 checks existence without signalling (on Windows os.kill would terminate it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
