#!/usr/bin/env python3
"""What the audit ledger and telemetry cost: entries/s sustained, and throughput on versus off.

Scripted providers, interleaved rounds, medians. Prints numbers; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import adaptive_mind as am

MSGS = [{"role": "user", "content": "benchmark prompt"}]


def config(tmp: Path, on: bool, latency_ms: float, i: int) -> dict:
    return {
        "providers": {
            "sim": {
                "kind": "scripted",
                "api_keys": ["k1", "k2"],
                "models": ["m"],
                "latency_ms": latency_ms,
            }
        },
        "ledger": {"enabled": on, "path": str(tmp / f"ledger-{i}.sqlite")},
        "telemetry": {"metrics": on, "events_db": str(tmp / f"events-{i}.sqlite") if on else None},
        "request": {"max_in_flight": 100_000},
    }


async def drive(system: am.ActorSystem, n: int, conc: int) -> float:
    sem = asyncio.Semaphore(conc)

    async def one() -> None:
        async with sem:
            await system.acomplete(MSGS)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        i = 0
        for latency, conc in ((0, 50), (20, 50)):
            rps: dict[bool, list[float]] = {True: [], False: []}
            sustained: list[float] = []
            for _ in range(args.rounds):
                for on in (True, False):
                    i += 1
                    system = am.ActorSystem.start(config(tmp, on, latency, i))
                    try:
                        rps[on].append(asyncio.run(drive(system, args.requests, conc)))
                        if on:  # time to get every entry on disk after the last reply
                            t0 = time.perf_counter()
                            system.flush()
                            flush_s = time.perf_counter() - t0
                    finally:
                        system.stop()
                    if on:
                        with am.Ledger.open(tmp / f"ledger-{i}.sqlite") as ledger:
                            assert ledger.verify().ok
                            n = ledger.verify().checked
                        sustained.append(n / (args.requests / rps[on][-1] + flush_s))
            on_, off = statistics.median(rps[True]), statistics.median(rps[False])
            print(
                f"latency {latency:>2} ms, concurrency {conc}: ledger+telemetry on {on_:7.0f} "
                f"req/s, off {off:7.0f} req/s, cost {1 - on_ / off:6.1%}; ledger sustained "
                f"{statistics.median(sustained):7.0f} entries/s (all on disk, chain verified)"
            )


if __name__ == "__main__":
    main()
