#!/usr/bin/env python3
"""Chaos drills for Adaptive Mind: replay failures through the runtime and report what happened.

Runs with no API keys and no network beyond this process.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from adaptive_mind.simulation.scripted_drill import format_summary, run_drill


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=3000, help="requests to send (default 3000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=20, help="requests in flight at once (default 20)"
    )
    args = parser.parse_args(argv)
    if args.requests <= 0 or args.concurrency <= 0:
        parser.error("--requests and --concurrency must be > 0")
    result = asyncio.run(run_drill(args.requests, args.concurrency))
    print(format_summary(result))
    return 0 if result.availability >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
