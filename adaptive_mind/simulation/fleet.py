"""Replicas as OS processes sharing one Redis: the parent's side.

Used by ``run_simulation.py --replicas N`` and ``benchmarks/fleet.py``. Each replica is
``python -m adaptive_mind.simulation.replica`` with its own :class:`~adaptive_mind.ActorSystem`
and speaks JSON lines (see :mod:`.replica`): the parent writes commands to its stdin, the
replica answers on stdout with lines of a ``kind`` — ``result`` ends a command, anything else
(``record``, ``sample``) is streamed while one runs. A replica imports the same
``adaptive_mind`` as the parent (its directory leads ``PYTHONPATH``).

Redis comes from :func:`redis_for_fleet`: a URL the caller names, else one that answers on
the default local port, else a private ``redis-server`` on a free port (when it is installed).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import adaptive_mind

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
INSTALL_HINT = (
    "redis-server is not installed and no Redis answers on 127.0.0.1:6379. Install it "
    "(Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) "
    "or name one with --redis-url redis://HOST:PORT/0."
)
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_ping(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether a Redis server answers PING at ``host:port`` (no password: a quick local probe)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_for(pred: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``pred`` until it holds; raise ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g}s: {what}")
        time.sleep(0.01)


class PrivateRedis:
    """A throwaway ``redis-server`` on a free loopback port (no persistence) that may be
    stopped (killed, as a crash would) and started again on the same port."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="am-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self._dir.name),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: answers_ping("127.0.0.1", self.port), 10, "redis-server answers PING")
        return self

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL): clients see their connections drop."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.kill()
        self._dir.cleanup()

    def __enter__(self) -> PrivateRedis:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def redis_for_fleet(url: str | None) -> Iterator[tuple[str, str]]:
    """Yield ``(url, how)``: ``url`` as given, the default local Redis if it answers, or a
    private ``redis-server`` started for the run (stopped after).

    Raises:
        FileNotFoundError: none given, none answers and ``redis-server`` is not installed
            (the message says how to install it).
    """
    if url:
        yield url, "given"
        return
    default = urlparse(DEFAULT_REDIS)
    if answers_ping(default.hostname or "127.0.0.1", default.port or 6379):
        yield DEFAULT_REDIS, "local"
        return
    with PrivateRedis() as server:
        yield server.url, "private"


class ReplicaProcess:
    """One replica process. Streamed lines go to ``on_line`` (on a reader thread); results
    of commands are returned by :meth:`call`."""

    def __init__(
        self, config: dict[str, Any], index: int, on_line: Callable[[dict[str, Any]], None] | None
    ) -> None:
        self.index = index
        self._on_line = on_line
        self._results: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed in close()
        package_root = str(Path(adaptive_mind.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adaptive_mind.simulation.replica"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        self._reader = threading.Thread(target=self._read, name=f"replica-{index}", daemon=True)
        self._reader.start()
        self._send({"config": config, "index": index})

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg.get("kind") == "result":
                self._results.put(msg)
            elif self._on_line is not None:
                self._on_line(msg)
        self._results.put(None)  # the process ended

    def result(self, timeout: float) -> dict[str, Any]:
        """The next command's result (or the ``ready`` line)."""
        try:
            msg = self._results.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"replica {self.index}: no answer within {timeout:g}s") from None
        if msg is None:
            raise RuntimeError(f"replica {self.index} ended:\n{self.stderr_tail()}")
        return msg

    def send(self, op: str, **kw: Any) -> None:
        self._send({"op": op, **kw})

    def call(self, op: str, timeout: float = 120.0, **kw: Any) -> dict[str, Any]:
        self.send(op, **kw)
        return self.result(timeout)

    def stderr_tail(self, lines: int = 20) -> str:
        self._err.seek(0)
        text = self._err.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self, timeout: float = 30.0) -> None:
        """End the replica (stdin closed: it stops its system and exits)."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()


@contextlib.contextmanager
def fleet(
    configs: list[dict[str, Any]],
    on_line: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[list[ReplicaProcess]]:
    """Start one replica per config (in parallel) and yield them once each is ready (its state
    backend connected); close them all after."""
    procs: list[ReplicaProcess] = []
    try:
        for i, cfg in enumerate(configs):
            procs.append(ReplicaProcess(cfg, i, on_line))
        for p in procs:
            ready = p.result(READY_TIMEOUT_S)
            if not ready.get("ready"):
                raise RuntimeError(f"replica {p.index} did not start: {ready.get('error')}")
        yield procs
    finally:
        for p in procs:
            p.close()
