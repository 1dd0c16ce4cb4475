"""Key budgets (rpm / tpm) in the pure key pool, on a fake clock: the sliding window, token
reservations settled by usage, preference for the key with the most budget left, fleet grants."""

from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_budget import (
    ASK_WAIT_S,
    LOCAL_FALLBACK_S,
    BudgetGrant,
    KeyBudgets,
    block_of,
    estimate_tokens,
)
from adaptive_mind.core.key_pool import KeyPool, KeyState, Lease, NoKey, Unavailable


def make(*limits, fleet=False, **kw):
    clock = FakeClock(0.0)  # times below read as seconds since the pool began
    ids = tuple(f"k{i}" for i in range(1, len(limits) + 1))
    return KeyPool(ids, KeyPoolConfig(**kw), clock, tuple(limits), fleet=fleet), clock


def lease_ok(pool, **kw):
    got = pool.lease(**kw)
    assert isinstance(got, Lease), got
    return got


def test_rpm_spent_key_is_out_until_its_oldest_request_leaves_the_window():
    pool, clock = make((2, None))
    for _ in range(2):
        pool.report(lease_ok(pool), None)
        clock.advance(10)
    got = pool.lease()  # t=20: two requests at t=0 and t=10 in the last 60 s
    assert got == NoKey(Unavailable.RATE_LIMITED, 60.0)
    assert {s.key_id: (s.state, s.cooldown_until) for s in pool.status()} == {
        "k1": (KeyState.THROTTLED, 60.0)
    }
    clock.advance(40)  # t=60: the first request leaves the window
    assert lease_ok(pool).key_id == "k1"
    assert pool.lease() == NoKey(Unavailable.RATE_LIMITED, 70.0)  # the one at t=10 is next


def test_a_sliding_window_never_allows_more_than_rpm_in_any_60_s():
    pool, clock = make((5, None))
    times = []
    for _ in range(400):  # a request every 0.7 s, whenever the key has budget
        got = pool.lease()
        if isinstance(got, Lease):
            times.append(clock.now())
            pool.report(got, None)
        clock.advance(0.7)
    assert len(times) >= 5 * 4  # it did serve: about rpm per minute
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 60) <= 5


def test_a_budget_spent_key_sends_requests_to_its_sibling():
    pool, _ = make((3, None), (None, None))
    keys = []
    for _ in range(6):  # a burst, all in flight at once
        keys.append(lease_ok(pool).key_id)
    assert keys.count("k1") <= 3 and len(keys) == 6


def test_failover_when_every_key_is_spent_reports_the_earliest_free_time():
    pool, clock = make((1, None), (1, None))
    lease_ok(pool)
    clock.advance(5)
    lease_ok(pool)
    assert pool.lease() == NoKey(Unavailable.RATE_LIMITED, 60.0)


def test_tokens_reserve_the_estimate_and_settle_to_the_usage():
    pool, clock = make((None, 1000))
    a = lease_ok(pool, tokens=600)
    assert pool.lease(tokens=600) == NoKey(Unavailable.RATE_LIMITED, 60.0)  # 600 + 600 > 1000
    pool.report(a, None, tokens=100)  # it used far less than reserved: room again
    b = lease_ok(pool, tokens=600)
    assert pool.lease(tokens=400) == NoKey(Unavailable.RATE_LIMITED, 60.0)
    pool.report(b, C.TRANSIENT)  # a failure is billed no tokens
    clock.advance(1)
    lease_ok(pool, tokens=800)  # 100 + 800 fits
    # 100 + 800 + 300 is 200 too many: the charge of 100 at t=0 leaving is not enough room
    assert pool.lease(tokens=300) == NoKey(Unavailable.RATE_LIMITED, 61.0)


def test_usage_unknown_keeps_the_estimate_and_a_given_back_lease_keeps_its_charge():
    pool, _ = make((None, 1000))
    pool.report(lease_ok(pool, tokens=400), None, tokens=None)
    pool.release(lease_ok(pool, tokens=400))
    assert isinstance(pool.lease(tokens=400), NoKey)  # 800 charged


def test_an_estimate_above_tpm_still_gets_one_call_when_the_window_is_empty():
    pool, clock = make((None, 100))
    a = lease_ok(pool, tokens=500)
    assert isinstance(pool.lease(tokens=500), NoKey)
    pool.report(a, None, tokens=300)
    clock.advance(60)
    lease_ok(pool, tokens=500)


def test_the_key_with_the_most_budget_left_is_preferred():
    pool, clock = make((10, None), (10, None))
    for _ in range(4):  # k1 has spent 4 of 10, k2 nothing
        pool.report(lease_ok(pool, exclude=frozenset({"k2"})), None)
    clock.advance(1)
    got = []
    for _ in range(5):  # one at a time: k2 until it has spent as much, then the older k1
        lease = lease_ok(pool)
        got.append(lease.key_id)
        pool.report(lease, None)
    assert got == ["k2", "k2", "k2", "k2", "k1"]


def test_budget_scales_the_weight_and_does_not_override_health():
    pool, clock = make((100, None), (100, None), failure_window_s=60)
    for _ in range(3):  # k2: three recent server-side failures
        got = pool.lease(exclude=frozenset({"k1"}))
        pool.report(got, C.TRANSIENT)
    clock.advance(1)
    for _ in range(5):  # k1 has spent a little: still the better key
        pool.report(lease_ok(pool, exclude=frozenset({"k2"})), None)
    assert lease_ok(pool).key_id == "k1"


def test_keys_without_limits_are_unaffected():
    pool, _ = make((None, None), (None, None))
    assert [lease_ok(pool, tokens=10**9).key_id for _ in range(100)].count("k1") == 50
    assert not pool.budgets


def test_the_window_survives_a_restart():
    pool, clock = make((2, None))
    lease_ok(pool)
    lease_ok(pool)
    fresh = KeyPool(("k1",), KeyPoolConfig(), clock, ((2, None),))
    fresh.restore(pool.snapshot())
    assert fresh.lease() == NoKey(Unavailable.RATE_LIMITED, 60.0)


def test_estimates():
    assert estimate_tokens(0, None) == 256
    assert estimate_tokens(400, 50) == 150
    assert block_of(None) == 0 and block_of(3) == 1 and block_of(1000) == 20


# -- fleet grants -------------------------------------------------------------------------


def grant(r, t=0, ends=60.0):
    return BudgetGrant(r, t, ends)


def test_fleet_keys_wait_for_a_grant_and_ask_in_the_background():
    pool, _ = make((100, None), fleet=True)
    [ask] = pool.budget_asks()
    assert (ask.key_id, ask.requests, ask.tokens, ask.rpm) == ("k1", block_of(100), 0, 100)
    assert pool.budget_asks() == []  # one ask at a time
    assert pool.lease() == NoKey(Unavailable.RATE_LIMITED, ASK_WAIT_S)
    pool.budget_granted("k1", grant(2))
    lease_ok(pool)
    [ask] = pool.budget_asks()  # down to half a block: top up to one block, ahead of need
    assert ask.requests == 1
    lease_ok(pool)
    assert isinstance(pool.lease(), NoKey)  # the top-up has not arrived: no Redis on this path
    pool.budget_granted("k1", grant(1))
    lease_ok(pool)


def test_a_spent_fleet_minute_keeps_the_key_out_until_it_ends():
    pool, clock = make((100, None), fleet=True)
    pool.budget_asks()
    pool.budget_granted("k1", grant(0, ends=42.0))
    assert pool.lease() == NoKey(Unavailable.RATE_LIMITED, 42.0)
    assert pool.budget_asks() == []  # nothing to ask for until the minute ends
    clock.advance(42)
    assert len(pool.budget_asks()) == 1


def test_an_unreachable_fleet_falls_back_to_the_local_limit():
    pool, clock = make((3, None), fleet=True)
    pool.budget_asks()
    pool.budget_granted("k1", None)
    for _ in range(3):
        lease_ok(pool)
    assert pool.lease() == NoKey(Unavailable.RATE_LIMITED, 60.0)  # the full limit, locally
    clock.advance(LOCAL_FALLBACK_S)
    assert len(pool.budget_asks()) == 1  # then the fleet is asked again


def test_tokens_debt_is_asked_back_from_the_fleet():
    budgets = KeyBudgets({"k": (None, 1000)}, fleet=True)
    budgets.asks(0.0)
    budgets.granted("k", 0.0, grant(0, 20))
    ticket = budgets.charge("k", 0.0, 10)
    budgets.settle(ticket, 50)  # used 40 more than reserved: 20 - 50 = -30 held
    [ask] = budgets.asks(0.0)
    assert ask.tokens == block_of(1000) + 30
