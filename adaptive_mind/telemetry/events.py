"""The one event schema, the sink protocol actors publish through, and event builders."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from adaptive_mind.clock import Clock
from adaptive_mind.core.breaker import BreakerState, Transition
from adaptive_mind.core.key_pool import KeyEvent, KeyEventKind
from adaptive_mind.telemetry import topics


class Severity(StrEnum):
    """How much an event matters to an operator."""

    DEBUG = "debug"  # routine detail
    INFO = "info"  # normal resilience work (failover, restore)
    WARNING = "warning"  # degraded: a key cooled, a breaker opened
    ERROR = "error"  # a request failed, an actor crashed
    CRITICAL = "critical"  # the runtime itself is at risk (ledger store failing, provider down)


class Event(BaseModel):
    """One thing that happened. Payloads never carry secrets or prompts."""

    model_config = ConfigDict(frozen=True)

    event_type: str
    source: str
    """Who emitted it: ``supervisor``, ``breaker:openai``, ``key_pool:openai`` …"""
    timestamp: float = Field(default_factory=time.time)
    """Wall-clock seconds since the epoch."""
    severity: Severity = Severity.INFO
    request_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class EventSink(Protocol):
    """Where actors publish events. ``emit`` never blocks and never raises."""

    def emit(self, event: Event) -> None: ...


class NullSink:
    """Drops every event."""

    def emit(self, event: Event) -> None:
        return None


_BREAKER_TOPIC = {
    BreakerState.OPEN: (topics.BREAKER_OPENED, Severity.WARNING),
    BreakerState.HALF_OPEN: (topics.BREAKER_HALF_OPENED, Severity.INFO),
    BreakerState.CLOSED: (topics.BREAKER_CLOSED, Severity.INFO),
}


def breaker_event(provider: str, t: Transition, clock: Clock) -> Event:
    topic, severity = _BREAKER_TOPIC[t.new]
    payload: dict[str, Any] = {"provider": provider, "from": t.old.value, "to": t.new.value}
    if t.reopen_at is not None:
        payload["reopen_in_s"] = round(max(0.0, t.reopen_at - clock.now()), 3)
    return Event(event_type=topic, source=f"breaker:{provider}", severity=severity, payload=payload)


_KEY_TOPIC = {
    KeyEventKind.RATE_LIMITED: (topics.KEY_COOLED, Severity.WARNING),
    KeyEventKind.EJECTED: (topics.KEY_EJECTED, Severity.WARNING),
    KeyEventKind.DISABLED: (topics.KEY_DISABLED, Severity.ERROR),
    KeyEventKind.RESTORED: (topics.KEY_RESTORED, Severity.INFO),
}


def key_event(provider: str, e: KeyEvent, clock: Clock, request_id: str | None = None) -> Event:
    topic, severity = _KEY_TOPIC[e.kind]
    payload: dict[str, Any] = {"provider": provider, "key_id": e.key_id}
    if e.until is not None:
        payload["until_in_s"] = round(max(0.0, e.until - clock.now()), 3)
    if e.kind is KeyEventKind.RATE_LIMITED:
        payload["reason"] = "rate_limited"
    elif e.reason:
        payload["reason"] = e.reason
    return Event(
        event_type=topic,
        source=f"key_pool:{provider}",
        severity=severity,
        request_id=request_id,
        payload=payload,
    )
