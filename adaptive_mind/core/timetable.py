"""Timetable: the Supervisor's deadlines and waits, and the one wake-up they need.

Two heaps of ``(clock time, request id)`` — deadlines and waits (backoffs, rate-limit windows) —
and the time of the single wake-up set for the earliest of them (trio's ``Deadlines``). Entries
of requests no longer in flight are not removed when a request ends (a heap cannot do that
cheaply); they are dropped when they reach the top, and the deadline heap is rebuilt when stale
entries outnumber live ones. Pure: the Supervisor sets the wake-up the timetable asks for.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator, Mapping

COMPACT_SLACK = 1024
"""Stale deadline entries tolerated beyond twice the live ones before the heap is rebuilt."""


class Timetable:
    """When each request in flight must end or wake, and when to wake next."""

    def __init__(self) -> None:
        self._deadlines: list[tuple[float, str]] = []
        self._waiting: list[tuple[float, str]] = []
        self.wake_at: float | None = None
        """When the one wake-up set is due (clock time); None: none set."""

    def add_deadline(self, at: float, request_id: str) -> bool:
        """Track a request's deadline; True when it is earlier than the wake-up set."""
        heapq.heappush(self._deadlines, (at, request_id))
        return self.wake_at is None or at < self.wake_at

    def add_wait(self, at: float, request_id: str) -> None:
        heapq.heappush(self._waiting, (at, request_id))

    def next_wake(self, live: Collection[str]) -> float | None:
        """The time of a wake-up to set now: the earliest entry of a request in ``live``, if
        it is earlier than the wake-up already set (which it then becomes); else None."""
        for heap in (self._deadlines, self._waiting):
            while heap and heap[0][1] not in live:
                heapq.heappop(heap)
        times = [heap[0][0] for heap in (self._deadlines, self._waiting) if heap]
        if not times:
            return None
        at = min(times)
        if self.wake_at is not None and self.wake_at <= at:
            return None
        self.wake_at = at
        return at

    def woke(self, at: float) -> None:
        """The wake-up set for ``at`` fired (an older one that fired late changes nothing)."""
        if at == self.wake_at:
            self.wake_at = None

    def due_deadlines(self, now: float) -> Iterator[str]:
        """Pop every deadline that has passed (the caller skips requests no longer in flight)."""
        while self._deadlines and self._deadlines[0][0] <= now:
            yield heapq.heappop(self._deadlines)[1]

    def due_waits(self, now: float) -> Iterator[tuple[float, str]]:
        """Pop every wait that is over, with the time it was set for."""
        while self._waiting and self._waiting[0][0] <= now:
            yield heapq.heappop(self._waiting)

    def stale(self, live: int) -> bool:
        """Whether answered requests' deadline entries outnumber the ``live`` ones enough to
        :meth:`compact` (so memory stays flat under load)."""
        return len(self._deadlines) > 2 * live + COMPACT_SLACK

    def compact(self, live: Mapping[str, float]) -> None:
        """Rebuild the deadline heap from ``live`` (request id -> deadline)."""
        self._deadlines = [(at, rid) for rid, at in live.items()]
        heapq.heapify(self._deadlines)
