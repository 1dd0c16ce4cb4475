"""TelemetryActor: drains the event bus into the sinks, off every request's path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adaptive_mind.actors.base import BaseActor, Wiring
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.events import Event, Severity
from adaptive_mind.telemetry.sinks import Sink, SubscriberSink

logger = logging.getLogger("adaptive_mind.telemetry")
_thread = threading.local()


def draining_bus() -> EventBus | None:
    """The bus whose TelemetryActor runs on the calling thread (None on any other thread).

    Subscriber callbacks run there; the system uses this to refuse calls that would wait for
    that same thread.
    """
    return getattr(_thread, "bus", None)


@dataclass(frozen=True, slots=True)
class Drain:
    """Internal: the bus has events."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Add a listener (ask: answers its id)."""

    callback: Callable[[Event], object]
    topics: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    sid: int


@dataclass(frozen=True, slots=True)
class FlushTelemetry:
    """Drain and flush every sink now (ask)."""


class TelemetryActor(BaseActor):
    """Owns the sinks; a failing sink is logged and the others still get the events."""

    def __init__(
        self,
        bus: EventBus,
        sinks: Sequence[Sink],
        subscribers: SubscriberSink,
        wiring: Wiring | None = None,
    ) -> None:
        super().__init__("telemetry", wiring)
        self._bus = bus
        self._sinks = [subscribers, *sinks]
        self._subscribers = subscribers

    def on_start(self) -> None:
        """On the actor's thread: name it and mark it as this bus's telemetry thread."""
        super().on_start()
        _thread.bus = self._bus

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            Drain: lambda _m: self._drain(),
            Subscribe: lambda m: self._subscribers.add(m.callback, m.topics),
            Unsubscribe: lambda m: self._subscribers.remove(m.sid),
            FlushTelemetry: lambda _m: self._flush(),
        }

    def _drain(self) -> None:
        events, dropped = self._bus.drain()
        if dropped:
            events.append(
                Event(
                    event_type=topics.EVENTS_DROPPED,
                    source="telemetry",
                    severity=Severity.WARNING,
                    payload={"dropped": dropped, "total": self._bus.dropped_total},
                )
            )
        if not events:
            return
        for sink in self._sinks:
            try:
                sink.handle(events)
            except Exception:  # one broken sink must not starve the others
                logger.exception("telemetry sink %s failed", type(sink).__name__)

    def _flush(self) -> None:
        self._drain()
        for sink in self._sinks:
            try:
                sink.flush()
            except Exception:
                logger.exception("telemetry sink %s failed to flush", type(sink).__name__)

    def on_stop(self) -> None:
        self._flush()
        for sink in self._sinks:
            try:
                sink.close()
            except Exception:
                logger.exception("telemetry sink %s failed to close", type(sink).__name__)
