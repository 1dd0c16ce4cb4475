"""Many writers on one ledger file; paths that cannot hold a ledger; paths with URI characters."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

import adaptive_mind as am
from adaptive_mind.core.ledger_entry import chain
from adaptive_mind.telemetry.ledger_store import SqliteLedgerStore
from tests.helpers import USER, scripted
from tests.telemetry.ledger_util import fields, write_n

PER_PROCESS = 150


def _writer(path: str, n: int, barrier: Any, out: Any) -> None:
    """A worker process: its own ActorSystem on the shared ledger file."""
    system = am.ActorSystem.start(
        {
            "providers": {"a": scripted()},
            "ledger": {"path": path, "batch_size": 1},  # a transaction per entry: interleave
            "telemetry": {"metrics": False},
        }
    )
    try:
        barrier.wait(timeout=60)
        ids = [system.complete(USER).request_id for _ in range(n)]
    finally:
        system.stop()
    out.put(ids)


def test_two_processes_append_to_one_chain(tmp_path):
    path = tmp_path / "shared.sqlite"
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(path), PER_PROCESS, barrier, out)) for _ in "ab"]
    for p in procs:
        p.start()
    ids = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with am.Ledger.open(path) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=2 * PER_PROCESS)
        stored = [e.request_id for e in ledger.entries()]
    assert sorted(stored) == sorted(ids[0] + ids[1])


def test_two_stores_on_one_file_keep_one_chain(tmp_path):
    """Each store reads the head inside its write transaction, never from a cache."""
    path = tmp_path / "shared.sqlite"
    a, b = SqliteLedgerStore(str(path)), SqliteLedgerStore(str(path))
    seal = chain
    try:
        for i in range(0, 20, 2):
            a.append_chained([fields(i)], seal)
            b.append_chained([fields(i + 1), fields(i + 100)], seal)
    finally:
        a.close()
        b.close()
    with am.Ledger.open(path) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=30)


def test_threads_with_their_own_stores_keep_one_chain(tmp_path):
    path = tmp_path / "shared.sqlite"
    write_n(path, 1)
    errors: list[BaseException] = []

    def run(base: int) -> None:
        try:
            store = SqliteLedgerStore(str(path))
            try:
                for i in range(25):
                    store.append_chained([fields(base + i)], chain)
            finally:
                store.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(1000 * k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with am.Ledger.open(path) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=101)


# -- paths ----------------------------------------------------------------------------------


def unwritable(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("not a ledger\n" * 1000)
    return {
        "a directory": str(tmp_path / "adir"),
        "a missing parent": str(tmp_path / "missing" / "ledger.sqlite"),
        "under a file": str(tmp_path / "afile" / "ledger.sqlite"),
        "not a database": str(tmp_path / "afile"),
        "empty": "",
    }


@pytest.mark.parametrize(
    "case", ["a directory", "a missing parent", "under a file", "not a database", "empty"]
)
def test_an_unwritable_ledger_path_fails_at_start(tmp_path, case):
    path = unwritable(tmp_path)[case]
    with pytest.raises(am.ConfigError, match=r"^ledger\.path: ") as info:
        am.ActorSystem.start({"providers": {"a": scripted()}, "ledger": {"path": path}})
    assert path in str(info.value) or case == "empty"


def test_a_disabled_ledger_or_own_store_skips_the_path_check(start, tmp_path):
    bad = str(tmp_path / "missing" / "ledger.sqlite")
    start({"providers": {"a": scripted()}, "ledger": {"path": bad, "enabled": False}}).stop()
    store = SqliteLedgerStore(str(tmp_path / "own.sqlite"))
    system = start({"providers": {"a": scripted()}, "ledger": {"path": bad}}, ledger_store=store)
    system.complete(USER)
    system.stop()
    with am.Ledger.open(tmp_path / "own.sqlite") as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=1)


@pytest.mark.parametrize("name", ["led#x.sqlite", "led?x.sqlite", "led?mode=rwc", "led%41.sqlite"])
def test_uri_characters_in_a_path_open_that_file(start, tmp_path, name):
    decoy = tmp_path / "led"  # what an unescaped "file:" URI would open instead
    write_n(decoy, 3)
    (tmp_path / "ledA.sqlite").touch()
    path = tmp_path / name
    system = start({"providers": {"a": scripted()}, "ledger": {"path": str(path)}})
    rid = system.complete(USER).request_id
    system.stop()
    with am.Ledger.open(path) as ledger:
        assert [e.request_id for e in ledger.entries()] == [rid]
        assert ledger.verify() == am.VerifyResult(ok=True, checked=1)
    with am.Ledger.open(str(path)) as ledger:
        assert ledger.get(rid) is not None
    with am.Ledger.open(decoy) as ledger:
        assert ledger.verify() == am.VerifyResult(ok=True, checked=3)
