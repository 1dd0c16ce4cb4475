"""Run the chaos server in a separate process (so it does not share the caller's GIL)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chaos_server_process(
    latency_ms: float, *faults: str, rules: tuple[str, ...] = (), text: str | None = None
) -> Iterator[str]:
    """Yield the server's base URL (``http://127.0.0.1:PORT``).

    ``faults`` are ``PROVIDER:FAULT[:TIMES]``; ``rules`` are ``key=value,...`` rule specs;
    ``text`` replaces the answer's text (a stream sends it one word a chunk).
    """
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "adaptive_mind.simulation.server",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
    ]
    for f in faults:
        args += ["--fault", f]
    for r in rules:
        args += ["--rule", r]
    if text is not None:
        args += ["--text", text]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chaos server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
