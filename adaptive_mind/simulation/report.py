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
_CRASH_COLOR = "#7a3db8"
_FAULT_COLORS = ("#e07b39", "#8e44ad", "#c0392b", "#16a085", "#2c3e50", "#d35400", "#7f8c8d")
_STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
}
_SECONDS = "seconds since the phase started"


def _color(row: int) -> str:
    return _FAULT_COLORS[row % len(_FAULT_COLORS)]


def _shade(ax: Any, windows: list[FaultWindow], duration: float) -> None:
    """Each fault window as a band in its timeline colour behind the data, with a solid strip
    along the top edge (visible above tall bars); an open-ended fault as a line at its start,
    a crash as a dashed line."""
    for row, w in enumerate(windows):
        if w.crash is not None:
            ax.axvline(w.at, color=_CRASH_COLOR, linestyle="--", linewidth=1.4, zorder=4)
            continue
        color = _color(row)
        if w.until is None:
            ax.axvline(w.at, color=color, linewidth=1.6, zorder=4)
            continue
        ax.axvspan(w.at, w.until, color=color, alpha=0.16, linewidth=0, zorder=0)
        ax.axvspan(w.at, w.until, ymin=0.975, ymax=1.0, color=color, linewidth=0, zorder=4)
    ax.set_xlim(0, duration)


def _time_axis(ax: Any) -> None:
    """Every panel labels its own time axis, so each reads on its own."""
    ax.tick_params(labelbottom=True)
    ax.set_xlabel(_SECONDS)
    ax.grid(axis="x", color="#ccc", linewidth=0.6, alpha=0.6)


def _timeline(ax: Any, windows: list[FaultWindow], duration: float) -> None:
    """One labelled bar per fault window (and a marker per crash), the drill's script."""
    for row, w in enumerate(windows):
        if w.crash is not None:
            ax.plot([w.at], [row], marker="X", color=_CRASH_COLOR, markersize=10)
        else:
            end = w.until if w.until is not None else duration
            ax.barh(row, end - w.at, left=w.at, color=_color(row), height=0.7, alpha=0.85)
        ax.text(w.at + 0.015 * duration, row, w.title, va="center", fontsize=9, color="#111")
    ax.set_ylim(len(windows) - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_xlim(0, duration)
    ax.set_title("fault timeline (bands of the same colour below)")


def _buckets(duration: float) -> list[float]:
    n = int(duration / BUCKET_S) + 1
    return [i * BUCKET_S for i in range(n)]


def _rates(phase: PhaseResult) -> tuple[list[float], list[float], list[float], list[float]]:
    """Bucket edges and the answered / answered-after-rewrite / failed rates (per second)."""
    edges = _buckets(phase.duration_s)
    ok, mitigated, failed = ([0.0] * len(edges) for _ in range(3))
    for r in phase.records:
        i = min(len(edges) - 1, int(r.t_end / BUCKET_S))
        target = failed if not r.ok else mitigated if r.mitigated else ok
        target[i] += 1 / BUCKET_S
    return edges, ok, mitigated, failed


def _outcomes(
    ax: Any, phase: PhaseResult, title: str, windows: list[FaultWindow], top: float
) -> None:
    edges, ok, mitigated, failed = _rates(phase)
    base = [a + b for a, b in zip(ok, mitigated, strict=True)]
    series = (
        (ok, [0.0] * len(edges), "#2e9e5b", "answered"),
        (mitigated, ok, "#3c78d8", "answered after rewrite"),
        (failed, base, "#d64541", "failed"),
    )
    for values, bottom, color, label in series:
        if any(values):  # no legend entry for a series that never happened
            ax.bar(
                edges,
                values,
                width=BUCKET_S,
                align="edge",
                bottom=bottom,
                color=color,
                label=label,
                edgecolor="white",
                linewidth=0.5,
                zorder=2,
            )
    _shade(ax, windows, phase.duration_s)
    ax.set_ylim(0, top)  # both phases on one scale, so their heights compare
    ax.set_title(f"{title}: {phase.availability:.1%} answered")
    ax.set_ylabel(f"requests / s ({BUCKET_S:g} s bins)")
    ax.grid(axis="y", color="#ccc", linewidth=0.6, alpha=0.8, zorder=1)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", ncols=3)
    _time_axis(ax)


def _peak(*phases: PhaseResult) -> float:
    """A y-limit above the tallest stacked bar of any phase, with room for the legend."""
    tallest = max(
        (max((sum(v) for v in zip(*_rates(p)[1:], strict=True)), default=0.0) for p in phases),
        default=0.0,
    )
    return max(1.0, tallest * 1.25)


def _charts(result: DrillResult, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(_STYLE):  # type: ignore[arg-type]  # its keys are typed as Literals
        return _draw(result, out, plt)


def _draw(result: DrillResult, out: Path, plt: Any) -> dict[str, Path]:
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    windows = result.scenario.timeline
    rt, base = result.runtime, result.baseline
    dur = result.scenario.duration_s
    paths: dict[str, Path] = {}

    top = _peak(rt, base)
    fig, axes = plt.subplots(
        3,
        1,
        figsize=(11, 1.2 + 0.3 * len(windows) + 7.6),
        sharex=True,
        gridspec_kw={"height_ratios": [0.6 + 0.3 * len(windows), 3.0, 3.0]},
    )
    _timeline(axes[0], windows, dur)
    _time_axis(axes[0])
    axes[0].set_xlabel("")
    _outcomes(axes[1], rt, "Adaptive Mind", windows, top)
    _outcomes(axes[2], base, "plain OpenAI SDK (default retries, no failover)", windows, top)
    axes[2].set_xlabel(f"{_SECONDS} (bands: fault windows, dashed: actor crashes)")
    paths["outcomes"] = out / "outcomes.png"

    providers = list(result.scenario.providers)
    fig2, ax2 = plt.subplots(figsize=(11, 1.4 + 0.6 * len(providers)))
    for row, p in enumerate(providers):
        for a, b in zip(rt.samples, rt.samples[1:], strict=False):
            state = a.breakers.get(p, "closed")
            ax2.barh(
                row,
                b.t - a.t,
                left=a.t,
                color=_STATE_COLOR.get(state, "#ccc"),
                height=0.55,
                zorder=2,
            )
    ax2.set_yticks(range(len(providers)), providers)
    _shade(ax2, windows, dur)
    ax2.set_title("circuit breakers (green closed, yellow half-open, red open)")
    _time_axis(ax2)
    paths["breakers"] = out / "breakers.png"

    fig3, ax3 = plt.subplots(figsize=(11, 3.4))
    for p in providers:
        ax3.step(
            [s.t for s in rt.samples],
            [s.keys_available.get(p, 0) for s in rt.samples],
            where="post",
            label=p,
            linewidth=1.8,
            zorder=3,
        )
    _shade(ax3, windows, dur)
    ax3.set_title("keys available per provider")
    ax3.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax3.set_ylim(bottom=-0.2, top=ax3.get_ylim()[1] + 0.6)
    ax3.set_ylabel("keys")
    _time_axis(ax3)
    ax3.legend(loc="upper left", ncols=len(providers))
    paths["keys"] = out / "keys.png"

    fig4, ax4 = plt.subplots(figsize=(11, 3.8))
    for phase, color in ((rt, "#3c78d8"), (base, "#d64541")):
        edges = _buckets(dur)
        per: list[list[float]] = [[] for _ in edges]
        for r in phase.records:
            if r.ok:
                per[min(len(edges) - 1, int(r.t_end / BUCKET_S))].append(r.latency_ms)
        mids = [t + BUCKET_S / 2 for t in edges]
        for q, style in ((0.5, "-"), (0.95, ":")):
            ys = [sorted(v)[min(len(v) - 1, int(q * len(v)))] if v else float("nan") for v in per]
            name = "Adaptive Mind" if phase is rt else "plain SDK"
            ax4.plot(
                mids, ys, style, color=color, label=f"{name} p{int(q * 100)}", lw=1.8, zorder=3
            )
    _shade(ax4, windows, dur)
    ax4.set_yscale("log")
    # Plain numbers (20, 50, 100, 200 …) instead of "2 x 10^1"-style labels.
    ax4.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax4.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax4.yaxis.set_minor_formatter(NullFormatter())
    low, high = ax4.get_ylim()
    ax4.set_ylim(low, high * 3)  # headroom: the legend must not hide the highest line
    ax4.set_ylabel("latency ms (log)")
    ax4.set_title("latency of answered requests")
    ax4.grid(axis="y", which="major", color="#ccc", linewidth=0.6, alpha=0.8)
    _time_axis(ax4)
    ax4.legend(loc="upper left", ncols=4)
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
    if rt.get("streams") or bl.get("streams"):
        rows += [
            (
                f"streams {name}",
                (rt.get("streams") or {}).get(name, "-"),
                (bl.get("streams") or {}).get(name, "-"),
            )
            for name in ("sent", "completed", "resumed", "restarted", "interrupted", "failed")
        ]
        rows.append(
            (
                "streams truncated, counted as answered",
                (rt.get("streams") or {}).get("truncated", "-"),
                (bl.get("streams") or {}).get("truncated", "-"),
            )
        )
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
