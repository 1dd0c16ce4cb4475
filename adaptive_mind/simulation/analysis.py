"""What a drill showed: the runtime against the baseline, and the scenario's expectations."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from adaptive_mind.simulation.drill import DrillResult, PhaseResult
from adaptive_mind.simulation.drill_stream import STREAM_OUTCOMES, streamed
from adaptive_mind.simulation.stream_faults import STREAM_FAULTS
from adaptive_mind.telemetry import topics

RETRY_AFTER_SLACK_S = 0.1
"""Calls already on the wire when a 429 came back may still arrive this long after it."""


@dataclass(frozen=True)
class Check:
    """One expectation and whether the run met it."""

    name: str
    ok: bool
    detail: str


def _secret_of(result: DrillResult, key_id: str) -> str | None:
    provider, _, n = key_id.partition("#")
    cfg = result.scenario.providers.get(provider)
    if cfg is None or not n.isdigit():
        return None
    keys = cfg["api_keys"]
    idx = int(n) - 1
    return str(keys[idx]) if 0 <= idx < len(keys) else None


def retry_after_violations(phase: PhaseResult, window_s: float) -> int:
    """Calls that reached a key while a Retry-After (``window_s``) it gave was still running."""
    limited: dict[str, list[float]] = {}
    for t, h in phase.hits:
        if h.outcome == "rate_limit":
            limited.setdefault(h.key, []).append(t)
    return sum(
        1
        for t, h in phase.hits
        if any(t0 + RETRY_AFTER_SLACK_S < t < t0 + window_s for t0 in limited.get(h.key, ()))
    )


def checks(result: DrillResult) -> list[Check]:
    """Evaluate the scenario's expectations against the runtime phase."""
    exp = result.scenario.expect
    rt, base = result.runtime, result.baseline
    out = [
        Check(
            "availability",
            rt.availability >= exp.min_availability,
            f"{rt.availability:.2%} (expected >= {exp.min_availability:.0%})",
        )
    ]
    if exp.beats_baseline and base.records:
        out.append(
            Check(
                "beats the baseline",
                rt.availability > base.availability,
                f"{rt.availability:.2%} vs {base.availability:.2%}",
            )
        )
    if exp.at_least_baseline and base.records:
        out.append(
            Check(
                "at least the baseline",
                rt.availability >= base.availability,
                f"{rt.availability:.2%} vs {base.availability:.2%}",
            )
        )
    opened = Counter(
        e.payload.get("provider") for e in rt.events if e.event_type == topics.BREAKER_OPENED
    )
    for p in exp.breaker_opens:
        moved = Counter(r.provider for r in rt.records if r.ok and r.provider != p)
        out.append(
            Check(
                f"{p} breaker opens and traffic moves",
                opened[p] > 0 and bool(moved),
                f"opened {opened[p]}x; served elsewhere: {dict(moved)}",
            )
        )
    disabled_at = {
        e.payload.get("key_id"): e for e in rt.events if e.event_type == topics.KEY_DISABLED
    }
    for key_id in exp.keys_disabled:
        secret = _secret_of(result, key_id)
        end_state = {k["key_id"]: k["state"] for ks in rt.key_states_at_end.values() for k in ks}
        event = disabled_at.get(key_id)
        later = 0
        if event is not None and secret is not None:
            t_off = _event_time(rt, event.timestamp)
            later = sum(1 for t, h in rt.hits if h.key == secret and t > t_off + 0.5)
        out.append(
            Check(
                f"{key_id} disabled and never used again",
                event is not None and end_state.get(key_id) == "disabled" and later == 0,
                f"state {end_state.get(key_id)}; calls after disabling: {later}",
            )
        )
    windows = [w for w in result.scenario.timeline if w.fault == "rate_limit" and w.retry_after_s]
    if windows:
        v = retry_after_violations(rt, min(w.retry_after_s or 0.0 for w in windows))
        out.append(Check("Retry-After honoured", v == 0, f"{v} calls inside a Retry-After window"))
    if exp.mitigated:
        n = sum(r.mitigated for r in rt.records)
        out.append(Check("refusals mitigated", n > 0, f"{n} requests answered after a rewrite"))
    out += stream_checks(result)
    restarted = Counter(
        e.payload.get("actor") for e in rt.events if e.event_type == topics.ACTOR_RESTARTED
    )
    for name in exp.restarted:
        back = rt.actors_at_end.get(name) == "running"
        out.append(
            Check(
                f"{name} crashed and came back",
                restarted[name] > 0 and back,
                f"restarted {restarted[name]}x; now {rt.actors_at_end.get(name)}",
            )
        )
    return out


def stream_summary(p: PhaseResult) -> dict[str, Any] | None:
    """Streamed requests by how they ended; for the runtime also how many were carried on
    across a break (``resumed`` / ``restarted``, from the final event's ``stream`` payload)."""
    reads = [r.stream for r in p.records if r.stream is not None]
    if not reads:
        return None
    out: dict[str, Any] = {"sent": len(reads)}
    out.update({k: sum(r.outcome == k for r in reads) for k in STREAM_OUTCOMES})
    breaks = {
        e.request_id: int(e.payload.get("stream", {}).get("interruptions") or 0)
        for e in p.events
        if e.event_type in (topics.REQUEST_SUCCEEDED, topics.REQUEST_FAILED)
        and isinstance(e.payload.get("stream"), dict)
    }
    if breaks:
        done = [r for r in reads if r.outcome == "completed"]
        out["restarted"] = sum(r.restarted for r in done)
        out["resumed"] = sum(not r.restarted and breaks.get(r.request_id, 0) > 0 for r in done)
        out["ended_events"] = sum(r.request_id in breaks for r in reads)
    out["server"] = dict(p.server_streams)
    return out


def stream_checks(result: DrillResult) -> list[Check]:
    """A scenario that streams: no truncated answer is a success, every stream is accounted
    for, and (with stream faults and a carrying policy) broken streams were carried on."""
    sc, rt = result.scenario, result.runtime
    s = stream_summary(rt)
    if s is None:
        return []
    expected = sum(streamed(result.seed, i, sc.stream) for i in range(sc.requests))
    ended = sum(s[k] for k in STREAM_OUTCOMES)
    out = [
        Check(
            "no truncated answer counted as a success",
            s["truncated"] == 0,
            f"{s['truncated']} of {s['sent']} streams",
        ),
        Check(
            "every stream accounted for",
            s["sent"] == expected == ended and s.get("ended_events") == s["sent"],
            f"{s['sent']} sent (expected {expected}), {ended} with one outcome, "
            f"{s.get('ended_events')} with their final event",
        ),
    ]
    faults = any(w.fault in STREAM_FAULTS for w in sc.timeline)
    if faults and sc.stream_policy != "error":
        carried = s.get("resumed", 0) + s.get("restarted", 0)
        out.append(
            Check(
                f"broken streams carried on ({sc.stream_policy})",
                carried > 0 and s["interrupted"] == 0,
                f"{s.get('resumed', 0)} resumed, {s.get('restarted', 0)} restarted, "
                f"{s['interrupted']} interrupted",
            )
        )
    return out


def _event_time(phase: PhaseResult, wall: float) -> float:
    """Map an event's wall-clock timestamp onto the phase's relative time axis."""
    if not phase.events:
        return 0.0
    first_wall = min(e.timestamp for e in phase.events)
    first_rel = min((t for t, _ in phase.hits), default=0.0)
    return wall - first_wall + first_rel


def phase_summary(p: PhaseResult) -> dict[str, Any]:
    return {
        "requests": len(p.records),
        "succeeded": sum(r.ok for r in p.records),
        "availability": round(p.availability, 4),
        "latency_ms": {
            "p50": round(p.latency_pct(0.5), 1),
            "p95": round(p.latency_pct(0.95), 1),
            "p99": round(p.latency_pct(0.99), 1),
        },
        "upstream_calls": p.upstream_calls,
        "wasted_calls": p.wasted_calls,
        "served_by": dict(Counter(r.provider for r in p.records if r.ok)),
        "errors": dict(Counter(r.error for r in p.records if not r.ok)),
        "mitigated": sum(r.mitigated for r in p.records),
        "streams": stream_summary(p),
    }


def summary(result: DrillResult) -> dict[str, Any]:
    """Everything the report and ``--json`` print."""
    rt = result.runtime
    events = Counter(e.event_type for e in rt.events)
    return {
        "scenario": result.scenario.name,
        "description": result.scenario.description,
        "seed": result.seed,
        "duration_s": result.scenario.duration_s,
        "runtime": phase_summary(rt),
        "baseline": phase_summary(result.baseline),
        "resilience": {
            k: events[k]
            for k in (
                topics.BREAKER_OPENED,
                topics.KEY_COOLED,
                topics.KEY_DISABLED,
                topics.KEY_RESTORED,
                topics.PROVIDER_FAILOVER,
                topics.MITIGATION_ATTEMPTED,
                topics.ACTOR_RESTARTED,
            )
        },
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks(result)],
        "ledger": result.ledger_path,
    }


def format_summary(s: dict[str, Any]) -> str:
    """The plain-text table printed at the end of a drill."""
    rt, bl = s["runtime"], s["baseline"]
    rows = [
        ("availability", f"{rt['availability']:.2%}", f"{bl['availability']:.2%}"),
        ("p50 latency ms", f"{rt['latency_ms']['p50']:.0f}", f"{bl['latency_ms']['p50']:.0f}"),
        ("p95 latency ms", f"{rt['latency_ms']['p95']:.0f}", f"{bl['latency_ms']['p95']:.0f}"),
        ("p99 latency ms", f"{rt['latency_ms']['p99']:.0f}", f"{bl['latency_ms']['p99']:.0f}"),
        ("upstream calls", str(rt["upstream_calls"]), str(bl["upstream_calls"])),
        ("wasted calls", str(rt["wasted_calls"]), str(bl["wasted_calls"])),
    ]
    lines = [
        f"Scenario {s['scenario']} (seed {s['seed']}): {s['description']}",
        f"{s['runtime']['requests']} requests over {s['duration_s']:g} s per phase",
        "",
        f"{'':<16}{'Adaptive Mind':>16}{'plain SDK':>14}",
    ]
    lines += [f"{name:<16}{a:>16}{b:>14}" for name, a, b in rows]
    lines += [
        "",
        "served by: " + ", ".join(f"{k} {v}" for k, v in rt["served_by"].items()),
        "resilience: " + ", ".join(f"{k} {v}" for k, v in s["resilience"].items() if v),
        "",
    ]
    for name in ("runtime", "baseline"):
        st = s[name]["streams"]
        if st:
            counts = ", ".join(
                f"{k} {st[k]}"
                for k in ("sent", *STREAM_OUTCOMES, "resumed", "restarted")
                if k in st
            )
            lines.append(
                f"streams ({'Adaptive Mind' if name == 'runtime' else 'plain SDK'}): {counts}"
            )
    if any(s[n]["streams"] for n in ("runtime", "baseline")):
        lines.append("")
    for c in s["checks"]:
        lines.append(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['name']}: {c['detail']}")
    return "\n".join(lines)
