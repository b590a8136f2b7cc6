"""The sandbox's clock: wall time plus an offset a test can move forward (codes and tokens expire)."""

from __future__ import annotations

import datetime as dt
import time


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC)

    def iso(self) -> str:
        """Graph's resource timestamps: UTC, whole seconds, ending in Z."""
        return self.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
