"""The request walk engine, driven directly: a fake clock, no actors, no threads."""

from __future__ import annotations

import random

import pytest

from adaptive_mind.chat import Attempt, ChatMessage, Completion, ErrorCategory, Usage
from adaptive_mind.clock import Deadline, FakeClock
from adaptive_mind.config import RequestConfig, RetryConfig
from adaptive_mind.core.flight import Flight
from adaptive_mind.core.request_walk import (
    Answer,
    CancelCurrent,
    Fact,
    RequestWalk,
    Rewrite,
    TryNext,
    WaitUntil,
)
from adaptive_mind.core.walk_actions import ExhaustedReason as R
from adaptive_mind.errors import (
    AllProvidersFailedError,
    BadRequestError,
    ContentPolicyError,
    DeadlineExceededError,
)
from adaptive_mind.messages import Complete, ProviderExhausted, ProviderSucceeded, RequestSpec
from adaptive_mind.messages.request import new_thread_reply

PROVIDERS = ("a", "b")


@pytest.fixture
def clock():
    return FakeClock()


def engine(clock, *, strategy=None, can_rewrite=False, down=(), **retry):
    cfg = RetryConfig(**retry)
    return RequestWalk(
        clock,
        RequestConfig(),
        {p: cfg for p in PROVIDERS},
        strategy=strategy,
        can_rewrite=can_rewrite,
        is_down=set(down).__contains__,
        rng=random.Random(7),
    )


def flight(clock, deadline_s=30.0, unsupported=None):
    spec = RequestSpec(
        request_id="req-1",
        messages=(ChatMessage(role="user", content="hi"),),
        providers=PROVIDERS,
        models={},
        deadline=Deadline.after(clock, deadline_s),
        started_at=clock.now(),
        unsupported=unsupported or {},
    )
    reply, _ = new_thread_reply()
    return Flight(Complete(spec, reply))


def only(steps, kind):
    return [s for s in steps if isinstance(s, kind)]


def ended(f, provider, reason, **kw):
    return ProviderExhausted("req-1", provider, reason, **kw)


def test_a_request_starts_on_the_first_provider(clock):
    f = flight(clock)
    assert engine(clock).begin(f) == [TryNext("a", frozenset(), 0, False, False, 0)]
    assert f.current == "a"


def test_unsupported_providers_are_in_the_trail_not_on_the_bus(clock):
    f = flight(clock, unsupported={"b": "does not support tools"})
    steps = engine(clock).begin(f)
    assert not only(steps, Fact)
    assert f.events[0]["reason"] == "unsupported"


def test_an_answer_builds_the_completion_with_every_attempt(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    clock.advance(0.5)
    attempt = Attempt(provider="a", model="m", key_id="k1", latency_ms=500.0)
    msg = ProviderSucceeded("req-1", "a", "hello", "m", "k1", Usage(), attempt)
    (answer,) = w.succeeded(f, msg)
    assert isinstance(answer.result, Completion)
    assert answer.result.text == "hello" and answer.result.latency_ms == pytest.approx(500.0)
    assert answer.result.attempts == (attempt,)


def test_a_failed_provider_fails_over_to_the_next_with_one_fact(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    steps = w.exhausted(f, ended(f, "a", R.NO_MODELS))
    assert steps == [
        Fact("provider.failover", {"from": "a", "to": "b", "reason": "no_models"}),
        TryNext("b", frozenset(), 0, False, False, 0),
    ]
    assert f.events[-1] == {
        "type": "provider.failover",
        "from": "a",
        "to": "b",
        "reason": "no_models",
    }


def test_an_answer_from_a_provider_no_longer_current_is_ignored(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    assert w.exhausted(f, ended(f, "b", R.NO_MODELS)) == []


def test_every_provider_failing_answers_all_providers_failed(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    w.exhausted(f, ended(f, "a", R.ATTEMPTS))
    (answer,) = only(w.exhausted(f, ended(f, "b", R.ATTEMPTS)), Answer)
    assert isinstance(answer.result, AllProvidersFailedError)


def test_a_bad_request_answers_at_once(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    steps = w.exhausted(f, ended(f, "a", R.BAD_REQUEST, detail="nope"))
    assert isinstance(steps[-1].result, BadRequestError)


def test_backoff_retries_the_same_provider_after_a_jittered_wait(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    steps = w.exhausted(f, ended(f, "a", R.BACKOFF, model_index=1))
    (wait,) = only(steps, WaitUntil)
    assert clock.now() <= wait.at < f.msg.request.deadline.at
    assert only(steps, Fact)[0].kind == "request.waiting"
    assert f.current is None
    assert w.wake(f, wait.at + 1) == []  # a stale wake-up
    assert w.wake(f, wait.at) == [TryNext("a", frozenset(), 0, True, False, 1)]


def test_a_backoff_past_the_deadline_moves_on(clock):
    f = flight(clock, deadline_s=0.0001)
    w = engine(clock)
    w.begin(f)
    steps = w.exhausted(f, ended(f, "a", R.BACKOFF))
    assert only(steps, TryNext)[0].provider == "b"


def test_a_short_rate_limit_window_is_waited_out_on_the_same_provider(clock):
    f = flight(clock)
    w = engine(clock, wait_for_rate_limit_s=2.0)
    w.begin(f)
    at = clock.now() + 1.5
    steps = w.exhausted(f, ended(f, "a", R.RATE_LIMITED, retry_at=at, cooling=True))
    assert only(steps, WaitUntil) == [WaitUntil(at)]
    assert w.wake(f, at) == [TryNext("a", frozenset(), 0, False, False, 0)]


def test_every_provider_rate_limited_waits_for_the_first_window_then_walks_again(clock):
    f = flight(clock)
    w = engine(clock, wait_for_rate_limit_s=0.0)
    w.begin(f)
    w.exhausted(f, ended(f, "a", R.RATE_LIMITED, retry_at=clock.now() + 3, cooling=True))
    steps = w.exhausted(f, ended(f, "b", R.RATE_LIMITED, retry_at=clock.now() + 2, cooling=True))
    (wait,) = only(steps, WaitUntil)
    assert wait.at == clock.now() + 2
    clock.advance(2)
    assert w.wake(f, wait.at) == [TryNext("a", frozenset(), 0, False, False, 0)]
    assert f.skipped == []  # a new pass


def test_open_circuits_everywhere_try_one_provider_anyway_once(clock):
    f = flight(clock)
    w = engine(clock, max_attempts=3)
    w.begin(f)
    w.exhausted(f, ended(f, "a", R.CIRCUIT_OPEN))
    steps = w.exhausted(f, ended(f, "b", R.CIRCUIT_OPEN))
    assert only(steps, TryNext) == [TryNext("a", frozenset(), 2, False, True, 0)]  # one call
    (answer,) = only(w.exhausted(f, ended(f, "a", R.ATTEMPTS)), Answer)
    assert isinstance(answer.result, AllProvidersFailedError)


def test_no_last_resort_on_a_provider_that_is_down(clock):
    f = flight(clock)
    w = engine(clock, down={"a", "b"})
    w.begin(f)
    w.exhausted(f, ended(f, "a", R.CIRCUIT_OPEN))
    steps = w.exhausted(f, ended(f, "b", R.CIRCUIT_OPEN))
    assert not only(steps, TryNext) and only(steps, Answer)


def test_rewrite_first_rewrites_a_refusal_then_walks_again_with_the_new_prompt(clock):
    f = flight(clock)
    w = engine(clock, strategy="rewrite_first", can_rewrite=True)
    w.begin(f)
    steps = w.exhausted(f, ended(f, "a", R.REFUSED, detail="no"))
    assert only(steps, Rewrite) == [Rewrite("no", 30.0)]
    new = (ChatMessage(role="user", content="hello"),)
    assert w.rewritten(f, new, None) == [TryNext("a", frozenset(), 0, False, False, 0)]
    assert f.request.messages == new and f.rewritten


def test_a_failed_rewrite_carries_on_with_the_original_prompt(clock):
    f = flight(clock)
    w = engine(clock, strategy="rewrite_first", can_rewrite=True)
    w.begin(f)
    w.exhausted(f, ended(f, "a", R.REFUSED, detail="no"))
    steps = w.rewritten(f, None, "timeout")
    assert steps[0] == Fact("mitigation.failed", {"reason": "timeout"}, "warning")
    assert only(steps, TryNext)[0].provider == "b"


def test_propagate_answers_the_refusal(clock):
    f = flight(clock)
    w = engine(clock, strategy="propagate")
    w.begin(f)
    (answer,) = w.exhausted(f, ended(f, "a", R.REFUSED, detail="no"))
    assert isinstance(answer.result, ContentPolicyError)


def test_failover_first_rewrites_only_when_every_provider_refused(clock):
    f = flight(clock)
    w = engine(clock, strategy="failover_first", can_rewrite=True)
    w.begin(f)
    f.record_attempt(
        Attempt(provider="a", model="m", key_id="k", category=ErrorCategory.CONTENT_POLICY),
        "no",
    )
    assert only(w.exhausted(f, ended(f, "a", R.REFUSED, detail="no")), TryNext)
    assert only(w.exhausted(f, ended(f, "b", R.NO_MODELS)), Rewrite) == [Rewrite("no", 30.0)]


def test_the_deadline_cancels_the_current_walk_and_answers(clock):
    f = flight(clock)
    w = engine(clock)
    w.begin(f)
    cancel, answer = w.deadline(f)
    assert cancel == CancelCurrent() and isinstance(answer.result, DeadlineExceededError)
    assert f.events[-1]["type"] == "request.deadline"
