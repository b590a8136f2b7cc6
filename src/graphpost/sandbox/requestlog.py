"""The request log: what reached the sandbox and what it answered; never bodies, tokens or codes."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

KEPT_ENTRIES = 10_000
# in the WSGI environ of a request run inside a $batch: the batch's request id, for its log entry
BATCH_ENVIRON = "graphpost.sandbox.batch"


def loggable_query(query: str) -> str:
    """Only OData options ($top, @microsoft.graph...) are kept: other parameters may carry secrets."""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k[:1] in ("$", "@")]
    return urlencode(kept, safe="$@,'() ")


@dataclass
class RequestLog:
    entries: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=KEPT_ENTRIES)
    )
    _next: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = self._next
            self._next += 1
            self.entries.append(entry)

    def since(self, seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = [dict(e) for e in self.entries if e["seq"] > seq]
        return found[-limit:] if limit else found

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
