"""The Supervisor: walks the provider priority for each request and answers exactly once.

It owns the in-flight table and never does I/O or waits on a future: providers answer with
messages, deadlines and waits are checked on a periodic ``_Tick`` sent from the I/O loop (so a
FakeClock drives them in tests). It owns the request's time: a provider that has tried every key
answers BACKOFF and is retried here after a full-jitter wait; a request every provider turned
away for rate limits waits for the earliest window to end (``request.max_cooldown_wait_s``); and
when every provider was skipped for an open circuit, the first is tried anyway as the last
resort (``retry.last_resort``), so a breaker never costs answers nobody else could give.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import heapq
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from adaptive_mind.actors.base import LoopBaseActor, Wiring
from adaptive_mind.chat import ChatMessage, Completion
from adaptive_mind.core.retry import full_jitter
from adaptive_mind.errors import (
    AdaptiveMindError,
    ContentPolicyError,
    DeadlineExceededError,
    SystemStoppedError,
)
from adaptive_mind.messages import (
    AttemptFailed,
    CancelRequest,
    ChildFailed,
    Complete,
    ConsequenceRecorded,
    ExhaustedReason,
    ProviderExhausted,
    ProviderSucceeded,
    RequestFinished,
    TryProvider,
)
from adaptive_mind.messages.address import Address
from adaptive_mind.messages.provider import SKIP_REASONS
from adaptive_mind.supervision.flight import Flight
from adaptive_mind.supervision.rewriter import PromptRewriter, RewriteContext, run_rewrite
from adaptive_mind.supervision.tree import ActorTree
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, EventSink, Severity

Result = Completion | AdaptiveMindError
logger = logging.getLogger("adaptive_mind.supervision")


@dataclass(frozen=True, slots=True)
class _RewriteDone:
    """Internal: the rewrite started for ``request_id`` finished."""

    request_id: str
    future: concurrent.futures.Future[tuple[ChatMessage, ...]]


@dataclass(frozen=True, slots=True)
class Tick:
    """Internal: time to check deadlines and cooldown waits."""


@dataclass(frozen=True, slots=True)
class AbandonRequest:
    """The caller stopped waiting (its task was cancelled): finish the request quietly."""

    request_id: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Fail every in-flight request with SystemStoppedError; answered with the count (ask)."""


@dataclass(frozen=True, slots=True)
class CountInFlight:
    """Ask for the number of in-flight requests."""


class Supervisor(LoopBaseActor):
    """Coordinates failover across provider actors."""

    def __init__(
        self,
        tree: ActorTree,
        events: EventSink,
        rewriter: PromptRewriter | None = None,
        wiring: Wiring | None = None,
    ) -> None:
        super().__init__("system", wiring)
        self._tree = tree
        self._providers: dict[str, Address] = dict(tree.provider_cells())
        self._cfg = tree.config.request
        self._clock = tree.clock
        self._events = events
        self._ledger = tree.ledger_cell()
        mitigation = tree.config.mitigation
        io = tree.io
        self._strategy = mitigation.strategy if mitigation is not None else None
        self._rewriter = rewriter
        self._io = io
        self._retry = {name: tree.config.retry_for(name) for name in tree.config.providers}
        self._rng = random.Random()
        self._flights: dict[str, Flight] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._waiting: list[tuple[float, str]] = []

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            Complete: self._complete,
            ProviderSucceeded: self._succeeded,
            ProviderExhausted: self._exhausted,
            AttemptFailed: self._attempt_failed,
            Tick: self._tick,
            AbandonRequest: self._abandon,
            Shutdown: self._shutdown,
            CountInFlight: lambda _m: len(self._flights),
            _RewriteDone: self._rewrite_done,
            ChildFailed: self._child_failed,
            ConsequenceRecorded: self._consequence,
        }

    # -- the walk -------------------------------------------------------------------------

    def _complete(self, msg: Complete) -> None:
        if not msg.reply.is_open():
            return  # answered already (e.g. failed when a previous Supervisor crashed)
        flight = Flight(msg)
        rid = flight.request_id
        for name, why in msg.request.unsupported.items():
            flight.note("provider.skipped", provider=name, reason="unsupported", detail=why)
        self._flights[rid] = flight
        heapq.heappush(self._deadlines, (msg.request.deadline.at, rid))
        self._advance(flight)

    def _advance(self, flight: Flight, retry: bool = False) -> None:
        """Try the provider at ``flight.index``, or decide the request when none is left."""
        order = flight.msg.request.providers
        rid = flight.request_id
        if flight.index >= len(order):
            self._out_of_providers(flight)
            return
        name = order[flight.index]
        flight.current = name
        ref = self._providers[name]
        exclude = frozenset(flight.failed_keys.get(name, ()))
        msg = TryProvider(
            flight.request,
            exclude,
            self.address,
            # The last resort is one call: its provider's circuit is open for a reason.
            attempts_before=(
                self._retry[name].max_attempts - 1
                if flight.forced == name
                else flight.pass_attempts.get(name, 0)
            ),
            retry=retry,
            force=flight.forced == name,
            start_model=flight.resume_model.pop(name, 0) if retry else 0,
        )
        if name in self._tree.down or not self.tell_safely(ref, msg):
            self._exhausted(ProviderExhausted(rid, name, ExhaustedReason.DOWN))

    def _attempt_failed(self, msg: AttemptFailed) -> None:
        flight = self._flights.get(msg.request_id)
        if flight is not None:
            flight.record_attempt(msg.attempt, msg.refusal)

    def _consequence(self, msg: ConsequenceRecorded) -> None:
        """A key or breaker changed because of this request's attempt: put it in the trail."""
        flight = self._flights.get(msg.request_id)
        if flight is not None:
            flight.note(msg.event_type, **msg.payload)

    def _succeeded(self, msg: ProviderSucceeded) -> None:
        flight = self._flights.get(msg.request_id)
        if flight is None:
            return  # answered already (deadline, stop)
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
        self._finish(flight, completion)

    def _exhausted(self, msg: ProviderExhausted) -> None:
        flight = self._flights.get(msg.request_id)
        if flight is None or flight.current != msg.provider:
            return
        if msg.reason is ExhaustedReason.BACKOFF and self._backoff(flight, msg):
            return
        if msg.reason is ExhaustedReason.RATE_LIMITED and self._wait_rate_limit(flight, msg):
            return
        flight.exhausted.append(msg)
        if msg.reason in SKIP_REASONS:
            self._skipped(flight, msg)
        if msg.reason is ExhaustedReason.BAD_REQUEST:
            self._finish(flight, flight.failure())
            return
        if msg.reason is ExhaustedReason.DEADLINE:
            self._deadline(flight)
            return
        if msg.reason is ExhaustedReason.REFUSED and self._on_refusal(flight, msg):
            return
        order = flight.msg.request.providers
        if flight.forced == msg.provider:  # the last resort is spent too
            flight.forced = None
            flight.index = len(order)
            self._advance(flight)
            return
        flight.index += 1
        if flight.index < len(order):
            flight.note(
                "provider.failover",
                to=order[flight.index],
                reason=msg.reason.value,
                **{"from": msg.provider},
            )
            self._events.emit(
                Event(
                    event_type=topics.PROVIDER_FAILOVER,
                    source="supervisor",
                    request_id=flight.request_id,
                    payload={
                        "from": msg.provider,
                        "to": order[flight.index],
                        "reason": msg.reason.value,
                    },
                )
            )
        self._advance(flight)

    def _skipped(self, flight: Flight, msg: ProviderExhausted) -> None:
        """Record the real reason a provider could not serve, and until when."""
        reason = msg.reason.value
        flight.skipped.append((msg.provider, reason))
        fields: dict[str, object] = {"provider": msg.provider, "reason": reason}
        if msg.retry_at is not None and msg.retry_at > self._clock.now():
            flight.until[msg.provider] = msg.retry_at
            fields["until"] = flight.wall(msg.retry_at).isoformat(timespec="milliseconds")
        flight.note("provider.skipped", **fields)
        self._emit(topics.PROVIDER_SKIPPED, flight, fields)

    def _backoff(self, flight: Flight, msg: ProviderExhausted) -> bool:
        """Every key was tried: retry the same provider after a full-jitter wait, if the
        deadline allows (False: move on)."""
        n = flight.backoffs.get(msg.provider, 0) + 1
        flight.backoffs[msg.provider] = n
        flight.resume_model[msg.provider] = msg.model_index
        at = self._clock.now() + full_jitter(self._retry[msg.provider], n, self._rng)
        if at >= flight.msg.request.deadline.at:
            return False
        self._sleep(flight, at, retry=True, reason="backoff", provider=msg.provider)
        return True

    def _wait_rate_limit(self, flight: Flight, msg: ProviderExhausted) -> bool:
        """Wait out a short rate-limit window on this provider instead of falling over."""
        limit = self._retry[msg.provider].wait_for_rate_limit_s
        if limit <= 0 or msg.retry_at is None:
            return False
        if msg.retry_at - self._clock.now() > limit:
            return False
        if msg.retry_at >= flight.msg.request.deadline.at:
            return False
        self._sleep(flight, msg.retry_at, retry=False, reason="rate_limited", provider=msg.provider)
        return True

    def _sleep(
        self, flight: Flight, at: float, *, retry: bool | None, reason: str, provider: str = ""
    ) -> None:
        """Wake ``flight`` at ``at``: re-try the current provider, or (retry None) a new pass."""
        wait = max(0.0, at - self._clock.now())
        flight.wake_at = at
        flight.wake_retry = retry
        flight.current = None
        fields: dict[str, object] = {"wait_s": round(wait, 3), "reason": reason}
        if provider:
            fields["provider"] = provider
        flight.note("request.waiting", **fields)
        self._emit(topics.REQUEST_WAITING, flight, fields)
        heapq.heappush(self._waiting, (at, flight.request_id))

    def _out_of_providers(self, flight: Flight) -> None:
        flight.current = None
        if (
            self._strategy == "failover_first"
            and flight.refusals
            and self._may_rewrite(flight)
            and self._start_rewrite(flight, flight.refusals[-1][1])
        ):
            return
        if self._last_resort(flight):
            return
        now = self._clock.now()
        retry_at = flight.cooling_retry_at()
        if retry_at is not None:
            wait = max(0.0, retry_at - now)
            budget = self._cfg.max_cooldown_wait_s - flight.waited_s
            if wait <= budget and retry_at < flight.msg.request.deadline.at:
                flight.waited_s += wait
                self._sleep(flight, retry_at, retry=None, reason="rate_limited")
                return
        self._finish(flight, flight.failure())

    def _last_resort(self, flight: Flight) -> bool:
        """Every provider failed or was skipped: when one was skipped only for its open circuit,
        try it anyway once (Envoy's panic threshold, a level up)."""
        if flight.last_resort_used:
            return False
        order = flight.msg.request.providers
        for i, name in enumerate(order):
            if not self._retry[name].last_resort or name in self._tree.down:
                continue
            if any(
                e.provider == name and e.reason is ExhaustedReason.CIRCUIT_OPEN
                for e in flight.exhausted
            ):
                flight.last_resort_used = True
                flight.forced = name
                flight.index = i
                flight.note("provider.last_resort", provider=name)
                self._advance(flight)
                return True
        return False

    # -- content-policy mitigation ----------------------------------------------------------

    def _may_rewrite(self, flight: Flight) -> bool:
        return (
            self._rewriter is not None
            and self._io is not None
            and flight.msg.request.allow_mitigation
            and not flight.mitigation_attempted
        )

    def _on_refusal(self, flight: Flight, msg: ProviderExhausted) -> bool:
        """Apply the mitigation strategy to a refusal; True when it took over the request."""
        if self._strategy == "propagate" and flight.msg.request.allow_mitigation:
            self._finish(
                flight,
                ContentPolicyError(
                    request_id=flight.request_id,
                    attempts=flight.attempts,
                    reasons=flight.refusals,
                ),
            )
            return True
        if self._strategy == "rewrite_first" and self._may_rewrite(flight):
            return self._start_rewrite(flight, msg.detail)
        return False

    def _start_rewrite(self, flight: Flight, refusal: str) -> bool:
        """Rewrite the refused prompt once, on the I/O loop; the result comes back as a message."""
        assert self._rewriter is not None and self._io is not None
        req = flight.msg.request
        remaining = req.deadline.remaining(self._clock)
        if remaining <= 0:
            return False
        flight.mitigation_attempted = True
        flight.current = None
        flight.note("mitigation.attempted", refusal=refusal)
        self._emit_mitigation(topics.MITIGATION_ATTEMPTED, flight, refusal=refusal)
        ctx = RewriteContext(req.request_id, remaining)
        fut = self._io.submit(run_rewrite(self._rewriter, flight.request.messages, refusal, ctx))
        flight.rewriting = fut
        me, rid = self.address, req.request_id

        def done(f: concurrent.futures.Future[tuple[ChatMessage, ...]]) -> None:
            try:
                me.tell(_RewriteDone(rid, f))
            except pykka.ActorDeadError:
                pass

        fut.add_done_callback(done)
        return True

    def _rewrite_done(self, msg: _RewriteDone) -> None:
        flight = self._flights.get(msg.request_id)
        if flight is None or flight.rewriting is not msg.future:
            return
        flight.rewriting = None
        fut = msg.future
        error = (
            "cancelled"
            if fut.cancelled()
            else (str(fut.exception()) or type(fut.exception()).__name__)
            if fut.exception() is not None
            else None
        )
        if error is not None:
            flight.note("mitigation.failed", reason=error)
            self._emit_mitigation(topics.MITIGATION_FAILED, flight, reason=error)
            if self._strategy == "failover_first":
                self._finish(flight, flight.failure())
            else:  # rewrite_first: carry on down the priority list with the original prompt
                flight.index += 1
                self._advance(flight)
            return
        flight.active = dataclasses.replace(flight.msg.request, messages=fut.result())
        flight.start_pass()
        self._advance(flight)

    def _emit_mitigation(self, topic: str, flight: Flight, **payload: object) -> None:
        severity = Severity.WARNING if topic == topics.MITIGATION_FAILED else Severity.INFO
        self._emit(topic, flight, payload, severity)

    def _emit(
        self,
        topic: str,
        flight: Flight,
        payload: dict[str, object],
        severity: Severity = Severity.INFO,
    ) -> None:
        """Publish one of this request's events (never blocks)."""
        self._events.emit(
            Event(
                event_type=topic,
                source="supervisor",
                severity=severity,
                request_id=flight.request_id,
                payload=dict(payload),
            )
        )

    # -- supervision ------------------------------------------------------------------------

    def _child_failed(self, report: ChildFailed) -> None:
        """Restart a crashed child (or mark it down past the restart limit) and re-route."""
        self._tree.crash_handled(report.name)
        child = self._tree.children.get(report.name)
        if child is None or child.cell.state.value == "down":
            return
        child.cell.mark_restarting()
        if self._tree.intensity.allow(report.name):
            try:
                ref = child.start(report.snapshot)
            except Exception as exc:  # cannot even start it: treat as past the limit
                logger.exception("restarting %s failed", report.name)
                report = ChildFailed(report.name, f"restart failed: {exc}", report.leftovers, None)
            else:
                delivered = child.cell.replace(ref, list(report.leftovers))
                self._emit_actor(topics.ACTOR_RESTARTED, report, Severity.WARNING)
                if child.kind == "provider" and child.provider is not None:
                    resent = {m.request.request_id for m in delivered if isinstance(m, TryProvider)}
                    lost = [rid for rid in report.snapshot or () if rid not in resent]
                    self._reroute(child.provider, lost, ExhaustedReason.CRASHED)
                return
        child.cell.mark_down()
        self._emit_actor(topics.ACTOR_DOWN, report, Severity.CRITICAL)
        if child.provider is not None:
            self._tree.down.add(child.provider)
            held = [f.request_id for f in self._flights.values() if f.current == child.provider]
            self._reroute(child.provider, held, ExhaustedReason.DOWN)

    def _reroute(self, provider: str, request_ids: list[str], reason: ExhaustedReason) -> None:
        for rid in request_ids:
            flight = self._flights.get(rid)
            if flight is not None and flight.current == provider:
                self._exhausted(ProviderExhausted(rid, provider, reason))

    def _emit_actor(self, topic: str, report: ChildFailed, severity: Severity) -> None:
        self._events.emit(
            Event(
                event_type=topic,
                source="supervisor",
                severity=severity,
                payload={"actor": report.name, "error": report.error},
            )
        )

    # -- time -----------------------------------------------------------------------------

    def _tick(self, _msg: Tick) -> None:
        now = self._clock.now()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, rid = heapq.heappop(self._deadlines)
            flight = self._flights.get(rid)
            if flight is not None:
                self._deadline(flight)
        while self._waiting and self._waiting[0][0] <= now:
            at, rid = heapq.heappop(self._waiting)
            flight = self._flights.get(rid)
            if flight is not None and flight.wake_at == at:
                retry = flight.wake_retry
                if retry is None:
                    flight.start_pass()
                    self._advance(flight)
                else:
                    flight.wake_at = flight.wake_retry = None
                    self._advance(flight, retry=retry)

    def _deadline(self, flight: Flight) -> None:
        req = flight.msg.request
        err = DeadlineExceededError(
            f"deadline of {(req.deadline.at - req.started_at):.3g}s exceeded after "
            f"{len(flight.attempts)} attempt(s)",
            request_id=req.request_id,
            attempts=flight.attempts,
        )
        flight.note("request.deadline", deadline_s=round(req.deadline.at - req.started_at, 3))
        self._cancel_current(flight)
        self._finish(flight, err)

    def _cancel_current(self, flight: Flight) -> None:
        if isinstance(flight.rewriting, concurrent.futures.Future):
            flight.rewriting.cancel()
            flight.rewriting = None
        if flight.current is not None:
            self.tell_safely(self._providers[flight.current], CancelRequest(flight.request_id))
            flight.current = None

    # -- endings --------------------------------------------------------------------------

    def _abandon(self, msg: AbandonRequest) -> None:
        flight = self._flights.get(msg.request_id)
        if flight is not None:
            self._cancel_current(flight)
            self._finish(
                flight,
                SystemStoppedError(
                    "the caller stopped waiting",
                    request_id=msg.request_id,
                    attempts=flight.attempts,
                ),
            )

    def _shutdown(self, _msg: Shutdown) -> int:
        flights = list(self._flights.values())
        for flight in flights:
            self._cancel_current(flight)
            self._finish(
                flight,
                SystemStoppedError(
                    "the system stopped before the request was answered",
                    request_id=flight.request_id,
                    attempts=flight.attempts,
                ),
            )
        return len(flights)

    def _finish(self, flight: Flight, result: Result) -> None:
        """Answer the caller exactly once and hand the request to the ledger."""
        if self._flights.pop(flight.request_id, None) is None:
            return
        if len(self._deadlines) > 2 * len(self._flights) + 1024:
            # Answered requests leave their deadlines behind; compact so memory stays flat.
            self._deadlines = [(f.msg.request.deadline.at, rid) for rid, f in self._flights.items()]
            heapq.heapify(self._deadlines)
        req = flight.msg.request
        latency_s = self._clock.now() - req.started_at
        ok = isinstance(result, Completion)
        payload: dict[str, object] = {
            "latency_ms": round(latency_s * 1000.0, 3),
            "attempts": len(flight.attempts),
            "attempt_list": [
                (a.provider, a.model, a.category.value if a.category else "OK", a.latency_ms)
                for a in flight.attempts
            ],
        }
        if isinstance(result, Completion):
            payload.update(provider=result.provider, model=result.model, key_id=result.key_id)
            payload["usage"] = result.usage.model_dump(exclude_none=True)
            payload["finish_reason"] = result.finish_reason
        else:
            payload["error"] = type(result).__name__
        if req.metadata is not None:
            payload["metadata"] = dict(req.metadata)  # users join a failure to their records
        self._events.emit(
            Event(
                event_type=topics.REQUEST_SUCCEEDED if ok else topics.REQUEST_FAILED,
                source="supervisor",
                severity=Severity.INFO if ok else Severity.ERROR,
                request_id=flight.request_id,
                payload=payload,
            )
        )
        if flight.rewritten:
            if ok:
                flight.note("mitigation.succeeded")
                self._emit_mitigation(topics.MITIGATION_SUCCEEDED, flight)
            else:
                flight.note("mitigation.failed", reason="the rewritten prompt failed too")
                self._emit_mitigation(
                    topics.MITIGATION_FAILED, flight, reason="the rewritten prompt failed too"
                )
        flight.msg.reply.deliver(result)
        if self._ledger is not None:
            self.tell_safely(
                self._ledger,
                RequestFinished(
                    req,
                    result,
                    tuple(flight.attempts),
                    tuple(flight.events),
                    latency_s,
                    final_messages=flight.active.messages if flight.active else None,
                    mitigation_attempted=flight.mitigation_attempted,
                ),
            )
