"""Outlook's throttling, per app and mailbox: 4 requests at once and 10,000 per 10 minutes.

Outlook refuses at once rather than queueing, with 429 and Retry-After, which is what
makes a client's concurrency visible: a client that keeps 5 requests in flight to one
mailbox sees the fifth refused.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

CONCURRENT_REQUESTS = 4
WINDOW_REQUESTS = 10_000
WINDOW_SECONDS = 600.0
CONCURRENCY_RETRY_AFTER = 1


class Throttled(Exception):
    """Refused by a limit; the HTTP side turns it into Outlook's 429."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


@dataclass
class OutlookThrottle:
    now: Callable[[], float]
    enabled: bool = True
    concurrent: int = CONCURRENT_REQUESTS
    window_requests: int = WINDOW_REQUESTS
    window_seconds: float = WINDOW_SECONDS
    _in_flight: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    _recent: dict[tuple[str, str], collections.deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def admit(self, app_id: str, mailbox: str) -> Iterator[None]:
        """Hold one of the app's slots on the mailbox for the request, or refuse with 429."""
        if not self.enabled:
            yield
            return
        key = (app_id.lower(), mailbox.lower())
        with self._lock:
            if self._in_flight[key] >= self.concurrent:
                raise Throttled(
                    "Application is over its MailboxConcurrency limit.", CONCURRENCY_RETRY_AFTER
                )
            now = self.now()
            recent = self._recent.setdefault(key, collections.deque())
            while recent and recent[0] <= now - self.window_seconds:
                recent.popleft()
            if len(recent) >= self.window_requests:
                wait = max(1, int(recent[0] + self.window_seconds - now) + 1)
                # Outlook's wording for this limit is not documented (its concurrency one is)
                raise Throttled("Application is over its MailboxRequests limit.", wait)
            recent.append(now)
            self._in_flight[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
