#!/usr/bin/env python3
"""Memory over 100 000 requests (RSS stays flat), and fail-fast admission under overload.

Prints numbers; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import adaptive_mind as am

MSGS = [{"role": "user", "content": "benchmark"}]


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def memory(system: am.ActorSystem, total: int, conc: int) -> None:
    sem = asyncio.Semaphore(conc)
    done = 0
    marks = {10_000, 50_000, 100_000, total}

    async def one() -> None:
        nonlocal done
        async with sem:
            await system.acomplete(MSGS)
        done += 1
        if done in marks:
            print(f"  after {done:>7,} requests: RSS {rss_mb():7.1f} MiB")

    print(f"  before: RSS {rss_mb():7.1f} MiB")
    # submit in waves so the benchmark itself does not hold 100k coroutines
    for start in range(0, total, 10_000):
        await asyncio.gather(*(one() for _ in range(min(10_000, total - start))))


async def overload(system: am.ActorSystem, offered: int) -> tuple[int, int, float]:
    async def one() -> str:
        try:
            await system.acomplete(MSGS)
            return "ok"
        except am.OverloadedError:
            return "overloaded"

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(offered)))
    return results.count("ok"), results.count("overloaded"), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = {
            "providers": {"sim": {"kind": "scripted", "api_keys": ["k1", "k2"], "models": ["m"]}},
            "ledger": {"path": str(Path(d) / "ledger.sqlite")},
            "request": {"max_in_flight": 1000},
        }
        print(f"memory, {args.requests:,} requests at concurrency 200 (ledger on):")
        with am.ActorSystem.start(cfg) as system:
            asyncio.run(memory(system, args.requests, 200))
        cfg["providers"]["sim"]["latency_ms"] = 50
        cfg["ledger"]["path"] = str(Path(d) / "ledger2.sqlite")
        offered = 20_000
        with am.ActorSystem.start(cfg) as system:
            before = rss_mb()
            ok, rejected, secs = asyncio.run(overload(system, offered))
            print(
                f"overload: {offered:,} requests offered at once, max_in_flight 1000, 50 ms "
                f"upstream: {ok:,} served, {rejected:,} OverloadedError (fail fast) in "
                f"{secs:.2f}s; RSS {before:.1f} -> {rss_mb():.1f} MiB"
            )


if __name__ == "__main__":
    main()
