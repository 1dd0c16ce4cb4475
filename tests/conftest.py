"""Shared fixtures: scripted configs and a system factory that always stops what it starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import adaptive_mind as am

USER = [{"role": "user", "content": "hello"}]


def scripted(api_keys: list[Any] | None = None, models: list[str] | None = None, **kw: Any) -> dict:
    """A scripted provider's config."""
    return {"kind": "scripted", "api_keys": api_keys or ["k1"], "models": models or ["m1"], **kw}


def config(providers: dict[str, dict], **kw: Any) -> dict:
    return {"providers": providers, "ledger": {"path": ":memory:"}, **kw}


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition another thread will make true (fails loudly on timeout)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


@pytest.fixture
def start() -> Iterator[Callable[..., am.ActorSystem]]:
    systems: list[am.ActorSystem] = []

    def _start(cfg: dict, **kw: Any) -> am.ActorSystem:
        system = am.ActorSystem.start(cfg, **kw)
        systems.append(system)
        return system

    yield _start
    for s in systems:
        s.stop()


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    wait_until(lambda: not (set(threading.enumerate()) - before), timeout=5.0)
