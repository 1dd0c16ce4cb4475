#!/usr/bin/env python3
"""Side by side on one local server: the plain OpenAI SDK, LiteLLM's Router, and Adaptive Mind.

Every system gets the same two keys (the plain SDK only the first: it has no failover) and the
same workload, in interleaved rounds; the table shows medians. Scenarios: all healthy; key 1 dead
(always 500); key 1 flaky (30 % 500s); key 1 rate-limited (429, Retry-After 2 s). Needs the
``bench`` extra (litellm). Prints numbers, and docs/benchmarks.md's data and chart with ``--json``
and ``--chart``; not a test. ``--random-faults`` runs random_faults.py's scenarios instead
(random, independent faults on every key and provider; the other options go to it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import random_faults  # benchmarks/ is on sys.path when this runs as a script

import adaptive_mind as am
from adaptive_mind.simulation.process import chaos_server_process

KEYS = ("sk-bench-key-1", "sk-bench-key-2")
MODEL = "gpt-bench"
MSGS = [{"role": "user", "content": "benchmark"}]
SCENARIOS: dict[str, tuple[str, ...]] = {
    "healthy": (),
    "dead key": (f"provider=openai,fault=server_error,key={KEYS[0]}",),
    "flaky key": (f"provider=openai,fault=server_error,key={KEYS[0]},probability=0.3",),
    "rate-limited key": (f"provider=openai,fault=rate_limit,key={KEYS[0]},retry_after_s=2",),
}
SYSTEMS = ("direct", "direct-aiohttp", "litellm", "adaptive-mind")


@dataclass
class Run:
    rps: float
    p50: float
    p99: float
    success: float
    cpu_us: float
    bad_key_calls: int
    early_calls: int = 0
    """Calls to the rate-limited key inside a Retry-After window it was given."""
    extra: dict[str, Any] = field(default_factory=dict)


def _hits(base: str) -> list[list[Any]]:
    with urllib.request.urlopen(f"{base}/_chaos/hits", timeout=10) as r:
        return list(json.loads(r.read()))


def _reset(base: str) -> None:
    req = urllib.request.Request(f"{base}/_chaos/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()


async def _drive(
    call: Callable[[], Awaitable[object]], n: int, conc: int
) -> tuple[float, list[float], int]:
    sem = asyncio.Semaphore(conc)
    lat: list[float] = []
    ok = 0

    async def one() -> None:
        nonlocal ok
        async with sem:
            t = time.perf_counter()
            try:
                await call()
                ok += 1
            except Exception:
                pass
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0), lat, ok


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


async def _direct(base: str, n: int, conc: int, aio: bool) -> tuple[float, list[float], int]:
    client = openai.AsyncOpenAI(
        api_key=KEYS[0],
        base_url=f"{base}/v1",
        http_client=openai.DefaultAioHttpClient() if aio else None,
    )
    try:
        return await _drive(
            lambda: client.chat.completions.create(model=MODEL, messages=MSGS),  # type: ignore[arg-type]
            n,
            conc,
        )
    finally:
        await client.close()


async def _litellm(base: str, n: int, conc: int) -> tuple[float, list[float], int]:
    router = random_faults.litellm_router(
        [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_key": k,
                    "api_base": f"{base}/v1",
                },
            }
            for k in KEYS
        ]
    )
    return await _drive(lambda: router.acompletion(model=MODEL, messages=MSGS), n, conc)


def _adaptive(base: str, n: int, conc: int) -> tuple[float, list[float], int]:
    cfg = {
        "providers": {
            "openai": {
                "kind": "openai",
                "api_keys": list(KEYS),
                "models": [MODEL],
                "base_url": f"{base}/v1",
            }
        },
        "ledger": {"enabled": False},
        "telemetry": {"metrics": False},
    }
    with am.ActorSystem.start(cfg) as system:
        return asyncio.run(_drive(lambda: system.acomplete(MSGS), n, conc))


def run_one(system: str, base: str, n: int, conc: int, retry_after: float | None) -> Run:
    _reset(base)
    c0 = time.process_time()
    if system == "adaptive-mind":
        rps, lat, ok = _adaptive(base, n, conc)
    elif system == "litellm":
        rps, lat, ok = asyncio.run(_litellm(base, n, conc))
    else:
        rps, lat, ok = asyncio.run(_direct(base, n, conc, system == "direct-aiohttp"))
    cpu = (time.process_time() - c0) / n * 1e6
    hits = _hits(base)
    bad = [h for h in hits if h[2] == KEYS[0]]
    early = 0
    if retry_after:  # calls that arrived while a Retry-After the key gave was still running
        limited = sorted(h[0] for h in bad if h[4] == "rate_limit")
        early = sum(1 for h in bad if any(t + 0.1 < h[0] < t + retry_after for t in limited))
    return Run(rps, statistics.median(lat), _pct(lat, 0.99), ok / n, cpu, len(bad), early)


def main() -> int:
    if "--random-faults" in sys.argv[1:]:
        return random_faults.main([a for a in sys.argv[1:] if a != "--random-faults"])
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--random-faults",
        action="store_true",
        help="run random_faults.py instead (plain SDK, LiteLLM, Adaptive Mind under random "
        "faults); the other options are passed to it: see random_faults.py --help",
    )
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    ap.add_argument(
        "--system", action="append", choices=list(SYSTEMS), help="only these systems (default: all)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the medians as JSON")
    ap.add_argument("--chart", metavar="PNG", help="also draw throughput and success per system")
    args = ap.parse_args()
    table: dict[str, dict[str, dict[str, float]]] = {}
    for scen in args.scenario or list(SCENARIOS):
        retry_after = 2.0 if "rate" in scen else None
        systems = args.system or list(SYSTEMS)
        runs: dict[str, list[Run]] = {s: [] for s in systems}
        with chaos_server_process(args.latency_ms, rules=SCENARIOS[scen]) as base:
            asyncio.run(_direct(base, 50, 10, False))  # warm up
            for _ in range(args.rounds):
                for s in systems:
                    runs[s].append(run_one(s, base, args.requests, args.concurrency, retry_after))
        table[scen] = {
            s: {
                k: statistics.median(getattr(r, k) for r in rs)
                for k in ("rps", "p50", "p99", "success", "cpu_us", "bad_key_calls", "early_calls")
            }
            for s, rs in runs.items()
        }
        print(
            f"\n== {scen}: {args.requests} requests, concurrency {args.concurrency}, "
            f"upstream {args.latency_ms:g} ms, medians of {args.rounds} interleaved rounds"
        )
        print(
            f"{'system':<15}{'req/s':>8}{'vs direct':>10}{'p50 ms':>8}{'p99 ms':>9}"
            f"{'success':>9}{'cpu µs':>8}{'key-1 calls':>12}{'early':>7}"
        )
        d = table[scen].get("direct", next(iter(table[scen].values())))["rps"]
        for s, m in table[scen].items():
            print(
                f"{s:<15}{m['rps']:>8.0f}{m['rps'] / d:>9.2f}x{m['p50']:>8.1f}{m['p99']:>9.1f}"
                f"{m['success']:>9.1%}{m['cpu_us']:>8.0f}{m['bad_key_calls']:>12.0f}"
                f"{m['early_calls']:>7.0f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))
    if args.chart:
        chart(table, Path(args.chart))
    return 0


def chart(table: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    """Grouped bars: throughput (log scale) and success rate per scenario and system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = list(table)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / len(SYSTEMS)
    colors = {
        "direct": "#9e9e9e",
        "direct-aiohttp": "#616161",
        "litellm": "#e07b39",
        "adaptive-mind": "#3c78d8",
    }
    for i, s in enumerate(SYSTEMS):
        xs = [j + i * width for j in range(len(scen))]
        ax1.bar(xs, [table[c][s]["rps"] for c in scen], width, label=s, color=colors[s])
        ax2.bar(xs, [100 * table[c][s]["success"] for c in scen], width, label=s, color=colors[s])
    for ax, title in ((ax1, "throughput (req/s, log scale)"), (ax2, "success rate (%)")):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scen))], scen)
        ax.set_title(title)
    ax1.set_yscale("log")
    ax2.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
