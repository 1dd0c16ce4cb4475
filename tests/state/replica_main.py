"""One replica in its own OS process, driven by JSON lines on stdin (for test_replicas.py).

Usage: ``python -m tests.state.replica_main CONFIG_JSON``. Prints ``{"ready": true}`` once its
state backend is connected, then answers each command line with one JSON line.
"""

from __future__ import annotations

import json
import sys
import threading

import adaptive_mind as am

USER = [{"role": "user", "content": "hi"}]


def main() -> None:
    cfg = json.loads(sys.argv[1])
    with am.ActorSystem.start(cfg) as system:
        backend = system._state_backend
        connected = threading.Event()
        system.subscribe(lambda _e: connected.set(), topics=["state.connected"])
        if getattr(backend, "connected", False):  # connected before the subscription
            connected.set()
        if not connected.wait(10):
            raise SystemExit("the state backend did not connect")
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "states":
                out: object = system.key_states(cmd["provider"])
            elif cmd["op"] == "breaker":
                out = system.breaker_state(cmd["provider"]).value
            elif cmd["op"] == "connected":
                out = bool(getattr(backend, "connected", False))
            elif cmd["op"] == "complete":
                try:
                    reply = system.complete(USER, providers=[cmd["provider"]])
                except am.AdaptiveMindError as exc:
                    out = {"error": type(exc).__name__}
                else:
                    out = {"key_id": reply.key_id, "tried": [a.key_id for a in reply.attempts]}
            elif cmd["op"] == "burst":  # n requests one after another; how many succeeded
                ok = 0
                for _ in range(cmd["n"]):
                    try:
                        system.complete(USER, providers=[cmd["provider"]])
                        ok += 1
                    except am.AdaptiveMindError:
                        pass
                out = {"ok": ok}
            else:
                out = {"error": "unknown op"}
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
