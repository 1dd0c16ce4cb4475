"""verify answers for any damage (never raises), covers the query columns, keys and checkpoints."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import adaptive_mind as am
from adaptive_mind.core.ledger_entry import GENESIS_HASH, _canonical, digest
from adaptive_mind.telemetry.ledger_reader import Checkpoint
from tests.helpers import USER, scripted
from tests.telemetry.ledger_util import fields, write, write_n

KEY = b"audit-key-0123456789"


def sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for s in statements:
            conn.execute(s)
    conn.close()


def read_doc(path: Path, seq: int) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        return json.loads(
            conn.execute("SELECT doc FROM ledger WHERE seq = ?", (seq,)).fetchone()[0]
        )
    finally:
        conn.close()


def verify(path: Path, **kw: object) -> am.VerifyResult:
    with am.Ledger.open(path, **kw) as ledger:  # type: ignore[arg-type]
        return ledger.verify()


def reseal_from(path: Path, seq: int, edit: dict[str, object], key: bytes | None = None) -> None:
    """What someone without the key can do: edit an entry and re-hash the chain from it on."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, doc FROM ledger ORDER BY seq").fetchall()
        prev = GENESIS_HASH
        for s, text in rows:
            doc = json.loads(text)
            if s == seq:
                doc.update(edit)
            if s >= seq:
                doc["prev_hash"] = prev
                doc["entry_hash"] = digest(doc, key)
                conn.execute(
                    "UPDATE ledger SET doc = ?, outcome = ? WHERE seq = ?",
                    (_canonical(doc), doc["outcome"], s),
                )
            prev = doc["entry_hash"]
        conn.execute("UPDATE ledger_head SET entry_hash = ?", (prev,))
    conn.close()


# -- tampering: each case answers ok=False with a reason, never an exception -------------------


def edit_doc(p: Path) -> None:
    doc = read_doc(p, 2)
    doc["latency_ms"] = 1.0
    sql(p, f"UPDATE ledger SET doc = '{json.dumps(doc)}' WHERE seq = 2")


def corrupt_bytes(p: Path, new: bytes = b"pr0mpt 1") -> None:
    data = p.read_bytes()
    needle = b'"prompt_preview":"prompt 1",'  # inside the second entry's doc only
    assert data.count(needle) == 1 and len(new) == 8
    p.write_bytes(data.replace(needle, needle.replace(b"prompt 1", new)))


def corrupt_index(p: Path) -> None:
    """The request-id index now says row 2 is req-0009: lookups by request id would lie."""
    data = p.read_bytes()
    spots = [i for i in range(len(data)) if data.startswith(b"req-0001", i)]
    in_index = [
        i
        for i in spots
        if not data[i - 14 : i].endswith(b'"request_id":"') and data[i + 8 : i + 12] != b"2026"
    ]
    assert len(spots) == 3 and len(in_index) == 1
    at = in_index[0]
    p.write_bytes(data[:at] + b"req-0009" + data[at + 8 :])


def corrupt_page(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[4096 : 4096 + 64] = b"\xa5" * 64  # the header of the second page (a b-tree page)
    p.write_bytes(bytes(data))


def truncate_file(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


TAMPER = {
    "edited doc": (edit_doc, "req-0001", "hash mismatch"),
    "edited outcome column": (
        lambda p: sql(p, "UPDATE ledger SET outcome = 'FAILURE' WHERE seq = 2"),
        "req-0001",
        "outcome column",
    ),
    "edited request_id column": (
        lambda p: sql(p, "UPDATE ledger SET request_id = 'other' WHERE seq = 2"),
        "req-0001",
        "request_id column",
    ),
    "edited started_at column": (
        lambda p: sql(p, "UPDATE ledger SET started_at = '2000-01-01' WHERE seq = 2"),
        "req-0001",
        "started_at column",
    ),
    "deleted middle row": (
        lambda p: sql(p, "DELETE FROM ledger WHERE seq = 2"),
        "req-0002",
        "link broken",
    ),
    "deleted newest row": (lambda p: sql(p, "DELETE FROM ledger WHERE seq = 40"), "<head>", "head"),
    "non-object JSON doc": (
        lambda p: sql(p, "UPDATE ledger SET doc = '[1, 2]' WHERE seq = 2"),
        "req-0001",
        "not an object",
    ),
    "JSON string doc": (
        lambda p: sql(p, "UPDATE ledger SET doc = '\"x\"' WHERE seq = 2"),
        "req-0001",
        "not an object",
    ),
    "invalid JSON doc": (
        lambda p: sql(p, "UPDATE ledger SET doc = '{' WHERE seq = 2"),
        "req-0001",
        "not valid JSON",
    ),
    "number doc": (
        lambda p: sql(p, "UPDATE ledger SET doc = 5 WHERE seq = 2"),
        "req-0001",
        "not an object",
    ),
    "blob doc": (
        lambda p: sql(p, "UPDATE ledger SET doc = x'7b7d' WHERE seq = 2"),
        "req-0001",
        "no JSON document",
    ),
    "undecodable doc": (
        lambda p: sql(p, "UPDATE ledger SET doc = CAST(x'ff00ff' AS TEXT) WHERE seq = 2"),
        None,
        "",
    ),
    "dropped ledger table": (lambda p: sql(p, "DROP TABLE ledger"), "<file>", "missing"),
    "dropped head table": (lambda p: sql(p, "DROP TABLE ledger_head"), "<file>", "missing"),
    "corrupted bytes": (corrupt_bytes, "req-0001", "hash mismatch"),
    "undecodable bytes": (lambda p: corrupt_bytes(p, b"pr\xff\xfept 1"), "<file>", "read"),
    "corrupted index": (corrupt_index, "<file>", "damaged"),
    "corrupted page": (corrupt_page, "<file>", ""),
    "truncated file": (truncate_file, None, ""),
    "emptied file": (lambda p: p.write_bytes(b""), "<file>", "missing"),
    "not a database": (lambda p: p.write_bytes(b"hello " * 2000), "<file>", "cannot be read"),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_verify_answers_not_ok_for_every_kind_of_damage(tmp_path, case):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 40)
    assert verify(path) == am.VerifyResult(ok=True, checked=40)
    damage, first_bad, words = TAMPER[case]
    damage(path)
    result = verify(path)
    assert not result.ok and result.reason, result
    assert words in result.reason
    if first_bad is not None:
        assert result.first_bad == first_bad


def test_an_edited_outcome_column_no_longer_passes_while_queries_lie(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ids = write_n(path, 3)
    sql(path, f"UPDATE ledger SET outcome = 'FAILURE' WHERE request_id = '{ids[1]}'")
    with am.Ledger.open(path) as ledger:
        assert [e.request_id for e in ledger.entries(outcome="FAILURE")] == [ids[1]]
        result = ledger.verify()
    assert not result.ok and result.first_bad == ids[1] and result.checked == 1


def test_a_sealed_doc_that_is_not_an_entry_is_not_ok(tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 2)
    reseal_from(path, 2, {"latency_ms": "fast"})
    result = verify(path)
    assert not result.ok and "latency_ms" in (result.reason or "")


# -- what a key adds ------------------------------------------------------------------------


def test_without_a_key_a_careful_rewrite_passes(tmp_path):
    """The documented limit: plain SHA-256 catches careless edits, not a re-hashed chain."""
    path = tmp_path / "ledger.sqlite"
    write_n(path, 3)
    reseal_from(path, 2, {"outcome": "FAILURE"})
    assert verify(path).ok


def test_with_a_key_the_chain_is_hmac_and_a_rewrite_cannot_be_resealed(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ids = write_n(path, 3, key=KEY)
    doc = read_doc(path, 1)
    assert digest(doc) != doc["entry_hash"] and digest(doc, KEY) == doc["entry_hash"]
    assert verify(path, hash_key=KEY) == am.VerifyResult(ok=True, checked=3)
    assert verify(path, hash_key=KEY.decode()).ok
    reseal_from(path, 2, {"outcome": "FAILURE"})  # re-hashed with plain SHA-256: no key
    result = verify(path, hash_key=KEY)
    assert not result.ok and result.first_bad == ids[1]
    reseal_from(path, 2, {"outcome": "FAILURE"}, key=b"a guess")
    assert verify(path, hash_key=KEY).first_bad == ids[1]


def test_a_keyed_chain_says_it_needs_the_key_and_a_wrong_key_fails(tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 2, key=KEY)
    result = verify(path)
    assert not result.ok and result.first_bad is None and "hash_key" in (result.reason or "")
    assert not verify(path, hash_key=b"wrong").ok
    plain = tmp_path / "plain.sqlite"
    write_n(plain, 2)
    assert not verify(plain, hash_key=KEY).ok  # a key proves nothing about a plain chain


def test_the_runtime_seals_with_the_configured_key_and_refuses_another(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger_cfg = {"path": str(path), "hash_key": KEY.decode()}
    system = start({"providers": {"a": scripted()}, "ledger": ledger_cfg})
    system.complete(USER)
    system.stop()
    assert verify(path, hash_key=KEY) == am.VerifyResult(ok=True, checked=1)
    assert not verify(path).ok
    for other in ({"hash_key": "another"}, {}):
        with pytest.raises(am.ConfigError, match=r"ledger\.hash_key"):
            am.ActorSystem.start(
                {"providers": {"a": scripted()}, "ledger": {"path": str(path), **other}}
            )


# -- checkpoints -------------------------------------------------------------------------------


def test_a_checkpoint_passes_as_the_ledger_grows(tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 3)
    with am.Ledger.open(path) as ledger:
        cp = ledger.checkpoint()
    assert cp.count == 3 and len(cp.head) == 64
    assert Checkpoint.parse(str(cp)) == cp == Checkpoint.parse(cp.model_dump_json())
    write_n(path, 2, start=3)
    with am.Ledger.open(path) as ledger:
        assert ledger.verify(cp) == am.VerifyResult(ok=True, checked=5)
        assert ledger.verify(str(cp)).ok
        assert ledger.verify(Checkpoint(count=0, head=GENESIS_HASH)).ok


def test_a_checkpoint_detects_a_truncated_tail(tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 5)
    with am.Ledger.open(path) as ledger:
        cp = ledger.checkpoint()
    with sqlite3.connect(path) as conn:  # drop the newest two and make the head agree
        conn.execute("DELETE FROM ledger WHERE seq > 3")
        head = json.loads(conn.execute("SELECT doc FROM ledger WHERE seq = 3").fetchone()[0])
        conn.execute("UPDATE ledger_head SET entry_hash = ?, count = 3", (head["entry_hash"],))
    conn.close()
    with am.Ledger.open(path) as ledger:
        assert ledger.verify().ok  # consistent on its own …
        result = ledger.verify(cp)  # … but not with what was recorded elsewhere
    assert not result.ok and result.first_bad == "<checkpoint>" and "truncated" in result.reason


def test_a_checkpoint_detects_wholesale_replacement(tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 3)
    with am.Ledger.open(path) as ledger:
        cp = ledger.checkpoint()
    path.unlink()
    write(path, [dict(fields(i), prompt_preview="forged") for i in range(3)])
    with am.Ledger.open(path) as ledger:
        assert ledger.verify().ok
        result = ledger.verify(cp)
    assert not result.ok and result.first_bad == "<checkpoint>" and "replaced" in result.reason


def test_no_checkpoint_of_a_broken_ledger(tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_n(path, 3)
    sql(path, "DELETE FROM ledger WHERE seq = 2")
    with am.Ledger.open(path) as ledger, pytest.raises(ValueError, match="does not verify"):
        ledger.checkpoint()
    with pytest.raises(ValueError):
        Checkpoint.parse("not a checkpoint")
