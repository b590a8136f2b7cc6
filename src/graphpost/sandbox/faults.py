"""Scripted faults: "the next N requests matching METHOD and PATH fail with STATUS", in order.

PATH is a regular expression searched in the request path (``/v1.0/me/sendMail``).

Deterministic on purpose, unlike random chaos: a test says what fails and relies on it.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# what Graph answers for each status when the fault names no code of its own
DEFAULT_ERRORS = {
    400: ("BadRequest", "The request is malformed or incorrect."),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("accessDenied", "Access denied"),
    404: ("itemNotFound", "The resource could not be found."),
    409: ("nameAlreadyExists", "The specified item name already exists."),
    413: ("RequestEntityTooLarge", "The maximum request length supported is 4MB."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("BadGateway", "The service is temporarily unavailable."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The request timed out."),
}


class FaultError(ValueError):
    """A fault description that cannot be used; the message says why."""


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    retry_after: float | None
    code: str
    message: str
    after: int = 0  # matching requests to let through first ("the third PUT fails": after=2)
    # "before": refused unheard; "after": carried out, then the answer is lost (the client sees
    # the fault though the work was done: what makes a retry send a mail twice)
    when: str = "before"
    delay_ms: int = 0  # the answer held back this long (client timeouts)

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "times": self.times,
            "retry_after": self.retry_after,
            "code": self.code,
            "message": self.message,
            "after": self.after,
            "when": self.when,
            "delay_ms": self.delay_ms,
        }


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._held = 0  # answers being held back (delay_ms) right now

    def add(self, spec: dict[str, Any]) -> Fault:
        try:
            status = int(spec["status"])
            pattern = re.compile(str(spec.get("path", ".*")))
            times = int(spec.get("times", 1))
            after = int(spec.get("after", 0))
            when = str(spec.get("when", "before"))
            delay_ms = int(spec.get("delay_ms", 0))
            retry_after = spec.get("retry_after")
            retry_after = None if retry_after is None else float(retry_after)
        except (KeyError, TypeError, ValueError, re.error) as problem:
            raise FaultError(
                f"a fault needs a status, and a valid path regex, times and retry_after: {problem}"
            ) from None
        if not 400 <= status <= 599 or times < 1 or after < 0:
            raise FaultError("status must be 400 to 599, times at least 1 and after at least 0")
        if when not in ("before", "after") or not 0 <= delay_ms <= 120_000:
            raise FaultError("when is 'before' or 'after', and delay_ms 0 to 120000")
        code, message = DEFAULT_ERRORS.get(status, ("UnknownError", "Scripted fault."))
        fault = Fault(
            method=str(spec.get("method", "*")).upper(),
            path=pattern,
            status=status,
            times=times,
            retry_after=retry_after,
            code=str(spec.get("code", code)),
            message=str(spec.get("message", message)),
            after=after,
            when=when,
            delay_ms=delay_ms,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, used up by one."""
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and fault.path.search(path):
                    if fault.after:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Around the wait of a held-back answer: `held()` counts it meanwhile."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1

    def held(self) -> int:
        with self._lock:
            return self._held

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
