"""Stateful property test: the breaker against a simple reference model, any sequence of
permits, outcomes and clock jumps."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adaptive_mind.clock import FakeClock
from adaptive_mind.config import BreakerConfig
from adaptive_mind.core.breaker import Breaker, BreakerState, Verdict

THRESHOLD, RESET, CAP, PROBES = 3, 10.0, 40.0, 2
WINDOW, MIN_CALLS, RATE = 6, 4, 0.5


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = FakeClock()
        cfg = BreakerConfig(
            failure_threshold=THRESHOLD,
            reset_timeout_s=RESET,
            max_reset_timeout_s=CAP,
            half_open_max_calls=PROBES,
            window_size=WINDOW,
            min_calls=MIN_CALLS,
            failure_rate_threshold=RATE,
        )
        self.breaker = Breaker(cfg, self.clock)
        # the reference model
        self.state = "closed"
        self.failures = 0
        self.open_until = 0.0
        self.timeout = RESET
        self.gen = 0
        self.probes_out = 0
        self.permits = []  # (permit, generation, probe) outstanding
        self.window = []  # the last WINDOW counted outcomes, True = failure

    def model_state(self):
        if self.state == "open" and self.clock.now() >= self.open_until:
            return "half_open"
        return self.state

    def _expire(self):
        if self.state == "open" and self.clock.now() >= self.open_until:
            self.state, self.probes_out = "half_open", 0

    def _trip(self):
        self.state, self.failures, self.probes_out = "open", 0, 0
        self.window = []
        self.gen += 1
        self.open_until = self.clock.now() + self.timeout

    @rule(seconds=st.sampled_from([0.0, 0.5, 5.0, 9.99, 10.0, 25.0, 100.0]))
    def advance(self, seconds):
        self.clock.advance(seconds)

    @rule()
    def acquire(self):
        self._expire()
        permit, _ = self.breaker.acquire()
        if self.state == "closed":
            assert permit is not None and not permit.probe
        elif self.state == "half_open" and self.probes_out < PROBES:
            assert permit is not None and permit.probe
            self.probes_out += 1
        else:
            assert permit is None, "a permit while open, or past the probe limit"
            return
        self.permits.append((permit, self.gen))

    @precondition(lambda self: self.permits)
    @rule(data=st.data(), verdict=st.sampled_from(list(Verdict)))
    def finish(self, data, verdict):
        i = data.draw(st.integers(0, len(self.permits) - 1))
        permit, gen = self.permits.pop(i)
        self._expire()
        self.breaker.record(permit, verdict)
        if gen != self.gen:
            return  # stale
        if permit.probe:
            self.probes_out = max(0, self.probes_out - 1)
            if self.state != "half_open":
                return
            if verdict is Verdict.SUCCESS:
                self.state, self.failures, self.timeout = "closed", 0, RESET
                self.window = []
            elif verdict is Verdict.FAILURE:
                self.timeout = min(self.timeout * 2, CAP)
                self._trip()
            return
        if self.state != "closed":
            return
        if verdict is Verdict.NEUTRAL:
            return
        failed = verdict is Verdict.FAILURE
        self.failures = self.failures + 1 if failed else 0
        self.window = [*self.window, failed][-WINDOW:]
        rate_trips = len(self.window) >= MIN_CALLS and sum(self.window) >= RATE * len(self.window)
        if failed and (self.failures >= THRESHOLD or rate_trips):
            self._trip()

    @invariant()
    def same_state(self):
        assert self.breaker.state is BreakerState(self.model_state())
        if self.model_state() == "closed":
            assert self.breaker.consecutive_failures == self.failures


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
