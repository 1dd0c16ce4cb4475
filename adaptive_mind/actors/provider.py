"""ProviderActor: the interpreter of one provider's walk engine, without ever blocking.

Where each request's walk stands (permit, lease, call, verdict, next key or model) is decided by
the sans-IO engine :class:`~adaptive_mind.core.provider_walk.ProviderWalks`; its docstring has the
walk order and rules. This actor feeds it the messages it receives and carries out the actions it
returns: it asks the breaker and the key pool, starts calls on the I/O loop, reports outcomes and
answers the Supervisor. It keeps no breaker or key state of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pykka

from adaptive_mind.actors.base import LoopBaseActor, Wiring
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.provider_calls import ProviderCalls
from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Clock
from adaptive_mind.config import RetryConfig
from adaptive_mind.core import walk_actions as pw
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.key_pool import Lease
from adaptive_mind.core.provider_walk import ProviderWalks
from adaptive_mind.messages import (
    AcquirePermit,
    AttemptFailed,
    CancelRequest,
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
    TryProvider,
)
from adaptive_mind.messages.address import Address
from adaptive_mind.providers.base import (
    CallFailure,
    CallResult,
    ProviderAdapter,
    run_guarded,
)
from adaptive_mind.providers.stream_pump import StreamTimeouts, pump
from adaptive_mind.records import record
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, EventSink, Severity

CallFuture = concurrent.futures.Future[CallResult] | asyncio.Future[CallResult]
"""A running upstream call: a task on the I/O loop (or a thread-safe future off it)."""
Action = pw.Action[TryProvider]


@record
class _CallDone:
    """Internal: a call started for ``request_id`` finished (or was cancelled)."""

    request_id: str
    call_id: int
    future: CallFuture
    lease: Lease
    permit: Permit


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
        stream_timeouts: StreamTimeouts | None = None,
        prefill: bool = False,
    ) -> None:
        super().__init__(provider, wiring)
        self._shape = ProviderCalls(provider, adapter, capabilities_of)
        self._stream_timeouts = stream_timeouts or StreamTimeouts(min(10.0, timeout_s), 20.0)
        self._prefill = prefill
        """The provider continues an assistant prefill (a broken stream resumes with one)."""
        self._provider = provider
        self._adapter = adapter
        self._models = models
        self._breaker = breaker
        self._key_pool = key_pool
        self._io = io
        self._clock = clock
        self._events = events
        self._walks: ProviderWalks[TryProvider] = ProviderWalks(
            clock, timeout_s, retry.max_attempts
        )
        self._calls: dict[str, CallFuture] = {}
        """The running call of each request (to cancel it)."""
        self._results: dict[str, CallResult] = {}
        """A finished call's result while its actions are carried out."""

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            TryProvider: self._try,
            PermitGranted: lambda m: self._run(self._walks.permit_granted(m.request_id, m.permit)),
            PermitDenied: lambda m: self._run(
                self._walks.permit_denied(m.request_id, m.budget_spent, m.retry_at)
            ),
            KeyLeased: lambda m: self._run(self._walks.key_leased(m.request_id, m.lease)),
            NoKeyAvailable: lambda m: self._run(
                self._walks.no_key(m.request_id, m.reason, m.next_free_at)
            ),
            _CallDone: self._call_done,
            KeyOutcomeRecorded: lambda m: self._run(
                self._walks.verdict(m.request_id, m.independent)
            ),
            CancelRequest: lambda m: self._run(self._walks.cancel(m.request_id)),
        }

    @property
    def in_flight(self) -> int:
        return len(self._walks)

    # -- events into the engine -----------------------------------------------------------

    def _try(self, msg: TryProvider) -> None:
        request = msg.request
        self._run(
            self._walks.start(
                request.request_id,
                msg,
                request.deadline,
                request.models.get(self._provider, self._models),
                exclude=msg.exclude_keys,
                attempts_before=msg.attempts_before,
                retry=msg.retry,
                force=msg.force,
                start_model=msg.start_model,
                stop_mid_stream=request.stream is not None and request.stream.policy == "error",
            )
        )

    def _call_done(self, msg: _CallDone) -> None:
        rid = msg.request_id
        if self._calls.get(rid) is msg.future:
            del self._calls[rid]
        if msg.future.cancelled():
            self._run(
                self._walks.call_done(rid, msg.call_id, msg.lease, msg.permit, None, cancelled=True)
            )
            return
        result = msg.future.result()
        failure = result if isinstance(result, CallFailure) else None
        self._results[rid] = result
        try:
            self._run(self._walks.call_done(rid, msg.call_id, msg.lease, msg.permit, failure))
        finally:
            self._results.pop(rid, None)

    # -- actions out of the engine --------------------------------------------------------

    def _run(self, actions: Sequence[Action]) -> None:
        for action in actions:
            match action:
                case pw.AskPermit(rid, retry, force):
                    self.tell_safely(
                        self._breaker, AcquirePermit(rid, self.address, retry=retry, force=force)
                    )
                case pw.AskLease(rid, exclude, prefer):
                    ctx = self._walks.context(rid)
                    estimate = ProviderCalls.estimate(ctx.request) if ctx is not None else 0
                    lease = LeaseKey(rid, exclude, self.address, prefer, estimate)
                    self.tell_safely(self._key_pool, lease)
                case pw.StartCall():
                    self._start_call(action)
                case pw.CancelCall(rid):
                    call = self._calls.get(rid)
                    if call is not None:
                        call.cancel()  # (on the loop); its end gives the lease and permit back
                case pw.GiveBack(lease, permit, retry):
                    if lease is not None:
                        self.tell_safely(self._key_pool, ReleaseKey(lease))
                    if permit is not None:
                        self.tell_safely(self._breaker, ReleasePermit(permit, retry=retry))
                case pw.ReportKey():
                    self._report_key(action)
                case pw.RecordBreaker():
                    category = action.category
                    self.tell_safely(
                        self._breaker,
                        RecordOutcome(
                            action.permit,
                            category,
                            action.independent,
                            action.rate_limited,
                            action.request_id if category is not None else "",
                            notify=action.context.reply_to if action.notify else None,
                        ),
                    )
                case pw.Succeeded():
                    self._succeeded(action)
                case pw.AttemptFailed():
                    self._attempt_failed(action)
                case pw.ModelFailover(rid, from_model, to_model, reason):
                    self._events.emit(
                        Event(
                            event_type=topics.MODEL_FAILOVER,
                            source=f"provider:{self._provider}",
                            request_id=rid,
                            payload={
                                "provider": self._provider,
                                "from": from_model,
                                "to": to_model,
                                "reason": reason,
                            },
                        )
                    )
                case pw.Finished():
                    self.tell_safely(
                        action.context.reply_to,
                        ProviderExhausted(
                            action.request_id,
                            self._provider,
                            action.reason,
                            action.detail,
                            action.retry_at,
                            action.cooling,
                            action.model_index,
                        ),
                    )

    def _start_call(self, action: pw.StartCall[TryProvider]) -> None:
        rid, call_id, lease, permit = action.request_id, action.call_id, action.lease, action.permit
        request = action.context.request
        call = self._shape.call(action)
        if request.stream is None:
            fut = self._io.spawn(run_guarded(self._adapter, call))
        else:  # the deadline, not the provider's timeout, bounds a whole stream
            remaining = max(0.0, request.deadline.remaining(self._clock))
            call = dataclasses.replace(call, timeout_s=remaining)
            running = pump(
                self._adapter.stream,
                call,
                request.stream,
                self._stream_timeouts,
                self._clock,
                prefill=self._prefill,
            )
            fut = self._io.spawn(running)
        self._calls[rid] = fut
        me = self.address

        def done(f: CallFuture) -> None:
            try:
                me.tell(_CallDone(rid, call_id, f, lease, permit))
            except pykka.ActorDeadError:
                pass  # stopping: the lease dies with the pool

        fut.add_done_callback(done)

    def _report_key(self, action: pw.ReportKey[TryProvider]) -> None:
        if action.category is None:
            result = self._results.get(action.request_id)
            tokens = None  # the call's usage, for the key's tpm budget
            if result is not None and not isinstance(result, CallFailure):
                tokens = result.usage.total_tokens
            self.tell_safely(self._key_pool, ReportKeyOutcome(action.lease, None, tokens=tokens))
            return
        self.tell_safely(
            self._key_pool,
            ReportKeyOutcome(
                action.lease,
                action.category,
                action.retry_after_s,
                action.request_id,
                self.address if action.wants_verdict else None,
                rate_limited=action.rate_limited,
                notify=action.context.reply_to,
            ),
        )

    def _succeeded(self, action: pw.Succeeded[TryProvider]) -> None:
        result = self._results[action.request_id]
        assert not isinstance(result, CallFailure)
        attempt = self._shape.attempt(action.context.request, action, None)
        self.tell_safely(
            action.context.reply_to,
            ProviderSucceeded(
                action.request_id,
                self._provider,
                result.text,
                result.model or action.model,
                action.key_id,
                result.usage,
                attempt,
                result.finish_reason,
                result.upstream_finish_reason,
                result.parsed,
                result.tool_calls,
            ),
        )

    def _attempt_failed(self, action: pw.AttemptFailed[TryProvider]) -> None:
        failure = action.failure
        request = action.context.request
        attempt = self._shape.attempt(request, action, failure)
        refusal = failure.error if failure.category is ErrorCategory.CONTENT_POLICY else None
        self.tell_safely(
            action.context.reply_to, AttemptFailed(action.request_id, attempt, refusal)
        )
        about = {"provider": self._provider, "model": action.model, "key_id": action.key_id}
        self._emit(
            topics.ATTEMPT_FAILED,
            action.request_id,
            {
                **about,
                "category": failure.category.value,
                "status_code": failure.status_code,
                "error": failure.error,
            },
        )
        if failure.mid_stream and request.stream is not None:
            delivered = len(request.stream.delivered.text)
            policy = request.stream.policy
            self._emit(
                topics.STREAM_INTERRUPTED,
                action.request_id,
                {**about, "error": failure.error, "policy": policy, "delivered_chars": delivered},
            )

    def _emit(self, topic: str, request_id: str, payload: dict[str, object]) -> None:
        self._events.emit(
            Event(
                event_type=topic,
                source=f"provider:{self._provider}",
                severity=Severity.WARNING,
                request_id=request_id,
                payload=payload,
            )
        )

    # -- lifecycle ------------------------------------------------------------------------

    def snapshot(self) -> list[str]:
        """The requests it was walking: the Supervisor re-routes them."""
        return self._walks.walking()

    def on_stop(self) -> None:
        for call in self._calls.values():
            call.cancel()
        self._calls.clear()
        self._walks.clear()
