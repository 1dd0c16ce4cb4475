"""The event bus publishers write to: bounded, never blocking, never raising.

Actors call :meth:`EventBus.emit` (the :class:`~adaptive_mind.telemetry.events.EventSink`
protocol). Events wait in a bounded buffer; on overflow the oldest are dropped and counted. The
first event into an empty buffer wakes the TelemetryActor, which drains everything in one batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from adaptive_mind.core.shared_state import StatePort
from adaptive_mind.telemetry.events import Event


class EventBus:
    """A bounded, drop-oldest buffer between publishers and the TelemetryActor."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity: must be > 0")
        self.capacity = capacity
        self._buf: deque[Event] = deque()
        self._lock = threading.Lock()
        self._dropped = 0
        self.dropped_total = 0
        self._scheduled = False
        self.wake: Callable[[], None] | None = None
        """Set by the system: tells the TelemetryActor to drain."""
        self.state: StatePort | None = None
        """Set by the system when health state is shared with other replicas: where key pools
        and breakers publish their transitions. It travels with the bus because the bus is what
        every actor is handed already (the supervision tree that starts them is unchanged)."""

    def emit(self, event: Event) -> None:
        """Publish; never blocks on a sink and never raises."""
        with self._lock:
            if len(self._buf) >= self.capacity:
                self._buf.popleft()
                self._dropped += 1
                self.dropped_total += 1
            self._buf.append(event)
            if self._scheduled:
                return
            self._scheduled = True
        wake = self.wake
        if wake is not None:
            try:
                wake()
            except Exception:
                pass

    def drain(self) -> tuple[list[Event], int]:
        """Take every buffered event and the number dropped since the last drain."""
        with self._lock:
            events = list(self._buf)
            self._buf.clear()
            dropped, self._dropped = self._dropped, 0
            self._scheduled = False
        return events, dropped
