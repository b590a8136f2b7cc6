"""The sandbox's clock: wall time plus an offset a test can move forward (codes and tokens expire)."""

from __future__ import annotations

import datetime as dt
import math
import time


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self._iso = (math.nan, "")  # the last second formatted, and how: most calls share one

    def now(self) -> float:
        return time.time() + self.offset

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC)

    def iso(self) -> str:
        """Graph's resource timestamps: UTC, whole seconds, ending in Z."""
        second = math.floor(self.now())
        formatted = self._iso
        if formatted[0] != second:
            text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            formatted = self._iso = (second, text)
        return formatted[1]
