"""The ledger's PostgreSQL store (psycopg 3): one hash chain that every replica appends to.

Tables (in the connection's ``search_path``; choose a schema with the DSN's ``options``):
``adaptive_mind_ledger`` (``seq``, ``request_id``, ``started_at``, ``outcome``, ``doc`` — as in
SQLite, the chain hash covers ``doc``), ``adaptive_mind_ledger_head`` (one row: the last entry's
hash and the count) and ``adaptive_mind_ledger_meta`` (``seal``).

How writers share one chain: :meth:`PostgresLedgerStore.append_chained` locks the head row
(``SELECT … FOR UPDATE``), reads the head inside that transaction, seals the batch onto it, inserts
it and moves the head, then commits — the same as SQLite's ``BEGIN IMMEDIATE``. Appends are thus
serialised by the database, and ``seq`` (taken while the lock is held) is chain order. A row lock
rather than ``pg_advisory_xact_lock``: it belongs to these tables (two ledgers in two schemas of one
database never wait on each other), and it is released by any rollback or lost connection. The
LedgerActor batches entries, so the lock is taken once per batch, not per request (throughput
measured in ``benchmarks/ledger_pg.py``; see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from adaptive_mind.config._dsn import redact_dsn, scrub_dsn
from adaptive_mind.core.ledger_entry import GENESIS_HASH, SealedEntry, seal_scheme
from adaptive_mind.errors import ConfigError
from adaptive_mind.telemetry.ledger_store import LEGACY_SEAL, Seal, SealMismatchError, describe

TABLE = "adaptive_mind_ledger"
HEAD = "adaptive_mind_ledger_head"
META = "adaptive_mind_ledger_meta"
_SCHEMA_LOCK = 0x6164_6D69_6E64  # "admind": serialises CREATE … IF NOT EXISTS across writers

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL,
    outcome TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id);
CREATE INDEX IF NOT EXISTS {TABLE}_started_at ON {TABLE} (started_at);
CREATE TABLE IF NOT EXISTS {HEAD} (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    entry_hash TEXT NOT NULL,
    count BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {META} (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
"""``started_at`` compares bytewise (``C``): its UTC ISO text order is then time order, as in
SQLite, whatever the database's collation."""


class PostgresError(ConnectionError):
    """The database could not be reached or answered with an error (the password masked)."""


def connect(dsn: str, timeout_s: float = 10.0) -> psycopg.Connection[Any]:
    """A connection in autocommit mode (transactions are explicit).

    Raises:
        PostgresError: it failed; the message names the DSN with its password masked.
    """
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, round(timeout_s)))
    except psycopg.Error as exc:
        raise PostgresError(describe_error(exc, dsn)) from None


def describe_error(exc: BaseException, dsn: str) -> str:
    """``exc`` in words, with the DSN's passwords masked, naming the (masked) DSN."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub_dsn(f"{redact_dsn(dsn)}: {text}", dsn)


class PostgresLedgerStore:
    """Appends sealed entries in batches; one per LedgerActor, any number per database."""

    def __init__(self, dsn: str, hash_key: bytes | None = None, timeout_s: float = 10.0) -> None:
        self._dsn = dsn
        self._timeout_s = timeout_s
        self.seal = seal_scheme(hash_key)
        self._conn = connect(dsn, timeout_s)
        try:
            self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresLedgerStore({redact_dsn(self._dsn)!r})"

    @property
    def target(self) -> str:
        """The DSN, password masked."""
        return redact_dsn(self._dsn)

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection; a new one when the last was lost (server restart, network)."""
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = connect(self._dsn, self._timeout_s)
        return self._conn

    def _prepare(self) -> None:
        """Create the tables (once, under a lock) and record or check the chain's seal."""
        conn = self._conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(SCHEMA)
            conn.execute(
                f"INSERT INTO {HEAD} (id, entry_hash, count) VALUES (1, %s, 0) "
                "ON CONFLICT (id) DO NOTHING",
                (GENESIS_HASH,),
            )
            row = conn.execute(f"SELECT value FROM {META} WHERE name = 'seal'").fetchone()
            if row is None:
                used = conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchone() is not None
                found = LEGACY_SEAL if used else self.seal
                conn.execute(f"INSERT INTO {META} (name, value) VALUES ('seal', %s)", (found,))
            else:
                found = str(row[0])
        if found != self.seal:
            raise SealMismatchError(
                f"the ledger at {self.target} is sealed with {describe(found)}, "
                f"but this configuration seals with {describe(self.seal)}"
            )

    def head(self) -> str:
        """The hash the next entry chains onto."""
        row = self._connection().execute(f"SELECT entry_hash FROM {HEAD} WHERE id = 1").fetchone()
        return str(row[0]) if row else GENESIS_HASH

    def append_chained(self, fields: Sequence[dict[str, Any]], seal: Seal) -> str:
        """Seal ``fields`` onto the current head and write them, in one transaction.

        The head row is locked (``FOR UPDATE``) and read inside the transaction, so concurrent
        writers queue there and never fork the chain. Returns the new head.
        """
        conn = self._connection()
        with conn.transaction():
            row = conn.execute(f"SELECT entry_hash FROM {HEAD} WHERE id = 1 FOR UPDATE").fetchone()
            prev = str(row[0]) if row else GENESIS_HASH
            batch: list[SealedEntry] = []
            for f in fields:
                sealed = seal(f, prev)
                batch.append(sealed)
                prev = sealed.entry_hash
            self._insert(conn, batch)
        return prev

    def append(self, batch: Sequence[SealedEntry]) -> None:
        """Write a batch sealed by the caller in one transaction (all or nothing).

        The caller chained it onto :meth:`head`; with several writers use
        :meth:`append_chained` instead.
        """
        if not batch:
            return
        conn = self._connection()
        with conn.transaction():
            conn.execute(f"SELECT 1 FROM {HEAD} WHERE id = 1 FOR UPDATE")
            self._insert(conn, batch)

    @staticmethod
    def _insert(conn: psycopg.Connection[Any], batch: Sequence[SealedEntry]) -> None:
        if not batch:
            return
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} (request_id, started_at, outcome, doc) "
                "VALUES (%s, %s, %s, %s)",
                [(e.request_id, e.started_at, e.outcome, e.doc) for e in batch],
            )
        conn.execute(
            f"INSERT INTO {HEAD} (id, entry_hash, count) VALUES (1, %s, %s) "
            f"ON CONFLICT (id) DO UPDATE SET entry_hash = excluded.entry_hash, "
            f"count = {HEAD}.count + %s",
            (batch[-1].entry_hash, len(batch), len(batch)),
        )

    def close(self) -> None:
        self._conn.close()


def check_dsn(dsn: str, hash_key: bytes | None = None, timeout_s: float = 10.0) -> None:
    """Fail now, not in the ledger actor, when ``dsn`` cannot hold this ledger.

    Connects, creates the tables if needed and checks the chain's seal against ``hash_key``.

    Raises:
        ConfigError: naming ``ledger.dsn`` (or ``ledger.hash_key`` for a seal mismatch); the
            password never appears in it.
    """
    try:
        PostgresLedgerStore(dsn, hash_key, timeout_s).close()
    except SealMismatchError as exc:
        raise ConfigError(f"ledger.hash_key: {exc}; use another database or schema") from None
    except PostgresError as exc:
        raise ConfigError(f"ledger.dsn: cannot connect to {exc}") from None
    except psycopg.Error as exc:
        reason = describe_error(exc, dsn)
        raise ConfigError(f"ledger.dsn: cannot keep a ledger at {reason}") from None
