#!/usr/bin/env python3
"""Random faults: the plain OpenAI SDK, LiteLLM's Router and Adaptive Mind, on one chaos server.

Each scenario starts the chaos server in its own process (``--latency-ms`` per answer) with
seeded, probabilistic fault rules, then runs the same workload once per system, counters reset
between: the plain ``openai.AsyncOpenAI`` client (default ``max_retries=2``, first key of the
first provider only: a user without a resilience layer); a LiteLLM ``Router`` set up as its docs
show (one deployment per key, the deployments of a provider sharing a ``model_name``,
``fallbacks`` to the other providers in order, ``num_retries=2``, default cooldowns; needs the
``bench`` extra); and Adaptive Mind with default settings. Success, upstream calls per request
(the server's count), p50/p99 latency of all requests, wall time, and calls that reached a key
inside a Retry-After window it gave ("early"; from the server's per-key hit times) are printed
per scenario, then a Markdown summary with the runtime's targets. Also ``compare.py
--random-faults``. A benchmark, not a test: exit code 0 unless ``--check`` and a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import os
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai

import adaptive_mind as am
from adaptive_mind.simulation.process import chaos_server_process

MSGS = [{"role": "user", "content": "benchmark"}]
MODELS = {"openai": "gpt-bench", "anthropic": "claude-bench", "gemini": "gemini-bench"}
OA = ("sk-oa-key-1", "sk-oa-key-2")
AN = ("sk-an-key-1", "sk-an-key-2")
GM = ("gm-key-1",)
SYSTEMS = ("plain SDK", "litellm", "adaptive-mind")
SLACK_S = 0.1
"""Calls already on the wire when a 429 came back may arrive this long after it (as the drill)."""
RETRY_AFTER_S = 1.0
"""The Retry-After every 429 in these scenarios gives."""
HANG_TIMEOUT_S = 2.0
"""``timeout_s`` (runtime) and ``timeout`` (plain SDK) in the scenario with hangs."""


def _rule(
    provider: str | None, fault: str, p: float, key: str | None = None, ra: bool = False
) -> str:
    """A ``--rule`` spec for the server: ``fault`` on a random share ``p`` of matching calls."""
    ra_s = RETRY_AFTER_S if ra else None
    kv = {"provider": provider, "fault": fault, "key": key, "probability": p, "retry_after_s": ra_s}
    return ",".join(f"{k}={v}" for k, v in kv.items() if v is not None)


@dataclass(frozen=True)
class Scenario:
    desc: str
    providers: dict[str, tuple[str, ...]]
    rules: tuple[str, ...]
    min_success: float | None
    max_calls: float | None
    beats_sdk: bool = False
    honours_retry_after: bool = False
    timeout_s: float | None = None
    scale: float = 1.0

    def target(self) -> str:
        if self.min_success is None:
            return "- (informational)"
        t = [f"≥ {100 * self.min_success:g} %"] + (["≥ SDK"] if self.beats_sdk else [])
        t += [f"≤ {self.max_calls:g} calls/req"] + (["0 early"] if self.honours_retry_after else [])
        return ", ".join(t)


SCENARIOS: dict[str, Scenario] = {
    "two_keys_10pct_500": Scenario(
        "openai, two keys, each 10% random 500",
        {"openai": OA},
        (_rule("openai", "server_error", 0.1),),  # no key: each key's calls 10 %
        0.999, 1.3, beats_sdk=True,
    ),
    "one_key_10pct_500": Scenario(
        "openai, one key, 10% random 500",
        {"openai": OA[:1]},
        (_rule("openai", "server_error", 0.1, OA[0]),),
        0.999, 1.3, beats_sdk=True,
    ),
    "two_keys_30pct_500": Scenario(
        "openai, two keys, each 30% random 500",
        {"openai": OA},
        (_rule("openai", "server_error", 0.3),),
        0.99, 1.7, beats_sdk=True,
    ),
    "rate_limited_429": Scenario(
        "openai two keys each 30% 429 (Retry-After 1 s); anthropic two keys 10% 500",
        {"openai": OA, "anthropic": AN},
        (_rule("openai", "rate_limit", 0.3, ra=True), _rule("anthropic", "server_error", 0.1)),
        0.999, 1.6, honours_retry_after=True,
    ),
    "dead_primary": Scenario(
        "openai every call 500; anthropic healthy",
        {"openai": OA, "anthropic": AN},
        ("provider=openai,fault=server_error",),
        1.0, 1.1,
    ),
    "three_provider_batch": Scenario(
        "2% of all calls hang; openai key 1 30% 429 (Retry-After 1 s), both keys 10% 500; "
        f"anthropic two keys 40% 529; gemini 30% 503; timeout {HANG_TIMEOUT_S:g} s",
        {"openai": OA, "anthropic": AN, "gemini": GM},
        (
            _rule(None, "hang", 0.02),
            _rule("openai", "rate_limit", 0.3, OA[0], ra=True),
            _rule("openai", "server_error", 0.1),
            _rule("anthropic", "overloaded", 0.4),
            _rule("gemini", "unavailable", 0.3),
        ),
        None, None, timeout_s=HANG_TIMEOUT_S, scale=2.5,
    ),
}  # fmt: skip


@dataclass
class Result:
    success: float
    calls: float
    """Upstream calls per request, as the server counted them."""
    p50: float
    p99: float
    wall_s: float
    early: int
    outcomes: str
    errors: str

    @classmethod
    def of(
        cls, n: int, lat: list[float], errs: Counter[str], wall: float, hits: list[Any]
    ) -> Result:
        lat = sorted(lat)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0

        ok = n - sum(errs.values())
        c = Counter(f"{h[1]}:{h[4]}" for h in hits)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"
        errors = ", ".join(f"{k} {v}" for k, v in errs.most_common()) or "none"
        return cls(ok / n, len(hits) / n, pct(0.5), pct(0.99), wall, early(hits), outcomes, errors)


def early(hits: list[Any]) -> int:
    """Calls that reached a key while a Retry-After it gave was running (server-side times)."""
    starts: dict[str, list[float]] = {}
    for t, _p, key, _m, outcome in sorted(hits):
        if outcome == "rate_limit":
            starts.setdefault(key, []).append(t)
    n = 0
    for t, _p, key, _m, _o in hits:
        ts = starts.get(key)
        if ts:  # a 429 at t0 with t0 + SLACK_S < t < t0 + RETRY_AFTER_S?
            i = bisect.bisect_right(ts, t - RETRY_AFTER_S)
            n += i < len(ts) and ts[i] < t - SLACK_S
    return n


def _admin(base: str, path: str, post: bool = False) -> Any:
    req = urllib.request.Request(f"{base}/_chaos/{path}", method="POST" if post else "GET")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


async def _drive(
    call: Callable[[], Awaitable[object]], n: int, conc: int, tick: Callable[[], None]
) -> tuple[list[float], Counter[str], float]:
    sem = asyncio.Semaphore(conc)
    lat: list[float] = []
    errors: Counter[str] = Counter()

    async def one() -> None:
        async with sem:
            t = time.perf_counter()
            try:
                await call()
            except Exception as exc:
                errors[type(exc).__name__] += 1
            lat.append((time.perf_counter() - t) * 1000)
            tick()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return lat, errors, time.perf_counter() - t0


async def _plain(base: str, s: Scenario, n: int, conc: int, tick: Callable[[], None]) -> Any:
    first = next(iter(s.providers))  # every scenario's first provider is openai
    client = openai.AsyncOpenAI(
        api_key=s.providers[first][0],
        base_url=f"{base}/v1",
        timeout=s.timeout_s or openai.DEFAULT_TIMEOUT,
    )
    try:
        create = client.chat.completions.create
        return await _drive(lambda: create(model=MODELS[first], messages=MSGS), n, conc, tick)  # type: ignore[arg-type]
    finally:
        await client.close()


def litellm_router(model_list: list[dict[str, Any]], **settings: Any) -> Any:
    """A LiteLLM ``Router``, with no downloads (this machine may be offline) and no log noise."""
    for var in ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"):
        os.environ.setdefault(var, "True")  # bundled cost map / beta headers, not GitHub's
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
    import litellm

    litellm.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm.Router(model_list=model_list, **settings)


async def _litellm(base: str, s: Scenario, n: int, conc: int, tick: Callable[[], None]) -> Any:
    api_base = {"openai": f"{base}/v1", "anthropic": base, "gemini": f"{base}/v1beta"}
    first, *rest = (MODELS[p] for p in s.providers)
    router = litellm_router(
        [  # one deployment per key; a provider's keys share a model_name
            {
                "model_name": MODELS[p],
                "litellm_params": {
                    "model": f"{p}/{MODELS[p]}",
                    "api_key": k,
                    "api_base": api_base[p],
                },
            }
            for p, keys in s.providers.items()
            for k in keys
        ],
        num_retries=2,
        fallbacks=[{first: rest}] if rest else [],
        **({"timeout": s.timeout_s} if s.timeout_s else {}),
    )
    return await _drive(lambda: router.acompletion(model=first, messages=MSGS), n, conc, tick)


def _adaptive(base: str, s: Scenario, n: int, conc: int, tick: Callable[[], None]) -> Any:
    providers = {
        name: {
            "kind": name,
            "base_url": f"{base}/v1" if name == "openai" else base,
            "api_keys": list(keys),
            "models": [MODELS[name]],
            **({"timeout_s": s.timeout_s} if s.timeout_s else {}),
        }
        for name, keys in s.providers.items()
    }
    cfg = {"providers": providers, "ledger": {"enabled": False}, "telemetry": {"metrics": False}}
    with am.ActorSystem.start(cfg) as system:
        return asyncio.run(_drive(lambda: system.acomplete(MSGS), n, conc, tick))


def run(system: str, base: str, s: Scenario, n: int, conc: int, progress: Any) -> Result:
    _admin(base, "reset", post=True)
    tick, done = progress(system, n)
    if system == "plain SDK":
        lat, errors, wall = asyncio.run(_plain(base, s, n, conc, tick))
    elif system == "litellm":
        lat, errors, wall = asyncio.run(_litellm(base, s, n, conc, tick))
    else:
        lat, errors, wall = _adaptive(base, s, n, conc, tick)
    done(wall)
    return Result.of(n, lat, errors, wall, _admin(base, "hits"))


def _progress_factory(name: str) -> Callable[[str, int], Any]:
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        def rich_progress(system: str, n: int) -> Any:
            bar = Progress(
                "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
            )
            task = bar.add_task(f"{name} / {system}", total=n)
            bar.start()
            return (lambda: bar.advance(task)), (lambda _wall: bar.stop())

        return rich_progress

    def plain(system: str, n: int) -> Any:
        print(f"  {name} / {system}: {n} requests ...", flush=True)
        return (lambda: None), (lambda wall: print(f"    done in {wall:.1f} s", flush=True))

    return plain


def verdict(s: Scenario, am_r: Result, sdk: Result | None) -> tuple[bool | None, str]:
    if s.min_success is None or s.max_calls is None:
        return None, "-"
    why = []
    if am_r.success < s.min_success:
        why.append(f"success {am_r.success:.2%} < {s.min_success:.1%}")
    if s.beats_sdk and sdk is not None and am_r.success < sdk.success:
        why.append(f"success < SDK {sdk.success:.2%}")
    if am_r.calls > s.max_calls:
        why.append(f"{am_r.calls:.2f} calls/req > {s.max_calls:g}")
    if s.honours_retry_after and am_r.early:
        why.append(f"{am_r.early} early calls")
    return not why, "PASS" if not why else "FAIL: " + "; ".join(why)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000, help="per scenario (batch: x2.5)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--only", action="append", choices=list(SCENARIOS), metavar="NAME")
    ap.add_argument("--system", action="append", choices=SYSTEMS, help="only these (default: all)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a runtime target fails")
    args = ap.parse_args(argv)
    systems = [x for x in SYSTEMS if x in (args.system or SYSTEMS)]
    summary: list[str] = []
    failed: list[str] = []
    t_start = time.perf_counter()
    for name in args.only or list(SCENARIOS):
        s = SCENARIOS[name]
        n = max(1, round(args.requests * s.scale))
        progress = _progress_factory(name)
        with chaos_server_process(args.latency_ms, rules=s.rules) as base:
            res = {x: run(x, base, s, n, args.concurrency, progress) for x in systems}
        am_r = res.get("adaptive-mind")
        ok, text = verdict(s, am_r, res.get("plain SDK")) if am_r else (None, "-")
        if ok is False:
            failed.append(name)
        print(f"\n== {name}: {s.desc}")
        print(f"   {n} requests, concurrency {args.concurrency}, upstream {args.latency_ms:g} ms")
        print(f"{'system':<15}{'success':>9}{'calls/req':>10}{'p50 ms':>8}{'p99 ms':>9}", end="")
        print(f"{'wall s':>8}{'early':>7}")
        for x, r in res.items():
            print(
                f"{x:<15}{r.success:>9.2%}{r.calls:>10.2f}{r.p50:>8.0f}{r.p99:>9.0f}"
                f"{r.wall_s:>8.1f}{r.early:>7}"
            )
        print(f"target (adaptive-mind): {s.target()} -> {text}")
        for x, r in res.items():
            print(f"  {x}: calls {r.outcomes}; errors {r.errors}")
        print(flush=True)
        for x, r in res.items():
            target = f"{s.target()}: **{text}**" if x == "adaptive-mind" and ok is not None else ""
            summary.append(
                f"| {name} | {x} | {100 * r.success:.2f} % | {r.calls:.2f} | {r.p50:.0f} "
                f"| {r.p99:.0f} | {r.early} | {target} |"
            )
    print(f"== summary ({time.perf_counter() - t_start:.0f} s total)\n")
    print("| scenario | system | success | calls/req | p50 ms | p99 ms | early | target |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    print("\n".join(summary))
    print(f"\n{len(failed)} target(s) failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
