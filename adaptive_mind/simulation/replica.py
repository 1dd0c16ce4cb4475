"""One replica: an ActorSystem in its own OS process, driven by JSON lines (see :mod:`.fleet`).

The first stdin line is ``{"config": {...}, "index": N}``; the replica starts its system, waits
until a shared state backend is connected, and answers ``{"kind": "result", "ready": true}``.
Then each line is a command, answered by one ``result`` line:

- ``{"op": "run", "concurrency": C, "requests": N | "duration_s": D, "delay_s": S,
  "provider": P}``: a closed loop of C workers (after S seconds; only provider P if given)
  until N requests are sent or D seconds are over; the
  result holds one ``[start, end, ok, error, key_id]`` per request (wall-clock times);
- ``{"op": "status", "providers": [...]}``: whether the state backend is connected, and each
  provider's breaker state and key states;
- ``{"op": "drill", "scenario": {...}, "seed", "replicas", "t0"}``: this replica's share of a
  drill's schedule (request ``i`` when ``i % replicas == index``), starting at ``t0`` on the
  shared monotonic clock; streams ``record`` and ``sample`` lines, and replica 0 plays the
  scenario's actor crashes.

Closing stdin stops the system and ends the process. Stdout carries only protocol lines.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
import time
from typing import Any, TextIO

import adaptive_mind as am
from adaptive_mind.simulation.drill import (
    PhaseResult,
    Sample,
    _drive,
    _schedule,
    runtime_call,
    runtime_sampler,
)
from adaptive_mind.simulation.scenario import Scenario

USER = [{"role": "user", "content": "fleet"}]
CONNECT_TIMEOUT_S = 20.0


class Out:
    """Protocol lines on the real stdout, one writer at a time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, kind: str, **payload: Any) -> None:
        text = json.dumps({"kind": kind, **payload})
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()


def connected(system: am.ActorSystem) -> bool:
    """Whether the system's shared state backend is connected (False for ``memory``)."""
    return bool(getattr(system._state_backend, "connected", False))


async def run_load(
    system: am.ActorSystem,
    concurrency: int,
    requests: int | None,
    duration_s: float | None,
    delay_s: float = 0.0,
    provider: str | None = None,
) -> list[list[Any]]:
    """A closed loop of ``concurrency`` workers; one ``[start, end, ok, error, key_id]`` each."""
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    end = math.inf if duration_s is None else time.monotonic() + duration_s
    left = [math.inf if requests is None else requests]
    providers = None if provider is None else [provider]
    out: list[list[Any]] = []

    async def worker() -> None:
        while left[0] > 0 and time.monotonic() < end:
            left[0] -= 1
            t = time.time()
            try:
                reply = await system.acomplete(USER, providers=providers)
            except am.AdaptiveMindError as exc:
                out.append([t, time.time(), False, type(exc).__name__, None])
            else:
                out.append([t, time.time(), True, None, reply.key_id])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def status(system: am.ActorSystem, providers: list[str]) -> dict[str, Any]:
    return {
        "connected": connected(system),
        "breakers": {p: str(system.breaker_state(p)) for p in providers},
        "keys": {p: system.key_states(p) for p in providers},
    }


async def drill(system: am.ActorSystem, index: int, msg: dict[str, Any], out: Out) -> None:
    """Play this replica's share of a drill, streaming records and samples."""
    scenario = Scenario.model_validate(msg["scenario"])
    seed, replicas, t0 = int(msg["seed"]), int(msg["replicas"]), float(msg["t0"])
    share = [(at, i) for at, i in _schedule(scenario, seed) if i % replicas == index]
    local = scenario.model_copy(update={"concurrency": -(-scenario.concurrency // replicas)})
    phase = PhaseResult("runtime", scenario.duration_s)
    system.subscribe(phase.events.append)
    names = list(scenario.providers)
    sent = [0]

    def progress(_name: str, t: float, result: PhaseResult, s: Sample | None) -> None:
        new, sent[0] = result.records[sent[0] :], len(result.records)
        for r in new:
            out.line("record", index=index, rec=[r.t_start, r.t_end, r.ok, r.mitigated,
                                                 r.provider, r.error])  # fmt: skip
        if s is not None:
            out.line("sample", index=index, t=s.t, breakers=s.breakers, keys=s.keys_available)

    async def crashes() -> None:
        for w in sorted((w for w in scenario.timeline if w.crash), key=lambda w: w.at):
            await asyncio.sleep(max(0.0, t0 + w.at - time.monotonic()))
            assert w.crash is not None
            system.chaos.crash(w.crash)

    player = asyncio.create_task(crashes()) if index == 0 else None
    sample = runtime_sampler(system, names)
    try:
        await _drive(local, seed, runtime_call(system, seed), phase, t0, sample, progress, share)
        await asyncio.sleep(max(0.0, t0 + scenario.duration_s - time.monotonic()))
    finally:
        if player is not None:
            player.cancel()
            await asyncio.gather(player, return_exceptions=True)
    progress("runtime", time.monotonic() - t0, phase, None)
    system.flush()
    out.line(
        "result",
        events=[e.model_dump(mode="json") for e in phase.events],
        actors={n: str(s) for n, s in system.actors().items()},
        key_states={n: system.key_states(n) for n in names},
        connected=connected(system),
    )


def serve(system: am.ActorSystem, index: int, stdin: TextIO, out: Out) -> None:
    for line in stdin:
        msg = json.loads(line)
        op = msg.get("op")
        if op == "run":
            records = asyncio.run(
                run_load(
                    system,
                    int(msg["concurrency"]),
                    msg.get("requests"),
                    msg.get("duration_s"),
                    float(msg.get("delay_s", 0.0)),
                    msg.get("provider"),
                )
            )
            out.line("result", records=records, connected=connected(system))
        elif op == "status":
            out.line("result", **status(system, list(msg["providers"])))
        elif op == "drill":
            asyncio.run(drill(system, index, msg, out))
        else:
            out.line("result", error=f"unknown op {op!r}")


def main() -> None:
    out = Out(sys.stdout)
    sys.stdout = sys.stderr  # nothing but protocol lines on the real stdout
    first = json.loads(sys.stdin.readline())
    index = int(first["index"])
    with am.ActorSystem.start(first["config"]) as system:
        if system.config.state.shared:
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            while not connected(system):
                if time.monotonic() > deadline:
                    out.line("result", ready=False, error="the state backend did not connect")
                    return
                time.sleep(0.01)
        out.line("result", ready=True)
        serve(system, index, sys.stdin, out)


if __name__ == "__main__":
    main()
