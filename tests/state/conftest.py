"""Redis for the shared-state tests: the CI's server (``ADAPTIVE_MIND_TEST_REDIS_URL``, set by
``.ci/run``) and, for tests that kill it, a private ``redis-server`` this fixture starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.simulation.server import ChaosServer
from adaptive_mind.telemetry.events import Event

URL_VAR = "ADAPTIVE_MIND_TEST_REDIS_URL"


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(URL_VAR, "")
    if not url:
        pytest.skip(f"{URL_VAR} is not set: no Redis for the shared-state tests (.ci/run sets it)")
    return url


@pytest.fixture
def namespace() -> str:
    return "t-" + uuid.uuid4().hex[:12]


class PrivateRedis:
    """A redis-server on a free local port that a test may stop and start again."""

    def __init__(self, workdir: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 10, "redis-server answers PING")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/redis installs it)")
    server = PrivateRedis(str(tmp_path))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chaos() -> Iterator[ChaosServer]:
    with ChaosServer() as server:
        yield server


@pytest.fixture
def io() -> Iterator[IoLoop]:
    loop = IoLoop("test-state-io")
    loop.start()
    yield loop
    loop.stop()


class Events:
    """An event sink a test can wait on (no sleeping)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cv = threading.Condition()

    def emit(self, event: Event) -> None:
        with self._cv:
            self.events.append(event)
            self._cv.notify_all()

    def of(self, topic: str) -> list[Event]:
        with self._cv:
            return [e for e in self.events if e.event_type == topic]

    def wait(self, topic: str, count: int = 1, timeout: float = 10.0) -> Event:
        with self._cv:
            ok = self._cv.wait_for(
                lambda: sum(e.event_type == topic for e in self.events) >= count, timeout
            )
        assert ok, f"no {count}x {topic} within {timeout}s: {self.events!r}"
        return self.of(topic)[count - 1]


def wait_until(pred: Callable[[], object], timeout: float, what: str) -> None:
    """Poll observable state until ``pred()`` holds (for convergence across processes)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)
