"""Messages about actors themselves (crashes, restarts, chaos) and the facade's commands to the
Supervisor (abandon, shut down, count, the wake-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Crash:
    """Chaos: fail from inside your own thread (handled by every actor)."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Answered (ask) once everything sent before it is handled: a barrier for tools and tests."""


@dataclass(frozen=True, slots=True)
class ChildFailed:
    """An actor died. Sent from its own thread (``on_failure``) to whoever supervises it."""

    name: str
    error: str
    """The exception's type and message (never a secret: actors hold none in messages)."""
    leftovers: tuple[Any, ...]
    """Messages it had received but not handled; they go to the replacement."""
    snapshot: Any
    """Its last known state, for the replacement (kind-specific)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Internal: the wake-up set for ``at`` (clock time): check deadlines and waits."""

    at: float


@dataclass(frozen=True, slots=True)
class AbandonRequest:
    """The caller stopped waiting (its task was cancelled, or it closed its stream): finish the
    request quietly."""

    request_id: str
    stream_closed: bool = False
    """The caller closed a stream before its end (answered with StreamClosedError)."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Fail every in-flight request with SystemStoppedError; answered with the count (ask)."""


@dataclass(frozen=True, slots=True)
class CountInFlight:
    """Ask for the number of in-flight requests."""
