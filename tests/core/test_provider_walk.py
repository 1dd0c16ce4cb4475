"""The provider walk engine, driven directly: events in, actions out, a fake clock, no threads."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Deadline, FakeClock
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.key_pool import Lease, Unavailable
from adaptive_mind.core.provider_walk import ProviderWalks, Stage
from adaptive_mind.core.walk_actions import (
    AskLease,
    AskPermit,
    AttemptFailed,
    CancelCall,
    ExhaustedReason,
    Finished,
    GiveBack,
    ModelFailover,
    RecordBreaker,
    ReportKey,
    StartCall,
    Succeeded,
)

RID = "req-1"


@dataclass(frozen=True)
class Fail:
    """A failed call as the walk sees it (``CallFailure`` has the same fields)."""

    category: ErrorCategory
    status_code: int | None = None
    error: str = "boom"
    retry_after_s: float | None = None
    local: bool = False
    invalid_output: bool = False
    timed_out: bool = False
    mid_stream: bool = False


SERVER = Fail(ErrorCategory.TRANSIENT, 503)
RATE = Fail(ErrorCategory.TRANSIENT, 429, retry_after_s=2.0)
KEY = Fail(ErrorCategory.KEY_FATAL, 401)
MODEL = Fail(ErrorCategory.MODEL, 404, error="no such model")
REFUSED = Fail(ErrorCategory.CONTENT_POLICY, 400, error="refused")
BAD = Fail(ErrorCategory.BAD_REQUEST, 400)
LOCAL = Fail(ErrorCategory.UNKNOWN, local=True)
PERMIT = Permit(probe=False, generation=0)


def lease(key: str) -> Lease:
    return Lease(key, 0)


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


@pytest.fixture
def clock():
    return FakeClock()


def walks(clock, *, timeout_s=10.0, max_attempts=5):
    return ProviderWalks(clock, timeout_s, max_attempts)


def start(w, clock, models=("m1",), deadline_s=30.0, **kw):
    return w.start(RID, "ctx", Deadline.after(clock, deadline_s), models, **kw)


def call(w, key="k1", permit=PERMIT):
    """Answer the permit and the lease: the engine starts a call."""
    w.permit_granted(RID, permit)
    (started,) = of(w.key_leased(RID, lease(key)), StartCall)
    return started


def test_a_walk_asks_the_breaker_and_the_key_pool_at_once_then_calls(clock):
    w = walks(clock)
    assert start(w, clock) == [AskPermit(RID, False, False), AskLease(RID, frozenset(), None)]
    assert w.permit_granted(RID, PERMIT) == []  # waits for the lease
    (started,) = w.key_leased(RID, lease("k1"))
    assert isinstance(started, StartCall)
    assert (started.model, started.key_id, started.timeout_s) == ("m1", "k1", 10.0)
    assert w.stage(RID) is Stage.CALL


def test_an_answer_reports_success_to_both_and_ends_the_walk(clock):
    w = walks(clock)
    start(w, clock)
    started = call(w)
    clock.advance(0.25)
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, None)
    assert [type(a) for a in actions] == [ReportKey, RecordBreaker, Succeeded]
    assert actions[0].category is None and actions[1].category is None
    assert actions[2].latency_ms == pytest.approx(250.0)
    assert len(w) == 0


def test_a_server_failure_waits_for_the_pool_verdict_then_retries_another_key(clock):
    w = walks(clock)
    start(w, clock)
    started = call(w, "k1")
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, SERVER)
    assert [type(a) for a in actions] == [AttemptFailed, ReportKey]
    assert actions[1].wants_verdict
    assert w.stage(RID) is Stage.VERDICT
    actions = w.verdict(RID, independent=True)
    assert isinstance(actions[0], RecordBreaker) and actions[0].notify
    # a retry (needs retry budget), on a key other than k1 first
    assert actions[1:] == [AskPermit(RID, True, False), AskLease(RID, frozenset({"k1"}), None)]


def test_a_rate_limit_excludes_the_key_and_is_no_retry(clock):
    w = walks(clock)
    start(w, clock)
    started = call(w, "k1")
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, RATE)
    report = of(actions, ReportKey)[0]
    assert report.rate_limited and not report.wants_verdict and report.retry_after_s == 2.0
    assert of(actions, RecordBreaker)[0].rate_limited
    assert of(actions, AskPermit) == [AskPermit(RID, False, False)]
    assert of(actions, AskLease) == [AskLease(RID, frozenset({"k1"}), None)]


def test_a_model_error_moves_to_the_next_model_on_the_same_key(clock):
    w = walks(clock)
    start(w, clock, models=("m1", "m2"))
    started = call(w, "k1")
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, MODEL)
    assert of(actions, ModelFailover) == [ModelFailover(RID, "m1", "m2", "no such model")]
    assert of(actions, AskLease) == [AskLease(RID, frozenset(), "k1")]
    assert call(w, "k1").model == "m2"


def test_the_last_model_failing_ends_with_no_models(clock):
    w = walks(clock)
    start(w, clock, models=("m1",))
    started = call(w)
    (end,) = of(w.call_done(RID, started.call_id, started.lease, started.permit, MODEL), Finished)
    assert end.reason is ExhaustedReason.NO_MODELS and end.detail == "no such model"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (REFUSED, ExhaustedReason.REFUSED),
        (BAD, ExhaustedReason.BAD_REQUEST),
        (LOCAL, ExhaustedReason.LOCAL_ERROR),
        (Fail(ErrorCategory.UNKNOWN, invalid_output=True), ExhaustedReason.INVALID_OUTPUT),
    ],
)
def test_failures_that_another_key_would_repeat_end_the_walk(clock, failure, reason):
    w = walks(clock)
    start(w, clock)
    started = call(w)
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, failure)
    assert of(actions, Finished)[0].reason is reason
    assert not of(actions, AskPermit)


def test_neutral_failures_give_back_without_a_verdict(clock):
    w = walks(clock)
    start(w, clock)
    started = call(w)
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, LOCAL)
    assert of(actions, GiveBack) == [GiveBack(started.lease, started.permit, False)]
    assert not of(actions, ReportKey) and not of(actions, RecordBreaker)


def test_a_denied_permit_gives_the_lease_back_and_says_when(clock):
    w = walks(clock)
    start(w, clock)
    assert w.key_leased(RID, lease("k1")) == []
    actions = w.permit_denied(RID, budget_spent=False, retry_at=1005.0)
    assert actions[0] == GiveBack(lease("k1"), None, False)
    assert actions[1].reason is ExhaustedReason.CIRCUIT_OPEN and actions[1].retry_at == 1005.0


def test_after_a_denial_permits_are_asked_before_leases(clock):
    w = walks(clock)
    start(w, clock)
    w.no_key(RID, Unavailable.TRIED, None)
    w.permit_denied(RID, budget_spent=True, retry_at=None)
    actions = w.start("req-2", "ctx", Deadline.after(clock, 30), ("m1",))
    assert actions == [AskPermit("req-2", False, False)]  # careful: no lease yet
    assert w.permit_granted("req-2", Permit(probe=True, generation=1)) == [
        AskLease("req-2", frozenset(), None)
    ]


@pytest.mark.parametrize(
    ("unavailable", "reason", "cooling"),
    [
        (Unavailable.RATE_LIMITED, ExhaustedReason.RATE_LIMITED, True),
        (Unavailable.KEYS_DISABLED, ExhaustedReason.KEYS_DISABLED, False),
        (Unavailable.PROBING, ExhaustedReason.PROBING, False),
        (Unavailable.TRIED, ExhaustedReason.BACKOFF, False),
    ],
)
def test_no_key_ends_the_walk_with_the_pools_reason(clock, unavailable, reason, cooling):
    w = walks(clock)
    start(w, clock)
    w.permit_granted(RID, PERMIT)
    actions = w.no_key(RID, unavailable, 1003.0)
    assert actions[0] == GiveBack(None, PERMIT, False)
    assert (actions[1].reason, actions[1].cooling, actions[1].retry_at) == (reason, cooling, 1003.0)


def test_the_attempt_cap_ends_the_walk(clock):
    w = walks(clock, max_attempts=2)
    start(w, clock, attempts_before=1)
    started = call(w)
    w.call_done(RID, started.call_id, started.lease, started.permit, KEY)
    assert len(w) == 0  # the second call would be the third: ATTEMPTS


def test_a_call_cut_by_the_deadline_is_not_a_failure(clock):
    w = walks(clock, timeout_s=10.0)
    start(w, clock, deadline_s=2.0)
    started = call(w)
    assert started.timeout_s == 2.0
    clock.advance(2.0)
    timed_out = Fail(ErrorCategory.TRANSIENT, timed_out=True)
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, timed_out)
    assert actions[0] == GiveBack(started.lease, started.permit)
    assert actions[1].reason is ExhaustedReason.DEADLINE
    assert not of(actions, AttemptFailed)


def test_a_timeout_before_the_deadline_is_a_failure(clock):
    w = walks(clock, timeout_s=10.0)
    start(w, clock, deadline_s=20.0)
    started = call(w)
    clock.advance(10.0)
    timed_out = Fail(ErrorCategory.TRANSIENT, timed_out=True)
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, timed_out)
    assert of(actions, AttemptFailed)


def test_an_expired_deadline_ends_before_asking(clock):
    w = walks(clock)
    (end,) = start(w, clock, deadline_s=0.0)
    assert end.reason is ExhaustedReason.DEADLINE


def test_cancel_during_a_call_cancels_it_and_its_end_gives_back(clock):
    w = walks(clock)
    start(w, clock)
    started = call(w)
    assert w.cancel(RID) == [CancelCall(RID)]
    actions = w.call_done(RID, started.call_id, started.lease, started.permit, None, cancelled=True)
    assert actions == [GiveBack(started.lease, started.permit)]
    assert len(w) == 0


def test_cancel_while_acquiring_gives_back_when_the_answers_arrive(clock):
    w = walks(clock)
    start(w, clock)
    assert w.cancel(RID) == []
    assert w.permit_granted(RID, PERMIT) == []
    assert w.key_leased(RID, lease("k1")) == [GiveBack(lease("k1"), PERMIT, False)]
    assert len(w) == 0 and w.walking() == []


def test_the_end_of_a_call_the_engine_does_not_know_gives_back(clock):
    """After a restart the new engine gets the end of the old owner's call."""
    w = walks(clock)
    assert w.call_done(RID, 7, lease("k1"), PERMIT, None) == [GiveBack(lease("k1"), PERMIT)]


def test_a_stale_call_id_gives_back_and_leaves_the_walk_alone(clock):
    w = walks(clock)
    start(w, clock)
    started = call(w)
    actions = w.call_done(RID, started.call_id + 1, lease("k9"), PERMIT, None)
    assert actions == [GiveBack(lease("k9"), PERMIT)]
    assert w.stage(RID) is Stage.CALL
