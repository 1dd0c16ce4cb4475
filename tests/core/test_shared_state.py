"""Peers' transitions applied to the pure key pool and breaker (fake clock, no threads), and the
versioned wire form they travel in."""

import pytest

from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import BreakerConfig, KeyPoolConfig
from adaptive_mind.core.breaker import Breaker, BreakerState, Verdict
from adaptive_mind.core.key_pool import KeyEventKind, KeyPool, KeyState, Lease, NoKey
from adaptive_mind.core.shared_state import (
    BreakerTransition,
    KeyTransition,
    from_wire,
    to_wire,
)


def pool(n=2, **kw):
    clock = FakeClock()
    return KeyPool(tuple(f"k{i}" for i in range(1, n + 1)), KeyPoolConfig(**kw), clock), clock


def states(p):
    return {s.key_id: s.state for s in p.status()}


def key_t(clock, event, key_id="k1", until_in=None):
    until = None if until_in is None else clock.now() + until_in
    return KeyTransition("p", key_id, event, until, clock.now())


# -- key pool --------------------------------------------------------------------------------


def test_a_key_disabled_by_a_peer_is_never_leased_here():
    p, clock = pool()
    events = p.apply_remote(key_t(clock, KeyEventKind.DISABLED, until_in=600))
    assert [e.kind for e in events] == [KeyEventKind.DISABLED]
    assert states(p)["k1"] is KeyState.DISABLED
    for _ in range(10):
        got = p.lease()
        assert isinstance(got, Lease) and got.key_id == "k2"
        p.report(got, None)


def test_applying_twice_changes_nothing_the_second_time():
    p, clock = pool()
    t = key_t(clock, KeyEventKind.RATE_LIMITED, until_in=30)
    assert p.apply_remote(t)
    before = p.snapshot()
    assert p.apply_remote(t) == ()
    assert p.snapshot() == before


def test_a_peer_never_moves_a_window_earlier():
    p, clock = pool(1)
    lease = p.lease()
    p.report(lease, C.TRANSIENT, retry_after_s=60, rate_limited=True)
    local_until = p.status()[0].cooldown_until
    assert p.apply_remote(key_t(clock, KeyEventKind.RATE_LIMITED, until_in=5)) == ()
    assert p.status()[0].cooldown_until == local_until
    longer = p.apply_remote(key_t(clock, KeyEventKind.RATE_LIMITED, until_in=90))
    assert [e.until for e in longer] == [clock.now() + 90]
    clock.advance(89)
    got = p.lease()
    assert isinstance(got, NoKey) and got.next_free_at == pytest.approx(clock.now() + 1)


def test_a_retry_after_learned_by_a_peer_is_honoured_to_the_instant():
    p, clock = pool(1)
    p.apply_remote(key_t(clock, KeyEventKind.RATE_LIMITED, until_in=2.5))
    clock.advance(2.499)
    assert isinstance(p.lease(), NoKey)
    clock.advance(0.001)
    assert isinstance(p.lease(), Lease)


def test_a_peer_cannot_bench_a_key_longer_than_the_local_config_would():
    p, clock = pool(disabled_s=100)
    (event,) = p.apply_remote(key_t(clock, KeyEventKind.DISABLED, until_in=10_000))
    assert event.until == clock.now() + 100


def test_an_expired_transition_is_ignored():
    p, clock = pool()
    t = key_t(clock, KeyEventKind.DISABLED, until_in=1)
    clock.advance(2)
    assert p.apply_remote(t) == ()
    assert states(p)["k1"] is KeyState.AVAILABLE


def test_unknown_keys_are_ignored():
    p, clock = pool()
    assert p.apply_remote(key_t(clock, KeyEventKind.DISABLED, key_id="nope", until_in=5)) == ()


def test_restored_by_a_peer_ends_probation_but_keeps_running_windows():
    p, clock = pool(disabled_s=10)
    p.apply_remote(key_t(clock, KeyEventKind.DISABLED, until_in=10))
    # Restored while the window still runs here: the window stands.
    assert p.apply_remote(key_t(clock, KeyEventKind.RESTORED)) == ()
    assert states(p)["k1"] is KeyState.DISABLED
    clock.advance(10)
    assert states(p)["k1"] is KeyState.PROBATION
    (event,) = p.apply_remote(key_t(clock, KeyEventKind.RESTORED))
    assert event.kind is KeyEventKind.RESTORED
    assert states(p)["k1"] is KeyState.AVAILABLE
    assert p.apply_remote(key_t(clock, KeyEventKind.RESTORED)) == ()


def test_a_peers_ejection_respects_the_ejection_cap():
    p, clock = pool(2)  # at most one of two keys may be ejected
    assert p.apply_remote(key_t(clock, KeyEventKind.EJECTED, "k1", until_in=5))
    assert p.apply_remote(key_t(clock, KeyEventKind.EJECTED, "k2", until_in=5)) == ()
    assert states(p) == {"k1": KeyState.EJECTED, "k2": KeyState.AVAILABLE}


def test_a_failure_on_a_lease_taken_before_the_peers_news_is_not_independent():
    p, clock = pool()
    lease = p.lease()
    p.apply_remote(key_t(clock, KeyEventKind.DISABLED, lease.key_id, until_in=60))
    assert p.report(lease, C.KEY_FATAL).independent is False


# -- breaker ---------------------------------------------------------------------------------


def breaker(**kw):
    clock = FakeClock()
    return Breaker(BreakerConfig(**kw), clock), clock


def opened(clock, until_in, at_ago=0.0):
    return BreakerTransition("p", BreakerState.OPEN, clock.now() + until_in, clock.now() - at_ago)


def closed(clock, at_ago=0.0):
    return BreakerTransition("p", BreakerState.CLOSED, None, clock.now() - at_ago)


def test_a_breaker_opened_by_a_peer_is_open_here_until_its_instant():
    b, clock = breaker()
    (t,) = b.apply_remote(opened(clock, 5))
    assert (t.old, t.new, t.reopen_at) == (BreakerState.CLOSED, BreakerState.OPEN, clock.now() + 5)
    assert b.acquire()[0] is None
    clock.advance(5)
    permit, _ = b.acquire()
    assert permit is not None and permit.probe


def test_breaker_apply_is_idempotent_and_never_shortens_the_window():
    b, clock = breaker()
    b.apply_remote(opened(clock, 5))
    assert b.apply_remote(opened(clock, 5)) == []
    assert b.apply_remote(opened(clock, 1)) == []
    assert b.open_until == clock.now() + 5
    assert [t.reopen_at for t in b.apply_remote(opened(clock, 8))] == [clock.now() + 8]


def test_permits_granted_before_a_peers_trip_are_stale():
    b, clock = breaker(failure_threshold=1)
    permit, _ = b.acquire()
    b.apply_remote(opened(clock, 5))
    assert b.record(permit, Verdict.SUCCESS) == []  # evidence from before the trip
    assert b.state is BreakerState.OPEN


def test_a_peers_close_closes_an_older_local_trip_but_not_a_newer_one():
    b, clock = breaker(failure_threshold=1)
    b.apply_remote(opened(clock, 5))
    clock.advance(1)
    (t,) = b.apply_remote(closed(clock))
    assert t.new is BreakerState.CLOSED and b.state is BreakerState.CLOSED
    # This replica trips on its own evidence after the peer's close was sent: it stays open.
    stale_close = closed(clock)
    clock.advance(0.5)
    permit, _ = b.acquire()
    b.record(permit, Verdict.FAILURE)
    assert b.state is BreakerState.OPEN
    assert b.apply_remote(stale_close) == []
    assert b.state is BreakerState.OPEN


def test_a_half_open_notice_changes_nothing_before_the_window_ends():
    b, clock = breaker()
    b.apply_remote(opened(clock, 5))
    half = BreakerTransition("p", BreakerState.HALF_OPEN, None, clock.now())
    assert b.apply_remote(half) == []
    assert b.state is BreakerState.OPEN


def test_a_peer_cannot_hold_the_breaker_open_beyond_the_reset_cap():
    b, clock = breaker(reset_timeout_s=1, max_reset_timeout_s=10)
    (t,) = b.apply_remote(opened(clock, 10_000))
    assert t.reopen_at == clock.now() + 10


# -- wire form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        KeyTransition("p", "k1", KeyEventKind.DISABLED, 12.5, 10.0),
        KeyTransition("p", "k1", KeyEventKind.RESTORED, None, 10.0),
        BreakerTransition("p", BreakerState.OPEN, 20.0, 10.0),
        BreakerTransition("p", BreakerState.CLOSED, None, 10.0),
    ],
)
def test_wire_round_trip(record):
    assert from_wire(to_wire(record)) == record
    assert from_wire(to_wire(record.shifted(100.0))) == record.shifted(100.0)


@pytest.mark.parametrize(
    "data",
    [
        {"v": 2, "kind": "key"},
        {"v": 1, "kind": "other", "provider": "p", "at": 1.0},
        {"v": 1, "kind": "key", "provider": "p", "key_id": "k", "event": "disabled", "at": 1},
        {"v": 1, "kind": "key", "provider": "p", "key_id": "k", "event": "zzz", "at": 1},
        {"v": 1, "kind": "breaker", "provider": "p", "state": "open", "at": 1.0},
        {"v": 1, "kind": "breaker", "provider": "p", "state": "closed", "at": "nan"},
        {"v": 1, "kind": "breaker", "provider": "", "state": "closed", "at": 1.0},
        {"v": 1, "kind": "breaker", "state": "closed", "at": 1.0},
    ],
)
def test_malformed_or_newer_records_are_refused(data):
    with pytest.raises(ValueError):
        from_wire(data)
