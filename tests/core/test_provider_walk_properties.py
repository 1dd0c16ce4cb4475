"""Stateful property test of the provider walk engine: whatever the order of answers, failures,
cancels and clock jumps, every permit and lease handed to it is given back exactly once, every
walk ends exactly once (an answer, an end, or a cancel), and no walk exceeds its attempt cap."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Deadline, FakeClock
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.key_pool import Lease, Unavailable
from adaptive_mind.core.provider_walk import ProviderWalks, Stage
from adaptive_mind.core.walk_actions import (
    AskLease,
    AskPermit,
    CancelCall,
    Finished,
    GiveBack,
    RecordBreaker,
    ReportKey,
    StartCall,
    Succeeded,
)

MAX_ATTEMPTS = 4
RIDS = ("r1", "r2", "r3")


@dataclass(frozen=True)
class Fail:
    category: ErrorCategory
    status_code: int | None = None
    error: str = "x"
    retry_after_s: float | None = None
    local: bool = False
    invalid_output: bool = False
    timed_out: bool = False
    mid_stream: bool = False


FAILURES = st.sampled_from(
    [
        Fail(ErrorCategory.TRANSIENT, 503),
        Fail(ErrorCategory.TRANSIENT, 429, retry_after_s=1.0),
        Fail(ErrorCategory.TRANSIENT, None, timed_out=True),
        Fail(ErrorCategory.KEY_FATAL, 401),
        Fail(ErrorCategory.MODEL, 404),
        Fail(ErrorCategory.CONTENT_POLICY, 400),
        Fail(ErrorCategory.BAD_REQUEST, 400),
        Fail(ErrorCategory.UNKNOWN, local=True),
        Fail(ErrorCategory.UNKNOWN, invalid_output=True),
        Fail(ErrorCategory.UNKNOWN, 500),
    ]
)


class WalkMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.w: ProviderWalks[str] = ProviderWalks(self.clock, 5.0, MAX_ATTEMPTS)
        self.tokens = 0
        self.held: set[object] = set()  # permits and leases out with the engine
        self.asked_permit: set[str] = set()  # walks the breaker owes an answer
        self.asked_lease: dict[str, frozenset[str]] = {}
        self.calls: dict[str, StartCall[str]] = {}
        self.verdict_owed: set[str] = set()
        self.open: set[str] = set()  # walks started and not ended
        self.cancelled: set[str] = set()
        self.attempts: dict[str, int] = {}

    # -- applying actions ----------------------------------------------------------------

    def apply(self, actions) -> None:
        for a in actions:
            if isinstance(a, AskPermit):
                assert a.request_id not in self.asked_permit
                self.asked_permit.add(a.request_id)
            elif isinstance(a, AskLease):
                assert a.request_id not in self.asked_lease
                self.asked_lease[a.request_id] = a.exclude
            elif isinstance(a, StartCall):
                self.calls[a.request_id] = a
                self.attempts[a.request_id] = self.attempts.get(a.request_id, 0) + 1
                assert self.attempts[a.request_id] <= MAX_ATTEMPTS
            elif isinstance(a, CancelCall):
                assert a.request_id in self.calls
            elif isinstance(a, GiveBack):
                for thing in (a.lease, a.permit):
                    if thing is not None:
                        self.held.remove(thing)  # given back once: KeyError otherwise
            elif isinstance(a, ReportKey):
                self.held.remove(a.lease)
                if a.wants_verdict:
                    self.verdict_owed.add(a.request_id)
            elif isinstance(a, RecordBreaker):
                self.held.remove(a.permit)
            elif isinstance(a, (Succeeded, Finished)):
                self.open.remove(a.request_id)  # ends once
                assert a.request_id not in self.cancelled

    def token(self, kind):
        self.tokens += 1
        thing = (
            Permit(probe=False, generation=self.tokens)
            if kind == "permit"
            else Lease(f"k{self.tokens % 3}", self.tokens)
        )
        self.held.add(thing)
        return thing

    # -- rules ---------------------------------------------------------------------------

    @rule(rid=st.sampled_from(RIDS), models=st.integers(1, 3), deadline=st.floats(0.5, 30))
    def start(self, rid, models, deadline):
        if rid in self.open or rid in self.cancelled_and_busy():
            return
        self.open.add(rid)
        self.cancelled.discard(rid)
        self.attempts[rid] = 0
        self.apply(
            self.w.start(
                rid,
                rid,
                Deadline.after(self.clock, deadline),
                tuple(f"m{i}" for i in range(models)),
            )
        )

    def cancelled_and_busy(self):
        return {r for r in self.cancelled if self.w.stage(r) is not None}

    @precondition(lambda self: self.asked_permit)
    @rule(data=st.data(), grant=st.booleans(), spent=st.booleans())
    def answer_permit(self, data, grant, spent):
        rid = data.draw(st.sampled_from(sorted(self.asked_permit)))
        self.asked_permit.discard(rid)
        if grant:
            self.apply(self.w.permit_granted(rid, self.token("permit")))
        else:
            self.apply(self.w.permit_denied(rid, spent, None))

    @precondition(lambda self: self.asked_lease)
    @rule(data=st.data(), lease=st.booleans(), why=st.sampled_from(list(Unavailable)))
    def answer_lease(self, data, lease, why):
        rid = data.draw(st.sampled_from(sorted(self.asked_lease)))
        del self.asked_lease[rid]
        if lease:
            self.apply(self.w.key_leased(rid, self.token("lease")))
        else:
            self.apply(self.w.no_key(rid, why, None))

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), ok=st.booleans(), failure=FAILURES, took=st.floats(0, 6))
    def finish_call(self, data, ok, failure, took):
        rid = data.draw(st.sampled_from(sorted(self.calls)))
        started = self.calls.pop(rid)
        self.clock.advance(took)
        self.apply(
            self.w.call_done(
                rid, started.call_id, started.lease, started.permit, None if ok else failure
            )
        )

    @precondition(lambda self: self.verdict_owed)
    @rule(data=st.data(), independent=st.booleans())
    def verdict(self, data, independent):
        rid = data.draw(st.sampled_from(sorted(self.verdict_owed)))
        self.verdict_owed.discard(rid)
        self.apply(self.w.verdict(rid, independent))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def cancel(self, data):
        rid = data.draw(st.sampled_from(sorted(self.open)))
        self.open.discard(rid)
        self.cancelled.add(rid)
        self.apply(self.w.cancel(rid))

    @rule(seconds=st.floats(0, 10))
    def time_passes(self, seconds):
        self.clock.advance(seconds)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def a_walk_the_engine_knows_is_open_or_cancelled_and_busy(self):
        for rid in RIDS:
            if self.w.stage(rid) is not None:
                assert rid in self.open or rid in self.cancelled

    @invariant()
    def a_walk_waits_for_something(self):
        for rid in self.open:
            stage = self.w.stage(rid)
            assert stage is not None, f"{rid} is open but the engine forgot it"
            if stage is Stage.CALL:
                assert rid in self.calls
            elif stage is Stage.VERDICT:
                assert rid in self.verdict_owed
            else:
                assert rid in self.asked_permit or rid in self.asked_lease

    def teardown(self) -> None:
        # Answer everything outstanding: afterwards nothing is held and every walk ended.
        for _ in range(200):
            if self.calls:
                rid, started = self.calls.popitem()
                self.apply(
                    self.w.call_done(rid, started.call_id, started.lease, started.permit, None)
                )
            elif self.verdict_owed:
                self.apply(self.w.verdict(self.verdict_owed.pop(), True))
            elif self.asked_permit:
                self.apply(self.w.permit_denied(self.asked_permit.pop(), False, None))
            elif self.asked_lease:
                self.apply(self.w.no_key(self.asked_lease.popitem()[0], Unavailable.TRIED, None))
            else:
                break
        assert not self.held, f"never given back: {self.held}"
        assert not self.open, f"never ended: {self.open}"
        assert len(self.w) == 0


TestProviderWalk = WalkMachine.TestCase
TestProviderWalk.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
