#!/usr/bin/env python3
"""Many replicas, one view of every key (issue #16): ``state: memory`` beside ``state: redis``.

Starts one chaos server (in this process, which otherwise only waits), a private redis-server
on a free port, and two fleets of replica OS processes (4 each by default), each replica with
its own ActorSystem: one fleet with ``state: {backend: memory}``, one with ``{backend: redis}``.
Every scenario runs on both fleets in the same run, one after the other, each on a provider of
its own (so what one scenario teaches a fleet cannot help it in the next):

- dead key: one key of two answers 401; the replicas start one after another (``--stagger-s``
  apart, as workers of a rolling deploy do) and each sends ``--requests`` at
  ``--concurrency``. Counted: calls that reached the dead key, fleet-wide (the server's count);
- 429s: one key of two answers a random share of its calls 429 with Retry-After. Counted:
  calls that reached it inside a window it had announced to any replica (beyond 0.1 s of
  slack for calls already on the wire, as ``random_faults.py`` counts them);
- healthy: fixed upstream latency, ``--concurrency`` per replica, rounds alternating
  memory / redis; the fleet's requests per second (median of the rounds), redis / memory;
- Redis down: the redis fleet under load while the redis-server is killed, then started again.
  Counted: the success rate of requests sent while it was down, and replicas reconnected.

A benchmark, not a test: exit code 0 unless ``--check`` and a target fails. ``--quick`` is a
smoke run (a few seconds of load).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from adaptive_mind.simulation.fleet import PrivateRedis, ReplicaProcess, fleet, wait_for
from adaptive_mind.simulation.server import ChaosServer, Hit

SLACK_S = 0.1
"""Calls already on the wire when a 429 came back may arrive this long after it."""
KEYS = {
    "dead": ("sk-fleet-dead-1", "sk-fleet-dead-2"),
    "limited": ("sk-fleet-limited-1", "sk-fleet-limited-2"),
    "healthy": ("sk-fleet-healthy-1", "sk-fleet-healthy-2"),
}
PROVIDERS = list(KEYS)


@dataclass(frozen=True)
class Params:
    replicas: int = 4
    concurrency: int = 4
    """Requests in flight per replica (every scenario)."""
    requests: int = 100
    """Per replica, dead-key scenario."""
    stagger_s: float = 0.3
    latency_ms: float = 20.0
    """Upstream latency of the fault scenarios."""
    limited_s: float = 4.0
    rate_429: float = 0.2
    retry_after_s: float = 1.0
    healthy_latency_ms: float = 50.0
    healthy_s: float = 4.0
    rounds: int = 5
    down_s: float = 5.0
    """The Redis-down scenario's load; Redis is killed at 1/5 of it and back at 3/5."""


QUICK = Params(requests=20, limited_s=1.5, healthy_s=1.0, rounds=1, down_s=2.5)


def config(server: ChaosServer, state: dict[str, Any]) -> dict[str, Any]:
    providers = {
        name: {
            "kind": "openai",
            "api_keys": list(keys),
            "models": [f"gpt-{name}"],
            "base_url": server.url("openai"),
            "timeout_s": 5,
        }
        for name, keys in KEYS.items()
    }
    return {"providers": providers, "ledger": {"path": ":memory:"}, "state": state}


def early(hits: list[Hit], key: str, window_s: float) -> int:
    """Calls that reached ``key`` while a Retry-After (``window_s``) it gave was running."""
    own = [h for h in hits if h.key == key]
    starts = [h.t for h in own if h.outcome == "rate_limit"]
    return sum(1 for h in own if any(t0 + SLACK_S < h.t < t0 + window_s for t0 in starts))


def run_all(procs: list[ReplicaProcess], **kw: Any) -> list[list[Any]]:
    """The same ``run`` command on every replica at once; every replica's records."""
    for p in procs:
        p.send("run", **kw)
    return [rec for p in procs for rec in p.result(300)["records"]]


def staggered(procs: list[ReplicaProcess], stagger_s: float, **kw: Any) -> list[list[Any]]:
    for i, p in enumerate(procs):
        p.send("run", delay_s=i * stagger_s, **kw)
    return [rec for p in procs for rec in p.result(300)["records"]]


def success(records: list[list[Any]]) -> float:
    return sum(bool(r[2]) for r in records) / len(records) if records else 0.0


class Bench:
    """Both fleets and the chaos server; one method per scenario, each ``(memory, redis)``."""

    def __init__(self, params: Params, redis_url: str, private: PrivateRedis | None = None):
        self.p = params
        self.redis_url = redis_url
        self.private = private
        self.server = ChaosServer()
        self.fleets: dict[str, list[ReplicaProcess]] = {}
        self._stack: list[Any] = []

    def __enter__(self) -> Bench:
        self.server.start()
        states = {
            "memory": {"backend": "memory"},
            "redis": {
                "backend": "redis",
                "url": self.redis_url,
                "namespace": "bench-" + uuid.uuid4().hex[:12],
                "reconnect_max_s": 0.5,
            },
        }
        try:
            for name, state in states.items():
                ctx = fleet([config(self.server, state)] * self.p.replicas)
                self.fleets[name] = ctx.__enter__()
                self._stack.append(ctx)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)
        self.server.stop()

    def _reset(self, latency_ms: float) -> None:
        self.server.clear_rules()
        self.server.reset_counts()
        self.server.latency_ms = latency_ms

    def dead_key(self) -> dict[str, tuple[int, float]]:
        """Calls to the dead key fleet-wide, and the success rate, per fleet."""
        dead = KEYS["dead"][0]
        out = {}
        for name, procs in self.fleets.items():
            self._reset(self.p.latency_ms)
            self.server.add_rule("openai", "invalid_key", key=dead)
            records = staggered(
                procs,
                self.p.stagger_s,
                provider="dead",
                concurrency=self.p.concurrency,
                requests=self.p.requests,
            )
            out[name] = (self.server.count("openai", key=dead), success(records))
        return out

    def retry_after(self) -> dict[str, tuple[int, int, float]]:
        """Calls inside an announced window, the 429s served, and the success rate."""
        limited = KEYS["limited"][0]
        out = {}
        for name, procs in self.fleets.items():
            self._reset(self.p.latency_ms)
            self.server.reseed(1)
            self.server.add_rule(
                "openai",
                "rate_limit",
                key=limited,
                probability=self.p.rate_429,
                retry_after_s=self.p.retry_after_s,
            )
            records = run_all(
                procs,
                provider="limited",
                concurrency=self.p.concurrency,
                duration_s=self.p.limited_s,
            )
            hits = self.server.hits()
            n429 = sum(h.outcome == "rate_limit" for h in hits)
            out[name] = (early(hits, limited, self.p.retry_after_s), n429, success(records))
        return out

    def throughput(self) -> dict[str, list[float]]:
        """The fleet's requests/s per round, rounds alternating which fleet goes first."""
        out: dict[str, list[float]] = {"memory": [], "redis": []}
        self._reset(self.p.healthy_latency_ms)
        for r in range(self.p.rounds):
            order = ["memory", "redis"] if r % 2 == 0 else ["redis", "memory"]
            for name in order:
                records = run_all(
                    self.fleets[name],
                    provider="healthy",
                    concurrency=self.p.concurrency,
                    duration_s=self.p.healthy_s,
                )
                span = max(x[1] for x in records) - min(x[0] for x in records)
                out[name].append(sum(bool(x[2]) for x in records) / span)
        return out

    def redis_down(self) -> dict[str, Any]:
        """Load on the redis fleet while its Redis is killed and started again."""
        assert self.private is not None, "needs the private redis-server (it is killed)"
        procs = self.fleets["redis"]
        self._reset(self.p.latency_ms)
        for p in procs:
            p.send("run", provider="healthy", concurrency=self.p.concurrency,
                   duration_s=self.p.down_s)  # fmt: skip
        time.sleep(self.p.down_s / 5)
        down_at = time.time()
        self.private.kill()
        time.sleep(self.p.down_s * 2 / 5)
        self.private.start()
        up_at = time.time()
        records = [rec for p in procs for rec in p.result(300)["records"]]

        def all_connected() -> bool:
            return all(p.call("status", providers=[])["connected"] for p in procs)

        wait_for(all_connected, 30, "every replica reconnected")
        during = [r for r in records if down_at <= r[0] < up_at]
        return {
            "during": len(during),
            "success_down": success(during),
            "success_all": success(records),
            "down_s": up_at - down_at,
        }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(p: Params, dead: Any, ra: Any, tput: Any, down: Any) -> bool:
    med = {k: statistics.median(v) for k, v in tput.items()}
    ratio = med["redis"] / med["memory"]
    burst = p.concurrency
    rows = [
        ("dead key (401): calls to it, fleet-wide", dead["memory"][0], dead["redis"][0]),
        ("  success", f"{dead['memory'][1]:.1%}", f"{dead['redis'][1]:.1%}"),
        ("429 + Retry-After: calls inside a window", ra["memory"][0], ra["redis"][0]),
        ("  429s served / success", f"{ra['memory'][1]} / {ra['memory'][2]:.1%}",
         f"{ra['redis'][1]} / {ra['redis'][2]:.1%}"),
        ("healthy req/s (median of rounds)", f"{med['memory']:.0f}", f"{med['redis']:.0f}"),
        ("  per round", " ".join(f"{x:.0f}" for x in tput["memory"]),
         " ".join(f"{x:.0f}" for x in tput["redis"])),
        (f"Redis down {down['down_s']:.1f} s: success while down", "-",
         f"{down['success_down']:.1%} of {down['during']}"),
        ("  success over the run (replicas reconnected)", "-",
         f"{down['success_all']:.1%} ({p.replicas}/{p.replicas})"),
    ]  # fmt: skip
    print()
    print(f"{p.replicas} replica processes per fleet, one chaos server, concurrency "
          f"{p.concurrency} per replica")  # fmt: skip
    print(f"{'':<44}{'memory':>14}{'redis':>20}")
    for name, a, b in rows:
        print(f"{name:<44}{a!s:>14}{b!s:>20}")
    checks = [
        (
            dead["redis"][0] <= burst and dead["redis"][0] < dead["memory"][0],
            f"dead key: redis {dead['redis'][0]} calls ≤ one replica's first burst ({burst}); "
            f"memory {dead['memory'][0]} (≈ {p.replicas} bursts)",
        ),
        (
            ra["redis"][0] == 0,
            f"Retry-After: redis {ra['redis'][0]} calls inside a window (target 0); "
            f"memory {ra['memory'][0]}",
        ),
        (ratio >= 0.97, f"healthy throughput: redis / memory = {ratio:.3f} (target ≥ 0.97)"),
        (
            down["success_down"] == 1.0 and down["during"] > 0,
            f"Redis down: {down['success_down']:.1%} of {down['during']} requests succeeded "
            "while it was down (target 100 %)",
        ),
    ]
    print()
    for ok, line in checks:
        print(f"{verdict(ok)}  {line}")
    return all(ok for ok, _ in checks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run (a few seconds of load)")
    ap.add_argument("--replicas", type=int)
    ap.add_argument("--concurrency", type=int, help="requests in flight per replica")
    ap.add_argument("--stagger-s", type=float, help="between replicas' starts (dead key)")
    ap.add_argument("--rounds", type=int, help="healthy throughput rounds per fleet")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = ap.parse_args(argv)
    p = QUICK if args.quick else Params()
    given = {
        k: v
        for k in ("replicas", "concurrency", "stagger_s", "rounds")
        if (v := getattr(args, k)) is not None
    }
    p = replace(p, **given)
    t0 = time.monotonic()
    with PrivateRedis() as private, Bench(p, private.url, private) as bench:
        print(f"fleets ready in {time.monotonic() - t0:.1f} s; measuring", flush=True)
        dead = bench.dead_key()
        ra = bench.retry_after()
        tput = bench.throughput()
        down = bench.redis_down()
    ok = report(p, dead, ra, tput, down)
    print(f"\n(one run, {time.monotonic() - t0:.0f} s)")
    return 1 if (args.check and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
