"""Reading the audit ledger: entries, lookups, chain verification and statistics."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ConfigDict

from adaptive_mind.core.ledger_entry import GENESIS_HASH, LedgerEntry, Outcome, digest


class VerifyResult(BaseModel):
    """The outcome of checking the hash chain."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    checked: int
    first_bad: str | None = None
    """The request id of the first entry that breaks the chain (or ``<head>``)."""
    reason: str | None = None


class Ledger:
    """A read-only view of a ledger database. Use :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> Ledger:
        """Open an existing ledger file for reading.

        Raises:
            FileNotFoundError: there is no file at ``path``.
        """
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no ledger at {p}")
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
        return cls(conn, str(p))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def entries(
        self,
        since: datetime | None = None,
        outcome: Outcome | str | None = None,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        """Entries oldest first, optionally only those started at/after ``since`` or by outcome."""
        sql = "SELECT doc FROM ledger"
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("started_at >= ?")
            args.append(since.isoformat())
        if outcome is not None:
            where.append("outcome = ?")
            args.append(Outcome(outcome).value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is not None:  # the newest ``limit``, still returned oldest first
            sql += " ORDER BY seq DESC LIMIT ?"
            args.append(limit)
        else:
            sql += " ORDER BY seq"
        rows = [row[0] for row in self._conn.execute(sql, args)]
        if limit is not None:
            rows.reverse()
        return [LedgerEntry.model_validate_json(doc) for doc in rows]

    def get(self, request_id: str) -> LedgerEntry | None:
        row = self._conn.execute(
            "SELECT doc FROM ledger WHERE request_id = ? ORDER BY seq LIMIT 1", (request_id,)
        ).fetchone()
        return LedgerEntry.model_validate_json(row[0]) if row else None

    def verify(self) -> VerifyResult:
        """Check every entry's hash and its link to the previous one, and the stored head."""
        prev = GENESIS_HASH
        checked = 0
        for seq, request_id, doc_text in self._conn.execute(
            "SELECT seq, request_id, doc FROM ledger ORDER BY seq"
        ):
            try:
                doc = json.loads(doc_text)
            except json.JSONDecodeError:
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    first_bad=request_id,
                    reason=f"entry {seq} is not valid JSON",
                )
            rid = str(doc.get("request_id", request_id))
            if doc.get("prev_hash") != prev:
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    first_bad=rid,
                    reason="previous-hash link broken (entry edited or removed)",
                )
            if digest(doc) != doc.get("entry_hash") or rid != request_id:
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    first_bad=rid,
                    reason="entry hash mismatch (entry edited)",
                )
            prev = str(doc["entry_hash"])
            checked += 1
        row = self._conn.execute(
            "SELECT entry_hash, count FROM ledger_head WHERE id = 1"
        ).fetchone()
        head, count = (row[0], row[1]) if row else (GENESIS_HASH, 0)
        if head != prev or count != checked:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_bad="<head>",
                reason="newest entries removed (head does not match)",
            )
        return VerifyResult(ok=True, checked=checked)

    def stats(self) -> dict[str, Any]:
        """Counts by outcome, provider and error category; latency and score summaries."""
        entries = self.entries()
        lat = sorted(e.latency_ms for e in entries)

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        return {
            "entries": len(entries),
            "outcomes": dict(Counter(e.outcome.value for e in entries)),
            "providers": dict(Counter(e.provider for e in entries if e.provider)),
            "error_categories": dict(
                Counter(e.error_category for e in entries if e.error_category)
            ),
            "attempts": sum(e.attempt_count for e in entries),
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
            "mean_resilience_score": (
                sum(e.resilience_score for e in entries) / len(entries) if entries else None
            ),
        }
