"""The ledger's SQLite store (WAL): one transaction per batch, a hash chain across entries.

Table ``ledger``: ``seq`` (insertion order), ``request_id``, ``started_at``, ``outcome`` (for
queries) and ``doc`` (the entry's JSON, which the chain hash covers; ``verify`` checks the three
query columns against it). Table ``ledger_head`` keeps the last entry's hash and the count so
that deleting the newest rows is detected too. Table ``ledger_meta`` records how the chain is
sealed (``seal``: ``sha256`` or ``hmac-sha256:<key id>``).

Any number of processes may append to one file: :meth:`SqliteLedgerStore.append_chained` reads
the head inside its write transaction (``BEGIN IMMEDIATE``) and seals the batch onto it there.
The PostgreSQL store (``ledger.backend: postgres``) is in :mod:`.ledger_pg`; :func:`open_store`
and :func:`check_config` pick the store by backend.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptive_mind.config import LedgerConfig
from adaptive_mind.core.ledger_entry import GENESIS_HASH, SealedEntry, seal_scheme
from adaptive_mind.errors import ConfigError

if TYPE_CHECKING:
    from adaptive_mind.telemetry.ledger_pg import PostgresLedgerStore

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
CREATE TABLE IF NOT EXISTS ledger_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

BUSY_TIMEOUT_S = 10.0
"""How long a writer waits for another process's write transaction before the batch fails
(it then stays pending and is retried on the next tick)."""

LEGACY_SEAL = "sha256"
"""The seal of a ledger written before ``ledger_meta`` existed: always plain SHA-256."""

Seal = Callable[[dict[str, Any], str], SealedEntry]
"""Seals an entry's fields onto the chain after the given hash (``chain`` with its key)."""


class SealMismatchError(ValueError):
    """The file's chain is sealed differently (another ``hash_key``, or none) than asked."""


def connect(path: str) -> sqlite3.Connection:
    """Open (and create) a ledger database; WAL so readers never block the writer."""
    conn = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
    )
    try:
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteLedgerStore:
    """Appends sealed entries in batches; one per LedgerActor, any number per file."""

    def __init__(self, path: str, hash_key: bytes | None = None) -> None:
        self.path = path
        self.seal = seal_scheme(hash_key)
        # Two processes opening one new file at once can get SQLITE_BUSY without the busy
        # handler (switching to WAL, creating the schema): retry that, briefly, like a writer.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.01
        while True:
            try:
                self._conn = connect(path)
                try:
                    self._claim_seal()
                except BaseException:
                    self._conn.close()
                    raise
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    def _claim_seal(self) -> None:
        """Record this writer's seal on a new ledger, or check it against the file's."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM ledger_meta WHERE name = 'seal'").fetchone()
            if row is None:
                used = conn.execute("SELECT 1 FROM ledger LIMIT 1").fetchone() is not None
                found = LEGACY_SEAL if used else self.seal
                conn.execute("INSERT INTO ledger_meta (name, value) VALUES ('seal', ?)", (found,))
            else:
                found = str(row[0])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if found != self.seal:
            raise SealMismatchError(
                f"the ledger at {self.path} is sealed with {describe(found)}, "
                f"but this configuration seals with {describe(self.seal)}"
            )

    def head(self) -> str:
        """The hash the next entry chains onto."""
        row = self._conn.execute("SELECT entry_hash FROM ledger_head WHERE id = 1").fetchone()
        return str(row[0]) if row else GENESIS_HASH

    def append_chained(self, fields: Sequence[dict[str, Any]], seal: Seal) -> str:
        """Seal ``fields`` onto the current head and write them, in one transaction.

        The head is read after the write lock is taken, so concurrent writers (other
        processes) never fork the chain. Returns the new head.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT entry_hash FROM ledger_head WHERE id = 1").fetchone()
            prev = str(row[0]) if row else GENESIS_HASH
            batch: list[SealedEntry] = []
            for f in fields:
                sealed = seal(f, prev)
                batch.append(sealed)
                prev = sealed.entry_hash
            self._insert(batch)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return prev

    def append(self, batch: Sequence[SealedEntry]) -> None:
        """Write a batch sealed by the caller in one transaction (all or nothing).

        The caller chained it onto :meth:`head`; with several writers on one file use
        :meth:`append_chained` instead.
        """
        if not batch:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._insert(batch)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _insert(self, batch: Sequence[SealedEntry]) -> None:
        if not batch:
            return
        conn = self._conn
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

    def close(self) -> None:
        self._conn.close()


def describe(seal: str) -> str:
    if seal == LEGACY_SEAL:
        return "plain SHA-256 (no ledger.hash_key)"
    return f"HMAC-SHA-256 under the ledger.hash_key with id {seal.partition(':')[2]}"


def check_path(path: str, hash_key: bytes | None = None) -> None:
    """Fail now, not in the ledger actor, when ``path`` cannot hold this ledger.

    Opens (creating if needed) the file, takes and releases the write lock, and checks the
    chain's seal against ``hash_key``.

    Raises:
        ConfigError: naming ``ledger.path`` (or ``ledger.hash_key`` for a seal mismatch).
    """
    if path == ":memory:":
        return
    if not path:
        raise ConfigError("ledger.path: must name a file (or ':memory:')")
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"ledger.path: {path!r} is a directory, not a ledger file")
    if not p.parent.is_dir():
        raise ConfigError(f"ledger.path: the directory of {path!r} does not exist")
    try:
        SqliteLedgerStore(path, hash_key).close()  # its seal check takes the write lock
    except SealMismatchError as exc:
        raise ConfigError(f"ledger.hash_key: {exc}; use a new ledger.path") from None
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(f"ledger.path: cannot write a ledger at {path!r}: {exc}") from None


def open_store(
    cfg: LedgerConfig, hash_key: bytes | None = None
) -> SqliteLedgerStore | PostgresLedgerStore:
    """The store ``cfg`` names: a :class:`SqliteLedgerStore`, or a PostgreSQL one."""
    if cfg.backend == "postgres":
        from adaptive_mind.telemetry.ledger_pg import PostgresLedgerStore  # psycopg is optional

        assert cfg.dsn is not None  # the config requires it
        return PostgresLedgerStore(cfg.dsn.get_secret_value(), hash_key, cfg.connect_timeout_s)
    return SqliteLedgerStore(cfg.path, hash_key)


def check_config(cfg: LedgerConfig, hash_key: bytes | None = None) -> None:
    """:func:`check_path`, or its PostgreSQL twin, for the configured backend.

    Raises:
        ConfigError: naming the field (``ledger.path``, ``ledger.dsn``, ``ledger.backend`` when
            psycopg is not installed, ``ledger.hash_key``); never the DSN's password.
    """
    if cfg.backend != "postgres":
        check_path(cfg.path, hash_key)
        return
    try:
        from adaptive_mind.telemetry.ledger_pg import check_dsn
    except ImportError:
        raise ConfigError(
            "ledger.backend: postgres needs psycopg 3: pip install 'adaptive-mind[postgres]'"
        ) from None
    assert cfg.dsn is not None
    check_dsn(cfg.dsn.get_secret_value(), hash_key, cfg.connect_timeout_s)
