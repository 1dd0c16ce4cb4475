"""The drill as a fleet: the runtime phase played by several replica processes sharing Redis.

``run_simulation.py --replicas N``. One chaos server (here) plays the scenario's fault timeline;
N replica processes (:mod:`.replica`), each with its own ActorSystem and
``state: {backend: redis}`` on one namespace, split the schedule as a round-robin load balancer
would (request ``i`` goes to replica ``i % N``, concurrency split evenly), and stream their
requests back for the live progress and the report. Replica 0 plays the scenario's actor
crashes. The baseline phase (the plain SDK) is the single-process drill's, unchanged.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import adaptive_mind as am
from adaptive_mind.config import StateConfig
from adaptive_mind.simulation.drill import (
    SAMPLE_EVERY_S,
    DrillResult,
    PhaseResult,
    ProgressFn,
    RequestRecord,
    Sample,
    _Timeline,
    run_baseline_phase,
    runtime_config,
)
from adaptive_mind.simulation.fleet import fleet
from adaptive_mind.simulation.scenario import Scenario
from adaptive_mind.simulation.server import ChaosServer

START_AHEAD_S = 0.3
"""The replicas get the start time this far ahead, so they all begin on the same instant."""
DEAD_KEY_FAULTS = ("invalid_key",)


@dataclass
class FleetSummary:
    """What each replica did, and what the fleet as a whole cost a revoked key."""

    replicas: int
    redis: str
    """Where the shared state was (password masked) and how it was found."""
    served: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dead_key_calls: int = 0
    """Calls that reached a revoked key (the server answered 401), fleet-wide."""
    connected: list[bool] = field(default_factory=list)
    """Whether each replica's state backend was connected at the end."""
    ledgers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "redis": self.redis,
            "served": self.served,
            "failed": self.failed,
            "dead_key_calls": self.dead_key_calls,
            "connected_at_end": self.connected,
            "ledgers": self.ledgers,
        }


def format_fleet(s: dict[str, Any]) -> str:
    """The fleet's lines after the drill's summary."""
    lines = [f"Fleet: {s['replicas']} replica processes sharing state on {s['redis']}"]
    for i, (ok, bad) in enumerate(zip(s["served"], s["failed"], strict=True)):
        up = "connected" if s["connected_at_end"][i] else "NOT connected"
        lines.append(f"  replica {i}: served {ok}, failed {bad} (state {up} at the end)")
    lines.append(f"  calls that reached a revoked key (401), fleet-wide: {s['dead_key_calls']}")
    return "\n".join(lines)


class _Collector:
    """Folds the replicas' streamed lines into one phase (on their reader threads)."""

    def __init__(self, phase: PhaseResult, replicas: int) -> None:
        self.phase = phase
        self.served = [0] * replicas
        self.failed = [0] * replicas
        self.sample: Sample | None = None
        self._lock = threading.Lock()

    def __call__(self, msg: dict[str, Any]) -> None:
        with self._lock:
            if msg.get("kind") == "record":
                t_start, t_end, ok, mitigated, provider, error = msg["rec"]
                self.phase.records.append(
                    RequestRecord(t_start, t_end, ok, mitigated, provider, error)
                )
                counts = self.served if ok else self.failed
                counts[msg["index"]] += 1
            elif msg.get("kind") == "sample" and msg["index"] == 0:
                self.sample = Sample(msg["t"], msg["breakers"], msg["keys"])
                self.phase.samples.append(self.sample)


async def run_fleet_phase(
    scenario: Scenario,
    server: ChaosServer,
    seed: int,
    replicas: int,
    redis_url: str,
    ledger_dir: Path | None,
    progress: ProgressFn | None = None,
) -> tuple[PhaseResult, FleetSummary]:
    """Play the timeline against ``replicas`` processes sharing ``redis_url``."""
    shared = {
        "backend": "redis",
        "url": redis_url,
        "namespace": f"drill-{uuid.uuid4().hex[:12]}",
    }
    ledgers = [
        ":memory:" if ledger_dir is None else str(ledger_dir / f"ledger-{i}.sqlite")
        for i in range(replicas)
    ]
    configs = [{**runtime_config(scenario, server, lg), "state": shared} for lg in ledgers]
    phase = PhaseResult("runtime", scenario.duration_s)
    collect = _Collector(phase, replicas)
    loop = asyncio.get_running_loop()
    with fleet(configs, collect) as procs:
        server.reset_counts()
        server.reseed(seed)
        t0 = time.monotonic() + START_AHEAD_S
        for p in procs:
            p.send(
                "drill",
                scenario=scenario.model_dump(mode="json"),
                seed=seed,
                replicas=replicas,
                t0=t0,
            )
        timeline = _Timeline(server, scenario.timeline, None)  # replica 0 plays the crashes
        player = asyncio.create_task(timeline.play(t0))
        timeout = scenario.duration_s + scenario.deadline_s + 60
        waits = [loop.run_in_executor(None, p.result, timeout) for p in procs]
        try:
            while not all(w.done() for w in waits):
                if progress is not None:
                    progress(phase.name, time.monotonic() - t0, phase, collect.sample)
                await asyncio.wait(waits, timeout=SAMPLE_EVERY_S)
            results = [w.result() for w in waits]
        finally:
            player.cancel()
            await asyncio.gather(player, return_exceptions=True)
            timeline.clear()
    events = [am.Event.model_validate(e) for r in results for e in r["events"]]
    phase.events = sorted(events, key=lambda e: e.timestamp)
    phase.actors_at_end = results[0]["actors"]
    phase.key_states_at_end = results[0]["key_states"]
    phase.records.sort(key=lambda r: r.t_start)
    phase.hits = [(h.t - t0, h) for h in server.hits()]
    target = StateConfig(backend="redis", url=redis_url).target  # its password masked
    outcomes = Counter(h.outcome for _, h in phase.hits)
    summary = FleetSummary(
        replicas,
        target,
        collect.served,
        collect.failed,
        sum(outcomes[f] for f in DEAD_KEY_FAULTS),
        [bool(r["connected"]) for r in results],
        [lg for lg in ledgers if lg != ":memory:"],
    )
    return phase, summary


async def run_fleet_drill(
    scenario: Scenario,
    *,
    replicas: int,
    redis_url: str,
    seed: int = 1,
    ledger_dir: Path | None = None,
    progress: ProgressFn | None = None,
    baseline: bool = True,
) -> tuple[DrillResult, FleetSummary]:
    """The fleet's runtime phase, then the baseline phase, on a fresh local chaos server."""
    with ChaosServer(latency_ms=scenario.latency_ms, seed=seed) as server:
        runtime, fleet_summary = await run_fleet_phase(
            scenario, server, seed, replicas, redis_url, ledger_dir, progress
        )
        base = (
            await run_baseline_phase(scenario, server, seed, progress)
            if baseline
            else PhaseResult("baseline", scenario.duration_s)
        )
    ledger = fleet_summary.ledgers[0] if fleet_summary.ledgers else None
    return DrillResult(scenario, seed, runtime, base, ledger), fleet_summary
