"""Time for the runtime: a Clock protocol, the monotonic clock, a FakeClock for tests, Deadline.

Every time read in the runtime's logic goes through a :class:`Clock`, so tests jump a
:class:`FakeClock` instead of sleeping. ``deadline`` always means an absolute instant on that clock;
``timeout`` always a relative span in seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time in seconds."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic`."""

    def now(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "MonotonicClock()"


class FakeClock:
    """A clock that only moves when told to; safe to read from any thread."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError("seconds: must be >= 0")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now():.3f})"


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute instant on a clock by which work must be done."""

    at: float

    @classmethod
    def after(cls, clock: Clock, timeout_s: float) -> Deadline:
        return cls(clock.now() + timeout_s)

    def remaining(self, clock: Clock) -> float:
        """Seconds left (negative once passed)."""
        return self.at - clock.now()

    def expired(self, clock: Clock) -> bool:
        return clock.now() >= self.at
