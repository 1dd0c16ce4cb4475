#!/usr/bin/env python3
"""The runtime's own cost on scripted providers: throughput, p50/p99 latency, overhead per request.

Prints a table; not a pass/fail test. Overhead per request = p50 end-to-end latency minus the
scripted upstream latency. Ratios within one run are what to compare on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import adaptive_mind as am


def config(latency_ms: float) -> dict:
    return {
        "providers": {
            "sim": {
                "kind": "scripted",
                "api_keys": ["k1", "k2"],
                "models": ["m"],
                "latency_ms": latency_ms,
            },
        },
        "ledger": {"path": ":memory:"},
        "request": {"max_in_flight": 100_000},
    }


async def run(system: am.ActorSystem, n: int, concurrency: int) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    msgs = [{"role": "user", "content": "benchmark"}]

    async def one() -> None:
        async with sem:
            t = time.perf_counter()
            await system.acomplete(msgs)
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t0, lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=3000)
    args = ap.parse_args()
    print(
        f"{'latency':>8} {'conc':>5} {'req/s':>9} {'ideal':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'overhead p50 ms':>16} {'cpu µs/req':>11}"
    )
    for latency in (0, 20):
        for conc in (1, 50, 500):
            n = args.requests if conc > 1 else min(args.requests, 500 if latency else 2000)
            with am.ActorSystem.start(config(latency)) as system:
                asyncio.run(run(system, min(200, n), conc))  # warm up
                c0 = time.process_time()
                elapsed, lat = asyncio.run(run(system, n, conc))
                cpu = (time.process_time() - c0) / n * 1e6
            ideal = conc / (latency / 1000) if latency else float("inf")
            print(
                f"{latency:>6}ms {conc:>5} {n / elapsed:>9.0f} {ideal:>9.0f} "
                f"{statistics.median(lat):>8.2f} {pct(lat, 0.99):>8.2f} "
                f"{statistics.median(lat) - latency:>16.2f} {cpu:>11.0f}"
            )


if __name__ == "__main__":
    main()
