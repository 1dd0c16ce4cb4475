"""What fleet-wide key budgets cost per request: one Redis round trip per request (option b)
against leased blocks of budget (option a, what the runtime does).

Needs a Redis: ``python benchmarks/budget_grants.py redis://127.0.0.1:6379/0``. Prints the
latency one GRANT script call adds to a request (p50 / p99, alone and with 64 requests in
flight) and how many calls each option makes for 10 000 requests on a key of rpm 10 000.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

import redis.asyncio as aioredis

from adaptive_mind.core.key_budget import block_of
from adaptive_mind.state._redis_wire import GRANT

N = 10_000


async def one_by_one(script, name: str) -> list[float]:
    out = []
    for _ in range(N):
        t = time.perf_counter()
        await script(keys=[name], args=[1, 0, 10**9, 0, 120_000])
        out.append(time.perf_counter() - t)
    return out


async def concurrent(script, name: str, width: int = 64) -> list[float]:
    out: list[float] = []

    async def worker() -> None:
        for _ in range(N // width):
            t = time.perf_counter()
            await script(keys=[name], args=[1, 0, 10**9, 0, 120_000])
            out.append(time.perf_counter() - t)

    await asyncio.gather(*(worker() for _ in range(width)))
    return out


def show(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[int(len(ms) * 0.99)]
    print(f"{label:<34} p50 {statistics.median(ms):.3f} ms   p99 {p99:.3f} ms")


async def main(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    script = client.register_script(GRANT)
    name = "{bench-" + uuid.uuid4().hex[:8] + "}:budget"
    show("round trip per request, 1 at a time", await one_by_one(script, name))
    show("round trip per request, 64 in flight", await concurrent(script, name))
    rpm = 10_000
    print(f"Redis calls for {N} requests, rpm {rpm}: per request {N}, blocks {N // block_of(rpm)}")
    await client.delete(name)
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"))
