"""The health transitions replicas share, as typed records with a versioned wire form.

A replica publishes what its key pools and breakers learned (a key disabled, rate-limited or
ejected until T, a key healthy again; a breaker OPEN until T, HALF_OPEN, CLOSED) and applies what
its peers learned with ``KeyPool.apply_remote`` / ``Breaker.apply_remote``. Records are plain
data with no clock of their own: ``until`` and ``at`` are instants on whichever clock the holder
uses. Inside a process that is the local monotonic clock; on the wire it is wall-clock time
(``time.time``), since monotonic clocks of two processes share no origin. The state backend
converts at the edge with :meth:`KeyTransition.shifted` / :meth:`BreakerTransition.shifted`.

Wire form (version :data:`WIRE_VERSION`): a flat JSON-able dict,
``{"v": 1, "kind": "key", "provider", "key_id", "event", "until", "at"}`` or
``{"v": 1, "kind": "breaker", "provider", "state", "until", "at"}``. A record of an unknown
version or shape raises ``ValueError`` (a newer peer's messages are ignored, never misread).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.core.key_pool_types import KeyEventKind

WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class KeyTransition:
    """A key's shared state change."""

    provider: str
    key_id: str
    event: KeyEventKind
    """DISABLED / RATE_LIMITED / EJECTED (out until ``until``) or RESTORED (healthy again)."""
    until: float | None
    """When the key may be used again (None for RESTORED)."""
    at: float
    """When it happened."""

    def shifted(self, offset: float) -> KeyTransition:
        """The same record on a clock ``offset`` seconds ahead."""
        until = None if self.until is None else self.until + offset
        return replace(self, until=until, at=self.at + offset)


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A provider's circuit breaker changed state."""

    provider: str
    state: BreakerState
    until: float | None
    """OPEN only: when it may probe again."""
    at: float
    """When it happened (a CLOSED older than a local trip does not close the local breaker)."""

    def shifted(self, offset: float) -> BreakerTransition:
        """The same record on a clock ``offset`` seconds ahead."""
        until = None if self.until is None else self.until + offset
        return replace(self, until=until, at=self.at + offset)


SharedTransition = KeyTransition | BreakerTransition


def to_wire(t: SharedTransition) -> dict[str, Any]:
    """The record as a versioned, JSON-able dict (times as they are: convert first)."""
    if isinstance(t, KeyTransition):
        return {
            "v": WIRE_VERSION,
            "kind": "key",
            "provider": t.provider,
            "key_id": t.key_id,
            "event": t.event.value,
            "until": t.until,
            "at": t.at,
        }
    return {
        "v": WIRE_VERSION,
        "kind": "breaker",
        "provider": t.provider,
        "state": t.state.value,
        "until": t.until,
        "at": t.at,
    }


def from_wire(data: Mapping[str, Any]) -> SharedTransition:
    """Read a record written by :func:`to_wire`.

    Raises:
        ValueError: not a record of this version, or malformed.
    """
    if data.get("v") != WIRE_VERSION:
        raise ValueError("unknown wire version")
    try:
        provider = _text(data["provider"])
        at = _time(data["at"])
        until = None if data.get("until") is None else _time(data["until"])
        if data["kind"] == "key":
            event = KeyEventKind(data["event"])
            if (until is None) != (event is KeyEventKind.RESTORED):
                raise ValueError("until does not fit the event")
            return KeyTransition(provider, _text(data["key_id"]), event, until, at)
        if data["kind"] == "breaker":
            state = BreakerState(data["state"])
            if state is BreakerState.OPEN and until is None:
                raise ValueError("an OPEN breaker needs until")
            return BreakerTransition(provider, state, until, at)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed record: {type(exc).__name__}") from None
    raise ValueError("unknown record kind")


def _text(v: object) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError("expected a non-empty string")
    return v


def _time(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError("expected a finite number")
    return float(v)


class StatePort(Protocol):
    """What key pools and breakers need from a shared state backend. Neither call blocks."""

    def publish(self, transition: SharedTransition) -> None:
        """Share a local transition (times on the local clock); fire and forget."""
        ...

    def request_probe(self, provider: str, reply: Callable[[bool], None]) -> None:
        """Ask for the fleet-wide right to probe ``provider``; ``reply(granted)`` is called
        once, on the I/O loop, within the configured bound (True when the fleet cannot be
        asked: the local decision stands)."""
        ...

    def release_probe(self, provider: str, hold_s: float = 0.0) -> None:
        """The probe this replica ran for ``provider`` is over: free the fleet-wide lock (only
        if this replica still holds it) so that the next probe need not wait for its TTL; with
        ``hold_s`` > 0 (the probe failed and the circuit re-opened for that long) keep it that
        much longer instead, so that no replica that has not yet learned of the re-opening
        probes inside the new window. Fire and forget."""
        ...
