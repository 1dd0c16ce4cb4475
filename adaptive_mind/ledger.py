"""Command line for the audit ledger.

    python -m adaptive_mind.ledger PATH                   recent entries as a table
    python -m adaptive_mind.ledger PATH --request-id ID   one entry
    python -m adaptive_mind.ledger PATH verify            check the hash chain (exit 1 if broken)
    python -m adaptive_mind.ledger PATH stats             counts, latency, resilience score
Add ``--json`` for machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys

from adaptive_mind.core.ledger_entry import LedgerEntry
from adaptive_mind.telemetry.ledger_reader import Ledger


def _row(e: LedgerEntry) -> str:
    where = "/".join(x for x in (e.provider, e.model, e.key_id) if x) or "-"
    return (
        f"{e.started_at:%Y-%m-%d %H:%M:%S}  {e.request_id:<22}  {e.outcome.value:<17}  "
        f"{where:<40}  {e.attempt_count:>3}  {e.latency_ms:>9.1f}  {e.resilience_score:.2f}"
        + (f"  {e.error_category}" if e.error_category else "")
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m adaptive_mind.ledger", description="Read an Adaptive Mind audit ledger."
    )
    ap.add_argument("path", help="the ledger's SQLite file")
    ap.add_argument("command", nargs="?", choices=["verify", "stats"], help="what to do")
    ap.add_argument("--request-id", help="show one entry")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--limit", type=int, default=20, help="recent entries to list (default 20)")
    args = ap.parse_args(argv)
    try:
        ledger = Ledger.open(args.path)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    with ledger:
        if args.command == "verify":
            result = ledger.verify()
            if args.json:
                print(result.model_dump_json())
            elif result.ok:
                print(f"ok: {result.checked} entries, chain intact")
            else:
                print(
                    f"BROKEN at {result.first_bad} after {result.checked} good entries: "
                    f"{result.reason}"
                )
            return 0 if result.ok else 1
        if args.command == "stats":
            stats = ledger.stats()
            if args.json:
                print(json.dumps(stats))
            else:
                for k, v in stats.items():
                    print(f"{k:>22}: {v}")
            return 0
        if args.request_id:
            entry = ledger.get(args.request_id)
            if entry is None:
                print(f"no entry for request {args.request_id}", file=sys.stderr)
                return 1
            print(entry.model_dump_json(indent=None if args.json else 2))
            return 0
        entries = ledger.entries(limit=args.limit)
        if args.json:
            print(json.dumps([e.model_dump(mode="json") for e in entries]))
            return 0
        print(
            f"{'started (UTC)':<19}  {'request id':<22}  {'outcome':<17}  "
            f"{'provider/model/key':<40}  {'att':>3}  {'latency ms':>9}  score"
        )
        for e in entries:
            print(_row(e))
        return 0


if __name__ == "__main__":
    sys.exit(main())
