"""The state backend protocol, the in-process default, and choosing one from config."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from adaptive_mind.clock import Clock
from adaptive_mind.config import StateConfig
from adaptive_mind.core.shared_state import SharedTransition, StatePort
from adaptive_mind.telemetry.events import EventSink

Subscriber = Callable[[SharedTransition], None]
"""Called with a peer's transition (times on the local clock), on the I/O loop; must not block."""


class StateBackend(StatePort, Protocol):
    """Where replicas share health transitions. ``publish`` and ``request_probe`` never block
    (see :class:`~adaptive_mind.core.shared_state.StatePort`); the rest is the system's."""

    @property
    def shared(self) -> bool:
        """Whether other replicas see what is published (False: the in-process default)."""
        ...

    def subscribe(self, callback: Subscriber) -> None:
        """Deliver every peer's transition to ``callback`` (and, on each (re)connect, the
        peers' current state, so a replica joining late or coming back catches up)."""
        ...

    async def snapshot(self) -> list[SharedTransition]:
        """Every transition still in force across the fleet (times on the local clock)."""
        ...

    async def try_probe(self, provider: str, ttl_s: float) -> bool:
        """Take the fleet-wide probe lock of ``provider`` for ``ttl_s``: True for exactly one
        contender while it is held (and True when the fleet cannot be asked)."""
        ...

    def start(self) -> None:
        """Start connecting in the background (never waits for the server)."""
        ...

    async def aclose(self) -> None:
        """Stop and release connections (on the backend's loop)."""
        ...


class MemoryBackend:
    """Nothing shared: the default. Every probe is granted; there are no peers."""

    shared = False

    def publish(self, transition: SharedTransition) -> None:
        return None

    def request_probe(self, provider: str, reply: Callable[[bool], None]) -> None:
        reply(True)

    def release_probe(self, provider: str, hold_s: float = 0.0) -> None:
        return None

    def subscribe(self, callback: Subscriber) -> None:
        return None

    async def snapshot(self) -> list[SharedTransition]:
        return []

    async def try_probe(self, provider: str, ttl_s: float) -> bool:
        return True

    def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return "MemoryBackend()"


def build_backend(
    config: StateConfig, loop: asyncio.AbstractEventLoop, clock: Clock, events: EventSink
) -> StateBackend:
    """The backend ``config`` names, not yet started (Redis is imported only when used)."""
    if not config.shared:
        return MemoryBackend()
    from adaptive_mind.state.redis_backend import RedisBackend

    return RedisBackend(config, loop, clock, events)
