from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_pool import (
    KeyEventKind,
    KeyPool,
    KeyState,
    Lease,
    NoKey,
    Unavailable,
)


def make(n=2, **kw):
    clock = FakeClock()
    return KeyPool(tuple(f"k{i}" for i in range(1, n + 1)), KeyPoolConfig(**kw), clock), clock


def states(pool):
    return {s.key_id: s.state for s in pool.status()}


def lease_key(pool, key_id):
    """Lease exactly ``key_id`` (every other key excluded)."""
    others = frozenset(s.key_id for s in pool.status() if s.key_id != key_id)
    got = pool.lease(exclude=others)
    assert isinstance(got, Lease) and got.key_id == key_id, got
    return got


def test_fresh_pool_leases_in_configured_order_then_least_in_flight():
    pool, _ = make(3)
    assert [pool.lease().key_id for _ in range(3)] == ["k1", "k2", "k3"]


def test_least_recently_used_breaks_ties():
    pool, clock = make(2)
    a = pool.lease()
    pool.report(a, None)
    clock.advance(1)
    assert pool.lease().key_id == "k2"


# -- server-side failures blame no key ------------------------------------------------------


def test_random_server_failures_never_bench_a_key():
    pool, clock = make(2)
    for i in range(200):  # every key fails every other call: a provider having a bad hour
        lease = pool.lease()
        assert isinstance(lease, Lease)
        pool.report(lease, C.TRANSIENT if i % 2 else None)
        clock.advance(0.01)
    assert set(states(pool).values()) == {KeyState.AVAILABLE}


def test_one_key_is_never_ejected_however_often_it_fails():
    pool, _ = make(1)
    for _ in range(50):
        out = pool.report(pool.lease(), C.TRANSIENT)
        assert out.independent and not out.events
    assert states(pool)["k1"] is KeyState.AVAILABLE


def test_outlier_is_ejected_after_consecutive_failures_while_siblings_succeed():
    pool, clock = make(2, outlier_consecutive_failures=3, ejection_s=5)
    pool.report(lease_key(pool, "k2"), None)
    for _ in range(2):
        assert not pool.report(lease_key(pool, "k1"), C.TRANSIENT).events
    out = pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    assert out.events[0].kind is KeyEventKind.EJECTED
    assert states(pool)["k1"] is KeyState.EJECTED
    assert all(pool.lease().key_id == "k2" for _ in range(5))
    clock.advance(5)
    assert states(pool)["k1"] is KeyState.WARMING


def test_no_ejection_when_the_siblings_fail_too():
    pool, _ = make(2, outlier_consecutive_failures=3)
    for _ in range(10):
        pool.report(lease_key(pool, "k1"), C.TRANSIENT)
        pool.report(lease_key(pool, "k2"), C.TRANSIENT)
    assert set(states(pool).values()) == {KeyState.AVAILABLE}


def test_ejection_never_takes_more_than_half_of_the_keys():
    pool, _ = make(4, outlier_consecutive_failures=2)
    pool.report(lease_key(pool, "k4"), None)
    for key in ("k1", "k2", "k3"):
        for _ in range(2):
            pool.report(lease_key(pool, key), C.TRANSIENT)
        pool.report(lease_key(pool, "k4"), None)
    assert list(states(pool).values()).count(KeyState.EJECTED) == 2


def test_reejected_dead_key_gets_single_probes_with_growing_ejection():
    pool, clock = make(2, outlier_consecutive_failures=2, ejection_s=5, max_ejection_s=12)
    pool.report(lease_key(pool, "k2"), None)
    for _ in range(2):
        pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    spans = []
    for _ in range(3):
        until = next(s.cooldown_until for s in pool.status() if s.key_id == "k1")
        spans.append(until - clock.now())
        clock.advance(until - clock.now())
        out = pool.report(lease_key(pool, "k1"), C.TRANSIENT)  # one probe, fails: out again
        assert out.events and out.events[0].kind is KeyEventKind.EJECTED
    assert spans == [5, 10, 12]


def test_slow_start_gives_a_readmitted_key_a_growing_share():
    pool, clock = make(2, outlier_consecutive_failures=2, ejection_s=1, slow_start_s=10)
    pool.report(lease_key(pool, "k2"), None)
    for _ in range(2):
        pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    clock.advance(1)  # readmitted, warming

    def share():
        leases = [pool.lease() for _ in range(40)]
        n = sum(1 for x in leases if x.key_id == "k1")
        for x in leases:
            pool.release(x)
        return n

    early = share()
    clock.advance(5)
    middle = share()
    clock.advance(5)
    late = share()
    assert 0 < early < middle < late  # recent failures still weigh on it, ramp aside


def test_success_after_readmission_restores_the_key():
    pool, clock = make(2, outlier_consecutive_failures=2, ejection_s=1, slow_start_s=2)
    pool.report(lease_key(pool, "k2"), None)
    for _ in range(2):
        pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    clock.advance(1)
    out = pool.report(lease_key(pool, "k1"), None)
    assert out.events[0].kind is KeyEventKind.RESTORED
    out = pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    assert not out.events  # a proven key needs a new streak to be ejected again
    clock.advance(2)
    assert states(pool)["k1"] is KeyState.AVAILABLE


def test_panic_leases_an_ejected_key_when_no_healthy_key_is_left():
    pool, _ = make(2, outlier_consecutive_failures=2)
    pool.report(lease_key(pool, "k2"), None)
    for _ in range(2):
        pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    got = pool.lease(exclude=frozenset({"k2"}))
    assert isinstance(got, Lease) and got.key_id == "k1" and got.panic
    assert not pool.report(got, C.TRANSIENT).independent


def test_flaky_key_gets_a_falling_share():
    pool, clock = make(2)
    shares = []
    for _ in range(3):
        counts = {"k1": 0, "k2": 0}
        for _ in range(50):
            lease = pool.lease()
            counts[lease.key_id] += 1
            pool.report(lease, C.TRANSIENT if lease.key_id == "k1" else None)
            clock.advance(0.01)
        shares.append(counts["k1"])
    assert shares[0] >= shares[1] >= shares[2] and shares[2] < 5


# -- rate limits are about the key ----------------------------------------------------------


def test_rate_limit_keeps_the_key_out_for_exactly_its_retry_after():
    pool, clock = make(2)
    out = pool.report(pool.lease(), C.TRANSIENT, retry_after_s=12, rate_limited=True)
    assert out.independent and out.events[0].kind is KeyEventKind.RATE_LIMITED
    assert states(pool)["k1"] is KeyState.RATE_LIMITED
    assert all(pool.lease().key_id == "k2" for _ in range(5))
    clock.advance(11.999)
    assert states(pool)["k1"] is KeyState.RATE_LIMITED
    clock.advance(0.001)
    assert states(pool)["k1"] is KeyState.AVAILABLE


def test_rate_limit_without_retry_after_backs_off_from_one_second_doubling_to_cap():
    pool, clock = make(1, max_cooldown_s=5)
    waits = []
    for _ in range(4):
        pool.report(pool.lease(), C.TRANSIENT, rate_limited=True)
        waits.append(round(pool.status()[0].cooldown_until - clock.now(), 6))
        clock.advance(100)
    assert waits == [1, 2, 4, 5]
    pool.report(pool.lease(), None)
    pool.report(pool.lease(), C.TRANSIENT, rate_limited=True)
    assert pool.status()[0].cooldown_until == clock.now() + 1  # a success resets the backoff


def test_absurd_retry_after_is_capped():
    pool, clock = make(1, max_retry_after_s=60)
    pool.report(pool.lease(), C.TRANSIENT, retry_after_s=10**9, rate_limited=True)
    assert pool.status()[0].cooldown_until == clock.now() + 60


def test_an_older_shorter_window_never_shortens_a_longer_one():
    pool, clock = make(1)
    a, b = pool.lease(), pool.lease()
    pool.report(a, C.TRANSIENT, retry_after_s=10, rate_limited=True)
    pool.report(b, C.TRANSIENT, retry_after_s=2, rate_limited=True)
    assert pool.status()[0].cooldown_until == clock.now() + 10


def test_no_key_says_rate_limited_until_when():
    pool, clock = make(2)
    pool.report(pool.lease(), C.TRANSIENT, retry_after_s=3, rate_limited=True)
    pool.report(pool.lease(), C.TRANSIENT, retry_after_s=7, rate_limited=True)
    got = pool.lease()
    assert isinstance(got, NoKey) and got.reason is Unavailable.RATE_LIMITED
    assert got.next_free_at == clock.now() + 3 and got.cooling


def test_no_key_says_tried_when_only_keys_this_request_tried_are_left():
    pool, _ = make(2)
    got = pool.lease(exclude=frozenset({"k1", "k2"}))
    assert isinstance(got, NoKey) and got.reason is Unavailable.TRIED


# -- fatal key errors ------------------------------------------------------------------------


def test_key_fatal_disables_then_probation_allows_one_probe():
    pool, clock = make(2, disabled_s=3600)
    out = pool.report(pool.lease(), C.KEY_FATAL)
    assert out.events[0].kind is KeyEventKind.DISABLED
    assert states(pool)["k1"] is KeyState.DISABLED
    clock.advance(3599)
    assert {pool.lease().key_id for _ in range(4)} == {"k2"}
    clock.advance(1)
    assert states(pool)["k1"] is KeyState.PROBATION
    probe = pool.lease()
    assert probe.key_id == "k1"  # the idle probation key goes first
    assert pool.lease().key_id == "k2"  # one probe at a time
    out = pool.report(probe, None)
    assert out.events[0].kind is KeyEventKind.RESTORED
    assert states(pool)["k1"] is KeyState.AVAILABLE


def test_all_keys_disabled():
    pool, clock = make(1, disabled_s=10)
    pool.report(pool.lease(), C.KEY_FATAL)
    got = pool.lease()
    assert isinstance(got, NoKey) and got.reason is Unavailable.KEYS_DISABLED
    assert got.next_free_at == clock.now() + 10 and not got.cooling


def test_second_report_for_a_disabled_key_is_not_independent():
    pool, _ = make(1)
    a, b = pool.lease(), pool.lease()
    assert pool.report(a, C.KEY_FATAL).independent
    assert not pool.report(b, C.KEY_FATAL).independent


# -- other outcomes -------------------------------------------------------------------------


def test_model_and_bad_request_are_not_the_keys_failures():
    pool, _ = make(1)
    for cat in (C.MODEL, C.BAD_REQUEST, C.CONTENT_POLICY):
        pool.report(pool.lease(), cat)
    assert pool.status()[0].failures == 0
    assert pool.status()[0].state is KeyState.AVAILABLE


def test_prefer_wins_when_leasable():
    pool, _ = make(3)
    assert pool.lease(prefer="k3").key_id == "k3"


def test_release_frees_in_flight_without_verdict():
    pool, _ = make(1)
    lease = pool.lease()
    assert pool.status()[0].in_flight == 1
    pool.release(lease)
    assert pool.status()[0].in_flight == 0


def test_snapshot_restore_keeps_health_and_makes_old_leases_stale():
    pool, clock = make(2, outlier_consecutive_failures=2)
    old = pool.lease()
    pool.report(pool.lease(), C.TRANSIENT, retry_after_s=30, rate_limited=True)
    snap = pool.snapshot()
    other = KeyPool(("k1", "k2"), KeyPoolConfig(outlier_consecutive_failures=2), clock)
    other.restore(snap)
    assert states(other) == states(pool)
    assert not other.report(old, C.TRANSIENT).independent


def test_an_ejected_key_that_answers_in_panic_is_readmitted_at_once():
    pool, _ = make(2, outlier_consecutive_failures=2, slow_start_s=10)
    pool.report(lease_key(pool, "k2"), None)
    for _ in range(2):
        pool.report(lease_key(pool, "k1"), C.TRANSIENT)
    got = pool.lease(exclude=frozenset({"k2"}))
    assert got.panic
    out = pool.report(got, None)
    assert out.events[0].kind is KeyEventKind.RESTORED
    assert states(pool)["k1"] is KeyState.WARMING
