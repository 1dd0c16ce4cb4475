"""CircuitBreakerActor: owns one provider's :class:`~adaptive_mind.core.breaker.Breaker` and its
:class:`~adaptive_mind.core.retry.RetryBudget` (both are admission control for the provider)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adaptive_mind.actors.base import LoopBaseActor, Wiring, from_peer
from adaptive_mind.clock import Clock
from adaptive_mind.config import BreakerConfig, RetryConfig
from adaptive_mind.core.breaker import Breaker, BreakerState, Permit, Transition, verdict_for
from adaptive_mind.core.retry import RetryBudget
from adaptive_mind.core.shared_state import BreakerTransition, StatePort
from adaptive_mind.messages import (
    AcquirePermit,
    ApplyTransition,
    ConsequenceRecorded,
    GetBreakerState,
    PermitDenied,
    PermitGranted,
    RecordOutcome,
    ReleasePermit,
)
from adaptive_mind.telemetry.events import EventSink, breaker_event


@dataclass(frozen=True, slots=True)
class _ProbeDecided:
    """The fleet answered whether this replica may run the half-open probe ``permit``."""

    request: AcquirePermit
    permit: Permit
    granted: bool


class CircuitBreakerActor(LoopBaseActor):
    """Grants permits and records outcomes; never sees prompts or keys.

    With shared state (``state``) it publishes its transitions and
    applies its peers' (:class:`ApplyTransition`), and a half-open probe is granted only once
    the fleet-wide probe lock is taken: the lock is asked for asynchronously and the answer
    comes back as a message (within ``state.probe_timeout_s``; an unreachable fleet grants it).
    """

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
        state: StatePort | None = None,
    ) -> None:
        super().__init__(provider, wiring)
        self._provider = provider
        self._cfg = config
        self._events = events
        self._state = state
        self._fleet_probes = 0
        """Probes running under the fleet-wide lock this replica took (released when over)."""
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
            ApplyTransition: self._apply,
            _ProbeDecided: self._probe_decided,
        }

    def snapshot(self) -> dict[str, Any]:
        """The breaker's state; the replacement resumes it (old permits read as stale)."""
        return self.core.snapshot()

    def _publish(
        self, transitions: list[Transition], msg: RecordOutcome | None = None, *, peer: bool = False
    ) -> None:
        for t in transitions:
            event = breaker_event(self._provider, t, self._clock)
            if peer:
                event = from_peer(event)
            elif self._state is not None:
                until = t.reopen_at if t.new is BreakerState.OPEN else None
                now = self._clock.now()
                self._state.publish(BreakerTransition(self._provider, t.new, until, now))
            self._events.emit(event)
            if msg is not None and msg.notify is not None:
                note = ConsequenceRecorded(msg.request_id, event.event_type, event.payload)
                self.tell_safely(msg.notify, note)

    def _acquire(self, msg: AcquirePermit) -> None:
        if msg.retry and not self.budget.try_withdraw():
            spent = PermitDenied(msg.request_id, None, self.core.state, budget_spent=True)
            self.tell_safely(msg.reply_to, spent)
            return
        permit, transitions = self.core.acquire(force=msg.force)
        self._publish(transitions)
        if permit is not None and permit.probe and self._state is not None:
            address, granted = self.address, permit

            def decided(ok: bool) -> None:
                self.tell_safely(address, _ProbeDecided(msg, granted, ok))

            self._state.request_probe(self._provider, decided)
            return
        self._answer(msg, permit)

    def _probe_decided(self, m: _ProbeDecided) -> None:
        if m.granted and m.permit.generation == self.core.generation:
            self._fleet_probes += 1
            self._answer(m.request, m.permit)
            return
        if m.granted:  # the circuit moved on meanwhile: the lock it took is not needed
            self._probe_over(m.permit)
        # Another replica probes (or the circuit moved on meanwhile): give the slot back.
        self._publish(self.core.release(m.permit))
        self._answer(m.request, None)

    def _answer(self, msg: AcquirePermit, permit: Permit | None) -> None:
        if permit is not None:
            if not msg.retry:
                self.budget.deposit()
            self.tell_safely(msg.reply_to, PermitGranted(msg.request_id, permit))
        else:
            if msg.retry:
                self.budget.refund()
            denied = PermitDenied(msg.request_id, self.core.retry_at(), self.core.state)
            self.tell_safely(msg.reply_to, denied)

    def _apply(self, msg: ApplyTransition) -> None:
        t = msg.transition
        if isinstance(t, BreakerTransition) and t.provider == self._provider:
            self._publish(self.core.apply_remote(t), peer=True)

    def _release(self, msg: ReleasePermit) -> None:
        if msg.retry:
            self.budget.refund()
        self._probe_over(msg.permit)
        self._publish(self.core.release(msg.permit))

    def _probe_over(self, permit: Permit) -> None:
        """A probe this replica held the fleet's lock for has ended (an outcome, or given back
        unused). Closed again or unused: free the lock at once, so that the next probe need not
        wait for the lock's TTL. Failed (the circuit re-opened): hold the lock until the new
        open window ends, so a replica that has not yet applied the re-opening cannot probe
        inside it (the fleet drill saw a second probe that way)."""
        if permit.probe and self._state is not None and self._fleet_probes > 0:
            self._fleet_probes -= 1
            until = self.core.retry_at()
            hold = max(0.0, until - self._clock.now()) if until is not None else 0.0
            self._state.release_probe(self._provider, hold)

    def _record(self, msg: RecordOutcome) -> None:
        verdict = verdict_for(
            msg.category,
            independent=msg.independent,
            count_unknown=self._cfg.count_unknown,
            rate_limited=msg.rate_limited,
        )
        transitions = self.core.record(msg.permit, verdict)
        self._probe_over(msg.permit)  # after the outcome: a failed probe re-opened the circuit
        self._publish(transitions, msg)
