"""The ledger through the runtime: one entry per request, the chain, durability, the CLI."""

import asyncio
import json
import sqlite3

import pytest

import adaptive_mind as am
from adaptive_mind.core.ledger_entry import GENESIS_HASH
from adaptive_mind.ledger import main as ledger_cli
from adaptive_mind.telemetry.ledger_store import SqliteLedgerStore
from tests.helpers import USER, scripted


def cfg(path, providers, **kw):
    return {"providers": providers, "ledger": {"path": str(path)}, **kw}


def run_mixed(start, path):
    system = start(
        cfg(
            path,
            {
                "a": scripted(
                    ["k1", "k2"],
                    responses=[
                        {"key": "k1", "fail": 503, "times": 1},
                        {"model": "bad", "fail": 400},
                    ],
                ),
                "slow": scripted(["s1"], latency_ms=5000),
            },
        ),
    )
    ids = {"success": system.complete(USER, providers=["a"]).request_id}
    with pytest.raises(am.BadRequestError) as info:
        system.complete(USER, providers=["a"], models={"a": ["bad"]})
    ids["bad_request"] = info.value.request_id
    with pytest.raises(am.DeadlineExceededError) as info2:
        system.complete(USER, providers=["slow"], deadline_s=0.05)
    ids["deadline"] = info2.value.request_id
    with pytest.raises(am.BadRequestError):
        system.complete([])  # not accepted: no entry
    return system, ids


def test_one_entry_per_accepted_request_with_exact_fields(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    system, ids = run_mixed(start, path)
    system.stop()
    with am.Ledger.open(path) as ledger:
        entries = ledger.entries()
        assert [e.request_id for e in entries] == list(ids.values())
        ok = ledger.get(ids["success"])
        assert ok.outcome == am.Outcome.SUCCESS and ok.attempt_count == 2
        assert (ok.provider, ok.key_id) == ("a", "a#2")
        assert ok.prompt_preview == "hello" and ok.response_preview == "ok from a/m1"
        assert [ev["type"] for ev in ok.events] == ["attempt.failed"]
        assert 0 < ok.resilience_score < 1
        bad = ledger.get(ids["bad_request"])
        assert bad.outcome == am.Outcome.FAILURE and bad.error_category == "BAD_REQUEST"
        late = ledger.get(ids["deadline"])
        assert late.error_category == "DEADLINE" and late.resilience_score == 0.0
        assert ledger.verify() == am.VerifyResult(ok=True, checked=3)
        assert ledger.stats()["outcomes"] == {"SUCCESS": 1, "FAILURE": 2}


def test_stop_with_requests_in_flight_still_writes_their_entries(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    system = start(cfg(path, {"a": scripted(latency_ms=10_000)}))

    async def main():
        tasks = [asyncio.create_task(system.acomplete(USER)) for _ in range(7)]
        await asyncio.sleep(0)  # one turn of the loop: every task is admitted
        assert system.in_flight == 7
        await asyncio.get_running_loop().run_in_executor(None, system.stop)
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, am.SystemStoppedError) for r in results)
    with am.Ledger.open(path) as ledger:
        entries = ledger.entries()
        assert sorted(e.request_id for e in entries) == sorted(r.request_id for r in results)
        assert {e.error_category for e in entries} == {"STOPPED"}


def test_ten_thousand_requests_ten_thousand_entries(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    system = start(cfg(path, {"a": scripted(["k1", "k2"])}))

    async def main():
        sem = asyncio.Semaphore(200)

        async def one():
            async with sem:
                return await system.acomplete(USER)

        return await asyncio.gather(*(one() for _ in range(10_000)))

    replies = asyncio.run(main())
    system.stop()
    with am.Ledger.open(path) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=10_000)
        assert len({e.request_id for e in ledger.entries()}) == 10_000
    assert len({r.request_id for r in replies}) == 10_000


def write_three(start, path):
    system = start(cfg(path, {"a": scripted()}))
    ids = [system.complete(USER).request_id for _ in range(3)]
    system.stop()
    return ids


def test_verify_catches_an_edited_row(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    ids = write_three(start, path)
    with sqlite3.connect(path) as conn:
        doc = json.loads(conn.execute("SELECT doc FROM ledger WHERE seq = 2").fetchone()[0])
        doc["outcome"] = "FAILURE"
        conn.execute("UPDATE ledger SET doc = ? WHERE seq = 2", (json.dumps(doc),))
    with am.Ledger.open(path) as ledger:
        result = ledger.verify()
    assert not result.ok and result.first_bad == ids[1] and result.checked == 1


def test_verify_catches_deleted_rows(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    ids = write_three(start, path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM ledger WHERE seq = 2")
    with am.Ledger.open(path) as ledger:
        assert ledger.verify().first_bad == ids[2]
    path2 = tmp_path / "ledger2.sqlite"
    write_three(start, path2)
    with sqlite3.connect(path2) as conn:
        conn.execute("DELETE FROM ledger WHERE seq = 3")
    with am.Ledger.open(path2) as ledger:
        assert ledger.verify().first_bad == "<head>"


def test_chain_continues_across_restarts(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    write_three(start, path)
    write_three(start, path)
    with am.Ledger.open(path) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=6)


class FlakyStore:
    """A store that fails its first ``failures`` appends, as a full disk would."""

    def __init__(self, path, failures):
        self.inner = SqliteLedgerStore(str(path))
        self.failures = failures

    def head(self):
        return self.inner.head()

    def append(self, batch):
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        self.inner.append(batch)

    def close(self):
        self.inner.close()


def test_a_failing_store_keeps_entries_and_requests_keep_being_served(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    store = FlakyStore(path, failures=3)
    system = start(
        cfg(path, {"a": scripted()}, ledger={"path": str(path), "batch_size": 1}),
        ledger_store=store,
    )
    critical = []
    system.subscribe(critical.append, topics=["ledger.store_failed"])
    ids = [system.complete(USER).request_id for _ in range(5)]
    system.stop()
    assert store.failures == 0
    assert [e.severity for e in critical] == [am.Severity.CRITICAL]
    with am.Ledger.open(path) as ledger:
        assert [e.request_id for e in ledger.entries()] == ids
        assert ledger.verify().ok


def test_ledger_cli(start, tmp_path, capsys):
    path = tmp_path / "ledger.sqlite"
    ids = write_three(start, path)
    assert ledger_cli([str(path)]) == 0
    table = capsys.readouterr().out
    assert all(i in table for i in ids) and "SUCCESS" in table
    assert ledger_cli([str(path), "--request-id", ids[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["request_id"] == ids[0]
    assert ledger_cli([str(path), "verify"]) == 0
    assert "chain intact" in capsys.readouterr().out
    assert ledger_cli([str(path), "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 3
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE ledger SET doc = replace(doc, 'hello', 'HELLO') WHERE seq = 1")
    assert ledger_cli([str(path), "verify"]) == 1
    assert ids[0] in capsys.readouterr().out
    assert ledger_cli([str(tmp_path / "missing.sqlite")]) == 2


def test_genesis_and_memory_path(start):
    system = start({"providers": {"a": scripted()}, "ledger": {"path": ":memory:"}})
    system.complete(USER)
    system.flush()
    assert GENESIS_HASH == "0" * 64
