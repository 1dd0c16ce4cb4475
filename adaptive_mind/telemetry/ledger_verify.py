"""Verifying a ledger: the hash chain, the query columns, the head, a checkpoint; never raising.

What it proves. Without a key (plain SHA-256 chain): that nobody edited, removed, reordered or
inserted an entry *without re-computing the chain* (careless or partial edits, a lost tail, a
damaged file); someone who can write the file can still rewrite it and re-hash it from the edit
on. With ``ledger.hash_key`` the chain is HMAC-SHA-256 under a key derived from it: an edit cannot
be re-sealed without the key. Neither detects the loss of the newest entries together with a
matching ``ledger_head``, or the file replaced wholesale: a :class:`Checkpoint` (head hash and
count) stored elsewhere does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adaptive_mind.core.ledger_entry import GENESIS_HASH, LedgerEntry, digest, seal_scheme
from adaptive_mind.telemetry.ledger_store import LEGACY_SEAL

_TABLES = ("ledger", "ledger_head")
_COLUMNS = ("request_id", "started_at", "outcome")
"""The columns queries trust; verify checks each against the sealed doc."""


class VerifyResult(BaseModel):
    """The outcome of checking the hash chain."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    checked: int
    """Entries checked and found good, from the oldest."""
    first_bad: str | None = None
    """The request id of the first entry that breaks the chain; ``<head>`` when the newest
    entries are missing, ``<checkpoint>`` when the checkpoint does not match, ``<file>`` when
    the database itself is damaged or unreadable (the SQLite file, or the PostgreSQL tables),
    None when the chain cannot be checked (key missing)."""
    reason: str | None = None
    """Why the ledger is not ok, in words."""


class Checkpoint(BaseModel):
    """The head of a verified chain: store it elsewhere, verify against it later.

    Written as ``COUNT:HEAD`` (``str(checkpoint)``) or as JSON ``{"count", "head"}``.
    """

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=0)
    """How many entries the chain had."""
    head: str
    """The newest entry's hash (the genesis hash for an empty ledger)."""

    def __str__(self) -> str:
        return f"{self.count}:{self.head}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read ``COUNT:HEAD`` or the JSON form.

        Raises:
            ValueError: neither form.
        """
        text = text.strip()
        try:
            if text.startswith("{"):
                return cls.model_validate_json(text)
            count, sep, head = text.partition(":")
            if sep and head:
                return cls(count=int(count), head=head)
        except (ValueError, ValidationError):
            pass
        raise ValueError("not a ledger checkpoint (expected COUNT:HEAD or its JSON form)")


class _Broken(Exception):
    """Internal: an entry breaks the chain (``reason``, ``first_bad``)."""

    def __init__(self, reason: str, first_bad: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.first_bad = first_bad


class ChainWalk:
    """How far a verification got (entries checked, the last good hash) and its result."""

    def __init__(self) -> None:
        self.checked = 0
        self.head = GENESIS_HASH
        self.result = VerifyResult(ok=False, checked=0)

    def fail(self, reason: str, first_bad: str | None) -> VerifyResult:
        return VerifyResult(ok=False, checked=self.checked, first_bad=first_bad, reason=reason)


def guarded_walk(
    body: Callable[[ChainWalk], VerifyResult],
    db_errors: tuple[type[Exception], ...],
    scrub: Callable[[str], str] = str,
) -> ChainWalk:
    """Run ``body`` (a backend's verification) so that a damaged ledger is an answer, not an
    exception: ``walk.result`` is then ``ok=False`` with a ``reason`` (passed through ``scrub``)."""
    walk = ChainWalk()
    try:
        walk.result = body(walk)
    except _Broken as exc:
        walk.result = walk.fail(exc.reason, exc.first_bad)
    except db_errors as exc:
        walk.result = walk.fail(scrub(f"the database cannot be read ({exc})"), "<file>")
    except Exception as exc:  # whatever a damaged file does, answer rather than raise
        reason = f"unreadable ledger ({type(exc).__name__}: {exc})"
        walk.result = walk.fail(scrub(reason), "<file>")
    return walk


def walk_chain(conn: sqlite3.Connection, key: bytes | None, cp: Checkpoint | None) -> ChainWalk:
    """Verify the SQLite ledger behind ``conn`` (sealed with ``key``), optionally against ``cp``.

    Never raises for a damaged ledger: ``walk.result`` is then ``ok=False`` with a ``reason``.
    """

    def body(walk: ChainWalk) -> VerifyResult:
        try:
            conn.execute("BEGIN")  # one snapshot, while writers go on appending
            return _verify(conn, key, walk, cp)
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    return guarded_walk(body, (sqlite3.Error,))


def _verify(
    conn: sqlite3.Connection, key: bytes | None, walk: ChainWalk, cp: Checkpoint | None
) -> VerifyResult:
    problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(1)")]
    if problems != ["ok"]:
        return walk.fail(f"the SQLite file is damaged: {problems[0]}", "<file>")
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
    for table in _TABLES:
        if table not in tables:
            return walk.fail(f"the table {table} is missing", "<file>")
    sealed = LEGACY_SEAL
    if "ledger_meta" in tables:
        row = conn.execute("SELECT value FROM ledger_meta WHERE name = 'seal'").fetchone()
        sealed = str(row[0]) if row else LEGACY_SEAL
    rows = conn.execute("SELECT seq, request_id, started_at, outcome, doc FROM ledger ORDER BY seq")

    def head() -> tuple[Any, Any] | None:
        row = conn.execute("SELECT entry_hash, count FROM ledger_head WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else None

    return check_chain(walk, key, sealed, rows, head, cp)


def check_chain(
    walk: ChainWalk,
    key: bytes | None,
    sealed: str,
    rows: Iterable[Sequence[Any]],
    head: Callable[[], tuple[Any, Any] | None],
    cp: Checkpoint | None,
) -> VerifyResult:
    """The checks every backend shares: the seal, each row (``seq, request_id, started_at,
    outcome, doc`` in chain order), the stored ``head()`` (hash, count) and the checkpoint.

    Raises:
        _Broken: a row breaks the chain (:func:`guarded_walk` turns it into the result).
    """
    expected = seal_scheme(key)
    if sealed != expected:
        if key is None:
            return walk.fail(
                "the chain is sealed with ledger.hash_key: open the ledger with that "
                "hash_key to verify it",
                None,
            )
        return walk.fail(
            f"the chain is not sealed with the given hash_key (it is sealed {sealed!r})",
            None,
        )
    if cp is not None and cp.count == 0 and cp.head != GENESIS_HASH:
        return walk.fail("the checkpoint is malformed (no entries, not the genesis)", None)
    prev = GENESIS_HASH
    for seq, request_id, started_at, outcome, doc_text in rows:
        prev = _check_row(key, seq, (request_id, started_at, outcome), doc_text, prev)
        walk.checked += 1
        walk.head = prev
        if cp is not None and walk.checked == cp.count and prev != cp.head:
            return walk.fail(
                f"entry {walk.checked} is not the checkpoint's head: the ledger was "
                "replaced or rewritten since the checkpoint",
                "<checkpoint>",
            )
    stored = head()
    stored_head, count = stored if stored is not None else (GENESIS_HASH, 0)
    if stored_head != prev or count != walk.checked:
        return walk.fail("newest entries removed (head does not match)", "<head>")
    if cp is not None and cp.count > walk.checked:
        return walk.fail(
            f"the checkpoint has {cp.count} entries, the ledger only {walk.checked}: "
            "entries were removed (truncated) or the ledger replaced",
            "<checkpoint>",
        )
    return VerifyResult(ok=True, checked=walk.checked)


def _check_row(
    key: bytes | None, seq: Any, columns: tuple[Any, Any, Any], doc_text: Any, prev: str
) -> str:
    """This row's entry hash, when it chains onto ``prev`` and is intact.

    Raises:
        _Broken: it does not (with the reason and its request id).
    """
    rid = str(columns[0])
    if not isinstance(doc_text, str):
        raise _Broken(f"entry {seq} has no JSON document", rid)
    try:
        doc = json.loads(doc_text)
    except json.JSONDecodeError:
        raise _Broken(f"entry {seq} is not valid JSON", rid) from None
    if not isinstance(doc, dict):
        raise _Broken(f"entry {seq} is JSON but not an object", rid)
    if isinstance(doc.get("request_id"), str):
        rid = doc["request_id"]
    if doc.get("prev_hash") != prev:
        raise _Broken("previous-hash link broken (entry edited or removed)", rid)
    entry_hash = doc.get("entry_hash")
    if not isinstance(entry_hash, str) or digest(doc, key) != entry_hash:
        raise _Broken("entry hash mismatch (entry edited)", rid)
    for name, value in zip(_COLUMNS, columns, strict=True):
        if doc.get(name) != value:
            raise _Broken(f"the {name} column of entry {seq} does not match its entry", rid)
    try:
        LedgerEntry.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise _Broken(f"entry {seq} is sealed but not valid ({where}: {err['msg']})", rid) from None
    return entry_hash
