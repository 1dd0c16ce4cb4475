"""A crashed Supervisor's requests are re-driven from its own crash report (the facade keeps no
table of them), and what no Supervisor can answer still gets exactly one answer."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import adaptive_mind as am
from adaptive_mind import testing
from adaptive_mind.admission_gate import AdmissionGate, GatedReply
from adaptive_mind.messages import Complete
from adaptive_mind.messages.request import new_thread_reply
from adaptive_mind.messages.supervision import CountInFlight
from adaptive_mind.telemetry import topics
from tests.helpers import USER, EventLog, scripted

N = 4


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """Callers' threads; not joined here (a failed test's callers wait for the system's stop,
    which comes later; the thread-leak check joins them)."""
    executor = concurrent.futures.ThreadPoolExecutor(N)
    yield executor
    executor.shutdown(wait=False)


def cooling(tmp_path: Any) -> dict[str, Any]:
    """One key, rate-limited for 30 s by its first call: every request waits on the clock, held
    by the Supervisor with no provider call outstanding."""
    limited = scripted(
        ["k1"],
        responses=[{"fail": 429, "retry_after_s": 30, "times": 1}],
        retry={"wait_for_rate_limit_s": 60},
    )
    return {"providers": {"a": limited}, "ledger": {"path": str(tmp_path / "ledger.sqlite")}}


def held_requests(
    system: am.ActorSystem, pool: concurrent.futures.Executor
) -> tuple[list[concurrent.futures.Future[Any]], concurrent.futures.Future[Any], AdmissionGate]:
    """N requests through the facade, plus one told to the Supervisor directly (the facade never
    sees it); returns once the Supervisor holds all N + 1, waiting."""
    waiting = EventLog(system, topics=["request.waiting"])
    calls = [pool.submit(system.complete, USER)]
    waiting.wait_count(1)  # its call was refused: the key cools, the others will not call
    calls += [pool.submit(system.complete, USER) for _ in range(N - 1)]
    gate = AdmissionGate(1)
    assert gate.try_acquire()
    inner, direct = new_thread_reply()
    spec = system._build(USER, None, None, None, None)
    system._supervisor.tell(Complete(spec, GatedReply(inner, gate)))
    waiting.wait_for(lambda evs: len({e.request_id for e in evs}) == N + 1)
    testing.barrier(system, "supervisor")
    assert system._supervisor.ask(CountInFlight(), timeout=5) == N + 1
    assert system.in_flight == N  # the facade counts only the slots it gave out
    return calls, direct, gate


def ledger_ids(tmp_path: Any) -> list[str]:
    with am.Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.verify().ok
        return [e.request_id for e in ledger.entries()]


def test_a_crashed_supervisors_requests_are_redriven_from_its_snapshot(start, tmp_path, pool):
    clock = am.FakeClock()
    system = start(cooling(tmp_path), clock=clock)
    restarted = EventLog(system, topics=[topics.ACTOR_RESTARTED])
    calls, direct, gate = held_requests(system, pool)
    waiting = EventLog(system, topics=["request.waiting"])
    assert system.chaos.crash("supervisor")
    restarted.wait_count(1)
    assert restarted.events[0].payload["redriven"] == N + 1
    assert restarted.events[0].payload["failed"] == 0
    # Re-driven, the request the facade never admitted too: it came from the snapshot.
    waiting.wait_for(lambda evs: len({e.request_id for e in evs}) == N + 1)
    testing.barrier(system, "supervisor")
    assert system._supervisor.ask(CountInFlight(), timeout=5) == N + 1
    clock.advance(30)
    results = [c.result(timeout=5) for c in calls]
    assert isinstance(direct.result(timeout=5), am.Completion)
    assert all(isinstance(r, am.Completion) for r in results)
    assert gate.count == 0 and system.in_flight == 0
    ids = {r.request_id for r in results}
    system.stop()
    entries = ledger_ids(tmp_path)
    assert len(entries) == len(set(entries)) == N + 1  # one entry each
    assert ids < set(entries)


class HeldRestart:
    """Keeps the Supervisor's restart (handed to the I/O loop) from running until ``run()``."""

    def __init__(self, system: am.ActorSystem, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held: list[Callable[[], object]] = []
        self.arrived = threading.Event()
        call_soon = system._io.call_soon

        def hold(fn: Callable[..., object], *args: object) -> None:
            if getattr(fn, "__name__", "") != "_restart_supervisor":
                call_soon(fn, *args)
                return
            self.held.append(lambda: fn(*args))
            self.arrived.set()

        monkeypatch.setattr(system._io, "call_soon", hold)

    def run(self) -> None:
        for fn in self.held:
            fn()


def test_stop_fails_what_a_dead_supervisor_held_once_each(start, tmp_path, monkeypatch, pool):
    """The Supervisor died and stop() came before its restart: its crash report's requests, and
    one told to it meanwhile, fail with SystemStoppedError (one answer, one ledger entry)."""
    system = start(cooling(tmp_path), clock=am.FakeClock())
    restart = HeldRestart(system, monkeypatch)
    restarted = EventLog(system, topics=[topics.ACTOR_RESTARTED])
    calls, direct, gate = held_requests(system, pool)
    assert system.chaos.crash("supervisor")
    assert restart.arrived.wait(5)
    reply, late = new_thread_reply()
    system._admit(system._build(USER, None, None, None, None), reply)  # in the cell's backlog
    assert system.in_flight == N + 1
    system.stop()
    restart.run()  # the restart runs after all: it finds the system stopped
    results = [c.exception(timeout=5) for c in calls] + [late.result(timeout=5)]
    assert isinstance(direct.result(timeout=5), am.SystemStoppedError)
    assert all(isinstance(r, am.SystemStoppedError) and r.request_id for r in results)
    assert gate.count == 0 and system.in_flight == 0
    assert restarted.events == []
    entries = ledger_ids(tmp_path)
    assert len(entries) == len(set(entries)) == N + 2


def test_a_supervisor_that_cannot_restart_fails_what_it_held(start, tmp_path, monkeypatch, pool):
    system = start(cooling(tmp_path), clock=am.FakeClock())
    down = []

    def cannot_start() -> Any:
        down.append(True)
        raise RuntimeError("no")

    calls, direct, gate = held_requests(system, pool)
    monkeypatch.setattr(system, "_start_supervisor", cannot_start)
    assert system.chaos.crash("supervisor")
    results = [c.exception(timeout=5) for c in calls]
    assert isinstance(direct.result(timeout=5), am.SystemStoppedError)
    assert down and system.actors()["supervisor"] == "down"
    assert all(isinstance(r, am.SystemStoppedError) for r in results)
    assert gate.count == 0 and system.in_flight == 0
    with pytest.raises(am.SystemStoppedError):
        system.complete(USER)
    assert system.in_flight == 0
    system.stop()
    entries = ledger_ids(tmp_path)
    assert len(entries) == len(set(entries)) == N + 1
