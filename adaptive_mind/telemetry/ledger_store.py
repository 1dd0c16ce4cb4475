"""The ledger's SQLite store (WAL): one transaction per batch, a hash chain across entries.

Table ``ledger``: ``seq`` (insertion order), ``request_id``, ``started_at``, ``outcome`` (for
queries) and ``doc`` (the entry's JSON, which the chain hash covers). Table ``ledger_head`` keeps
the last entry's hash so that deleting the newest rows is detected too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from adaptive_mind.core.ledger_entry import GENESIS_HASH, SealedEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_request_id ON ledger (request_id);
CREATE INDEX IF NOT EXISTS ledger_started_at ON ledger (started_at);
CREATE TABLE IF NOT EXISTS ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    entry_hash TEXT NOT NULL,
    count INTEGER NOT NULL
);
"""


def connect(path: str) -> sqlite3.Connection:
    """Open (and create) a ledger database; WAL so readers never block the writer."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


class SqliteLedgerStore:
    """Appends sealed entries in batches; owned by one LedgerActor."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn = connect(path)

    def head(self) -> str:
        """The hash the next entry chains onto."""
        row = self._conn.execute("SELECT entry_hash FROM ledger_head WHERE id = 1").fetchone()
        return str(row[0]) if row else GENESIS_HASH

    def append(self, batch: Sequence[SealedEntry]) -> None:
        """Write a batch in one transaction (all or nothing)."""
        if not batch:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO ledger (request_id, started_at, outcome, doc) VALUES (?, ?, ?, ?)",
                [(e.request_id, e.started_at, e.outcome, e.doc) for e in batch],
            )
            conn.execute(
                "INSERT INTO ledger_head (id, entry_hash, count) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET entry_hash = excluded.entry_hash, "
                "count = ledger_head.count + ?",
                (batch[-1].entry_hash, len(batch), len(batch)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()
