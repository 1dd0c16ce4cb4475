"""Reading the audit ledger: entries, lookups, verification, checkpoints and statistics.

Verification (and what it proves) lives in :mod:`adaptive_mind.telemetry.ledger_verify`.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from adaptive_mind.config._dsn import is_postgres_dsn, redact_dsn
from adaptive_mind.core.ledger_entry import LedgerEntry, Outcome
from adaptive_mind.telemetry.ledger_verify import ChainWalk, Checkpoint, VerifyResult, walk_chain

__all__ = [
    "Checkpoint",
    "Ledger",
    "LedgerSource",
    "VerifyResult",
    "parse_instant",
    "parse_outcome",
]


def parse_instant(value: datetime | str, name: str = "since") -> datetime:
    """An ISO 8601 string or a datetime as an aware UTC datetime (naive means UTC).

    Raises:
        ValueError: not an ISO 8601 time; the message names ``name``.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected an ISO 8601 string or a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_outcome(value: Outcome | str) -> Outcome:
    """An outcome by name, any case (``success``, ``Mitigated_Success``).

    Raises:
        ValueError: no such outcome.
    """
    try:
        return Outcome(str(value).strip().upper())
    except ValueError:
        names = ", ".join(o.value for o in Outcome)
        raise ValueError(f"outcome: expected one of {names}, got {value!r}") from None


def _percentiles(values: Iterable[float]) -> dict[str, Any]:
    """Nearest-rank p50/p95/p99 (None when there are no values) and the count."""
    lat = sorted(values)

    def pct(q: float) -> float | None:
        return lat[max(0, math.ceil(q * len(lat)) - 1)] if lat else None

    return {"count": len(lat), "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)}


class LedgerSource(Protocol):
    """What :class:`Ledger` reads through: one per backend (SQLite here, PostgreSQL in
    :mod:`.ledger_pg_reader`). Filters arrive parsed; ``started_at`` bounds as UTC ISO text."""

    def docs(
        self,
        since: str | None,
        until: str | None,
        outcome: str | None,
        provider: str | None,
        limit: int | None,
    ) -> list[str]: ...

    def doc(self, request_id: str) -> str | None: ...

    def walk(self, key: bytes | None, cp: Checkpoint | None) -> ChainWalk: ...

    def close(self) -> None: ...


def filters(
    mark: str, since: str | None, until: str | None, outcome: str | None
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (joined with AND) and arguments for the time window and outcome, with
    ``mark`` as the driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg). ``started_at``
    is stored as UTC ``isoformat()``, whose text order is time order."""
    where: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("started_at", ">=", since),
        ("started_at", "<", until),
        ("outcome", "=", outcome),
    ):
        if value is not None:
            where.append(f"{column} {op} {mark}")
            args.append(value)
    return where, args


class SqliteSource:
    """A ledger file, read-only."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def docs(
        self,
        since: str | None,
        until: str | None,
        outcome: str | None,
        provider: str | None,
        limit: int | None,
    ) -> list[str]:
        where, args = filters("?", since, until, outcome)
        if provider is not None:
            where.append("CASE WHEN json_valid(doc) THEN json_extract(doc, '$.provider') END = ?")
            args.append(provider)
        sql = "SELECT doc FROM ledger" + (" WHERE " + " AND ".join(where) if where else "")
        if limit is not None:  # the newest ``limit``, still returned oldest first
            sql += " ORDER BY seq DESC LIMIT ?"
            args.append(limit)
        else:
            sql += " ORDER BY seq"
        rows = [str(row[0]) for row in self.conn.execute(sql, args)]
        if limit is not None:
            rows.reverse()
        return rows

    def doc(self, request_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT doc FROM ledger WHERE request_id = ? ORDER BY seq LIMIT 1", (request_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def walk(self, key: bytes | None, cp: Checkpoint | None) -> ChainWalk:
        return walk_chain(self.conn, key, cp)

    def close(self) -> None:
        self.conn.close()


class Ledger:
    """A read-only view of a ledger (a SQLite file or a PostgreSQL database). Use :meth:`open`."""

    def __init__(
        self,
        conn: sqlite3.Connection | LedgerSource,
        path: str,
        hash_key: bytes | None = None,
    ) -> None:
        self._source: LedgerSource = (
            SqliteSource(conn) if isinstance(conn, sqlite3.Connection) else conn
        )
        self.path = path
        """Where the ledger is: the file, or the DSN with its password masked."""
        self._key = hash_key

    @classmethod
    def open(cls, path: str | Path, *, hash_key: str | bytes | None = None) -> Ledger:
        """Open an existing ledger for reading.

        Args:
            path: the SQLite file (any characters, ``#`` and ``?`` included), or a PostgreSQL
                DSN (``postgresql://user:password@host/db``; ``postgres://`` too).
            hash_key: the configured ``ledger.hash_key``; needed to verify a keyed chain.

        Raises:
            FileNotFoundError: there is no file at ``path`` (no ledger tables at the DSN).
            ConnectionError: the database cannot be reached (the message masks the password).
            ImportError: a DSN, and psycopg (the ``postgres`` extra) is not installed.
        """
        key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        if isinstance(path, str) and is_postgres_dsn(path):
            try:
                from adaptive_mind.telemetry.ledger_pg_reader import PostgresSource
            except ImportError:
                raise ImportError(
                    "reading a PostgreSQL ledger needs psycopg 3: "
                    "pip install 'adaptive-mind[postgres]'"
                ) from None
            return cls(PostgresSource.open(path), redact_dsn(path), key or None)
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no ledger at {p}")
        # as_uri() percent-escapes the path: a raw "#" or "?" would end the file name.
        uri = p.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return cls(conn, str(p), key or None)

    def __repr__(self) -> str:
        return f"Ledger.open({self.path!r})"

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def entries(
        self,
        since: datetime | str | None = None,
        outcome: Outcome | str | None = None,
        limit: int | None = None,
        *,
        until: datetime | str | None = None,
        provider: str | None = None,
    ) -> list[LedgerEntry]:
        """Entries oldest first, optionally filtered.

        Args:
            since: only entries started at or after this instant (ISO string or datetime;
                naive means UTC).
            outcome: only this outcome (any case).
            limit: only the newest ``limit`` matching entries (still oldest first).
            until: only entries started before this instant.
            provider: only entries whose final provider is this one.

        Raises:
            ValueError: a filter is malformed; the message names it.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        docs = self._source.docs(
            parse_instant(since, "since").isoformat() if since is not None else None,
            parse_instant(until, "until").isoformat() if until is not None else None,
            parse_outcome(outcome).value if outcome is not None else None,
            provider,
            limit,
        )
        return [LedgerEntry.model_validate_json(doc) for doc in docs]

    def get(self, request_id: str) -> LedgerEntry | None:
        doc = self._source.doc(request_id)
        return LedgerEntry.model_validate_json(doc) if doc is not None else None

    def verify(self, checkpoint: Checkpoint | str | None = None) -> VerifyResult:
        """Check the ledger, every entry's hash, its link to the previous one, the columns
        queries trust, the stored head and, if given, a checkpoint taken earlier.

        Never raises for a damaged ledger: the answer is ``ok=False`` with a ``reason``.

        Raises:
            ValueError: ``checkpoint`` is a string that is not a checkpoint.
        """
        cp = Checkpoint.parse(checkpoint) if isinstance(checkpoint, str) else checkpoint
        return self._source.walk(self._key, cp).result

    def checkpoint(self) -> Checkpoint:
        """The verified chain's head and count, to store somewhere the ledger's writers can't.

        Raises:
            ValueError: the chain does not verify (the message says why).
        """
        walk = self._source.walk(self._key, None)
        if not walk.result.ok:
            raise ValueError(f"the ledger does not verify: {walk.result.reason}")
        return Checkpoint(count=walk.checked, head=walk.head)

    def stats(
        self,
        since: datetime | str | None = None,
        outcome: Outcome | str | None = None,
        limit: int | None = None,
        *,
        until: datetime | str | None = None,
        provider: str | None = None,
    ) -> dict[str, Any]:
        """Counts by outcome, provider and error category; latency (overall and per outcome, so
        fast failures don't pull down a success percentile), tokens and score summaries.

        Takes the filters of :meth:`entries`.
        """
        entries = self.entries(since, outcome, limit, until=until, provider=provider)
        overall = _percentiles(e.latency_ms for e in entries)
        by_outcome = {
            o.value: _percentiles(e.latency_ms for e in entries if e.outcome == o)
            for o in Outcome
            if any(e.outcome == o for e in entries)
        }
        with_usage = [
            e for e in entries if e.prompt_tokens is not None or e.completion_tokens is not None
        ]
        return {
            "entries": len(entries),
            "outcomes": dict(Counter(e.outcome.value for e in entries)),
            "providers": dict(Counter(e.provider for e in entries if e.provider)),
            "error_categories": dict(
                Counter(e.error_category for e in entries if e.error_category)
            ),
            "attempts": sum(e.attempt_count for e in entries),
            "latency_ms": {k: overall[k] for k in ("p50", "p95", "p99")},
            "latency_ms_by_outcome": by_outcome,
            "tokens": {
                "entries_with_usage": len(with_usage),
                "prompt": sum(e.prompt_tokens or 0 for e in with_usage),
                "completion": sum(e.completion_tokens or 0 for e in with_usage),
                "total": sum(
                    e.total_tokens
                    if e.total_tokens is not None
                    else (e.prompt_tokens or 0) + (e.completion_tokens or 0)
                    for e in with_usage
                ),
            },
            "mean_resilience_score": (
                sum(e.resilience_score for e in entries) / len(entries) if entries else None
            ),
        }
