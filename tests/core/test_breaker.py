from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import BreakerConfig
from adaptive_mind.core.breaker import Breaker, BreakerState, Verdict, verdict_for


def make(**kw):
    clock = FakeClock()
    return Breaker(BreakerConfig(**kw), clock), clock


def fail(b, n=1):
    for _ in range(n):
        permit, _ = b.acquire()
        assert permit is not None
        b.record(permit, Verdict.FAILURE)


def ok(b):
    permit, _ = b.acquire()
    assert permit is not None
    b.record(permit, Verdict.SUCCESS)


def test_opens_at_threshold_of_consecutive_failures():
    b, _ = make(failure_threshold=3)
    fail(b, 2)
    assert b.state is BreakerState.CLOSED
    fail(b, 1)
    assert b.state is BreakerState.OPEN
    assert b.acquire()[0] is None


def test_success_in_closed_resets_the_count():
    b, _ = make(failure_threshold=2)
    fail(b)
    p, _ = b.acquire()
    b.record(p, Verdict.SUCCESS)
    fail(b)
    assert b.state is BreakerState.CLOSED


def test_neutral_outcomes_do_not_count():
    b, _ = make(failure_threshold=1)
    p, _ = b.acquire()
    b.record(p, Verdict.NEUTRAL)
    assert b.state is BreakerState.CLOSED


def test_open_denies_until_reset_then_grants_limited_probes():
    b, clock = make(failure_threshold=1, reset_timeout_s=10, half_open_max_calls=2)
    fail(b)
    clock.advance(9.99)
    assert b.acquire()[0] is None
    clock.advance(0.01)
    assert b.state is BreakerState.HALF_OPEN
    p1, transitions = b.acquire()
    assert [t.new for t in transitions] == [BreakerState.HALF_OPEN]
    p2, _ = b.acquire()
    assert p1 is not None and p1.probe and p2 is not None and p2.probe
    assert b.acquire()[0] is None  # every probe is out


def test_probe_success_closes():
    b, clock = make(failure_threshold=1, reset_timeout_s=5)
    fail(b)
    clock.advance(5)
    p, _ = b.acquire()
    transitions = b.record(p, Verdict.SUCCESS)
    assert b.state is BreakerState.CLOSED
    assert transitions[-1].new is BreakerState.CLOSED


def test_probe_failure_reopens_with_doubled_timeout_capped():
    b, clock = make(failure_threshold=1, reset_timeout_s=5, max_reset_timeout_s=15)
    fail(b)
    for expected in (10, 15, 15):
        clock.advance(100)
        p, _ = b.acquire()
        assert p is not None and p.probe
        b.record(p, Verdict.FAILURE)
        assert b.state is BreakerState.OPEN
        assert b.open_until == clock.now() + expected


def test_default_reset_starts_at_5s_and_grows_to_30s():
    b, clock = make(failure_threshold=1)
    fail(b)
    assert b.open_until == clock.now() + 5
    for expected in (10, 20, 30, 30):
        clock.advance(100)
        p, _ = b.acquire()
        b.record(p, Verdict.FAILURE)
        assert b.open_until == clock.now() + expected


def test_defaults_open_on_ten_consecutive_failures():
    b, _ = make()
    for _ in range(9):
        fail(b)
    assert b.state is BreakerState.CLOSED
    fail(b)
    assert b.state is BreakerState.OPEN


def test_failure_rate_over_the_window_opens_it():
    b, _ = make(failure_threshold=100, window_size=10, min_calls=4, failure_rate_threshold=0.5)
    ok(b)
    fail(b)
    ok(b)
    assert b.state is BreakerState.CLOSED  # 1 of 3: below min_calls anyway
    fail(b)  # 2 of 4 = 50 %
    assert b.state is BreakerState.OPEN


def test_failure_rate_below_threshold_keeps_it_closed_forever():
    b, _ = make(window_size=20, min_calls=10)
    for i in range(1000):  # every third call fails: 33 %, never two in a row
        (fail if i % 3 == 0 else ok)(b)
    assert b.state is BreakerState.CLOSED
    assert 0.3 <= b.failure_rate <= 0.36


def test_window_forgets_old_failures():
    b, _ = make(failure_threshold=100, window_size=4, min_calls=4, failure_rate_threshold=0.75)
    for _ in range(2):
        fail(b)
    for _ in range(4):
        ok(b)
    for _ in range(2):
        fail(b)  # 2 of the last 4: the first two failures slid out
    assert b.state is BreakerState.CLOSED


def test_forced_permit_is_granted_while_open_and_its_success_closes():
    b, _ = make(failure_threshold=1)
    fail(b)
    assert b.acquire()[0] is None
    p, _ = b.acquire(force=True)
    assert p is not None and p.forced
    b.record(p, Verdict.FAILURE)
    assert b.state is BreakerState.OPEN  # a forced failure is not news
    p, _ = b.acquire(force=True)
    assert p is not None
    transitions = b.record(p, Verdict.SUCCESS)
    assert b.state is BreakerState.CLOSED and transitions[-1].new is BreakerState.CLOSED


def test_forced_permit_while_closed_is_an_ordinary_one():
    b, _ = make()
    p, _ = b.acquire(force=True)
    assert p is not None and not p.forced and not p.probe


def test_snapshot_keeps_the_window():
    b, clock = make(failure_threshold=100, window_size=10, min_calls=4)
    fail(b)
    fail(b)
    ok(b)
    other = Breaker(BreakerConfig(failure_threshold=100, window_size=10, min_calls=4), clock)
    other.restore(b.snapshot())
    assert other.state is BreakerState.CLOSED
    p, _ = other.acquire()
    other.record(p, Verdict.FAILURE)  # 3 of 4
    assert other.state is BreakerState.OPEN


def test_neutral_probe_frees_its_slot():
    b, clock = make(failure_threshold=1, reset_timeout_s=1)
    fail(b)
    clock.advance(1)
    p, _ = b.acquire()
    assert b.acquire()[0] is None
    b.release(p)
    assert b.acquire()[0] is not None
    assert b.state is BreakerState.HALF_OPEN


def test_stale_permits_from_before_a_trip_are_ignored():
    b, clock = make(failure_threshold=1, reset_timeout_s=1)
    old, _ = b.acquire()
    fail(b)  # trips
    clock.advance(1)
    probe, _ = b.acquire()
    b.record(old, Verdict.FAILURE)  # an old in-flight call reports late
    assert b.state is BreakerState.HALF_OPEN
    b.record(probe, Verdict.SUCCESS)
    assert b.state is BreakerState.CLOSED


def test_verdicts():
    C = ErrorCategory
    assert verdict_for(None, independent=True, count_unknown=True) is Verdict.SUCCESS
    assert verdict_for(C.CONTENT_POLICY, independent=False, count_unknown=True) is Verdict.SUCCESS
    assert verdict_for(C.TRANSIENT, independent=True, count_unknown=False) is Verdict.FAILURE
    assert verdict_for(C.TRANSIENT, independent=False, count_unknown=True) is Verdict.NEUTRAL
    assert verdict_for(C.UNKNOWN, independent=True, count_unknown=True) is Verdict.FAILURE
    assert verdict_for(C.UNKNOWN, independent=True, count_unknown=False) is Verdict.NEUTRAL
    assert (
        verdict_for(C.TRANSIENT, independent=True, count_unknown=True, rate_limited=True)
        is Verdict.NEUTRAL
    )
    for cat in (C.KEY_FATAL, C.MODEL, C.BAD_REQUEST):
        assert verdict_for(cat, independent=True, count_unknown=True) is Verdict.NEUTRAL


def test_default_breaker_survives_random_failures_and_still_catches_a_dead_provider():
    import random

    for p, seed in ((0.1, 1), (0.3, 2), (0.3, 3)):
        b, _ = make()
        rng = random.Random(seed)
        for _ in range(3000):  # ~2 000 requests' worth of calls at 30 % with retries
            (fail if rng.random() < p else ok)(b)
        assert b.state is BreakerState.CLOSED, p
    b, _ = make()
    for _ in range(10):
        fail(b)
    assert b.state is BreakerState.OPEN  # dead: ten calls
    b, _ = make()
    rng = random.Random(4)
    for _ in range(200):  # mostly failing (70 %): opens on the rate or a run
        permit, _ = b.acquire()
        if permit is None:
            break
        b.record(permit, Verdict.FAILURE if rng.random() < 0.7 else Verdict.SUCCESS)
    assert b.state is BreakerState.OPEN
