from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_pool import KeyEventKind, KeyPool, KeyState, Lease, NoKey


def make(n=2, **kw):
    clock = FakeClock()
    return KeyPool(tuple(f"k{i}" for i in range(1, n + 1)), KeyPoolConfig(**kw), clock), clock


def states(pool):
    return {s.key_id: s.state for s in pool.status()}


def test_fresh_pool_leases_in_configured_order_then_least_in_flight():
    pool, _ = make(3)
    assert [pool.lease().key_id for _ in range(3)] == ["k1", "k2", "k3"]


def test_least_recently_used_breaks_ties():
    pool, clock = make(2)
    a = pool.lease()
    pool.report(a, None)
    clock.advance(1)
    assert pool.lease().key_id == "k2"


def test_transient_cools_for_max_of_retry_after_and_backoff():
    pool, clock = make(2, cooldown_s=5)
    lease = pool.lease()
    out = pool.report(lease, C.TRANSIENT, retry_after_s=12)
    assert out.independent
    assert out.events[0].kind is KeyEventKind.COOLED
    assert states(pool)["k1"] is KeyState.COOLING
    assert all(pool.lease().key_id == "k2" for _ in range(5))
    clock.advance(11.9)
    assert states(pool)["k1"] is KeyState.COOLING
    clock.advance(0.1)
    assert states(pool)["k1"] is KeyState.PROBATION


def test_backoff_doubles_up_to_cap():
    pool, clock = make(1, cooldown_s=2, max_cooldown_s=5)
    waits = []
    for _ in range(4):
        lease = pool.lease()
        assert isinstance(lease, Lease)
        pool.report(lease, C.TRANSIENT)
        until = pool.status()[0].cooldown_until
        waits.append(round(until - clock.now(), 6))
        clock.advance(100)
    assert waits == [2, 4, 5, 5]


def test_absurd_retry_after_is_capped():
    pool, clock = make(1, max_retry_after_s=60)
    pool.report(pool.lease(), C.TRANSIENT, retry_after_s=10**9)
    assert pool.status()[0].cooldown_until == clock.now() + 60


def test_key_fatal_disables_and_never_leases():
    pool, clock = make(2, disabled_s=3600)
    out = pool.report(pool.lease(), C.KEY_FATAL)
    assert out.events[0].kind is KeyEventKind.DISABLED
    assert states(pool)["k1"] is KeyState.DISABLED
    clock.advance(3599)
    assert {pool.lease().key_id for _ in range(4)} == {"k2"}
    clock.advance(1)
    assert states(pool)["k1"] is KeyState.PROBATION


def test_no_key_says_when_the_next_frees_up_and_whether_it_is_cooling():
    pool, clock = make(2, cooldown_s=10)
    pool.report(pool.lease(), C.TRANSIENT)
    got = pool.lease(exclude=frozenset({"k2"}))
    assert isinstance(got, NoKey) and got.cooling and got.next_free_at == clock.now() + 10
    got = pool.lease(exclude=frozenset({"k1", "k2"}))
    assert isinstance(got, NoKey) and not got.cooling and got.next_free_at is None


def test_probation_allows_one_lease_until_a_success_restores():
    pool, clock = make(1, cooldown_s=1)
    pool.report(pool.lease(), C.TRANSIENT)
    clock.advance(1)
    probe = pool.lease()
    assert isinstance(probe, Lease)
    assert isinstance(pool.lease(), NoKey)  # no herd on a recovering key
    out = pool.report(probe, None)
    assert out.events[0].kind is KeyEventKind.RESTORED
    assert states(pool)["k1"] is KeyState.AVAILABLE
    assert isinstance(pool.lease(), Lease) and isinstance(pool.lease(), Lease)


def test_probation_failure_cools_again():
    pool, clock = make(1, cooldown_s=1)
    pool.report(pool.lease(), C.TRANSIENT)
    clock.advance(1)
    pool.report(pool.lease(), C.UNKNOWN)
    assert states(pool)["k1"] is KeyState.COOLING


def test_failures_from_a_key_already_known_bad_are_not_independent():
    pool, _ = make(2)
    burst = [pool.lease() for _ in range(4)]  # k1, k2, k1, k2 in flight together
    k1 = [lease for lease in burst if lease.key_id == "k1"]
    assert pool.report(k1[0], C.TRANSIENT).independent
    assert not pool.report(k1[1], C.TRANSIENT).independent


def test_refusals_and_model_errors_are_not_the_keys_failures():
    pool, _ = make(1)
    pool.report(pool.lease(), C.CONTENT_POLICY)
    pool.report(pool.lease(), C.MODEL)
    pool.report(pool.lease(), C.BAD_REQUEST)
    s = pool.status()[0]
    assert s.failures == 0 and s.state is KeyState.AVAILABLE and s.in_flight == 0


def test_unknown_penalizes_ranking_without_cooling():
    pool, _ = make(2)
    pool.report(pool.lease(), C.UNKNOWN)
    assert states(pool)["k1"] is KeyState.AVAILABLE
    assert pool.status()[0].failures == 1
    assert pool.lease().key_id == "k2"
    assert pool.lease().key_id == "k2"  # fewer failures beats fewer in flight


def test_recent_failures_expire_after_the_window():
    pool, clock = make(1, failure_window_s=10, cooldown_s=1)
    pool.report(pool.lease(), C.UNKNOWN)
    clock.advance(10.5)
    assert pool.status()[0].failures == 0


def test_release_frees_without_verdict():
    pool, _ = make(1)
    lease = pool.lease()
    pool.release(lease)
    s = pool.status()[0]
    assert s.in_flight == 0 and s.failures == 0


def test_preferred_key_wins_when_leasable():
    pool, _ = make(2)
    pool.report(pool.lease(), None)
    assert pool.lease(prefer="k1").key_id == "k1"
    pool.report(pool.lease(exclude=frozenset({"k1"})), C.TRANSIENT)  # k2 cooling
    assert pool.lease(prefer="k2").key_id == "k1"


def test_an_idle_probation_key_gets_the_next_lease_for_its_probe():
    pool, clock = make(2, cooldown_s=5)
    pool.report(pool.lease(), C.TRANSIENT)
    clock.advance(5)
    assert pool.lease().key_id == "k1"  # the probe, despite k1's recent failure
    assert pool.lease().key_id == "k2"  # one probe at a time
