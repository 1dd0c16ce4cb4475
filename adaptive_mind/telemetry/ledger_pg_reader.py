"""Reading a PostgreSQL ledger: what ``am.Ledger.open("postgresql://…")`` reads through.

The session is read-only (``default_transaction_read_only``); verification reads one
``REPEATABLE READ`` snapshot through a server-side cursor, so it streams any number of entries
while replicas go on appending, and checks exactly what SQLite's verification checks.
Errors name the DSN with its password masked.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from adaptive_mind.config._dsn import redact_dsn, scrub_dsn
from adaptive_mind.telemetry.ledger_pg import HEAD, META, TABLE, PostgresError, connect
from adaptive_mind.telemetry.ledger_reader import filters
from adaptive_mind.telemetry.ledger_store import LEGACY_SEAL
from adaptive_mind.telemetry.ledger_verify import (
    ChainWalk,
    Checkpoint,
    VerifyResult,
    check_chain,
    guarded_walk,
)

_FETCH = 2000
"""Rows a verification's server-side cursor fetches per round trip."""


class PostgresSource:
    """A PostgreSQL ledger, read-only (see :class:`~.ledger_reader.LedgerSource`)."""

    def __init__(self, conn: psycopg.Connection[Any], dsn: str) -> None:
        self._conn = conn
        self._dsn = dsn

    @classmethod
    def open(cls, dsn: str, timeout_s: float = 10.0) -> PostgresSource:
        """Connect read-only to the ledger at ``dsn``.

        Raises:
            ConnectionError: the database cannot be reached (the password masked).
            FileNotFoundError: it holds no ledger (in the connection's search_path).
        """
        conn = connect(dsn, timeout_s)
        try:
            conn.execute("SET default_transaction_read_only = on")
            row = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise PostgresError(scrub_dsn(f"{redact_dsn(dsn)}: {exc}", dsn)) from None
        if row is None or row[0] is None:
            conn.close()
            raise FileNotFoundError(f"no ledger at {redact_dsn(dsn)} (no table {TABLE})")
        return cls(conn, dsn)

    def __repr__(self) -> str:
        return f"PostgresSource({redact_dsn(self._dsn)!r})"

    def _query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except psycopg.Error as exc:
            raise PostgresError(scrub_dsn(f"{redact_dsn(self._dsn)}: {exc}", self._dsn)) from None

    def docs(
        self,
        since: str | None,
        until: str | None,
        outcome: str | None,
        provider: str | None,
        limit: int | None,
    ) -> list[str]:
        where, args = filters("%s", since, until, outcome)  # COLLATE "C": text order
        sql = f"SELECT doc FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        if provider is None and limit is not None:
            rows = self._query(sql + " ORDER BY seq DESC LIMIT %s", [*args, limit])
            return [str(r[0]) for r in reversed(rows)]
        docs = [str(r[0]) for r in self._query(sql + " ORDER BY seq", args)]
        if provider is not None:  # doc is text (hashed as written): filter a damaged one out
            docs = [d for d in docs if _provider(d) == provider]
        if limit is not None:
            docs = docs[len(docs) - limit :] if limit else []
        return docs

    def doc(self, request_id: str) -> str | None:
        rows = self._query(
            f"SELECT doc FROM {TABLE} WHERE request_id = %s ORDER BY seq LIMIT 1", (request_id,)
        )
        return str(rows[0][0]) if rows else None

    def walk(self, key: bytes | None, cp: Checkpoint | None) -> ChainWalk:
        return guarded_walk(
            lambda walk: self._verify(walk, key, cp),
            (psycopg.Error,),
            lambda text: scrub_dsn(text, self._dsn),
        )

    def _verify(self, walk: ChainWalk, key: bytes | None, cp: Checkpoint | None) -> VerifyResult:
        conn = self._conn
        if conn.closed or conn.broken:
            conn = self._conn = connect(self._dsn)
            conn.execute("SET default_transaction_read_only = on")
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table in (TABLE, HEAD):
                row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
                if row is None or row[0] is None:
                    return walk.fail(f"the table {table} is missing", "<file>")
            sealed = LEGACY_SEAL
            meta = conn.execute("SELECT to_regclass(%s)", (META,)).fetchone()
            if meta is not None and meta[0] is not None:
                row = conn.execute(f"SELECT value FROM {META} WHERE name = 'seal'").fetchone()
                sealed = str(row[0]) if row else LEGACY_SEAL

            def head() -> tuple[Any, Any] | None:
                found = conn.execute(
                    f"SELECT entry_hash, count FROM {HEAD} WHERE id = 1"
                ).fetchone()
                return (found[0], found[1]) if found else None

            with conn.cursor(name="adaptive_mind_verify") as cur:
                cur.itersize = _FETCH
                cur.execute(
                    f"SELECT seq, request_id, started_at, outcome, doc FROM {TABLE} ORDER BY seq"
                )
                return check_chain(walk, key, sealed, cur, head, cp)

    def close(self) -> None:
        self._conn.close()


def _provider(doc: str) -> Any:
    try:
        parsed = json.loads(doc)
    except ValueError:
        return None
    return parsed.get("provider") if isinstance(parsed, dict) else None
