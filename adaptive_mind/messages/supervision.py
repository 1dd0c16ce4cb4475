"""Messages about actors themselves: crashes, restarts and chaos."""

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
