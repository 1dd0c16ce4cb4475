"""ProviderActor: walks one provider's models and keys for a request, without ever blocking.

For each attempt it asks its breaker for a permit, its key pool for a lease, starts the call on
the I/O loop and returns; the result comes back as a message. Walk order: Key 1 Model 1, Key 2
Model 1, …, then Model 2. MODEL errors move to the next model without blaming the key; a rate
limit or a fatal key error moves to the next key; a server-side failure (5xx, timeout, dropped
connection, UNKNOWN) is retried on a key this walk has not tried, under the retry budget; when
every leasable key has been tried the walk ends with BACKOFF and the Supervisor retries the
provider after a jittered wait. ``retry.max_attempts`` calls per request end the walk;
BAD_REQUEST and refusals end it at once. The actor keeps no breaker or key state: it only
remembers where each request's walk stands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pykka

from adaptive_mind.actors.base import LoopBaseActor, Wiring
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.chat import Attempt, ErrorCategory, RequestParams
from adaptive_mind.clock import Clock
from adaptive_mind.config import RetryConfig
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.capabilities import params_for
from adaptive_mind.core.key_pool import Lease, Unavailable
from adaptive_mind.messages import (
    AcquirePermit,
    AttemptFailed,
    CancelRequest,
    ExhaustedReason,
    KeyLeased,
    KeyOutcomeRecorded,
    LeaseKey,
    NoKeyAvailable,
    PermitDenied,
    PermitGranted,
    ProviderExhausted,
    ProviderSucceeded,
    RecordOutcome,
    ReleaseKey,
    ReleasePermit,
    ReportKeyOutcome,
    RequestSpec,
    TryProvider,
)
from adaptive_mind.messages.address import Address
from adaptive_mind.providers.base import (
    CallFailure,
    CallRequest,
    CallResult,
    ProviderAdapter,
    dropped_params,
    run_guarded,
    translated_params,
)
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, EventSink, Severity

_SERVER_SIDE = (ErrorCategory.TRANSIENT, ErrorCategory.UNKNOWN)
_DEADLINE_SLACK_S = 0.01
"""A call cut by its timeout this close to the deadline was cut by the deadline."""
_NO_KEY = {
    Unavailable.RATE_LIMITED: ExhaustedReason.RATE_LIMITED,
    Unavailable.KEYS_DISABLED: ExhaustedReason.KEYS_DISABLED,
    Unavailable.PROBING: ExhaustedReason.PROBING,
    Unavailable.TRIED: ExhaustedReason.BACKOFF,
}


def is_rate_limit(failure: CallFailure) -> bool:
    """A rate limit (429 / RESOURCE_EXHAUSTED / rate_limit_error) is about the key."""
    return failure.category is ErrorCategory.TRANSIENT and failure.status_code == 429


def is_local(failure: CallFailure) -> bool:
    """Failed here before anything was sent: no verdict for the key pool or the breaker."""
    return failure.local


def is_neutral(failure: CallFailure) -> bool:
    """No verdict for the key pool or the breaker: a local failure, or an answer that is not
    the JSON asked for (the key and the servers worked; the model's output did not)."""
    return failure.local or failure.invalid_output


class _Stage(Enum):
    ACQUIRE = 1  # waiting for the breaker's permit and the key pool's lease (asked together)
    CALL = 3  # the call is running on the I/O loop
    VERDICT = 4  # waiting for the key pool to say whether a failure was independent


CallFuture = concurrent.futures.Future[CallResult] | asyncio.Future[CallResult]
"""A running upstream call: a task on the I/O loop (or a thread-safe future off it)."""


@dataclass(frozen=True, slots=True)
class _CallDone:
    """Internal: a call started for ``request_id`` finished (or was cancelled)."""

    request_id: str
    future: CallFuture
    lease: Lease
    permit: Permit


@dataclass(slots=True)
class _Walk:
    msg: TryProvider
    models: tuple[str, ...]
    exclude: set[str]
    """Keys out of this walk for good: fatal errors and rate limits."""
    attempts: int = 0
    """Calls this request has made on this provider in this pass."""
    retry: bool = False
    """The next call is a retry after a server-side failure (needs retry budget)."""
    tried: set[str] = dataclasses.field(default_factory=set)
    """Keys that failed server-side in this walk: other keys go first, then a backoff."""
    model_i: int = 0
    stage: _Stage = _Stage.ACQUIRE
    permit: Permit | None = None
    lease: Lease | None = None
    denied: PermitDenied | None = None
    lease_asked: bool = True
    no_key: NoKeyAvailable | None = None
    call: CallFuture | None = None
    started: float = 0.0
    cut_by_deadline: bool = False
    cancelled: bool = False
    prefer: str | None = None
    failure: CallFailure | None = None


class ProviderActor(LoopBaseActor):
    """One provider: the adapter, its models, and the Model -> Key walk of each request."""

    def __init__(
        self,
        provider: str,
        adapter: ProviderAdapter,
        models: tuple[str, ...],
        timeout_s: float,
        retry: RetryConfig,
        breaker: Address,
        key_pool: Address,
        io: IoLoop,
        clock: Clock,
        events: EventSink,
        wiring: Wiring | None = None,
        capabilities_of: Callable[[str], frozenset[str]] | None = None,
    ) -> None:
        super().__init__(provider, wiring)
        self._capabilities_of = capabilities_of
        self._provider = provider
        self._adapter = adapter
        self._models = models
        self._timeout_s = timeout_s
        self._max_attempts = retry.max_attempts
        self._breaker = breaker
        self._key_pool = key_pool
        self._io = io
        self._clock = clock
        self._events = events
        self._walks: dict[str, _Walk] = {}
        self._careful = False
        """True while the breaker is not known to be closed: permits are asked before leases."""

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            TryProvider: self._try,
            PermitGranted: self._permit_granted,
            PermitDenied: self._permit_denied,
            KeyLeased: self._key_leased,
            NoKeyAvailable: self._no_key,
            _CallDone: self._call_done,
            KeyOutcomeRecorded: self._key_outcome_recorded,
            CancelRequest: self._cancel,
        }

    @property
    def in_flight(self) -> int:
        return len(self._walks)

    # -- the walk -------------------------------------------------------------------------

    def _try(self, msg: TryProvider) -> None:
        rid = msg.request.request_id
        models = msg.request.models.get(self._provider, self._models)
        walk = _Walk(msg, models, set(msg.exclude_keys), msg.attempts_before, msg.retry)
        walk.model_i = min(msg.start_model, len(models) - 1)
        self._walks[rid] = walk
        self._next_attempt(rid, walk)

    def _next_attempt(self, rid: str, walk: _Walk) -> None:
        """Ask the breaker and the key pool at once; the call starts when both have answered."""
        if walk.msg.request.deadline.expired(self._clock):
            self._finish(rid, walk, ExhaustedReason.DEADLINE)
            return
        if walk.attempts >= self._max_attempts:
            self._finish(rid, walk, ExhaustedReason.ATTEMPTS)
            return
        walk.stage = _Stage.ACQUIRE
        walk.permit = walk.lease = None
        walk.denied = None
        walk.no_key = None
        self.tell_safely(
            self._breaker,
            AcquirePermit(rid, self.address, retry=walk.retry, force=walk.msg.force),
        )
        # While the breaker is not known closed, ask for the permit first: with one probe permit
        # and one probation lease, asking both at once lets two walks each hold half forever.
        walk.lease_asked = not self._careful
        if walk.lease_asked:
            self._ask_lease(rid, walk)

    def _ask_lease(self, rid: str, walk: _Walk) -> None:
        walk.lease_asked = True
        self.tell_safely(
            self._key_pool,
            LeaseKey(rid, frozenset(walk.exclude | walk.tried), self.address, walk.prefer),
        )

    def _acquiring(self, rid: str) -> _Walk | None:
        walk = self._walks.get(rid)
        return walk if walk is not None and walk.stage is _Stage.ACQUIRE else None

    def _permit_granted(self, msg: PermitGranted) -> None:
        walk = self._acquiring(msg.request_id)
        if walk is None:  # cannot happen: a walk leaves ACQUIRE only once both answered
            self.tell_safely(self._breaker, ReleasePermit(msg.permit))
            return
        walk.permit = msg.permit
        self._careful = msg.permit.probe
        if not walk.lease_asked and not walk.cancelled:
            self._ask_lease(msg.request_id, walk)
            return
        self._acquired(msg.request_id, walk)

    def _permit_denied(self, msg: PermitDenied) -> None:
        walk = self._acquiring(msg.request_id)
        if walk is not None:
            walk.denied = msg
            self._careful = True
            self._acquired(msg.request_id, walk)

    def _key_leased(self, msg: KeyLeased) -> None:
        walk = self._acquiring(msg.request_id)
        if walk is None:
            self.tell_safely(self._key_pool, ReleaseKey(msg.lease))
            return
        walk.lease = msg.lease
        self._acquired(msg.request_id, walk)

    def _no_key(self, msg: NoKeyAvailable) -> None:
        walk = self._acquiring(msg.request_id)
        if walk is not None:
            walk.no_key = msg
            self._acquired(msg.request_id, walk)

    def _acquired(self, rid: str, walk: _Walk) -> None:
        """Both answers are in (or not yet): start the call, or end the walk and give back."""
        if (walk.permit is None and walk.denied is None) or (
            walk.lease_asked and walk.lease is None and walk.no_key is None
        ):
            return
        if walk.cancelled or walk.denied is not None or walk.no_key is not None:
            if walk.lease is not None:
                self.tell_safely(self._key_pool, ReleaseKey(walk.lease))
            if walk.permit is not None:
                self.tell_safely(self._breaker, ReleasePermit(walk.permit, retry=walk.retry))
            if walk.cancelled:
                self._walks.pop(rid, None)
            elif walk.denied is not None:
                if walk.denied.budget_spent:
                    self._finish(rid, walk, ExhaustedReason.RETRY_BUDGET)
                else:
                    self._finish(
                        rid, walk, ExhaustedReason.CIRCUIT_OPEN, retry_at=walk.denied.retry_at
                    )
            elif walk.no_key is not None:
                reason = _NO_KEY[walk.no_key.reason]
                self._finish(
                    rid,
                    walk,
                    reason,
                    retry_at=walk.no_key.next_free_at,
                    cooling=reason is ExhaustedReason.RATE_LIMITED,
                )
            return
        assert walk.lease is not None and walk.permit is not None
        self._start_call(rid, walk, walk.lease, walk.permit)

    def _start_call(self, rid: str, walk: _Walk, lease: Lease, permit: Permit) -> None:
        remaining = walk.msg.request.deadline.remaining(self._clock)
        if remaining <= 0:
            self._release(lease, permit)
            self._finish(rid, walk, ExhaustedReason.DEADLINE)
            return
        walk.stage = _Stage.CALL
        walk.attempts += 1
        walk.cut_by_deadline = remaining < self._timeout_s
        model = walk.models[walk.model_i]
        call = CallRequest(
            messages=walk.msg.request.messages,
            model=model,
            key_id=lease.key_id,
            timeout_s=min(self._timeout_s, remaining),
            params=self._params_for(walk.msg.request.params, model),
        )
        walk.started = self._clock.now()
        fut = self._io.spawn(run_guarded(self._adapter, call))
        walk.call = fut
        me = self.address

        def done(f: CallFuture) -> None:
            try:
                me.tell(_CallDone(rid, f, lease, permit))
            except pykka.ActorDeadError:
                pass  # stopping: the lease dies with the pool

        fut.add_done_callback(done)

    def _params_for(self, params: RequestParams, model: str) -> RequestParams:
        """The request's parameters as this model takes them (best-effort ones it lacks left
        out: ``reasoning_effort`` for a model that does not reason)."""
        if params.reasoning_effort is None or self._capabilities_of is None:
            return params
        return params_for(params, self._capabilities_of(model))

    def _dropped(self, request: RequestSpec, model: str) -> tuple[str, ...]:
        """The parameters set on the request that this attempt left out."""
        params = request.params
        dropped = dropped_params(self._adapter, params, request.messages)
        if (
            params.reasoning_effort is not None
            and "reasoning_effort" not in dropped
            and self._params_for(params, model).reasoning_effort is None
        ):
            dropped = (*dropped, "reasoning_effort")
        return dropped

    def _call_done(self, msg: _CallDone) -> None:
        rid = msg.request_id
        walk = self._walks.get(rid)
        if walk is None or walk.lease is None or walk.permit is None or walk.call is not msg.future:
            # A call started before this actor was restarted: give its lease and permit back.
            self._release(msg.lease, msg.permit)
            return
        lease, permit = walk.lease, walk.permit
        walk.call = None
        if walk.cancelled or msg.future.cancelled():
            self._release(lease, permit)
            self._drop_if_cancelled(rid, walk)
            return
        result = msg.future.result()
        latency_ms = (self._clock.now() - walk.started) * 1000.0
        model = walk.models[walk.model_i]
        if not isinstance(result, CallFailure):
            self.tell_safely(self._key_pool, ReportKeyOutcome(lease, None))
            self.tell_safely(self._breaker, RecordOutcome(permit, None, True))
            attempt = Attempt(
                provider=self._provider,
                model=model,
                key_id=lease.key_id,
                latency_ms=latency_ms,
                dropped=self._dropped(walk.msg.request, model),
                translated=translated_params(self._adapter, walk.msg.request.params),
            )
            del self._walks[rid]
            self.tell_safely(
                walk.msg.reply_to,
                ProviderSucceeded(
                    rid,
                    self._provider,
                    result.text,
                    result.model or model,
                    lease.key_id,
                    result.usage,
                    attempt,
                    result.finish_reason,
                    result.upstream_finish_reason,
                    result.parsed,
                    result.tool_calls,
                ),
            )
            return
        if (
            result.timed_out
            and walk.cut_by_deadline
            and walk.msg.request.deadline.remaining(self._clock) <= _DEADLINE_SLACK_S
        ):
            # The request's deadline, not the provider, cut this call: not a failure. Only when
            # the deadline really has passed: a reset the SDK reports as a timeout is a failure.
            self._release(lease, permit)
            self._finish(rid, walk, ExhaustedReason.DEADLINE)
            return
        attempt = Attempt(
            provider=self._provider,
            model=model,
            key_id=lease.key_id,
            category=result.category,
            status_code=result.status_code,
            error=result.error,
            latency_ms=latency_ms,
            dropped=self._dropped(walk.msg.request, model),
            translated=translated_params(self._adapter, walk.msg.request.params),
        )
        refusal = result.error if result.category is ErrorCategory.CONTENT_POLICY else None
        self.tell_safely(walk.msg.reply_to, AttemptFailed(rid, attempt, refusal))
        self._events.emit(
            Event(
                event_type=topics.ATTEMPT_FAILED,
                source=f"provider:{self._provider}",
                severity=Severity.WARNING,
                request_id=rid,
                payload={
                    "provider": self._provider,
                    "model": model,
                    "key_id": lease.key_id,
                    "category": result.category.value,
                    "status_code": result.status_code,
                    "error": result.error,
                },
            )
        )
        walk.failure = result
        if is_neutral(result):
            self.tell_safely(self._key_pool, ReleaseKey(lease))
            self.tell_safely(self._breaker, ReleasePermit(permit, retry=walk.retry))
            self._after_failure(rid, walk, lease.key_id, result)
            return
        rate_limited = is_rate_limit(result)
        # Only the key pool knows whether a server-side failure is news; the breaker must hear
        # its verdict before this walk asks for the next permit, so wait for the pool's answer.
        needs_verdict = result.category in _SERVER_SIDE and not rate_limited
        self.tell_safely(
            self._key_pool,
            ReportKeyOutcome(
                lease,
                result.category,
                result.retry_after_s,
                rid,
                self.address if needs_verdict else None,
                rate_limited=rate_limited,
                notify=walk.msg.reply_to,
            ),
        )
        if needs_verdict:
            walk.stage = _Stage.VERDICT
            return
        self.tell_safely(
            self._breaker,
            RecordOutcome(permit, result.category.value, True, rate_limited, rid),
        )
        self._after_failure(rid, walk, lease.key_id, result)

    def _key_outcome_recorded(self, msg: KeyOutcomeRecorded) -> None:
        walk = self._walks.get(msg.request_id)
        if walk is None or walk.stage is not _Stage.VERDICT:
            return
        assert walk.permit is not None and walk.lease is not None and walk.failure is not None
        category = walk.failure.category.value
        self.tell_safely(
            self._breaker,
            RecordOutcome(
                walk.permit,
                category,
                msg.independent,
                request_id=msg.request_id,
                notify=walk.msg.reply_to,
            ),
        )
        if walk.cancelled:
            self._drop_if_cancelled(msg.request_id, walk)
            return
        self._after_failure(msg.request_id, walk, walk.lease.key_id, walk.failure)

    def _after_failure(self, rid: str, walk: _Walk, key_id: str, result: CallFailure) -> None:
        category = result.category
        model = walk.models[walk.model_i]
        if category is ErrorCategory.CONTENT_POLICY:
            self._finish(rid, walk, ExhaustedReason.REFUSED, detail=result.error)
        elif category is ErrorCategory.BAD_REQUEST:
            self._finish(rid, walk, ExhaustedReason.BAD_REQUEST, detail=result.error)
        elif is_local(result):  # another key would fail the same way here
            self._finish(rid, walk, ExhaustedReason.LOCAL_ERROR, detail=result.error)
        elif result.invalid_output:  # this provider's model missed the format: try another
            self._finish(rid, walk, ExhaustedReason.INVALID_OUTPUT, detail=result.error)
        elif category is ErrorCategory.MODEL:
            walk.model_i += 1
            walk.prefer = key_id
            walk.retry = False
            walk.tried.clear()
            if walk.model_i >= len(walk.models):
                self._finish(rid, walk, ExhaustedReason.NO_MODELS, detail=result.error)
                return
            self._events.emit(
                Event(
                    event_type=topics.MODEL_FAILOVER,
                    source=f"provider:{self._provider}",
                    request_id=rid,
                    payload={
                        "provider": self._provider,
                        "from": model,
                        "to": walk.models[walk.model_i],
                        "reason": result.error,
                    },
                )
            )
            self._next_attempt(rid, walk)
        else:
            walk.prefer = None
            if category is ErrorCategory.KEY_FATAL or is_rate_limit(result):
                walk.exclude.add(key_id)  # the key's own fault: another key, no retry budget
                walk.retry = False
            else:
                walk.tried.add(key_id)  # the servers' fault: a retry, another key first
                walk.retry = True
            self._next_attempt(rid, walk)

    def _release(self, lease: Lease, permit: Permit | None) -> None:
        """Return a lease and permit with no verdict (cancelled, or never used)."""
        self.tell_safely(self._key_pool, ReleaseKey(lease))
        if permit is not None:
            self.tell_safely(self._breaker, ReleasePermit(permit))

    # -- ending a walk --------------------------------------------------------------------

    def _cancel(self, msg: CancelRequest) -> None:
        walk = self._walks.get(msg.request_id)
        if walk is None:
            return
        walk.cancelled = True
        if walk.stage is _Stage.CALL and walk.call is not None:
            walk.call.cancel()  # (on the loop); the done-callback releases the lease

    def _drop_if_cancelled(self, rid: str, walk: _Walk | None) -> None:
        if walk is not None and walk.cancelled:
            self._walks.pop(rid, None)

    def _finish(
        self,
        rid: str,
        walk: _Walk,
        reason: ExhaustedReason,
        *,
        detail: str = "",
        retry_at: float | None = None,
        cooling: bool = False,
    ) -> None:
        self._walks.pop(rid, None)
        self.tell_safely(
            walk.msg.reply_to,
            ProviderExhausted(rid, self._provider, reason, detail, retry_at, cooling, walk.model_i),
        )

    def snapshot(self) -> list[str]:
        """The requests it was walking: the Supervisor re-routes them."""
        return [rid for rid, w in self._walks.items() if not w.cancelled]

    def on_stop(self) -> None:
        for walk in self._walks.values():
            if walk.call is not None:
                walk.call.cancel()
        self._walks.clear()
