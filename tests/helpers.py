"""Test helpers: scripted configs, and waiting for other threads by events, never by sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

USER = [{"role": "user", "content": "hello"}]


def scripted(api_keys: list[Any] | None = None, models: list[str] | None = None, **kw: Any) -> dict:
    """A scripted provider's config."""
    return {"kind": "scripted", "api_keys": api_keys or ["k1"], "models": models or ["m1"], **kw}


def config(providers: dict[str, dict], **kw: Any) -> dict:
    return {"providers": providers, "ledger": {"path": ":memory:"}, **kw}


class EventLog:
    """Collects a system's events and lets a test wait for one (no sleeping, no polling)."""

    def __init__(self, system: Any, topics: list[str] | None = None) -> None:
        self.events: list[Any] = []
        self._cv = threading.Condition()
        system.subscribe(self._add, topics=topics)

    def _add(self, event: Any) -> None:
        with self._cv:
            self.events.append(event)
            self._cv.notify_all()

    def wait_for(self, pred: Callable[[list[Any]], bool], timeout: float = 5.0) -> None:
        """Block until ``pred(events)`` holds; fails loudly on timeout."""
        with self._cv:
            if not self._cv.wait_for(lambda: pred(self.events), timeout=timeout):
                raise AssertionError(f"no such event within {timeout}s: {self.events!r}")

    def wait_count(self, n: int, timeout: float = 5.0) -> None:
        self.wait_for(lambda events: len(events) >= n, timeout)


def join_new_threads(before: set[threading.Thread], timeout: float = 5.0) -> None:
    """Join every thread started since ``before`` was taken; fail if one is still alive."""
    end = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        thread.join(max(0.0, end - time.monotonic()))
        if thread.is_alive():
            raise AssertionError(f"thread leaked: {thread.name}")


def barrier(system: Any, actor: str) -> None:
    """Return once ``actor`` has handled every message sent to it before this call (twice, so
    what it told itself while handling those has been handled too)."""
    from adaptive_mind.messages import Ping

    cell = system._cells()[actor]
    cell.ask(Ping(), timeout=5)
    cell.ask(Ping(), timeout=5)
