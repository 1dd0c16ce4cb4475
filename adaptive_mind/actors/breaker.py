"""CircuitBreakerActor: owns one provider's :class:`~adaptive_mind.core.breaker.Breaker` and its
:class:`~adaptive_mind.core.retry.RetryBudget` (both are admission control for the provider)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adaptive_mind.actors.base import LoopBaseActor, Wiring
from adaptive_mind.clock import Clock
from adaptive_mind.config import BreakerConfig, RetryConfig
from adaptive_mind.core.breaker import Breaker, Transition, verdict_for
from adaptive_mind.core.retry import RetryBudget
from adaptive_mind.messages import (
    AcquirePermit,
    ConsequenceRecorded,
    GetBreakerState,
    PermitDenied,
    PermitGranted,
    RecordOutcome,
    ReleasePermit,
)
from adaptive_mind.telemetry.events import EventSink, breaker_event


class CircuitBreakerActor(LoopBaseActor):
    """Grants permits and records outcomes; never sees prompts or keys."""

    def __init__(
        self,
        provider: str,
        config: BreakerConfig,
        clock: Clock,
        events: EventSink,
        *,
        retry: RetryConfig | None = None,
        start_open_for: float | None = None,
        restore: dict[str, Any] | None = None,
        wiring: Wiring | None = None,
    ) -> None:
        super().__init__(provider, wiring)
        self._provider = provider
        self._cfg = config
        self._events = events
        self._clock = clock
        self.core = Breaker(config, clock, start_open_for=start_open_for)
        self.budget = RetryBudget(retry or RetryConfig(), clock)
        if restore is not None:
            self.core.restore(restore)

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            AcquirePermit: self._acquire,
            ReleasePermit: self._release,
            RecordOutcome: self._record,
            GetBreakerState: lambda _m: self.core.state.value,
        }

    def snapshot(self) -> dict[str, Any]:
        """The breaker's state; the replacement resumes it (old permits read as stale)."""
        return self.core.snapshot()

    def _publish(self, transitions: list[Transition], msg: RecordOutcome | None = None) -> None:
        for t in transitions:
            event = breaker_event(self._provider, t, self._clock)
            self._events.emit(event)
            if msg is not None and msg.notify is not None:
                note = ConsequenceRecorded(msg.request_id, event.event_type, event.payload)
                self.tell_safely(msg.notify, note)

    def _acquire(self, msg: AcquirePermit) -> None:
        if msg.retry and not self.budget.try_withdraw():
            reply = PermitDenied(msg.request_id, None, self.core.state.value, budget_spent=True)
            self.tell_safely(msg.reply_to, reply)
            return
        permit, transitions = self.core.acquire(force=msg.force)
        self._publish(transitions)
        if permit is not None:
            if not msg.retry:
                self.budget.deposit()
            self.tell_safely(msg.reply_to, PermitGranted(msg.request_id, permit))
        else:
            if msg.retry:
                self.budget.refund()
            reply = PermitDenied(msg.request_id, self.core.retry_at(), self.core.state.value)
            self.tell_safely(msg.reply_to, reply)

    def _release(self, msg: ReleasePermit) -> None:
        if msg.retry:
            self.budget.refund()
        self._publish(self.core.release(msg.permit))

    def _record(self, msg: RecordOutcome) -> None:
        verdict = verdict_for(
            msg.category,
            independent=msg.independent,
            count_unknown=self._cfg.count_unknown,
            rate_limited=msg.rate_limited,
        )
        self._publish(self.core.record(msg.permit, verdict), msg)
