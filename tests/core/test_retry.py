"""The retry budget and the full-jitter backoff: unit tests and a property against a reference."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_mind.clock import FakeClock
from adaptive_mind.config import RetryConfig
from adaptive_mind.core.retry import RetryBudget, full_jitter


def make(**kw):
    clock = FakeClock()
    return RetryBudget(RetryConfig(**kw), clock), clock


def test_floor_allows_min_per_s_times_window_with_no_requests():
    budget, _ = make(budget_min_per_s=2, budget_window_s=5, budget_ratio=0.5)
    assert sum(budget.try_withdraw() for _ in range(20)) == 10


def test_ratio_of_recent_requests():
    budget, _ = make(budget_min_per_s=0, budget_ratio=0.5)
    for _ in range(10):
        budget.deposit()
    assert sum(budget.try_withdraw() for _ in range(20)) == 5


def test_the_window_forgets():
    budget, clock = make(budget_min_per_s=0, budget_ratio=1.0, budget_window_s=10)
    budget.deposit()
    assert budget.try_withdraw() and not budget.try_withdraw()
    clock.advance(10)
    assert not budget.try_withdraw()  # the request aged out with the retry
    budget.deposit()
    assert budget.try_withdraw()


def test_refund_gives_a_retry_back():
    budget, _ = make(budget_min_per_s=0, budget_ratio=1.0)
    budget.deposit()
    assert budget.try_withdraw() and not budget.try_withdraw()
    budget.refund()
    assert budget.try_withdraw()


def test_default_budget_covers_thirty_percent_random_failures():
    """30 % failures need retries on about 43 % of requests: the default ratio is 0.5."""
    budget, clock = make()
    rng = random.Random(7)
    denied = 0
    for _ in range(20_000):
        clock.advance(0.002)  # 500 requests per second
        budget.deposit()
        for _attempt in range(4):
            if rng.random() >= 0.3:
                break
            if not budget.try_withdraw():
                denied += 1
                break
    assert denied == 0


def test_full_jitter_grows_and_is_capped():
    cfg = RetryConfig(backoff_base_s=0.25, backoff_max_s=1.0)
    rng = random.Random(1)
    for n, ceiling in ((1, 0.25), (2, 0.5), (3, 1.0), (9, 1.0)):
        waits = [full_jitter(cfg, n, rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # it does spread up to the ceiling


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.just(("deposit", 0.0)),
            st.just(("retry", 0.0)),
            st.just(("refund", 0.0)),
            st.tuples(st.just("advance"), st.sampled_from([0.1, 1.0, 3.0, 10.0])),
        ),
        max_size=200,
    ),
    ratio=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
    floor=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_a_retry_budget_bounds_attempts(ops, ratio, floor):
    """Whatever happens, when a retry is granted the retries granted in the window (it included)
    never exceed floor x window + ratio x the window's requests (a reference count kept beside
    the budget), and a retry is refused only when that bound is reached."""
    window = 5.0
    budget, clock = make(budget_ratio=ratio, budget_min_per_s=floor, budget_window_s=window)
    requests: list[float] = []
    retries: list[float] = []
    for op, arg in ops:
        if op == "deposit":
            budget.deposit()
            requests.append(clock.now())
        elif op == "retry":
            now = clock.now()
            recent_req = sum(1 for t in requests if t > now - window)
            recent_ret = sum(1 for t in retries if t > now - window)
            bound = floor * window + ratio * recent_req
            if budget.try_withdraw():
                retries.append(now)
                assert recent_ret + 1 <= bound + 1e-9
            else:
                assert recent_ret + 1 > bound - 1e-9
        elif op == "refund":
            if retries and retries[-1] > clock.now() - window:
                budget.refund()
                retries.pop()
        else:
            clock.advance(arg)
