"""Helpers for testing code that embeds Adaptive Mind: scripted configs, waiting for events and
for actors without sleeping, and the scripted upstream of a running system.

    from adaptive_mind import testing

    cfg = testing.config({"a": testing.scripted(responses=[{"fail": 503, "times": 1}])})
    with am.ActorSystem.start(cfg) as system:
        log = testing.EventLog(system, topics=["attempt.failed"])
        system.complete([{"role": "user", "content": "hi"}])
        log.wait_count(1)
        assert testing.upstream(system, "a").calls == 2
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from adaptive_mind.messages import Ping
from adaptive_mind.system import ActorSystem
from adaptive_mind.telemetry.events import Event

__all__ = ["EventLog", "barrier", "config", "scripted", "upstream"]


def scripted(
    api_keys: list[Any] | None = None, models: list[str] | None = None, **kw: Any
) -> dict[str, Any]:
    """A ``kind: scripted`` provider's config (keys ``k1``, model ``m1`` unless given)."""
    return {"kind": "scripted", "api_keys": api_keys or ["k1"], "models": models or ["m1"], **kw}


def config(providers: dict[str, dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """A whole config around ``providers``, with an in-memory ledger."""
    return {"providers": providers, "ledger": {"path": ":memory:"}, **kw}


class EventLog:
    """Collects a system's events and lets a test wait for one (no sleeping, no polling)."""

    def __init__(self, system: ActorSystem, topics: list[str] | None = None) -> None:
        self.events: list[Event] = []
        self._cv = threading.Condition()
        system.subscribe(self._add, topics=topics)

    def _add(self, event: Event) -> None:
        with self._cv:
            self.events.append(event)
            self._cv.notify_all()

    def wait_for(self, pred: Callable[[list[Event]], bool], timeout: float = 5.0) -> None:
        """Block until ``pred(events)`` holds; fails loudly on timeout."""
        with self._cv:
            if not self._cv.wait_for(lambda: pred(self.events), timeout=timeout):
                raise AssertionError(f"no such event within {timeout}s: {self.events!r}")

    def wait_count(self, n: int, timeout: float = 5.0) -> None:
        """Block until at least ``n`` events arrived."""
        self.wait_for(lambda events: len(events) >= n, timeout)


def barrier(system: ActorSystem, actor: str) -> None:
    """Return once ``actor`` (a name from ``system.actors()``) has handled every message sent to
    it before this call (twice, so what it told itself while handling those is handled too)."""
    cell = system._cells()[actor]
    cell.ask(Ping(), timeout=5)
    cell.ask(Ping(), timeout=5)


def upstream(system: ActorSystem, provider: str) -> Any:
    """The adapter of ``provider``: for a ``kind: scripted`` provider a
    :class:`~adaptive_mind.providers.scripted.ScriptedAdapter` (``calls``, ``calls_by_key``,
    ``last_call``, ``text``), for assertions about what reached the upstream.

    Raises:
        KeyError: ``provider`` is not a provider of this system.
    """
    tree = system._tree
    if tree is None or provider not in tree.adapters:
        raise KeyError(f"{provider!r} is not a provider of this system")
    return tree.adapters[provider]
