"""Messages about actors themselves (crashes, restarts, chaos) and the facade's commands to the
Supervisor (abandon, shut down, count, the wake-up)."""

from __future__ import annotations

from typing import Any

from adaptive_mind.records import record


@record
class Crash:
    """Chaos: fail from inside your own thread (handled by every actor)."""


@record
class Ping:
    """Answered (ask) once everything sent before it is handled: a barrier for tools and tests."""


@record
class ChildFailed:
    """An actor died. Sent from its own thread (``on_failure``) to whoever supervises it."""

    name: str
    error: str
    """The exception's type and message (never a secret: actors hold none in messages)."""
    leftovers: tuple[Any, ...]
    """Messages it had received but not handled; they go to the replacement."""
    snapshot: Any
    """Its last known state, for the replacement (kind-specific)."""


@record
class Tick:
    """Internal: the wake-up set for ``at`` (clock time): check deadlines and waits."""

    at: float


@record
class AbandonRequest:
    """The caller stopped waiting (its task was cancelled, or it closed its stream): finish the
    request quietly."""

    request_id: str
    stream_closed: bool = False
    """The caller closed a stream before its end (answered with StreamClosedError)."""


@record
class Shutdown:
    """Fail every in-flight request with SystemStoppedError; answered with the count (ask)."""


@record
class CountInFlight:
    """Ask for the number of in-flight requests."""
