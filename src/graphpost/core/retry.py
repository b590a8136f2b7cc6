"""When to send a request again, and after how long: a pure policy the sync and async clients share.

The policy never sleeps and never does I/O: given the request, what came back (a
`Response` or an exception) and the attempt number, it answers with a delay in
seconds or None (stop, report what came back).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from graphpost.core.errors import retry_after
from graphpost.core.http import Request, Response
from graphpost.errors import TransportError

__all__ = ["NO_RETRY", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries 429 for every request, and 503/504 and broken connections only for idempotent ones.

    - 429 means Graph did not act on the request, so even ``sendMail`` is sent again,
      after ``Retry-After`` seconds (at most `max_retry_after`), or after a backoff when absent.
    - 503/504 and a connection lost mid-request may hide a request that *was* carried
      out: a POST such as ``sendMail`` would send the mail twice, so only requests with
      `Request.is_idempotent` are repeated.  A connection that never opened
      (`TransportError.request_sent` False) is safe to retry for any request.
    - The backoff is exponential with jitter from the injected `random`, capped by `max_backoff`.
    - `max_attempts` counts the first try: 1 means never retry.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = frozenset({503, 504})
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first try: it must be at least 1")

    def delay(
        self,
        request: Request,
        outcome: Response | BaseException,
        attempt: int,
        now: datetime | None = None,
    ) -> float | None:
        """Seconds to wait before sending `request` again, or None to stop after `attempt` tries."""
        if attempt >= self.max_attempts:
            return None
        if isinstance(outcome, BaseException):
            if not _is_connection_error(outcome):
                return None
            sent = outcome.request_sent if isinstance(outcome, TransportError) else True
            if sent and not request.is_idempotent:
                return None
            return self.backoff(attempt)
        if outcome.status == 429:
            return self._server_delay(outcome, attempt, now)
        if outcome.status in self.retry_statuses and request.is_idempotent:
            return self._server_delay(outcome, attempt, now)
        return None

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of base * 2^(attempt-1)."""
        ceiling = min(self.max_backoff, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + ceiling / 2 * self.random()

    def _server_delay(self, response: Response, attempt: int, now: datetime | None) -> float:
        asked = retry_after(response, now)
        if asked is None:
            return self.backoff(attempt)
        return min(asked, self.max_retry_after)


def _is_connection_error(error: BaseException) -> bool:
    return isinstance(error, TransportError | ConnectionError | TimeoutError)


NO_RETRY = RetryPolicy(max_attempts=1)
"""Never send a request twice (tests, or callers with their own retry loop)."""
