"""Timetable: one wake-up for the earliest deadline or wait; stale entries dropped lazily."""

from __future__ import annotations

from adaptive_mind.core.timetable import COMPACT_SLACK, Timetable


def test_one_wake_up_for_the_earliest_entry_of_a_live_request():
    t = Timetable()
    assert t.add_deadline(10.0, "a")  # nothing set yet: the caller should schedule
    assert t.next_wake({"a"}) == 10.0
    assert not t.add_deadline(20.0, "b")  # later than the wake-up already set
    t.add_wait(5.0, "b")
    assert t.next_wake({"a", "b"}) == 5.0  # earlier: it replaces the one set
    assert t.next_wake({"a", "b"}) is None  # already set for the earliest
    t.woke(5.0)
    assert t.wake_at is None


def test_entries_of_requests_no_longer_in_flight_are_skipped():
    t = Timetable()
    t.add_deadline(1.0, "gone")
    t.add_deadline(3.0, "live")
    assert t.next_wake({"live"}) == 3.0
    assert t.next_wake(set()) is None  # nothing live: no wake-up


def test_a_late_wake_up_for_an_older_time_leaves_the_current_one_set():
    t = Timetable()
    t.add_deadline(9.0, "a")
    t.next_wake({"a"})
    t.woke(4.0)  # a stale wake-up fired
    assert t.wake_at == 9.0


def test_due_entries_come_out_in_time_order_and_only_once():
    t = Timetable()
    for at, rid in [(3.0, "c"), (1.0, "a"), (2.0, "b"), (9.0, "z")]:
        t.add_deadline(at, rid)
    t.add_wait(2.5, "w")
    assert list(t.due_deadlines(3.0)) == ["a", "b", "c"]
    assert list(t.due_deadlines(3.0)) == []
    assert list(t.due_waits(3.0)) == [(2.5, "w")]


def test_the_deadline_heap_is_rebuilt_when_stale_entries_outnumber_live_ones():
    t = Timetable()
    for i in range(COMPACT_SLACK + 3):
        t.add_deadline(float(i), f"r{i}")
    assert not t.stale(live=2)
    t.add_deadline(0.5, "x")
    assert t.stale(live=1)
    t.compact({"x": 0.5})
    assert not t.stale(live=1)
    assert list(t.due_deadlines(10_000.0)) == ["x"]
