"""A short failover drill on scripted providers: real actors, simulated upstreams.

Three scripted providers stand in for OpenAI, Anthropic and Gemini; faults are injected with
scripted rules (a revoked key, a removed model, a rate-limit burst, an outage, an overload and
some refusals). Every request goes through the full runtime.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import adaptive_mind as am

DRILL_CONFIG: dict[str, Any] = {
    "priority": ["openai", "anthropic", "gemini"],
    "providers": {
        "openai": {
            "kind": "scripted",
            "api_keys": ["sim-oa-1", "sim-oa-2", "sim-oa-3"],
            "models": ["gpt-sim", "gpt-sim-mini"],
            "latency_ms": 10,
            "breaker": {"failure_threshold": 3, "reset_timeout_s": 0.3},
            "keys": {"cooldown_s": 0.2},
            "responses": [
                {"key": "sim-oa-1", "fail": 401},
                {"model": "gpt-sim", "fail": 404, "times": 5},
                {"key": "sim-oa-2", "fail": 429, "retry_after_s": 0.5, "times": 6},
                {"fail": 503, "times": 8},
            ],
        },
        "anthropic": {
            "kind": "scripted",
            "api_keys": ["sim-an-1", "sim-an-2"],
            "models": ["claude-sim"],
            "latency_ms": 15,
            "breaker": {"failure_threshold": 3, "reset_timeout_s": 0.3},
            "keys": {"cooldown_s": 0.2},
            "responses": [{"fail": 529, "times": 20}, {"fail": "refusal", "times": 5}],
        },
        "gemini": {
            "kind": "scripted",
            "api_keys": ["sim-ge-1"],
            "models": ["gemini-sim"],
            "latency_ms": 20,
        },
    },
    "ledger": {"path": ":memory:"},
}


@dataclass
class DrillResult:
    """What happened in a drill."""

    requests: int
    elapsed_s: float
    outcomes: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    breaker_states: dict[str, str] = field(default_factory=dict)
    key_states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def availability(self) -> float:
        return self.outcomes["success"] / self.requests if self.requests else 0.0


async def run_drill(requests: int = 300, concurrency: int = 20) -> DrillResult:
    """Run ``requests`` chat requests with ``concurrency`` in flight through the runtime."""
    result = DrillResult(requests=requests, elapsed_s=0.0)
    sem = asyncio.Semaphore(concurrency)
    with am.ActorSystem.start(DRILL_CONFIG) as system:

        async def one(i: int) -> None:
            async with sem:
                try:
                    reply = await system.acomplete(
                        [{"role": "user", "content": f"drill request {i}"}], deadline_s=10
                    )
                except am.AdaptiveMindError as exc:
                    result.outcomes[type(exc).__name__] += 1
                    for a in exc.attempts:
                        result.attempts[(a.provider, a.category.value if a.category else "OK")] += 1
                    return
                result.outcomes["success"] += 1
                result.served_by[reply.provider] += 1
                result.latencies_ms.append(reply.latency_ms)
                for a in reply.attempts:
                    result.attempts[(a.provider, a.category.value if a.category else "OK")] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        result.elapsed_s = time.perf_counter() - t0
        for name in system.config.providers:
            result.breaker_states[name] = system.breaker_state(name)
            result.key_states[name] = system.key_states(name)
    return result


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def format_summary(r: DrillResult) -> str:
    """A plain-text summary of a drill."""
    lines = [
        f"Adaptive Mind scripted drill: {r.requests} requests in {r.elapsed_s:.2f}s",
        f"availability: {r.availability:.1%}   outcomes: {dict(r.outcomes)}",
        f"latency ms: p50 {_pct(r.latencies_ms, 0.5):.1f}  p95 {_pct(r.latencies_ms, 0.95):.1f}"
        f"  p99 {_pct(r.latencies_ms, 0.99):.1f}",
        "",
        f"{'provider':<10} {'served':>7}  attempts by outcome",
    ]
    for name in r.breaker_states:
        by_cat = {cat: n for (p, cat), n in sorted(r.attempts.items()) if p == name}
        lines.append(f"{name:<10} {r.served_by[name]:>7}  {by_cat}")
    lines.append("")
    for name, state in r.breaker_states.items():
        keys = ", ".join(f"{k['key_id']}={k['state']}" for k in r.key_states[name])
        lines.append(f"{name:<10} breaker {state:<9} keys: {keys}")
    return "\n".join(lines)
