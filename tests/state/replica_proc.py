"""Another OS process with its own ActorSystem against the chaos server (tests/state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from adaptive_mind.simulation.server import ChaosServer

ROOT = Path(__file__).resolve().parents[2]
OA = ["sk-oa-replica-key-one", "sk-oa-replica-key-two"]


def state(url: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"backend": "redis", "url": url, "namespace": namespace, **extra}


def wire_config(server: ChaosServer, shared: dict[str, Any], **provider: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "kind": "openai",
                "api_keys": OA,
                "models": ["gpt-a"],
                "base_url": server.url("openai"),
                "timeout_s": 5,
                **provider,
            }
        },
        "ledger": {"path": ":memory:"},
        "state": shared,
    }


class Replica:
    """Another process with its own ActorSystem (``tests.state.replica_main``)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.state.replica_main", json.dumps(cfg)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.read() == {"ready": True}

    def read(self) -> Any:
        """The answer to the oldest command sent and not yet read."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the replica process ended"
        return json.loads(line)

    def send(self, op: str, **kw: Any) -> None:
        """Send a command without waiting (read its answer with :meth:`read`)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()

    def ask(self, op: str, **kw: Any) -> Any:
        self.send(op, **kw)
        return self.read()

    def key_state(self, key_id: str) -> str:
        states = self.ask("states", provider="openai")
        return next(k["state"] for k in states if k["key_id"] == key_id)

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        finally:
            self.proc.stdout.close()
