"""The ledger on PostgreSQL: config, one chain across processes, reading and verifying by DSN.

Tests taking ``pg_dsn`` need ``ADAPTIVE_MIND_TEST_PG_DSN`` (``.ci/run`` starts PostgreSQL and
sets it); the config and secrecy tests before them need no server.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from typing import Any

import pytest

import adaptive_mind as am
from adaptive_mind.core.ledger_entry import chain
from adaptive_mind.ledger import main as ledger_cli
from adaptive_mind.telemetry.ledger_store import SqliteLedgerStore
from tests.helpers import USER, scripted
from tests.telemetry.ledger_util import T0, fields, write

psycopg = pytest.importorskip("psycopg")
from adaptive_mind.telemetry.ledger_pg import PostgresLedgerStore  # noqa: E402 (needs psycopg)

PASSWORD = "pw-Sup3r-s3cret"
REFUSED = f"postgresql://am:{PASSWORD}@127.0.0.1:1/ledger"  # nothing listens on port 1


def pg(dsn: str, **ledger: Any) -> dict[str, Any]:
    return {
        "providers": {"a": scripted()},
        "ledger": {"backend": "postgres", "dsn": dsn, **ledger},
        "telemetry": {"metrics": False},
    }


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


# -- configuration and secrecy (no server needed) ---------------------------------------------


@pytest.mark.parametrize(
    ("ledger", "message"),
    [
        ({"backend": "postgres"}, r"^ledger\.dsn: required for backend postgres$"),
        ({"backend": "postgres", "dsn": "  "}, r"^ledger\.dsn: required for backend postgres$"),
        ({"backend": "postgres", "dsn": "db.example"}, r"^ledger\.dsn: must be a postgresql://"),
        ({"dsn": REFUSED}, r"^ledger\.dsn: only for backend postgres"),
        ({"backend": "postgres", "dsn": REFUSED, "path": "x.sqlite"}, r"^ledger\.path: only for"),
        ({"backend": "mysql"}, r"^ledger\.backend: must be one of"),
        ({"backend": "postgres", "dsn": REFUSED, "connect_timeout_s": 0}, r"^ledger\.connect_ti"),
    ],
)
def test_config_errors_name_the_field(ledger, message):
    with pytest.raises(am.ConfigError, match=message) as info:
        am.RuntimeConfig.model_validate({"providers": {"a": scripted()}, "ledger": ledger})
    assert PASSWORD not in str(info.value)


def test_sqlite_stays_the_default_and_path_keeps_working():
    cfg = am.RuntimeConfig.model_validate({"providers": {"a": scripted()}})
    assert (cfg.ledger.backend, cfg.ledger.dsn, cfg.ledger.target) == (
        "sqlite",
        None,
        "adaptive_mind_ledger.sqlite",
    )
    cfg = am.RuntimeConfig.model_validate(
        {"providers": {"a": scripted()}, "ledger": {"path": "x.sqlite"}}
    )
    assert cfg.ledger.target == "x.sqlite"


def test_the_password_is_in_no_repr_dump_or_target(monkeypatch):
    monkeypatch.setenv("AM_PG_PASSWORD", PASSWORD)
    cfg = am.RuntimeConfig.model_validate(pg("postgresql://am:${AM_PG_PASSWORD}@db:5432/ledger"))
    assert cfg.ledger.dsn is not None and PASSWORD in cfg.ledger.dsn.get_secret_value()
    for text in (repr(cfg), str(cfg), repr(cfg.ledger), cfg.model_dump_json(), cfg.ledger.target):
        assert PASSWORD not in text
    assert cfg.ledger.target == "postgresql://am:***@db:5432/ledger"


@pytest.mark.parametrize(
    "dsn",
    [
        REFUSED,
        f"host=127.0.0.1 port=1 user=am password={PASSWORD} dbname=ledger",
        f"host=127.0.0.1 port=1 password='{PASSWORD}' bogus",  # libpq quotes the bad part
        f"postgresql://am@127.0.0.1:1/ledger?password={PASSWORD}",
    ],
)
def test_an_unreachable_database_fails_at_start_naming_the_dsn_not_its_password(dsn):
    with pytest.raises(am.ConfigError, match=r"^ledger\.dsn: ") as info:
        am.ActorSystem.start(pg(dsn, connect_timeout_s=2))
    assert PASSWORD not in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_reading_an_unreachable_database_masks_the_password(capsys):
    with pytest.raises(ConnectionError) as info:
        am.Ledger.open(REFUSED)
    assert PASSWORD not in str(info.value) and "am:***@127.0.0.1:1" in str(info.value)
    assert ledger_cli([REFUSED, "verify"]) == 2
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err and "127.0.0.1" in err


# -- against PostgreSQL -------------------------------------------------------------------------


def test_a_system_writes_one_entry_per_request_and_it_verifies(start, pg_dsn):
    system = start(pg(pg_dsn, batch_size=4))
    ids = [system.complete(USER).request_id for _ in range(10)]
    system.stop()
    with am.Ledger.open(pg_dsn) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=10)
        assert [e.request_id for e in ledger.entries()] == ids
        assert ledger.get(ids[3]) is not None and ledger.get("nope") is None
        assert PASSWORD not in repr(ledger)


def test_reading_filters_the_same_as_sqlite(tmp_path, pg_dsn):
    entries = [
        fields(i, at=T0 + 60 * i, ok=i % 3 != 0, provider="a" if i < 7 else "b") for i in range(12)
    ]
    write(tmp_path / "l.sqlite", entries)
    store = PostgresLedgerStore(pg_dsn)
    try:
        store.append_chained(entries[:5], chain)
        store.append_chained(entries[5:], chain)
    finally:
        store.close()
    queries: list[dict[str, Any]] = [
        {},
        {"since": "2026-01-01T12:03:00Z"},
        {"since": "2026-01-01T12:03:00", "until": "2026-01-01T12:09:00+00:00"},
        {"outcome": "failure"},
        {"outcome": "Success", "limit": 3},
        {"provider": "a", "limit": 2},
        {"provider": "b"},
        {"provider": "zzz"},
        {"limit": 0},
    ]
    with am.Ledger.open(tmp_path / "l.sqlite") as lite, am.Ledger.open(pg_dsn) as pgl:
        for q in queries:
            assert pgl.entries(**q) == lite.entries(**q), q
            assert pgl.stats(**q) == lite.stats(**q), q
        assert pgl.verify() == lite.verify() == am.VerifyResult(ok=True, checked=12)
        assert pgl.checkpoint() == lite.checkpoint()
        with pytest.raises(ValueError, match="limit"):
            pgl.entries(limit=-1)


def test_the_cli_lists_verifies_and_counts_by_dsn(pg_dsn, capsys):
    store = PostgresLedgerStore(pg_dsn)
    try:
        store.append_chained([fields(i, ok=i != 2) for i in range(5)], chain)
    finally:
        store.close()
    assert ledger_cli([pg_dsn, "verify"]) == 0
    assert "ok: 5 entries" in capsys.readouterr().out
    assert ledger_cli([pg_dsn, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["entries"] == 5 and stats["outcomes"] == {"SUCCESS": 4, "FAILURE": 1}
    assert ledger_cli([pg_dsn, "checkpoint"]) == 0
    cp = capsys.readouterr().out.strip()
    assert ledger_cli([pg_dsn, "verify", "--checkpoint", cp]) == 0
    assert "ok: 5 entries" in capsys.readouterr().out
    assert ledger_cli([pg_dsn, "--request-id", "req-0002", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "FAILURE"
    run = subprocess.run(  # the module itself, as a user runs it
        [sys.executable, "-m", "adaptive_mind.ledger", pg_dsn, "--outcome", "failure"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and "req-0002" in run.stdout and "req-0001" not in run.stdout


def test_a_dsn_without_a_ledger_is_not_found(pg_dsn, capsys):
    with pytest.raises(FileNotFoundError, match="no ledger"):
        am.Ledger.open(pg_dsn)
    assert ledger_cli([pg_dsn, "verify"]) == 2


@pytest.mark.parametrize(
    ("damage", "first_bad", "reason"),
    [
        (
            "UPDATE adaptive_mind_ledger SET doc = replace(doc, 'prompt 2', 'prompt X') "
            "WHERE request_id = 'req-0002'",
            "req-0002",
            "hash mismatch",
        ),
        ("DELETE FROM adaptive_mind_ledger WHERE request_id = 'req-0001'", "req-0002", "link"),
        ("DELETE FROM adaptive_mind_ledger WHERE request_id = 'req-0004'", "<head>", "head"),
        (
            "UPDATE adaptive_mind_ledger SET outcome = 'FAILURE' WHERE request_id = 'req-0003'",
            "req-0003",
            "outcome column",
        ),
        ("UPDATE adaptive_mind_ledger SET doc = 'not json' WHERE seq = 1", "req-0000", "JSON"),
        ("DROP TABLE adaptive_mind_ledger_head", "<file>", "missing"),
    ],
)
def test_a_tampered_row_fails_verification(pg_dsn, capsys, damage, first_bad, reason):
    store = PostgresLedgerStore(pg_dsn)
    try:
        store.append_chained([fields(i) for i in range(5)], chain)
    finally:
        store.close()
    execute(pg_dsn, damage)
    with am.Ledger.open(pg_dsn) as ledger:
        result = ledger.verify()
    assert not result.ok and result.first_bad == first_bad
    assert result.reason is not None and reason in result.reason
    assert ledger_cli([pg_dsn, "verify"]) == 1
    assert first_bad in capsys.readouterr().out


def test_a_keyed_chain_needs_its_key_and_refuses_another(pg_dsn):
    key = b"audit-key-1"
    store = PostgresLedgerStore(pg_dsn, key)
    try:
        store.append_chained([fields(i, key=key) for i in range(3)], lambda f, p: chain(f, p, key))
    finally:
        store.close()
    with am.Ledger.open(pg_dsn) as ledger:
        assert not ledger.verify().ok and ledger.verify().first_bad is None
    with am.Ledger.open(pg_dsn, hash_key=key) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=3)
    with pytest.raises(am.ConfigError, match=r"^ledger\.hash_key: "):
        am.ActorSystem.start(pg(pg_dsn, hash_key="another-key"))


def test_the_store_reconnects_after_losing_its_connection(pg_dsn):
    store = PostgresLedgerStore(pg_dsn)
    try:
        store.append_chained([fields(0)], chain)
        execute(pg_dsn, f"SELECT pg_terminate_backend({store._conn.info.backend_pid})")
        with pytest.raises(psycopg.OperationalError):
            store.append_chained([fields(1)], chain)  # the batch stays pending in the actor
        store.append_chained([fields(1)], chain)  # the next tick reconnects
        assert PASSWORD not in repr(store)
    finally:
        store.close()
    with am.Ledger.open(pg_dsn) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=2)


# -- several processes, one chain ---------------------------------------------------------------

WRITERS = 4
PER_WRITER = 60


def _writer(dsn: str, n: int, batch_size: int, barrier: Any, out: Any) -> None:
    """A worker process: its own ActorSystem on a scripted provider, the shared ledger."""
    system = am.ActorSystem.start(pg(dsn, batch_size=batch_size))
    try:
        barrier.wait(timeout=60)
        ids = [system.complete(USER).request_id for _ in range(n)]
    finally:
        system.stop()
    out.put(ids)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_processes_append_to_one_chain_with_one_entry_per_request(pg_dsn, batch_size):
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(pg_dsn, PER_WRITER, batch_size, barrier, out))
        for _ in range(WRITERS)
    ]
    for p in procs:
        p.start()
    ids = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    expected = sorted(i for chunk in ids for i in chunk)
    assert len(set(expected)) == WRITERS * PER_WRITER
    with am.Ledger.open(pg_dsn) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=WRITERS * PER_WRITER)
        assert sorted(e.request_id for e in ledger.entries()) == expected


def test_sqlite_and_postgres_stores_share_the_interface(tmp_path, pg_dsn):
    for store in (SqliteLedgerStore(str(tmp_path / "x.sqlite")), PostgresLedgerStore(pg_dsn)):
        try:
            head = store.append_chained([fields(0), fields(1)], chain)
            assert store.head() == head
            store.append([chain(fields(2), head)])
        finally:
            store.close()
    with am.Ledger.open(pg_dsn) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=3)
