#!/usr/bin/env python3
"""Chaos drills for Adaptive Mind.

Starts the local chaos server (OpenAI, Anthropic and Gemini wire formats on loopback), runs the
runtime with the real SDK adapters pointed at it while a scenario's faults play out, replays the
same timeline against the plain OpenAI SDK (default retries, no failover), and reports both.
No API keys and no network beyond loopback.

With --replicas N the runtime phase runs as N processes, each with its own ActorSystem, sharing
health state on Redis (--redis-url; else one on 127.0.0.1:6379 if it answers, else a private
redis-server started for the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from adaptive_mind.errors import ConfigError
from adaptive_mind.simulation.analysis import format_summary, summary
from adaptive_mind.simulation.drill import run_drill
from adaptive_mind.simulation.progress import make_progress
from adaptive_mind.simulation.scenario import load_scenario, shipped


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: " + ", ".join(shipped()),
    )
    ap.add_argument(
        "--scenario",
        default="default",
        help="a shipped scenario name or a YAML file (default: default)",
    )
    ap.add_argument("--requests", type=int, help="requests per phase (default: the scenario's)")
    ap.add_argument("--concurrency", type=int, help="requests in flight (default: the scenario's)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the request schedule (default 1)")
    ap.add_argument(
        "--report",
        metavar="DIR",
        help="where to write summary.json and report.html (default reports/<time>/)",
    )
    ap.add_argument("--no-report", action="store_true", help="print the summary only")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain-SDK phase")
    ap.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    ap.add_argument(
        "--strict", action="store_true", help="exit 1 when one of the scenario's checks fails"
    )
    ap.add_argument("--quiet", action="store_true", help="no live progress")
    ap.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="run the runtime as N processes sharing health state on Redis (default 1: one "
        "process, no servers)",
    )
    ap.add_argument(
        "--redis-url",
        metavar="URL",
        help="with --replicas: the Redis they share (default: 127.0.0.1:6379 if it answers, "
        "else a private redis-server for the run)",
    )
    args = ap.parse_args(argv)
    for name in ("requests", "concurrency", "replicas"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            ap.error(f"--{name.replace('_', '-')} must be > 0")
    if args.redis_url and args.replicas == 1:
        ap.error("--redis-url goes with --replicas N (N > 1)")
    return args


def run(args: argparse.Namespace, scenario: Any, ledger: str, out: Path | None) -> Any:
    """Run the drill: ``(result, None)`` in one process, ``(result, fleet summary)`` as a fleet.

    Raises:
        FileNotFoundError: ``--replicas`` with no Redis to share and no ``redis-server``.
    """
    progress = make_progress(scenario.duration_s, scenario.requests, quiet=args.quiet or args.json)
    with contextlib.ExitStack() as stack:
        if args.replicas > 1:  # find (or start) Redis before any live display begins
            from adaptive_mind.simulation.fleet import redis_for_fleet
            from adaptive_mind.simulation.fleet_drill import run_fleet_drill

            url, _how = stack.enter_context(redis_for_fleet(args.redis_url))
        if progress is not None:
            stack.enter_context(progress)
        if args.replicas == 1:
            drill = run_drill(
                scenario,
                seed=args.seed,
                ledger_path=ledger,
                progress=progress,
                baseline=not args.no_baseline,
            )
            return asyncio.run(drill), None
        fleet_drill = run_fleet_drill(
            scenario,
            replicas=args.replicas,
            redis_url=url,
            seed=args.seed,
            ledger_dir=out,
            progress=progress,
            baseline=not args.no_baseline,
        )
        return asyncio.run(fleet_drill)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        width = max(map(len, shipped()), default=0) + 1
        for name in shipped():
            print(f"{name:<{width}}{load_scenario(name).description}")
        return 0
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    update = {k: v for k in ("requests", "concurrency") if (v := getattr(args, k)) is not None}
    if update:
        scenario = scenario.model_copy(update=update)
    out = None
    if not args.no_report:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(args.report) if args.report else Path("reports") / f"{stamp}-{scenario.name}"
        out.mkdir(parents=True, exist_ok=True)
    ledger = str(out / "ledger.sqlite") if out is not None else ":memory:"
    try:
        result, fleet = run(args, scenario, ledger, out)
    except FileNotFoundError as exc:  # --replicas: no Redis and no redis-server to start
        print(exc, file=sys.stderr)
        return 2
    data = summary(result)
    if fleet is not None:
        data["fleet"] = fleet.as_dict()
    if out is not None:
        try:
            from adaptive_mind.simulation.report import write_report

            data["report"] = str(write_report(result, data, out))
        except ImportError:
            print("the HTML report needs matplotlib: pip install -e '.[drill]'", file=sys.stderr)
            out = None
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print()
        print(format_summary(data))
        if fleet is not None:
            from adaptive_mind.simulation.fleet_drill import format_fleet

            print()
            print(format_fleet(data["fleet"]))
        if out is not None and "report" in data:
            print(f"\nreport: {data['report']}")
    failed = [c for c in data["checks"] if not c["ok"]]
    return 1 if (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
