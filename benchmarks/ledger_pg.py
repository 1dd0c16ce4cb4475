#!/usr/bin/env python3
"""Shared-ledger append throughput: 1 vs N writer processes on one hash chain.

Each writer process opens its own store and appends pre-built entries with ``append_chained``
(the LedgerActor's call) in batches; the clock runs from a barrier until every writer is done.
Backends: PostgreSQL (``--dsn``, the head row locked ``FOR UPDATE``, as shipped; ``advisory``:
the same with ``pg_advisory_xact_lock`` instead, for comparison) and SQLite on one file
(``BEGIN IMMEDIATE``). Every run is verified afterwards. Prints numbers; not a test.

    python benchmarks/ledger_pg.py --dsn postgresql://user:pw@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

import adaptive_mind as am
from adaptive_mind.chat import ChatMessage, Completion, Usage
from adaptive_mind.core.ledger_entry import SealedEntry, build_entry, chain
from adaptive_mind.telemetry.ledger_pg import HEAD, PostgresLedgerStore
from adaptive_mind.telemetry.ledger_store import Seal, SqliteLedgerStore


class AdvisoryLockStore(PostgresLedgerStore):
    """The alternative: a database-wide advisory lock instead of the head row's lock."""

    def append_chained(self, fields: Any, seal: Seal) -> str:
        conn = self._connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(42)")
            row = conn.execute(f"SELECT entry_hash FROM {HEAD} WHERE id = 1").fetchone()
            prev = str(row[0]) if row else "0" * 64
            batch: list[SealedEntry] = []
            for f in fields:
                batch.append(seal(f, prev))
                prev = batch[-1].entry_hash
            self._insert(conn, batch)
        return prev


def entry(tag: str, i: int) -> dict[str, Any]:
    rid = f"{tag}-{i:06d}"
    result = Completion(
        request_id=rid,
        text="answer " * 20,
        provider="a",
        model="m1",
        key_id="a#1",
        latency_ms=12.5,
        usage=Usage(prompt_tokens=30, completion_tokens=40, total_tokens=70),
    )
    return build_entry(
        request_id=rid,
        parent_request_id=None,
        started_wall=time.time(),
        latency_s=0.0125,
        messages=(ChatMessage(role="user", content=f"a realistic prompt number {i} " * 8),),
        final_messages=None,
        result=result,
        attempts=(),
        events=[],
        mitigation_attempted=False,
        prompt_preview_chars=512,
        response_preview_chars=1024,
        hash_key=None,
    )


def open_store(kind: str, target: str) -> Any:
    if kind == "postgres":
        return PostgresLedgerStore(target)
    if kind == "advisory":
        return AdvisoryLockStore(target)
    return SqliteLedgerStore(target)


def writer(kind: str, target: str, n: int, batch: int, barrier: Any, out: Any) -> None:
    store = open_store(kind, target)
    tag = uuid.uuid4().hex[:8]
    todo = [entry(tag, i) for i in range(n)]
    try:
        barrier.wait(timeout=60)
        for k in range(0, n, batch):
            store.append_chained(todo[k : k + batch], chain)
    finally:
        store.close()
    out.put(time.perf_counter())


def run(kind: str, target: str, writers: int, total: int, batch: int) -> float:
    """Entries per second, all writers together."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(writers + 1), ctx.Queue()
    per = total // writers
    procs = [
        ctx.Process(target=writer, args=(kind, target, per, batch, barrier, out))
        for _ in range(writers)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    end = max(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    with am.Ledger.open(target) as ledger:
        result = ledger.verify()
        assert result.ok and result.checked == per * writers, result
    return per * writers / (end - t0)


def fresh(kind: str, dsn: str, tmp: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return str(tmp / f"{uuid.uuid4().hex}.sqlite"), None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options=-csearch_path%3D{schema}", schema


def drop(dsn: str, schema: str | None) -> None:
    if schema:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True, help="a PostgreSQL database to create schemas in")
    ap.add_argument("--entries", type=int, default=2000, help="entries per run (all writers)")
    ap.add_argument("--rounds", type=int, default=3, help="runs per cell (median reported)")
    ap.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    ap.add_argument("--backends", nargs="+", default=["postgres", "advisory", "sqlite"])
    args = ap.parse_args()
    print(f"{'backend':<10} {'batch':>5} " + " ".join(f"{w:>3} writer(s)/s" for w in args.writers))
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.backends:
            for batch in args.batches:
                cells = []
                for w in args.writers:
                    rates = []
                    for _ in range(args.rounds):
                        target, schema = fresh(kind, args.dsn, Path(tmp))
                        try:
                            rates.append(run(kind, target, w, args.entries, batch))
                        finally:
                            drop(args.dsn, schema)
                    cells.append(f"{statistics.median(rates):>15,.0f}")
                print(f"{kind:<10} {batch:>5} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
