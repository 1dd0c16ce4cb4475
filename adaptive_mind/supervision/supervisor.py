"""The Supervisor: walks the provider priority for each request and answers exactly once.

It is the one owner of what is in flight (the facade only counts admission slots; a crashed
Supervisor's requests are re-driven from its :meth:`Supervisor.snapshot`). It never does I/O or
waits on a future: providers answer with messages, and deadlines and waits are kept in two heaps
with one wake-up set for the earliest (``loop.call_later`` on the real clock; a FakeClock fires
it when a test advances it). What happens next in a request's walk (failover, backoffs,
rate-limit waits, the last resort, mitigation) is decided by the sans-IO engine
:class:`~adaptive_mind.core.request_walk.RequestWalk`; the Supervisor carries out its steps and
restarts crashed children.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from adaptive_mind.actors.base import LoopBaseActor, Wiring
from adaptive_mind.chat import ChatMessage, Completion
from adaptive_mind.core.flight import Flight
from adaptive_mind.core.request_walk import (
    Answer,
    CancelCurrent,
    Fact,
    RequestWalk,
    Rewrite,
    Step,
    TryNext,
    WaitUntil,
)
from adaptive_mind.core.restart import ChildKind
from adaptive_mind.core.timetable import Timetable
from adaptive_mind.errors import (
    AdaptiveMindError,
    StreamClosedError,
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
from adaptive_mind.messages.supervision import AbandonRequest, CountInFlight, Shutdown, Tick
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
        self._walk = RequestWalk(
            self._clock,
            self._cfg,
            {name: tree.config.retry_for(name) for name in tree.config.providers},
            strategy=self._strategy,
            can_rewrite=rewriter is not None and io is not None,
            is_down=tree.down.__contains__,
        )
        self._flights: dict[str, Flight] = {}
        self._times = Timetable()

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
        self._flights[rid] = flight
        earlier = self._times.add_deadline(msg.request.deadline.at, rid)
        self._run(flight, self._walk.begin(flight))
        if earlier:
            self._schedule()

    def _run(self, flight: Flight, steps: list[Step]) -> None:
        """Carry out the request walk's steps, in order."""
        for step in steps:
            match step:
                case TryNext():
                    self._try_next(flight, step)
                case Fact(kind, fields, severity):
                    level = Severity.WARNING if severity == "warning" else Severity.INFO
                    self._emit(kind, flight, dict(fields), level)
                case WaitUntil(at):
                    self._times.add_wait(at, flight.request_id)
                    self._schedule()
                case Rewrite(refusal, remaining_s):
                    self._start_rewrite(flight, refusal, remaining_s)
                case CancelCurrent():
                    self._cancel_current(flight)
                case Answer(result):
                    self._finish(flight, result)

    def _try_next(self, flight: Flight, step: TryNext) -> None:
        msg = TryProvider(
            flight.request,
            step.exclude,
            self.address,
            attempts_before=step.attempts_before,
            retry=step.retry,
            force=step.force,
            start_model=step.start_model,
        )
        name = step.provider
        if name in self._tree.down or not self.tell_safely(self._providers[name], msg):
            self._exhausted(ProviderExhausted(flight.request_id, name, ExhaustedReason.DOWN))

    def _exhausted(self, msg: ProviderExhausted) -> None:
        flight = self._flights.get(msg.request_id)
        if flight is not None:
            self._run(flight, self._walk.exhausted(flight, msg))

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
        self._run(flight, self._walk.succeeded(flight, msg))

    def _start_rewrite(self, flight: Flight, refusal: str, remaining: float) -> None:
        """Rewrite the refused prompt once, on the I/O loop; the result comes back as a message."""
        assert self._rewriter is not None and self._io is not None
        req = flight.msg.request
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
        messages = fut.result() if error is None else None
        self._run(flight, self._walk.rewritten(flight, messages, error))

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
        if self._tree.intensity.allow(child.spec.budget):
            try:
                ref = child.start(report.snapshot)
            except Exception as exc:  # cannot even start it: treat as past the limit
                logger.exception("restarting %s failed", report.name)
                report = ChildFailed(report.name, f"restart failed: {exc}", report.leftovers, None)
            else:
                delivered = child.cell.replace(ref, list(report.leftovers))
                self._emit_actor(topics.ACTOR_RESTARTED, report, Severity.WARNING)
                if child.kind is ChildKind.PROVIDER and child.provider is not None:
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

    def _schedule(self) -> None:
        """Keep one wake-up set, for the earliest deadline or wait of a request in flight: an
        idle Supervisor sets none."""
        at = self._times.next_wake(self._flights)
        if at is None:
            return
        me = self.address

        def wake() -> None:
            try:
                me.tell(Tick(at))
            except pykka.ActorDeadError:
                pass  # a restarted Supervisor sets its own

        self._io.wake_at(self._clock, at, wake)

    def _tick(self, msg: Tick) -> None:
        self._times.woke(msg.at)
        now = self._clock.now()
        for rid in self._times.due_deadlines(now):
            flight = self._flights.get(rid)
            if flight is not None:
                self._run(flight, self._walk.deadline(flight))
        for at, rid in self._times.due_waits(now):
            flight = self._flights.get(rid)
            if flight is not None:
                self._run(flight, self._walk.wake(flight, at))
        self._schedule()

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
            error = StreamClosedError if msg.stream_closed else SystemStoppedError
            why = (
                "the caller closed the stream"
                if msg.stream_closed
                else "the caller stopped waiting"
            )
            self._finish(flight, error(why, request_id=msg.request_id, attempts=flight.attempts))

    def snapshot(self) -> tuple[Complete, ...]:
        """The requests it holds, as admitted (with the callers' reply channels): it is the one
        owner of what is in flight, so its restarter re-drives these."""
        return tuple(f.msg for f in self._flights.values())

    def on_stop(self) -> None:
        """Stopped still holding requests (its ``Shutdown`` timed out): answer them anyway."""
        if self._flights:
            self._shutdown(Shutdown())

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
        """Answer the caller exactly once and hand the request to the ledger. The flight leaves
        the table just before its answer goes out: a crash on the way re-drives it from the
        snapshot instead of losing it."""
        if self._flights.get(flight.request_id) is not flight:
            return
        req = flight.msg.request
        latency_s = self._clock.now() - req.started_at
        ok = isinstance(result, Completion)
        payload = flight.summary(result, latency_s)
        self._events.emit(
            Event(
                event_type=topics.REQUEST_SUCCEEDED if ok else topics.REQUEST_FAILED,
                source="supervisor",
                severity=Severity.INFO if ok else Severity.ERROR,
                request_id=flight.request_id,
                payload=payload,
            )
        )
        self._run(flight, self._walk.closing(flight, ok))
        del self._flights[flight.request_id]
        if self._times.stale(len(self._flights)):
            self._times.compact({r: f.msg.request.deadline.at for r, f in self._flights.items()})
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
