"""Server-side storage for the web app: sessions, per-user token caches, the signing key.

One instance keeps them as files under GRAPHPOST_HOME (written atomically, mode 0600);
many instances share a Redis (GRAPHPOST_REDIS_URL) so any of them can serve any user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Protocol


class Store(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl_seconds: int | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def add(self, key: str, value: str) -> bool:
        """Store `value` only if `key` is absent; True when this call stored it."""
        ...

    def ping(self) -> bool:
        """Whether the store answers (for the health endpoint); raises when it cannot be reached."""
        ...


def shared_secret(store: Store, key: str = "web:secret-key") -> str:
    """The key that signs cookies and CSRF tokens, the same for every instance sharing `store`."""
    store.add(key, secrets.token_hex(32))
    value = store.get(key)
    assert value is not None
    return value


class FileStore:
    """Values as small JSON files; the file name is a hash of the key, so keys can be anything."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / digest[:2] / digest

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        expires = record.get("expires")
        if expires is not None and expires < time.time():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return None
        value: str = record["value"]
        return value

    def _write(self, path: Path, record: dict[str, Any], exclusive: bool) -> bool:
        path.parent.mkdir(exist_ok=True, mode=0o700)
        data = json.dumps(record).encode()
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            if exclusive:
                try:
                    os.link(temporary, path)  # fails if another writer got there first
                except FileExistsError:
                    return False
            else:
                os.replace(temporary, path)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    def set(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        expires = time.time() + ttl_seconds if ttl_seconds else None
        self._write(self._path(key), {"value": value, "expires": expires}, exclusive=False)

    def add(self, key: str, value: str) -> bool:
        return self._write(self._path(key), {"value": value, "expires": None}, exclusive=True)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def ping(self) -> bool:
        return self.folder.is_dir() and os.access(self.folder, os.W_OK)


class RedisStore:
    """Values in Redis, for many instances: every key under one prefix, expiry kept by Redis."""

    def __init__(self, url: str, prefix: str = "graphpost:") -> None:
        import redis

        # short timeouts: a person is waiting, and a dead Redis must show as an error, not a hang
        self.client = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
        )
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"  # the URL may hold a password

    def get(self, key: str) -> str | None:
        value = self.client.get(self.prefix + key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        self.client.set(self.prefix + key, value, ex=ttl_seconds or None)

    def add(self, key: str, value: str) -> bool:
        return bool(self.client.set(self.prefix + key, value, nx=True))

    def delete(self, key: str) -> None:
        self.client.delete(self.prefix + key)

    def ping(self) -> bool:
        return bool(self.client.ping())


def open_store(home: Path, redis_url: str | None) -> Store:
    """Redis when a URL is configured (many instances), else files under `home` (one instance)."""
    if redis_url:
        return RedisStore(redis_url)
    return FileStore(home / "web")
