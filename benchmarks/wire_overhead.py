#!/usr/bin/env python3
"""Adaptive Mind on the OpenAI adapter versus the plain ``openai.AsyncOpenAI`` client.

Both talk to the local chaos server (in its own process, 20 ms latency) at concurrency 50, in
interleaved rounds; prints medians of throughput and p50/p99 latency and the ratio. Not a test.

``direct-post`` is the plain SDK sending a ready body through ``client.post``, the call path the
runtime's OpenAI adapter uses: the runtime against it is the runtime's own cost; the runtime
against ``direct`` (``create()``) is what a user of the plain SDK sees change.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import openai
from openai.types.chat import ChatCompletion

import adaptive_mind as am
from adaptive_mind.simulation.process import chaos_server_process

MSGS = [{"role": "user", "content": "benchmark"}]


async def drive(
    call: Callable[[], Awaitable[object]], n: int, conc: int
) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(conc)
    lat: list[float] = []

    async def one() -> None:
        async with sem:
            t = time.perf_counter()
            await call()
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0), lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def direct_round(
    base: str, n: int, conc: int, transport: str, via_post: bool = False
) -> tuple[float, list[float], float]:
    http = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
    client = openai.AsyncOpenAI(
        api_key="sk-bench-1", base_url=f"{base}/v1", max_retries=0, http_client=http
    )
    body = {"model": "gpt-bench", "messages": MSGS}

    def call() -> Awaitable[object]:
        if via_post:  # the SDK's client with a ready body, as the runtime's adapter sends it
            return client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletion,
                options={"security": {"bearer_auth": True}},
            )
        return client.chat.completions.create(model="gpt-bench", messages=MSGS)  # type: ignore[arg-type]

    c0 = time.process_time()
    rps, lat = await drive(call, n, conc)
    cpu = (time.process_time() - c0) / n * 1e6
    await client.close()
    return rps, lat, cpu


def _config(base: str, transport: str) -> dict:
    return {
        "providers": {
            "openai": {
                "kind": "openai",
                "api_keys": ["sk-bench-1"],
                "models": ["gpt-bench"],
                "base_url": f"{base}/v1",
                "transport": transport,
            }
        },
        "ledger": {"path": ":memory:"},
    }


def runtime_round(base: str, n: int, conc: int, transport: str) -> tuple[float, list[float], float]:
    """``ActorSystem.start``: the runtime's own loop thread, called from the caller's loop."""
    with am.ActorSystem.start(_config(base, transport)) as system:
        asyncio.run(drive(lambda: system.acomplete(MSGS), 100, conc))  # warm up the client
        c0 = time.process_time()
        rps, lat = asyncio.run(drive(lambda: system.acomplete(MSGS), n, conc))
        cpu = (time.process_time() - c0) / n * 1e6
    return rps, lat, cpu


async def astart_round(
    base: str, n: int, conc: int, transport: str
) -> tuple[float, list[float], float]:
    """``ActorSystem.astart``: the request-path actors on the caller's own loop."""
    async with am.ActorSystem.astart(_config(base, transport)) as system:
        await drive(lambda: system.acomplete(MSGS), 100, conc)  # warm up the client
        c0 = time.process_time()
        rps, lat = await drive(lambda: system.acomplete(MSGS), n, conc)
        cpu = (time.process_time() - c0) / n * 1e6
    return rps, lat, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    kinds = [
        ("direct", "httpx"),
        ("direct", "aiohttp"),
        ("direct-post", "aiohttp"),
        ("runtime", "httpx"),
        ("runtime", "aiohttp"),
        ("astart", "aiohttp"),
    ]
    results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {k: [] for k in kinds}
    with chaos_server_process(args.latency_ms) as base:
        for t in ("httpx", "aiohttp"):
            asyncio.run(direct_round(base, 100, args.concurrency, t))  # warm up
        for _ in range(args.rounds):
            for who, t in kinds:  # interleaved rounds
                if who.startswith("direct"):
                    rps, lat, cpu = asyncio.run(
                        direct_round(base, args.requests, args.concurrency, t, who == "direct-post")
                    )
                elif who == "astart":
                    rps, lat, cpu = asyncio.run(
                        astart_round(base, args.requests, args.concurrency, t)
                    )
                else:
                    rps, lat, cpu = runtime_round(base, args.requests, args.concurrency, t)
                results[(who, t)].append((rps, statistics.median(lat), pct(lat, 0.99), cpu))
    med = {k: [statistics.median(col) for col in zip(*v, strict=True)] for k, v in results.items()}
    print(
        f"{args.requests} requests, concurrency {args.concurrency}, upstream {args.latency_ms} ms,"
        f" medians of {args.rounds} interleaved rounds"
    )
    print(f"{'':18} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu µs/req':>11}")
    for (who, t), (rps, p50, p99, cpu) in med.items():
        print(f"{who + ' ' + t:18} {rps:>8.0f} {p50:>8.2f} {p99:>8.2f} {cpu:>11.0f}")
    d = med[("direct", "httpx")]
    for t in ("httpx", "aiohttp"):
        r = med[("runtime", t)]
        same = med[("direct", t)]
        print(
            f"runtime on {t}: {r[0] / same[0]:.2f}x direct on the same transport, "
            f"{r[0] / d[0]:.2f}x the plain SDK's default client; added CPU "
            f"{r[3] - same[3]:+.0f} µs/req vs direct {t}"
        )
    a, same = med[("astart", "aiohttp")], med[("direct", "aiohttp")]
    print(
        f"astart on aiohttp: {a[0] / same[0]:.2f}x direct on the same transport; added CPU "
        f"{a[3] - same[3]:+.0f} µs/req"
    )
    post = med[("direct-post", "aiohttp")]
    for who in ("runtime", "astart"):
        r = med[(who, "aiohttp")]
        print(
            f"{who} vs the same SDK call path (client.post, aiohttp): {r[0] / post[0]:.2f}x, "
            f"the runtime's own CPU {r[3] - post[3]:+.0f} µs/req"
        )


if __name__ == "__main__":
    main()
