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


PLAIN: dict = {"messages": [{"role": "user", "content": "benchmark"}]}


def _tool(name: str, props: dict) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name.replace('_', ' ')} for the assistant",
            "parameters": {"type": "object", "properties": props, "required": list(props)},
        },
    }


def _call(cid: str, name: str, args: str) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


REALISTIC: dict = {
    "messages": [
        {"role": "system", "content": "You are a travel assistant. Answer briefly. " * 8},
        {"role": "user", "content": "What is the weather in Lisbon, and find me a hotel there."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call("call_a1", "get_weather", '{"city": "Lisbon", "days": 2}')],
        },
        {"role": "tool", "tool_call_id": "call_a1", "content": '{"forecast": "sunny", "c": 24}'},
        {"role": "assistant", "content": "It is sunny, 24 °C. Looking for hotels now."},
        {"role": "user", "content": "Something under 150 euros near the river, please."},
    ],
    "tools": [
        _tool("get_weather", {"city": {"type": "string"}, "days": {"type": "integer"}}),
        _tool(
            "find_hotel",
            {
                "city": {"type": "string"},
                "max_price": {"type": "number"},
                "area": {"type": "string", "enum": ["center", "river", "airport"]},
            },
        ),
    ],
    "temperature": 0.2,
    "max_tokens": 512,
}
"""A realistic request: system prompt, two tools, six turns with a tool round."""


async def run(
    system: am.ActorSystem, n: int, concurrency: int, request: dict = PLAIN
) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one() -> None:
        async with sem:
            t = time.perf_counter()
            await system.acomplete(**request)
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t0, lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def cpu_per_request(request: dict, n: int, rounds: int = 3) -> float:
    """CPU µs per request at concurrency 50 on a zero-latency scripted provider (best of
    ``rounds``, each on a fresh system after a warm-up)."""
    best = float("inf")
    for _ in range(rounds):
        with am.ActorSystem.start(config(0)) as system:
            asyncio.run(run(system, 200, 50, request))
            c0 = time.process_time()
            asyncio.run(run(system, n, 50, request))
            best = min(best, (time.process_time() - c0) / n * 1e6)
    return best


def realistic(n: int) -> None:
    """Per-request CPU of a realistic request (system prompt, two tools, six turns with a tool
    round, two parameters) beside a one-line request, alternating, in one run."""
    plain = cpu_per_request(PLAIN, n)
    real = cpu_per_request(REALISTIC, n)
    print(f"{'request':>10} {'cpu µs/req':>11}")
    print(f"{'one line':>10} {plain:>11.0f}")
    print(f"{'realistic':>10} {real:>11.0f}")
    print(f"realistic / one line: {real / plain:.3f} (target ≤ 1.10)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument(
        "--realistic",
        action="store_true",
        help="compare a realistic request (tools, 6 turns) with a one-line one",
    )
    args = ap.parse_args()
    if args.realistic:
        realistic(args.requests)
        return
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
