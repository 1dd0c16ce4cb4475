"""Command line for the audit ledger.

    python -m adaptive_mind.ledger PATH                   recent entries as a table
    python -m adaptive_mind.ledger PATH --request-id ID   one entry
    python -m adaptive_mind.ledger PATH verify            check the hash chain (exit 1 if broken)
    python -m adaptive_mind.ledger PATH checkpoint        print COUNT:HEAD of the verified chain
    python -m adaptive_mind.ledger PATH verify --checkpoint FILE|COUNT:HEAD
    python -m adaptive_mind.ledger PATH stats             counts, latency, tokens, resilience

PATH is the SQLite file, or a PostgreSQL DSN (``postgresql://user@host/db``; the password is best
left to ``PGPASSWORD`` or ``~/.pgpass`` rather than the command line, and is never printed).

Filters for the listing and ``stats``: ``--outcome O`` (any case), ``--since ISO``,
``--until ISO`` (naive times are UTC), ``--provider P``, ``--limit N`` (the newest N).
A keyed ledger (``ledger.hash_key``) needs ``--hash-key-env VAR`` (the variable holding the key)
to verify. Add ``--json`` for machine-readable output. Exit codes: 0 ok, 1 broken chain or
entry not found, 2 usage error or unreadable file.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from adaptive_mind.core.ledger_entry import LedgerEntry
from adaptive_mind.telemetry.ledger_reader import (
    Checkpoint,
    Ledger,
    VerifyResult,
    parse_instant,
    parse_outcome,
)

DEFAULT_LIST_LIMIT = 20


def _row(e: LedgerEntry) -> str:
    where = "/".join(x for x in (e.provider, e.model, e.key_id) if x) or "-"
    return (
        f"{e.started_at:%Y-%m-%d %H:%M:%S}  {e.request_id:<22}  {e.outcome.value:<17}  "
        f"{where:<40}  {e.attempt_count:>3}  {e.latency_ms:>9.1f}  {e.resilience_score:.2f}"
        + (f"  {e.error_category}" if e.error_category else "")
    )


def _arg(parse: Any, name: str) -> Any:
    """An argparse ``type`` that turns the parser's ValueError into a usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def _limit(text: str) -> int:
    n = int(text)
    if n < 0:
        raise ValueError("must be >= 0")
    return n


def _checkpoint(text: str) -> Checkpoint:
    """A checkpoint file (either form), or the ``COUNT:HEAD`` value itself."""
    p = Path(text)
    if p.is_file():
        try:
            return Checkpoint.parse(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{text}: {exc}") from None
    return Checkpoint.parse(text)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m adaptive_mind.ledger", description="Read an Adaptive Mind audit ledger."
    )
    ap.add_argument("path", help="the ledger's SQLite file, or a postgresql:// DSN")
    ap.add_argument(
        "command", nargs="?", choices=["verify", "stats", "checkpoint"], help="what to do"
    )
    ap.add_argument("--request-id", metavar="ID", help="show one entry")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument(
        "--outcome",
        metavar="O",
        type=_arg(parse_outcome, "outcome"),
        help="SUCCESS, MITIGATED_SUCCESS or FAILURE (any case)",
    )
    ap.add_argument(
        "--since",
        metavar="ISO",
        type=_arg(lambda t: parse_instant(t, "--since"), "time"),
        help="entries started at or after this ISO 8601 time (naive: UTC)",
    )
    ap.add_argument(
        "--until",
        metavar="ISO",
        type=_arg(lambda t: parse_instant(t, "--until"), "time"),
        help="entries started before this ISO 8601 time (naive: UTC)",
    )
    ap.add_argument("--provider", metavar="P", help="entries whose final provider is P")
    ap.add_argument(
        "--limit",
        metavar="N",
        type=_arg(_limit, "limit"),
        help=f"the newest N matching entries (listing default {DEFAULT_LIST_LIMIT}; stats: all)",
    )
    ap.add_argument(
        "--checkpoint",
        metavar="FILE",
        type=_arg(_checkpoint, "checkpoint"),
        help="verify: a file written by `checkpoint` (or its COUNT:HEAD value)",
    )
    ap.add_argument(
        "--hash-key-env",
        metavar="VAR",
        help="the environment variable holding ledger.hash_key (to verify a keyed chain)",
    )
    return ap


def _print_verify(result: VerifyResult, as_json: bool) -> None:
    if as_json:
        print(result.model_dump_json())
    elif result.ok:
        print(f"ok: {result.checked} entries, chain intact")
    elif result.first_bad is None:
        print(f"NOT VERIFIED: {result.reason}")
    else:
        print(f"BROKEN at {result.first_bad} after {result.checked} good entries: {result.reason}")


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    filters = {
        "outcome": args.outcome,
        "since": args.since,
        "until": args.until,
        "provider": args.provider,
    }
    if args.command in ("verify", "checkpoint") and any(v is not None for v in filters.values()):
        ap.error("--outcome, --since, --until and --provider apply to the listing and stats")
    if args.checkpoint is not None and args.command != "verify":
        ap.error("--checkpoint applies to verify")
    key: str | None = None
    if args.hash_key_env:
        key = os.environ.get(args.hash_key_env)
        if not key:
            ap.error(f"--hash-key-env: the environment variable {args.hash_key_env} is not set")
    try:
        ledger = Ledger.open(args.path, hash_key=key)
    except (OSError, ImportError, sqlite3.Error) as exc:  # no file, unreachable database …
        print(exc, file=sys.stderr)
        return 2
    with ledger:
        if args.command == "verify":
            result = ledger.verify(args.checkpoint)
            _print_verify(result, args.json)
            return 0 if result.ok else 1
        if args.command == "checkpoint":
            try:
                cp = ledger.checkpoint()
            except ValueError as exc:
                print(f"no checkpoint: {exc}", file=sys.stderr)
                return 1
            print(cp.model_dump_json() if args.json else str(cp))
            return 0
        try:
            return _read(ledger, args, filters)
        except (OSError, sqlite3.Error) as exc:  # a database error names the DSN, masked
            print(f"cannot read {ledger.path}: {exc}", file=sys.stderr)
            return 2


def _read(ledger: Ledger, args: argparse.Namespace, filters: dict[str, Any]) -> int:
    if args.command == "stats":
        stats = ledger.stats(limit=args.limit, **filters)
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
    limit = DEFAULT_LIST_LIMIT if args.limit is None else args.limit
    entries = ledger.entries(limit=limit, **filters)
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
