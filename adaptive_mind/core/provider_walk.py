"""The provider walk as a sans-IO engine: events in, actions out, no threads, no I/O.

One :class:`ProviderWalks` holds where each request's walk over one provider stands. Its methods
take what happened (the walk was asked for, the breaker granted or denied a permit, the key pool
leased a key or had none, a call finished, the key pool gave its verdict) and return the
:data:`Action` values the caller must carry out, in order. The ProviderActor is an interpreter of
these actions: it tells the breaker and the key pool, starts calls on the I/O loop and replies to
the Supervisor. Tests drive the engine directly with a fake clock (``tests/core``).

Walk order: Key 1 Model 1, Key 2 Model 1, …, then Model 2. A MODEL error moves to the next model
without blaming the key; a rate limit or a fatal key error moves to the next key; a server-side
failure (5xx, timeout, dropped connection, UNKNOWN) is retried on a key this walk has not tried,
under the retry budget; when every leasable key has been tried the walk ends with BACKOFF and the
Supervisor retries the provider after a jittered wait. ``max_attempts`` calls per request end the
walk; BAD_REQUEST and refusals end it at once.

Every permit and lease the engine is handed is given back exactly once: with a verdict
(:class:`ReportKey` / :class:`RecordBreaker`) or without (:class:`GiveBack`).

What lives where: the engine's bookkeeping is here; a walk's record and :class:`Stage` are in
:mod:`.provider_walk_record`; the rules (which failures need a verdict or end the walk, what a
refusal means, how a walk steps to the next key or model) in :mod:`.provider_walk_rules`; what
the engine takes and returns in :mod:`.walk_actions`.
"""

from __future__ import annotations

from typing import Generic

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Clock, Deadline
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.key_pool import Lease, Unavailable
from adaptive_mind.core.provider_walk_record import Stage, Walk
from adaptive_mind.core.provider_walk_rules import (
    DEADLINE_SLACK_S,
    cut_by_deadline,
    ending,
    next_key,
    next_model,
    refusal,
    wants_verdict,
)
from adaptive_mind.core.walk_actions import (
    Action,
    AskLease,
    AskPermit,
    AttemptFailed,
    C,
    CancelCall,
    ExhaustedReason,
    Failure,
    Finished,
    GiveBack,
    ModelFailover,
    RecordBreaker,
    ReportKey,
    StartCall,
    Succeeded,
    is_neutral,
    is_rate_limit,
)

__all__ = ["DEADLINE_SLACK_S", "ProviderWalks", "Stage"]


class ProviderWalks(Generic[C]):
    """Where each request's walk over one provider stands. Not thread-safe: one owner."""

    def __init__(self, clock: Clock, timeout_s: float, max_attempts: int) -> None:
        self._clock = clock
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._walks: dict[str, Walk[C]] = {}
        self._calls = 0
        self._careful = False
        """True while the breaker is not known to be closed: permits are asked before leases."""

    def __len__(self) -> int:
        return len(self._walks)

    def stage(self, request_id: str) -> Stage | None:
        walk = self._walks.get(request_id)
        return None if walk is None else walk.stage

    def walking(self) -> list[str]:
        """The requests being walked (not cancelled)."""
        return [rid for rid, w in self._walks.items() if not w.cancelled]

    def context(self, request_id: str) -> C | None:
        """The context ``request_id``'s walk was started with (None: not walking)."""
        walk = self._walks.get(request_id)
        return None if walk is None else walk.context

    def model(self, request_id: str) -> str | None:
        walk = self._walks.get(request_id)
        return None if walk is None else walk.model

    # -- events ---------------------------------------------------------------------------

    def start(
        self,
        request_id: str,
        context: C,
        deadline: Deadline,
        models: tuple[str, ...],
        *,
        exclude: frozenset[str] = frozenset(),
        attempts_before: int = 0,
        retry: bool = False,
        force: bool = False,
        start_model: int = 0,
        stop_mid_stream: bool = False,
    ) -> list[Action[C]]:
        """Walk this provider's models and keys for a request."""
        walk = Walk(
            context, deadline, models, set(exclude), attempts_before, retry, force, stop_mid_stream
        )
        walk.model_i = min(start_model, len(models) - 1)
        self._walks[request_id] = walk
        return self._next_attempt(request_id, walk)

    def permit_granted(self, request_id: str, permit: Permit) -> list[Action[C]]:
        walk = self._acquiring(request_id)
        if walk is None:  # cannot happen: a walk leaves ACQUIRE only once both answered
            return [GiveBack(None, permit)]
        walk.permit = permit
        self._careful = permit.probe
        if not walk.lease_asked and not walk.cancelled:
            return [self._ask_lease(request_id, walk)]
        return self._acquired(request_id, walk)

    def permit_denied(
        self, request_id: str, budget_spent: bool, retry_at: float | None
    ) -> list[Action[C]]:
        walk = self._acquiring(request_id)
        if walk is None:
            return []
        walk.denied = (budget_spent, retry_at)
        self._careful = True
        return self._acquired(request_id, walk)

    def key_leased(self, request_id: str, lease: Lease) -> list[Action[C]]:
        walk = self._acquiring(request_id)
        if walk is None:
            return [GiveBack(lease, None)]
        walk.lease = lease
        return self._acquired(request_id, walk)

    def no_key(
        self, request_id: str, reason: Unavailable, next_free_at: float | None
    ) -> list[Action[C]]:
        walk = self._acquiring(request_id)
        if walk is None:
            return []
        walk.no_key = (reason, next_free_at)
        return self._acquired(request_id, walk)

    def call_done(
        self,
        request_id: str,
        call_id: int,
        lease: Lease,
        permit: Permit,
        failure: Failure | None,
        *,
        cancelled: bool = False,
    ) -> list[Action[C]]:
        """The call ``call_id`` ended: ``failure`` None is an answer (the caller keeps it)."""
        walk = self._walks.get(request_id)
        if walk is None or walk.stage is not Stage.CALL or walk.call_id != call_id:
            # A call of an earlier owner (a restart) or of a cancelled walk: give back.
            return [GiveBack(lease, permit)]
        if walk.cancelled or cancelled:
            del self._walks[request_id]
            return [GiveBack(lease, permit)]
        latency_ms = (self._clock.now() - walk.started) * 1000.0
        model = walk.model
        ctx = walk.context
        if failure is None:
            del self._walks[request_id]
            return [
                ReportKey(request_id, lease, None, None, False, False, ctx),
                RecordBreaker(request_id, permit, None, True, False, ctx),
                Succeeded(request_id, model, lease.key_id, latency_ms, ctx),
            ]
        if cut_by_deadline(walk, failure, self._clock):  # not a failure
            return [
                GiveBack(lease, permit),
                self._finish(request_id, walk, ExhaustedReason.DEADLINE),
            ]
        actions: list[Action[C]] = [
            AttemptFailed(request_id, model, lease.key_id, latency_ms, failure, ctx)
        ]
        walk.failure = failure
        if is_neutral(failure):
            actions.append(GiveBack(lease, permit, walk.retry))
            actions += self._after_failure(request_id, walk, lease.key_id, failure)
            return actions
        rate_limited = is_rate_limit(failure)
        # A server-side failure waits for the key pool's verdict before the breaker hears it.
        verdict = wants_verdict(failure)
        actions.append(
            ReportKey(
                request_id,
                lease,
                failure.category,
                failure.retry_after_s,
                verdict,
                rate_limited,
                ctx,
            )
        )
        if verdict:
            walk.stage = Stage.VERDICT
            return actions
        actions.append(RecordBreaker(request_id, permit, failure.category, True, rate_limited, ctx))
        actions += self._after_failure(request_id, walk, lease.key_id, failure)
        return actions

    def verdict(self, request_id: str, independent: bool) -> list[Action[C]]:
        """The key pool's answer to a :class:`ReportKey` with ``wants_verdict``."""
        walk = self._walks.get(request_id)
        if walk is None or walk.stage is not Stage.VERDICT:
            return []
        assert walk.permit is not None and walk.lease is not None and walk.failure is not None
        actions: list[Action[C]] = [
            RecordBreaker(
                request_id,
                walk.permit,
                walk.failure.category,
                independent,
                False,
                walk.context,
                notify=True,
            )
        ]
        if walk.cancelled:
            del self._walks[request_id]
            return actions
        return actions + self._after_failure(request_id, walk, walk.lease.key_id, walk.failure)

    def cancel(self, request_id: str) -> list[Action[C]]:
        """Stop walking ``request_id``; no answer is expected. A running call is cancelled and
        its end still comes back (to give its lease and permit back)."""
        walk = self._walks.get(request_id)
        if walk is None:
            return []
        walk.cancelled = True
        # Waiting for answers: they come back to a cancelled walk, which gives back and ends.
        return [CancelCall(request_id)] if walk.stage is Stage.CALL else []

    def clear(self) -> list[str]:
        """Forget every walk (stopping); returns the requests whose call was running."""
        running = [rid for rid, w in self._walks.items() if w.stage is Stage.CALL]
        self._walks.clear()
        return running

    # -- steps ----------------------------------------------------------------------------

    def _acquiring(self, request_id: str) -> Walk[C] | None:
        walk = self._walks.get(request_id)
        return walk if walk is not None and walk.stage is Stage.ACQUIRE else None

    def _next_attempt(self, rid: str, walk: Walk[C]) -> list[Action[C]]:
        """Ask the breaker and the key pool at once; the call starts when both have answered."""
        if walk.deadline.expired(self._clock):
            return [self._finish(rid, walk, ExhaustedReason.DEADLINE)]
        if walk.attempts >= self._max_attempts:
            return [self._finish(rid, walk, ExhaustedReason.ATTEMPTS)]
        walk.new_attempt()
        actions: list[Action[C]] = [AskPermit(rid, walk.retry, walk.force)]
        # While the breaker is not known closed, ask for the permit first: with one probe permit
        # and one probation lease, asking both at once lets two walks each hold half forever.
        walk.lease_asked = not self._careful
        if walk.lease_asked:
            actions.append(self._ask_lease(rid, walk))
        return actions

    def _ask_lease(self, rid: str, walk: Walk[C]) -> AskLease:
        walk.lease_asked = True
        return AskLease(rid, frozenset(walk.exclude | walk.tried), walk.prefer)

    def _acquired(self, rid: str, walk: Walk[C]) -> list[Action[C]]:
        """Both answers are in (or not yet): start the call, or end the walk and give back."""
        if not walk.has_both_answers():
            return []
        refused = None if walk.cancelled else refusal(walk)
        if walk.cancelled or refused is not None:
            actions: list[Action[C]] = []
            if walk.lease is not None or walk.permit is not None:
                actions.append(GiveBack(walk.lease, walk.permit, walk.retry))
            if refused is None:  # cancelled
                del self._walks[rid]
            else:
                reason, retry_at, cooling = refused
                actions.append(self._finish(rid, walk, reason, retry_at=retry_at, cooling=cooling))
            return actions
        assert walk.lease is not None and walk.permit is not None
        return self._start_call(rid, walk, walk.lease, walk.permit)

    def _start_call(self, rid: str, walk: Walk[C], lease: Lease, permit: Permit) -> list[Action[C]]:
        remaining = walk.deadline.remaining(self._clock)
        if remaining <= 0:
            return [GiveBack(lease, permit), self._finish(rid, walk, ExhaustedReason.DEADLINE)]
        walk.stage = Stage.CALL
        walk.attempts += 1
        walk.cut_by_deadline = remaining < self._timeout_s
        walk.started = self._clock.now()
        self._calls += 1
        walk.call_id = self._calls
        return [
            StartCall(
                rid,
                walk.call_id,
                walk.model,
                lease.key_id,
                min(self._timeout_s, remaining),
                lease,
                permit,
                walk.context,
            )
        ]

    def _after_failure(
        self, rid: str, walk: Walk[C], key_id: str, failure: Failure
    ) -> list[Action[C]]:
        reason = ending(failure, walk.stop_mid_stream)
        if reason is not None:
            return [self._finish(rid, walk, reason, detail=failure.error)]
        if failure.category is ErrorCategory.MODEL:
            model = walk.model
            if not next_model(walk, key_id):
                return [self._finish(rid, walk, ExhaustedReason.NO_MODELS, detail=failure.error)]
            return [
                ModelFailover(rid, model, walk.model, failure.error),
                *self._next_attempt(rid, walk),
            ]
        next_key(walk, key_id, failure)
        return self._next_attempt(rid, walk)

    def _finish(
        self,
        rid: str,
        walk: Walk[C],
        reason: ExhaustedReason,
        *,
        detail: str = "",
        retry_at: float | None = None,
        cooling: bool = False,
    ) -> Finished[C]:
        self._walks.pop(rid, None)
        return Finished(rid, reason, walk.context, detail, retry_at, cooling, walk.model_i)
