"""KeyPoolActor: owns one provider's :class:`~adaptive_mind.core.key_pool.KeyPool`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from adaptive_mind.actors.base import LoopBaseActor, Wiring, from_peer
from adaptive_mind.clock import Clock
from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_budget import BudgetGrant, FleetBudget, Limits
from adaptive_mind.core.key_pool import KeyPool, Lease
from adaptive_mind.core.shared_state import KeyTransition, StatePort
from adaptive_mind.messages import (
    ApplyTransition,
    ConsequenceRecorded,
    GetKeyStates,
    KeyLeased,
    KeyOutcomeRecorded,
    LeaseKey,
    NoKeyAvailable,
    ReleaseKey,
    ReportKeyOutcome,
)
from adaptive_mind.telemetry.events import EventSink, key_event


@dataclass(frozen=True, slots=True)
class _BudgetGranted:
    """Internal: the fleet's answer to a budget top-up for ``key_id`` (None: unreachable)."""

    key_id: str
    grant: BudgetGrant | None


class KeyPoolActor(LoopBaseActor):
    """Leases keys and records their health; never sees prompts or secrets.

    With shared state (``state``) it publishes every key
    transition it makes and applies its peers' (:class:`ApplyTransition`); a lease never waits
    on anything but this actor. Keys with ``rpm`` / ``tpm`` limits (``limits``) take their
    budget from the fleet in blocks when the state is shared (asked in the background).
    """

    def __init__(
        self,
        provider: str,
        key_ids: tuple[str, ...],
        config: KeyPoolConfig,
        clock: Clock,
        events: EventSink,
        *,
        restore: list[dict[str, Any]] | None = None,
        wiring: Wiring | None = None,
        state: StatePort | None = None,
        limits: tuple[Limits, ...] = (),
    ) -> None:
        super().__init__(provider, wiring)
        self._provider = provider
        self._clock = clock
        self._events = events
        self._state = state
        self._fleet = state if isinstance(state, FleetBudget) and state.shared else None
        self.core = KeyPool(key_ids, config, clock, limits, fleet=self._fleet is not None)
        if restore:
            self.core.restore(restore)

    def on_start(self) -> None:
        super().on_start()
        self._ask_budgets()  # hold a block of every limited key before the first request

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            LeaseKey: self._lease,
            ReportKeyOutcome: self._report,
            ReleaseKey: self._release,
            GetKeyStates: self._states,
            ApplyTransition: self._apply,
            _BudgetGranted: self._granted,
        }

    def snapshot(self) -> list[dict[str, Any]]:
        """Every key's health, so a replacement keeps cooling and disabled keys out."""
        return self.core.snapshot()

    def _lease(self, msg: LeaseKey) -> None:
        got = self.core.lease(msg.exclude, msg.prefer, msg.tokens)
        self._ask_budgets()
        if isinstance(got, Lease):
            self.tell_safely(msg.reply_to, KeyLeased(msg.request_id, got))
        else:
            reply = NoKeyAvailable(msg.request_id, got.reason, got.next_free_at)
            self.tell_safely(msg.reply_to, reply)

    def _report(self, msg: ReportKeyOutcome) -> None:
        outcome = self.core.report(
            msg.lease,
            msg.category,
            msg.retry_after_s,
            rate_limited=msg.rate_limited,
            tokens=msg.tokens,
        )
        self._ask_budgets()
        if msg.reply_to is not None:
            self.tell_safely(msg.reply_to, KeyOutcomeRecorded(msg.request_id, outcome.independent))
        for e in outcome.events:
            if self._state is not None:
                now = self._clock.now()
                self._state.publish(KeyTransition(self._provider, e.key_id, e.kind, e.until, now))
            event = key_event(self._provider, e, self._clock, msg.request_id or None)
            self._events.emit(event)
            if msg.notify is not None:
                note = ConsequenceRecorded(msg.request_id, event.event_type, event.payload)
                self.tell_safely(msg.notify, note)

    def _apply(self, msg: ApplyTransition) -> None:
        t = msg.transition
        if isinstance(t, KeyTransition) and t.provider == self._provider:
            for e in self.core.apply_remote(t):
                self._events.emit(from_peer(key_event(self._provider, e, self._clock)))

    def _ask_budgets(self) -> None:
        fleet = self._fleet
        if fleet is None:
            return
        me = self.address

        def answer(key_id: str) -> Callable[[BudgetGrant | None], None]:
            def reply(grant: BudgetGrant | None) -> None:
                try:
                    me.tell(_BudgetGranted(key_id, grant))
                except pykka.ActorDeadError:
                    pass  # stopping: the grant dies with the pool

            return reply

        for ask in self.core.budget_asks():
            fleet.request_budget(self._provider, ask, answer(ask.key_id))

    def _granted(self, msg: _BudgetGranted) -> None:
        self.core.budget_granted(msg.key_id, msg.grant)
        self._ask_budgets()

    def _release(self, msg: ReleaseKey) -> None:
        self.core.release(msg.lease)

    def _states(self, _msg: GetKeyStates) -> list[dict[str, Any]]:
        now = self._clock.now()
        return [
            {
                "key_id": s.key_id,
                "state": s.state.value,
                "cooldown_until": s.cooldown_until,
                "cooldown_remaining_s": (
                    None if s.cooldown_until is None else max(0.0, s.cooldown_until - now)
                ),
                "failures": s.failures,
                "in_flight": s.in_flight,
            }
            for s in self.core.status()
        ]
