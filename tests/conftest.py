"""Shared fixtures: scripted configs and a system factory that always stops what it starts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import adaptive_mind as am
from adaptive_mind.simulation.server import ChaosServer
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


# The local chaos server, shared by the wire tests (one per test module; rules reset per test).
@pytest.fixture(scope="module")
def chaos_server() -> Iterator[ChaosServer]:
    with ChaosServer() as server:
        yield server


@pytest.fixture
def server(chaos_server: ChaosServer) -> Iterator[ChaosServer]:
    chaos_server.clear_rules()
    chaos_server.reset_counts()
    chaos_server.latency_ms = 0
    yield chaos_server
    chaos_server.clear_rules()
