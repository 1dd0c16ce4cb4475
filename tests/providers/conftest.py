"""The local chaos server, shared by the wire tests."""

from collections.abc import Iterator

import pytest

from adaptive_mind.simulation.server import ChaosServer


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
