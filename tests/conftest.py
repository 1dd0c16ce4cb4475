"""Shared fixtures: scripted configs and a system factory that always stops what it starts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import adaptive_mind as am
from tests.helpers import join_new_threads


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
    join_new_threads(before)
