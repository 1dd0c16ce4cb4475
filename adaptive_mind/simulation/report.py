"""The drill report: ``summary.json``, four charts and a self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from adaptive_mind.simulation.drill import DrillResult, PhaseResult
from adaptive_mind.simulation.scenario import FaultWindow

BUCKET_S = 0.5
_STATE_COLOR = {"closed": "#2e9e5b", "half_open": "#f2b705", "open": "#d64541"}


_FAULT_COLORS = ("#e07b39", "#8e44ad", "#c0392b", "#16a085", "#2c3e50", "#d35400", "#7f8c8d")


def _shade(ax: Any, windows: list[FaultWindow], duration: float) -> None:
    for w in windows:
        if w.crash is not None:
            ax.axvline(w.at, color="#7a3db8", linestyle="--", linewidth=1)
            continue
        ax.axvspan(w.at, w.until if w.until is not None else duration, color="#888", alpha=0.06)


def _timeline(ax: Any, windows: list[FaultWindow], duration: float) -> None:
    """One labelled bar per fault window (and a marker per crash), the drill's script."""
    for row, w in enumerate(windows):
        color = _FAULT_COLORS[row % len(_FAULT_COLORS)]
        if w.crash is not None:
            ax.plot([w.at], [row], marker="X", color="#7a3db8", markersize=9)
        else:
            end = w.until if w.until is not None else duration
            ax.barh(row, end - w.at, left=w.at, color=color, height=0.7, alpha=0.85)
        ax.text(w.at + 0.02 * duration, row, w.title, va="center", fontsize=7, color="#111")
    ax.set_ylim(len(windows) - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_xlim(0, duration)
    ax.set_title("fault timeline")


def _buckets(duration: float) -> list[float]:
    n = int(duration / BUCKET_S) + 1
    return [i * BUCKET_S for i in range(n)]


def _outcomes(ax: Any, phase: PhaseResult, title: str, windows: list[FaultWindow]) -> None:
    edges = _buckets(phase.duration_s)
    ok, mitigated, failed = ([0.0] * len(edges) for _ in range(3))
    for r in phase.records:
        i = min(len(edges) - 1, int(r.t_end / BUCKET_S))
        target = failed if not r.ok else mitigated if r.mitigated else ok
        target[i] += 1 / BUCKET_S
    ax.bar(edges, ok, width=BUCKET_S, align="edge", color="#2e9e5b", label="answered")
    ax.bar(
        edges,
        mitigated,
        width=BUCKET_S,
        align="edge",
        bottom=ok,
        color="#3c78d8",
        label="answered after rewrite",
    )
    base = [a + b for a, b in zip(ok, mitigated, strict=True)]
    ax.bar(
        edges, failed, width=BUCKET_S, align="edge", bottom=base, color="#d64541", label="failed"
    )
    _shade(ax, windows, phase.duration_s)
    ax.set_title(f"{title}: {phase.availability:.1%} answered")
    ax.set_ylabel("requests / s")
    ax.legend(loc="upper right", fontsize=7)


def _charts(result: DrillResult, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    windows = result.scenario.timeline
    rt, base = result.runtime, result.baseline
    dur = result.scenario.duration_s
    paths: dict[str, Path] = {}

    fig, axes = plt.subplots(
        3,
        1,
        figsize=(10, 3.2 + 0.22 * len(windows) + 4.4),
        sharex=True,
        gridspec_kw={"height_ratios": [0.5 + 0.22 * len(windows), 2.2, 2.2]},
    )
    _timeline(axes[0], windows, dur)
    _outcomes(axes[1], rt, "Adaptive Mind", windows)
    _outcomes(axes[2], base, "plain OpenAI SDK (default retries, no failover)", windows)
    axes[2].set_xlabel("seconds (shaded: fault windows, dashed: actor crashes)")
    paths["outcomes"] = out / "outcomes.png"

    providers = list(result.scenario.providers)
    fig2, ax2 = plt.subplots(figsize=(10, 0.6 + 0.55 * len(providers)))
    for row, p in enumerate(providers):
        for a, b in zip(rt.samples, rt.samples[1:], strict=False):
            state = a.breakers.get(p, "closed")
            ax2.barh(row, b.t - a.t, left=a.t, color=_STATE_COLOR.get(state, "#ccc"), height=0.6)
    ax2.set_yticks(range(len(providers)), providers)
    ax2.set_xlim(0, dur)
    _shade(ax2, windows, dur)
    ax2.set_title("circuit breakers (green closed, yellow half-open, red open)")
    paths["breakers"] = out / "breakers.png"

    fig3, ax3 = plt.subplots(figsize=(10, 3))
    for p in providers:
        ax3.step(
            [s.t for s in rt.samples],
            [s.keys_available.get(p, 0) for s in rt.samples],
            where="post",
            label=p,
        )
    _shade(ax3, windows, dur)
    ax3.set_title("keys available per provider")
    ax3.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax3.set_xlabel("seconds")
    ax3.legend(loc="upper right", fontsize=7)
    paths["keys"] = out / "keys.png"

    fig4, ax4 = plt.subplots(figsize=(10, 3.2))
    for phase, color in ((rt, "#3c78d8"), (base, "#d64541")):
        edges = _buckets(dur)
        per: list[list[float]] = [[] for _ in edges]
        for r in phase.records:
            if r.ok:
                per[min(len(edges) - 1, int(r.t_end / BUCKET_S))].append(r.latency_ms)
        for q, style in ((0.5, "-"), (0.95, ":")):
            ys = [sorted(v)[min(len(v) - 1, int(q * len(v)))] if v else float("nan") for v in per]
            name = "Adaptive Mind" if phase is rt else "plain SDK"
            ax4.plot(edges, ys, style, color=color, label=f"{name} p{int(q * 100)}")
    _shade(ax4, windows, dur)
    ax4.set_yscale("log")
    ax4.set_ylabel("latency ms")
    ax4.set_xlabel("seconds")
    ax4.set_title("latency of answered requests")
    ax4.legend(loc="upper right", fontsize=7)
    paths["latency"] = out / "latency.png"

    for f, name in ((fig, "outcomes"), (fig2, "breakers"), (fig3, "keys"), (fig4, "latency")):
        f.tight_layout()
        f.savefig(paths[name], dpi=110)
        plt.close(f)
    return paths


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{path.stem}" src="data:image/png;base64,{data}">'


def _html(result: DrillResult, summary: dict[str, Any], charts: dict[str, Path]) -> str:
    e = html.escape
    rt, bl = summary["runtime"], summary["baseline"]
    rows = [
        ("availability", f"{rt['availability']:.2%}", f"{bl['availability']:.2%}"),
        (
            "p50 / p95 / p99 latency (ms)",
            "{p50:.0f} / {p95:.0f} / {p99:.0f}".format(**rt["latency_ms"]),
            "{p50:.0f} / {p95:.0f} / {p99:.0f}".format(**bl["latency_ms"]),
        ),
        ("upstream calls", rt["upstream_calls"], bl["upstream_calls"]),
        ("calls wasted on failing keys / providers", rt["wasted_calls"], bl["wasted_calls"]),
        ("requests answered after a rewrite", rt["mitigated"], bl["mitigated"]),
    ]
    table = "".join(
        f"<tr><td>{e(str(a))}</td><td>{e(str(b))}</td><td>{e(str(c))}</td></tr>" for a, b, c in rows
    )
    checks = "".join(
        f'<li class="{"ok" if c["ok"] else "fail"}">{"✔" if c["ok"] else "✘"} '
        f"{e(c['name'])}: {e(c['detail'])}</li>"
        for c in summary["checks"]
    )
    faults = "".join(
        f"<tr><td>{w.at:g}</td><td>{'' if w.until is None else f'{w.until:g}'}</td>"
        f"<td>{e(w.title)}</td></tr>"
        for w in result.scenario.timeline
    )
    served = ", ".join(f"{e(str(k))}: {v}" for k, v in rt["served_by"].items())
    resilience = ", ".join(f"{e(k)}: {v}" for k, v in summary["resilience"].items() if v)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Adaptive Mind drill: {e(summary["scenario"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
h1 {{ font-size: 1.6em; margin-bottom: .2em; }} .sub {{ color: #555; margin-top: 0; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .35em .9em; text-align: left; }}
th {{ background: #f4f4f4; }} img {{ max-width: 100%; margin: .5em 0 1.5em; }}
li.ok {{ color: #1d7a45; }} li.fail {{ color: #b3261e; font-weight: bold; }}
.big {{ font-size: 2.2em; font-weight: bold; }} .grid {{ display: flex; gap: 3em; }}
</style></head><body>
<h1>Chaos drill: {e(summary["scenario"])}</h1>
<p class="sub">{e(summary["description"])} — seed {summary["seed"]},
{rt["requests"]} requests over {summary["duration_s"]:g} s per phase, real SDKs against the local
chaos server.</p>
<div class="grid">
<div><div class="big">{rt["availability"]:.1%}</div>answered by Adaptive Mind</div>
<div><div class="big">{bl["availability"]:.1%}</div>answered by the plain OpenAI SDK</div></div>
<table><tr><th></th><th>Adaptive Mind</th><th>plain SDK</th></tr>{table}</table>
<p>Served by: {served}. Resilience actions: {resilience}.</p>
<h2>Checks</h2><ul>{checks}</ul>
<h2>Requests over time</h2>{_img(charts["outcomes"])}
<h2>Circuit breakers</h2>{_img(charts["breakers"])}
<h2>Key availability</h2>{_img(charts["keys"])}
<h2>Latency</h2>{_img(charts["latency"])}
<h2>Fault timeline</h2>
<table><tr><th>from (s)</th><th>until (s)</th><th>fault</th></tr>{faults}</table>
<p>Audit ledger: {e(str(summary.get("ledger") or "in memory"))}
(<code>python -m adaptive_mind.ledger PATH verify</code>).</p>
</body></html>
"""


def write_report(result: DrillResult, summary: dict[str, Any], out: Path) -> Path:
    """Write summary.json, the chart PNGs and report.html into ``out``; returns the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    charts = _charts(result, out)
    page = out / "report.html"
    page.write_text(_html(result, summary, charts), encoding="utf-8")
    return page
