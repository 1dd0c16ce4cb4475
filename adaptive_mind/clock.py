"""Time for the runtime: a Clock protocol, the monotonic clock, a FakeClock for tests, Deadline.

Every time read in the runtime's logic goes through a :class:`Clock`, so tests jump a
:class:`FakeClock` instead of sleeping. ``deadline`` always means an absolute instant on that clock;
``timeout`` always a relative span in seconds.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
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
    """A clock that only moves when told to; safe to read from any thread.

    It is also the timer of whoever uses it: :meth:`call_at` schedules a callback and
    :meth:`advance` runs, in time order, every callback that has come due (trio's ``MockClock``
    and ``Clock.deadline_to_sleep_time`` in one). The runtime's wake-ups go through it when the
    system runs on a FakeClock, so a test moves time and the runtime notices at once.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = 0

    def now(self) -> float:
        with self._lock:
            return self._now

    def call_at(self, at: float, fn: Callable[[], object]) -> None:
        """Call ``fn()`` once the clock reaches ``at`` (at once if it has: on this thread)."""
        with self._lock:
            if at > self._now:
                self._seq += 1
                heapq.heappush(self._timers, (at, self._seq, fn))
                return
        fn()

    @property
    def pending(self) -> int:
        """How many callbacks are scheduled and not yet due."""
        with self._lock:
            return len(self._timers)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must be >= 0) and run the callbacks now due."""
        if seconds < 0:
            raise ValueError("seconds: must be >= 0")
        with self._lock:
            self._now += seconds
            due = []
            while self._timers and self._timers[0][0] <= self._now:
                due.append(heapq.heappop(self._timers)[2])
        for fn in due:  # outside the lock: a callback may read the clock or schedule again
            fn()

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
