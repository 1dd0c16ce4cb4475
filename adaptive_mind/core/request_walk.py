"""The request's walk over providers as a sans-IO engine: failover, waits, mitigation, deadline.

:class:`RequestWalk` decides, for one request's :class:`~adaptive_mind.core.flight.Flight`, what
happens next when a provider ends its walk, a wait is over, a rewrite finishes or the deadline
passes, and returns the actions the Supervisor carries out. It owns the request's time: a provider
that has tried every key answers BACKOFF and is retried after a full-jitter wait; a request every
provider turned away for rate limits waits for the earliest window to end
(``request.max_cooldown_wait_s``); and when every provider was skipped for an open circuit, one is
tried anyway as the last resort (``retry.last_resort``), so a breaker never costs answers nobody
else could give. No threads, no I/O: tests drive it with a fake clock (``tests/core``).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Literal

from adaptive_mind.chat import ChatMessage, Completion
from adaptive_mind.clock import Clock
from adaptive_mind.config import RequestConfig, RetryConfig
from adaptive_mind.core.flight import Flight
from adaptive_mind.core.retry import full_jitter
from adaptive_mind.core.walk_actions import ExhaustedReason
from adaptive_mind.errors import AdaptiveMindError, ContentPolicyError, DeadlineExceededError
from adaptive_mind.messages.provider import SKIP_REASONS, ProviderExhausted, ProviderSucceeded
from adaptive_mind.records import record

Result = Completion | AdaptiveMindError
Strategy = Literal["rewrite_first", "failover_first", "propagate"]
Severity = Literal["info", "warning"]


@record
class Fact:
    """One resilience fact about the request, already in its audit trail (the ledger entry):
    publish it on the event bus as the same kind and fields."""

    kind: str
    fields: Mapping[str, object] = field(default_factory=dict)
    severity: Severity = "info"


@record
class TryNext:
    """Ask ``provider`` to walk its models and keys (a provider that is down or cannot be told
    answers :meth:`RequestWalk.exhausted` with DOWN)."""

    provider: str
    exclude: frozenset[str]
    attempts_before: int
    retry: bool
    force: bool
    start_model: int


@record
class WaitUntil:
    """Wake the request at ``at`` (clock time): call :meth:`RequestWalk.wake`."""

    at: float


@record
class Rewrite:
    """Rewrite the refused prompt once (the result comes to :meth:`RequestWalk.rewritten`)."""

    refusal: str
    remaining_s: float


@record
class CancelCurrent:
    """Stop the provider walk and the rewrite in progress, if any."""


@record
class Answer:
    """Answer the caller with ``result`` (exactly once) and write the ledger entry."""

    result: Result


Step = Fact | TryNext | WaitUntil | Rewrite | CancelCurrent | Answer


class RequestWalk:
    """The failover decisions for every request of one system (the state is in each Flight)."""

    def __init__(
        self,
        clock: Clock,
        request: RequestConfig,
        retry: Mapping[str, RetryConfig],
        *,
        strategy: Strategy | None = None,
        can_rewrite: bool = False,
        is_down: Callable[[str], bool] = lambda _name: False,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._cfg = request
        self._retry = retry
        self._strategy = strategy
        self._can_rewrite = can_rewrite
        self._is_down = is_down
        self._rng = rng or random.Random()

    # -- events ---------------------------------------------------------------------------

    def begin(self, flight: Flight) -> list[Step]:
        """A new request: note the providers that cannot serve it, then walk."""
        for name, why in flight.msg.request.unsupported.items():  # in the trail, not on the bus
            flight.note("provider.skipped", provider=name, reason="unsupported", detail=why)
        return self.advance(flight)

    def advance(self, flight: Flight, retry: bool = False) -> list[Step]:
        """Try the provider at ``flight.index``, or decide the request when none is left."""
        order = flight.msg.request.providers
        if flight.index >= len(order):
            return self._out_of_providers(flight)
        name = order[flight.index]
        flight.current = name
        forced = flight.forced == name
        return [
            TryNext(
                name,
                frozenset(flight.failed_keys.get(name, ())),
                # The last resort is one call: its provider's circuit is open for a reason.
                self._retry[name].max_attempts - 1 if forced else flight.pass_attempts.get(name, 0),
                retry,
                forced,
                flight.resume_model.pop(name, 0) if retry else 0,
            )
        ]

    def exhausted(self, flight: Flight, msg: ProviderExhausted) -> list[Step]:
        """The current provider could not answer."""
        if flight.current != msg.provider:
            return []
        if msg.reason is ExhaustedReason.BACKOFF:
            steps = self._backoff(flight, msg)
            if steps:
                return steps
        if msg.reason is ExhaustedReason.RATE_LIMITED:
            steps = self._wait_rate_limit(flight, msg)
            if steps:
                return steps
        flight.exhausted.append(msg)
        steps = self._skipped(flight, msg) if msg.reason in SKIP_REASONS else []
        if msg.reason is ExhaustedReason.BAD_REQUEST:
            return [*steps, Answer(flight.failure())]
        if msg.reason is ExhaustedReason.DEADLINE:
            return [*steps, *self.deadline(flight)]
        if msg.reason is ExhaustedReason.INTERRUPTED:  # a broken stream, policy ``error``
            return [*steps, Answer(flight.failure())]
        if msg.reason is ExhaustedReason.REFUSED:
            taken = self._on_refusal(flight, msg)
            if taken:
                return [*steps, *taken]
        order = flight.msg.request.providers
        if flight.forced == msg.provider:  # the last resort is spent too
            flight.forced = None
            flight.index = len(order)
            return [*steps, *self.advance(flight)]
        flight.index += 1
        if flight.index < len(order):
            fields = {"from": msg.provider, "to": order[flight.index], "reason": msg.reason.value}
            steps.append(self._fact(flight, "provider.failover", fields))
        return [*steps, *self.advance(flight)]

    def succeeded(self, flight: Flight, msg: ProviderSucceeded) -> list[Step]:
        """The current provider answered: the request's answer."""
        prev = flight.attempts[-1] if flight.attempts else None
        if prev is not None and prev.provider == msg.provider and prev.model != msg.attempt.model:
            flight.note(
                "model.failover",
                provider=msg.provider,
                to=msg.attempt.model,
                **{"from": prev.model},
            )
        flight.attempts.append(msg.attempt)
        req = flight.msg.request
        completion = Completion(
            request_id=req.request_id,
            text=msg.text,
            provider=msg.provider,
            model=msg.model,
            key_id=msg.key_id,
            latency_ms=(self._clock.now() - req.started_at) * 1000.0,
            usage=msg.usage,
            attempts=tuple(flight.attempts),
            mitigated=flight.rewritten,
            finish_reason=msg.finish_reason,
            upstream_finish_reason=msg.upstream_finish_reason,
            parsed=msg.parsed,
            tool_calls=msg.tool_calls,
        )
        return [Answer(completion)]

    def wake(self, flight: Flight, at: float) -> list[Step]:
        """A wait set by :class:`WaitUntil` is over (stale wake-ups are ignored)."""
        if flight.wake_at != at:
            return []
        retry = flight.wake_retry
        if retry is None:
            flight.start_pass()
            return self.advance(flight)
        flight.wake_at = flight.wake_retry = None
        return self.advance(flight, retry=retry)

    def rewritten(
        self, flight: Flight, messages: tuple[ChatMessage, ...] | None, error: str | None
    ) -> list[Step]:
        """The rewrite finished: walk again with the new prompt, or go on without it."""
        if error is not None or messages is None:
            reason = error or "no rewrite"
            steps: list[Step] = [
                self._fact(flight, "mitigation.failed", {"reason": reason}, "warning")
            ]
            if self._strategy == "failover_first":
                return [*steps, Answer(flight.failure())]
            flight.index += 1  # rewrite_first: carry on down the priority list, original prompt
            return [*steps, *self.advance(flight)]
        flight.active = dataclasses.replace(flight.msg.request, messages=messages)
        flight.start_pass()
        return self.advance(flight)

    def closing(self, flight: Flight, ok: bool) -> list[Step]:
        """The request is answered: say how a rewritten prompt did."""
        if not flight.rewritten:
            return []
        if ok:
            return [self._fact(flight, "mitigation.succeeded", {})]
        reason = {"reason": "the rewritten prompt failed too"}
        return [self._fact(flight, "mitigation.failed", reason, "warning")]

    def deadline(self, flight: Flight) -> list[Step]:
        """The request's deadline passed."""
        req = flight.msg.request
        err = DeadlineExceededError(
            f"deadline of {(req.deadline.at - req.started_at):.3g}s exceeded after "
            f"{len(flight.attempts)} attempt(s)",
            request_id=req.request_id,
            attempts=flight.attempts,
        )
        deadline_s = round(req.deadline.at - req.started_at, 3)
        flight.note("request.deadline", deadline_s=deadline_s)
        return [CancelCurrent(), Answer(err)]

    # -- decisions ------------------------------------------------------------------------

    def _fact(
        self, flight: Flight, kind: str, fields: Mapping[str, object], severity: Severity = "info"
    ) -> Fact:
        flight.note(kind, **fields)
        return Fact(kind, dict(fields), severity)

    def _skipped(self, flight: Flight, msg: ProviderExhausted) -> list[Step]:
        """Record the real reason a provider could not serve, and until when."""
        reason = msg.reason.value
        flight.skipped.append((msg.provider, reason))
        fields: dict[str, object] = {"provider": msg.provider, "reason": reason}
        if msg.retry_at is not None and msg.retry_at > self._clock.now():
            flight.until[msg.provider] = msg.retry_at
            fields["until"] = flight.wall(msg.retry_at).isoformat(timespec="milliseconds")
        return [self._fact(flight, "provider.skipped", fields)]

    def _backoff(self, flight: Flight, msg: ProviderExhausted) -> list[Step]:
        """Every key was tried: retry the same provider after a full-jitter wait, if the
        deadline allows (no steps: move on)."""
        n = flight.backoffs.get(msg.provider, 0) + 1
        flight.backoffs[msg.provider] = n
        flight.resume_model[msg.provider] = msg.model_index
        at = self._clock.now() + full_jitter(self._retry[msg.provider], n, self._rng)
        if at >= flight.msg.request.deadline.at:
            return []
        return self._sleep(flight, at, retry=True, reason="backoff", provider=msg.provider)

    def _wait_rate_limit(self, flight: Flight, msg: ProviderExhausted) -> list[Step]:
        """Wait out a short rate-limit window on this provider instead of falling over."""
        limit = self._retry[msg.provider].wait_for_rate_limit_s
        if limit <= 0 or msg.retry_at is None:
            return []
        if msg.retry_at - self._clock.now() > limit:
            return []
        if msg.retry_at >= flight.msg.request.deadline.at:
            return []
        return self._sleep(
            flight, msg.retry_at, retry=False, reason="rate_limited", provider=msg.provider
        )

    def _sleep(
        self, flight: Flight, at: float, *, retry: bool | None, reason: str, provider: str = ""
    ) -> list[Step]:
        """Wake ``flight`` at ``at``: re-try the current provider, or (retry None) a new pass."""
        wait = max(0.0, at - self._clock.now())
        flight.wake_at = at
        flight.wake_retry = retry
        flight.current = None
        fields: dict[str, object] = {"wait_s": round(wait, 3), "reason": reason}
        if provider:
            fields["provider"] = provider
        return [self._fact(flight, "request.waiting", fields), WaitUntil(at)]

    def _out_of_providers(self, flight: Flight) -> list[Step]:
        flight.current = None
        if self._strategy == "failover_first" and flight.refusals and self._may_rewrite(flight):
            steps = self._start_rewrite(flight, flight.refusals[-1][1])
            if steps:
                return steps
        steps = self._last_resort(flight)
        if steps:
            return steps
        now = self._clock.now()
        retry_at = flight.cooling_retry_at()
        if retry_at is not None:
            wait = max(0.0, retry_at - now)
            budget = self._cfg.max_cooldown_wait_s - flight.waited_s
            if wait <= budget and retry_at < flight.msg.request.deadline.at:
                flight.waited_s += wait
                return self._sleep(flight, retry_at, retry=None, reason="rate_limited")
        return [Answer(flight.failure())]

    def _last_resort(self, flight: Flight) -> list[Step]:
        """Every provider failed or was skipped: when one was skipped only for its open circuit,
        try it anyway once (Envoy's panic threshold, a level up)."""
        if flight.last_resort_used:
            return []
        for i, name in enumerate(flight.msg.request.providers):
            if not self._retry[name].last_resort or self._is_down(name):
                continue
            if any(
                e.provider == name and e.reason is ExhaustedReason.CIRCUIT_OPEN
                for e in flight.exhausted
            ):
                flight.last_resort_used = True
                flight.forced = name
                flight.index = i
                flight.note("provider.last_resort", provider=name)
                return self.advance(flight)
        return []

    def _may_rewrite(self, flight: Flight) -> bool:
        return (
            self._can_rewrite
            and flight.msg.request.allow_mitigation
            and not flight.mitigation_attempted
        )

    def _on_refusal(self, flight: Flight, msg: ProviderExhausted) -> list[Step]:
        """Apply the mitigation strategy to a refusal (no steps: fail over as usual)."""
        if self._strategy == "propagate" and flight.msg.request.allow_mitigation:
            error = ContentPolicyError(
                request_id=flight.request_id, attempts=flight.attempts, reasons=flight.refusals
            )
            return [Answer(error)]
        if self._strategy == "rewrite_first" and self._may_rewrite(flight):
            return self._start_rewrite(flight, msg.detail)
        return []

    def _start_rewrite(self, flight: Flight, refusal: str) -> list[Step]:
        remaining = flight.msg.request.deadline.remaining(self._clock)
        if remaining <= 0:
            return []
        flight.mitigation_attempted = True
        flight.current = None
        return [
            self._fact(flight, "mitigation.attempted", {"refusal": refusal}),
            Rewrite(refusal, remaining),
        ]
