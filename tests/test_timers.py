"""Time as one mechanism: a FakeClock is the runtime's timer, wake-ups are set, never polled."""

from __future__ import annotations

import threading

import adaptive_mind as am
from adaptive_mind import testing
from tests.helpers import USER, EventLog, config, scripted


def test_a_fake_clock_runs_due_callbacks_in_time_order_when_advanced():
    clock = am.FakeClock(start=0.0)
    fired: list[str] = []
    clock.call_at(2.0, lambda: fired.append("b"))
    clock.call_at(1.0, lambda: fired.append("a"))
    clock.call_at(5.0, lambda: fired.append("c"))
    clock.advance(0.5)
    assert fired == [] and clock.pending == 3
    clock.advance(1.5)
    assert fired == ["a", "b"] and clock.pending == 1
    clock.call_at(1.0, lambda: fired.append("now"))  # already due: runs at once
    assert fired == ["a", "b", "now"]


def test_a_wait_ends_when_the_clock_reaches_it_and_not_before():
    clock = am.FakeClock()
    cfg = config(
        {
            "a": scripted(
                ["k1"],
                responses=[{"fail": 429, "retry_after_s": 1, "times": 1}],
                retry={"wait_for_rate_limit_s": 2},
            )
        }
    )
    with am.ActorSystem.start(cfg, clock=clock) as system:
        waiting = EventLog(system, topics=["request.waiting"])
        done = EventLog(system, topics=["request.succeeded"])
        result: list[object] = []
        caller = threading.Thread(target=lambda: result.append(system.complete(USER)))
        caller.start()
        waiting.wait_count(1)
        clock.advance(0.999)
        testing.barrier(system, "supervisor")
        assert done.events == []  # not yet: the key's window is still open
        clock.advance(0.001)
        done.wait_count(1)
        caller.join(5)
        assert isinstance(result[0], am.Completion)


def test_an_idle_system_sets_no_wake_up():
    clock = am.FakeClock()
    with am.ActorSystem.start(config({"a": scripted()}), clock=clock) as system:
        for _ in range(3):
            system.complete(USER)
        testing.barrier(system, "supervisor")
        system.flush()  # the ledger has written them: its flush wake-up is all that remains
        # One wake-up for the earliest deadline (not one per request), one for the ledger's
        # flush; nothing runs periodically.
        assert clock.pending == 2
        clock.advance(3600)  # past every deadline: the wake-ups find nothing left to do
        testing.barrier(system, "supervisor")
        assert clock.pending == 0


def test_the_ledger_flushes_when_its_interval_has_passed_on_the_clock(tmp_path):
    clock = am.FakeClock()
    path = tmp_path / "ledger.sqlite"
    cfg = config({"a": scripted()}, ledger={"path": str(path), "flush_interval_s": 5})
    with am.ActorSystem.start(cfg, clock=clock) as system:
        system.complete(USER)
        testing.barrier(system, "ledger")
        with am.Ledger.open(path) as ledger:
            assert len(ledger.entries()) == 0  # waiting for its interval (or a full batch)
        clock.advance(5)
        testing.barrier(system, "ledger")
        with am.Ledger.open(path) as ledger:
            assert len(ledger.entries()) == 1
