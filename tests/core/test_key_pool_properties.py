"""Stateful property test: the key pool never leases a rate-limited or disabled key (panic
included), never violates a Retry-After, never ejects more than half of the keys, never gives a
key on probation two leases, and keeps exact in-flight counts — whatever happens. Key k1 has
budgets (rpm 2, tpm 1000): it is leased exactly when a reference sliding window says it fits."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_pool import KeyPool, KeyState, Lease, NoKey

KEYS = ("k1", "k2", "k3")
OUTCOMES = [None, *list(ErrorCategory)]
RPM, TPM = 2, 1000


class KeyPoolMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = FakeClock()
        cfg = KeyPoolConfig(
            cooldown_s=5,
            max_cooldown_s=20,
            disabled_s=60,
            failure_window_s=30,
            outlier_consecutive_failures=2,
            ejection_s=3,
        )
        self.pool = KeyPool(KEYS, cfg, self.clock, ((RPM, TPM),))
        self.charges: dict[int, list[float]] = {}
        """The reference budget of k1: ticket -> [leased at, tokens charged]."""
        self.leases: list[Lease] = []
        self.window_end = dict.fromkeys(KEYS, 0.0)
        """The reference model: the latest Retry-After window each key gave."""

    def states(self):
        return {s.key_id: s.state for s in self.pool.status()}

    @rule(seconds=st.sampled_from([0.0, 1.0, 5.0, 20.0, 61.0]))
    def advance(self, seconds):
        self.clock.advance(seconds)

    def k1_fits(self, tokens):
        """The reference sliding window: k1 has room for one request of ``tokens``."""
        recent = [c for c in self.charges.values() if c[0] > self.clock.now() - 60]
        used = sum(c[1] for c in recent)
        return len(recent) < RPM and (used == 0 or used + tokens <= TPM)

    @rule(
        exclude=st.frozensets(st.sampled_from(KEYS), max_size=3),
        prefer=st.none() | st.sampled_from(KEYS),
        tokens=st.sampled_from([0, 100, 400, 2000]),
    )
    def lease(self, exclude, prefer, tokens):
        before = self.states()
        busy = {lease.key_id for lease in self.leases}
        fits = self.k1_fits(tokens)
        got = self.pool.lease(exclude, prefer, tokens)
        if isinstance(got, Lease) and got.key_id == "k1":
            assert fits, "k1 leased beyond its budget"
            self.charges[got.ticket] = [self.clock.now(), tokens]
        if isinstance(got, Lease):
            assert got.key_id not in exclude
            assert before[got.key_id] not in (KeyState.RATE_LIMITED, KeyState.DISABLED)
            assert self.clock.now() >= self.window_end[got.key_id], "Retry-After violated"
            if got.panic:
                assert before[got.key_id] is KeyState.EJECTED
                healthy = (KeyState.AVAILABLE, KeyState.WARMING, KeyState.PROBATION)
                assert not any(
                    before[k] in healthy
                    and k not in exclude
                    and not (before[k] is KeyState.PROBATION and k in busy)
                    for k in KEYS
                ), "panic while a healthy key was leasable"
            else:
                assert before[got.key_id] is not KeyState.EJECTED
            if before[got.key_id] is KeyState.PROBATION:
                assert got.key_id not in busy, "two leases on a key under probation"
            self.leases.append(got)
        else:
            assert isinstance(got, NoKey)
            for k in KEYS:
                if k in exclude or (k == "k1" and not fits):
                    continue
                assert before[k] in (KeyState.RATE_LIMITED, KeyState.DISABLED) or (
                    before[k] is KeyState.PROBATION and k in busy
                ), f"{k} was leasable but NoKey was returned"

    @precondition(lambda self: self.leases)
    @rule(
        data=st.data(),
        outcome=st.sampled_from(OUTCOMES),
        retry_after=st.none() | st.sampled_from([0.5, 3.0, 50.0]),
        rate_limited=st.booleans(),
    )
    def report(self, data, outcome, retry_after, rate_limited):
        lease = self.leases.pop(data.draw(st.integers(0, len(self.leases) - 1)))
        self.pool.report(lease, outcome, retry_after, rate_limited=rate_limited)
        if lease.ticket in self.charges and outcome not in (None, ErrorCategory.CONTENT_POLICY):
            self.charges[lease.ticket][1] = 0  # a failure is billed no tokens
        state = self.states()[lease.key_id]
        if outcome is ErrorCategory.KEY_FATAL:
            assert state is KeyState.DISABLED
        elif outcome is ErrorCategory.TRANSIENT and rate_limited:
            if retry_after is not None:
                end = self.clock.now() + retry_after
                self.window_end[lease.key_id] = max(self.window_end[lease.key_id], end)
            if state is not KeyState.DISABLED:
                assert state is KeyState.RATE_LIMITED

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def release(self, data):
        self.pool.release(self.leases.pop(data.draw(st.integers(0, len(self.leases) - 1))))

    @invariant()
    def at_most_half_of_the_keys_are_ejected(self):
        assert list(self.states().values()).count(KeyState.EJECTED) <= len(KEYS) // 2

    @invariant()
    def in_flight_matches_outstanding_leases(self):
        counts = {s.key_id: s.in_flight for s in self.pool.status()}
        for k in KEYS:
            assert counts[k] == sum(1 for lease in self.leases if lease.key_id == k)


TestKeyPoolMachine = KeyPoolMachine.TestCase
TestKeyPoolMachine.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
