#!/usr/bin/env python3
"""Streams through Adaptive Mind versus the plain ``openai.AsyncOpenAI`` stream (issue #15).

Two measurements, against the chaos server in its own process (two of them: a short answer for
time to first token, a long one for throughput), the SDK on the aiohttp transport the runtime's
OpenAI adapter uses (``openai.DefaultAioHttpClient``, ``max_retries=0``) and asking for the same
``stream_options={"include_usage": True}``:

- **time to first token** (TTFT): one stream at a time, from the call to the first text chunk,
  each stream then read to its end; the three systems take turns request by request (the order
  rotating), so drift hits them alike. p50 and p99, and each runtime's difference from the SDK.
- **chunks per second** at concurrency 50 on a long answer (``--words`` words, one a chunk):
  content chunks the caller received per second of wall time, and CPU per chunk (this process
  only), in interleaved rounds; medians, and the runtime / SDK ratio.

The runtime runs as ``ActorSystem.astart`` (on this loop) and as ``ActorSystem.start`` (its own
I/O thread; the caller reads from this loop). Ledger in memory, everything else default. Not a
test: prints a table and a verdict per target.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai

import adaptive_mind as am
from adaptive_mind.simulation.process import chaos_server_process

MSGS: list[Any] = [{"role": "user", "content": "benchmark"}]
KEY, MODEL = "sk-bench-1", "gpt-bench"
KINDS = ("sdk", "astart", "start")
TTFT_TARGET_MS = 2.0
RATIO_TARGET = 0.9

Stream = Callable[[str], AsyncIterator[str]]
"""A system's stream of text deltas for a route (``short`` / ``long``)."""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def long_text(words: int) -> str:
    base = "the quick brown fox jumps over the lazy dog while streams carry each word"
    return " ".join(base.split()[i % 14] for i in range(words))


def config(short: str, long: str) -> dict[str, Any]:
    def provider(base: str) -> dict[str, Any]:
        return {
            "kind": "openai",
            "api_keys": [KEY],
            "models": [MODEL],
            "base_url": f"{base}/v1",
            "transport": "aiohttp",
        }

    return {
        "providers": {"short": provider(short), "long": provider(long)},
        "ledger": {"path": ":memory:"},
    }


def sdk_stream(clients: dict[str, openai.AsyncOpenAI]) -> Stream:
    async def deltas(route: str) -> AsyncIterator[str]:
        stream = await clients[route].chat.completions.create(
            model=MODEL, messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return deltas


def runtime_stream(system: am.ActorSystem) -> Stream:
    async def deltas(route: str) -> AsyncIterator[str]:
        async with system.astream(MSGS, providers=[route]) as stream:
            async for chunk in stream:
                if chunk.text:
                    yield chunk.text

    return deltas


async def ttft(stream: Stream) -> float:
    """Milliseconds to the first text delta; the stream is read to its end."""
    t0 = time.perf_counter()
    first: float | None = None
    async for _ in stream("short"):
        if first is None:
            first = (time.perf_counter() - t0) * 1000
    assert first is not None, "a stream without text"
    return first


async def throughput(stream: Stream, n: int, conc: int) -> tuple[float, float]:
    """Content chunks per second of wall time and CPU µs per chunk, ``n`` streams at ``conc``."""
    sem = asyncio.Semaphore(conc)
    chunks = 0

    async def one() -> None:
        nonlocal chunks
        async with sem:
            async for _ in stream("long"):
                chunks += 1

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return chunks / wall, cpu / chunks * 1e6


async def run(args: argparse.Namespace, short: str, long: str) -> None:
    clients = {
        route: openai.AsyncOpenAI(
            api_key=KEY,
            base_url=f"{base}/v1",
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        )
        for route, base in (("short", short), ("long", long))
    }
    threaded = am.ActorSystem.start(config(short, long))
    try:
        async with am.ActorSystem.astart(config(short, long)) as local:
            streams = {
                "sdk": sdk_stream(clients),
                "astart": runtime_stream(local),
                "start": runtime_stream(threaded),
            }
            for s in streams.values():  # warm up: connections, imports, first-call paths
                for _ in range(20):
                    await ttft(s)
                await throughput(s, args.concurrency, args.concurrency)
            firsts: dict[str, list[float]] = {k: [] for k in KINDS}
            for i in range(args.ttft_samples):  # request by request, the order rotating
                for k in KINDS[i % 3 :] + KINDS[: i % 3]:
                    firsts[k].append(await ttft(streams[k]))
            rounds: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
            for r in range(args.rounds):
                for k in KINDS[r % 3 :] + KINDS[: r % 3]:
                    rounds[k].append(await throughput(streams[k], args.streams, args.concurrency))
    finally:
        await asyncio.get_running_loop().run_in_executor(None, threaded.stop)
        for c in clients.values():
            await c.close()
    report(args, firsts, rounds)


def report(
    args: argparse.Namespace,
    firsts: dict[str, list[float]],
    rounds: dict[str, list[tuple[float, float]]],
) -> None:
    print(
        f"TTFT: {args.ttft_samples} streams per system, one at a time, interleaved; "
        f"upstream {args.latency_ms:g} ms. Throughput: {args.streams} streams of {args.words} "
        f"words at concurrency {args.concurrency}, medians of {args.rounds} interleaved rounds"
    )
    print(f"{'':14} {'TTFT p50':>9} {'TTFT p99':>9} {'chunks/s':>9} {'cpu µs/chunk':>13}")
    med = {k: [statistics.median(col) for col in zip(*v, strict=True)] for k, v in rounds.items()}
    p50 = {k: pct(v, 0.5) for k, v in firsts.items()}
    p99 = {k: pct(v, 0.99) for k, v in firsts.items()}
    names = {"sdk": "plain SDK", "astart": "astart()", "start": "start()"}
    for k in KINDS:
        print(f"{names[k]:14} {p50[k]:>9.2f} {p99[k]:>9.2f} {med[k][0]:>9.0f} {med[k][1]:>13.1f}")
    for k in ("astart", "start"):
        d50, d99 = p50[k] - p50["sdk"], p99[k] - p99["sdk"]
        ok = "PASS" if d50 <= TTFT_TARGET_MS else "FAIL"
        print(
            f"TTFT {names[k]}: {d50:+.2f} ms at p50 ({d99:+.2f} ms at p99) vs the plain SDK "
            f"(target within {TTFT_TARGET_MS:g} ms at p50): {ok}"
        )
    for k in ("astart", "start"):
        ratio = med[k][0] / med["sdk"][0]
        ok = "PASS" if ratio >= RATIO_TARGET else "FAIL"
        print(
            f"chunks/s {names[k]}: {ratio:.2f}x the plain SDK at concurrency {args.concurrency}, "
            f"{med[k][1] - med['sdk'][1]:+.1f} µs CPU/chunk (target >= {RATIO_TARGET}x): {ok}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ttft-samples", type=int, default=400, help="streams per system (TTFT)")
    ap.add_argument("--streams", type=int, default=500, help="streams per throughput round")
    ap.add_argument("--words", type=int, default=200, help="the long answer's words (chunks)")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    args = ap.parse_args()
    if args.quick:
        args.ttft_samples, args.streams, args.rounds = 20, 60, 1
    with (
        chaos_server_process(args.latency_ms) as short,
        chaos_server_process(args.latency_ms, text=long_text(args.words)) as long,
    ):
        asyncio.run(run(args, short, long))


if __name__ == "__main__":
    main()
