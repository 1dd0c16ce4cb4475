"""The ActorSystem's lifecycle: boot, the Supervisor's own supervision, and stop (a mixin of the
facade)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import pykka

from adaptive_mind.actors.base import Wiring
from adaptive_mind.core.shared_state import KeyTransition, SharedTransition
from adaptive_mind.errors import (
    AdaptiveMindError,
    DeadlineExceededError,
    SystemStoppedError,
)
from adaptive_mind.messages import (
    ApplyTransition,
    ChildFailed,
    Complete,
    FlushLedger,
    RequestFinished,
)
from adaptive_mind.messages.supervision import AbandonRequest, Shutdown
from adaptive_mind.state import build_backend
from adaptive_mind.supervision.rewriter import LLMRewriter
from adaptive_mind.supervision.supervisor import Supervisor
from adaptive_mind.supervision.tree import ActorTree
from adaptive_mind.system_state import (
    ASK_TIMEOUT_S as _ASK_TIMEOUT_S,
)
from adaptive_mind.system_state import (
    STOP_FLUSH_TRIES as _STOP_FLUSH_TRIES,
)
from adaptive_mind.system_state import (
    SystemState,
)
from adaptive_mind.telemetry import metrics as metrics_mod
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, Severity
from adaptive_mind.telemetry.sinks import (
    JsonLogSink,
    LoggingSink,
    Sink,
    SqliteEventSink,
)

if TYPE_CHECKING:
    from adaptive_mind.system import ActorSystem

logger = logging.getLogger("adaptive_mind")

_ErrorFor = Callable[[str], AdaptiveMindError]


def _stopped_error(request_id: str) -> AdaptiveMindError:
    return SystemStoppedError(
        "the system stopped before the request was answered", request_id=request_id
    )


def _late_error(request_id: str) -> AdaptiveMindError:
    return DeadlineExceededError(
        "the deadline passed while the supervisor was restarted", request_id=request_id
    )


def _held(report: ChildFailed) -> list[Complete]:
    """The requests a dead Supervisor held: those it was walking (its snapshot, see
    :meth:`Supervisor.snapshot`) and those still unread in its mailbox."""
    walking = report.snapshot if isinstance(report.snapshot, tuple) else ()
    return [m for m in (*walking, *report.leftovers) if isinstance(m, Complete)]


class Lifecycle(SystemState):
    """Starting, restarting the Supervisor, stopping."""

    def _sinks(self) -> list[Sink]:
        tcfg = self.config.telemetry
        sinks: list[Sink] = []
        if tcfg.metrics and metrics_mod.AVAILABLE:
            live = metrics_mod.LiveGauges(lambda: self.in_flight, self._mailbox_depths)
            self._metrics = metrics_mod.MetricsSink(live)
            sinks.append(self._metrics)
            if self._metrics_registry is not None:
                self._metrics.register_in(self._metrics_registry)
            if tcfg.metrics_port is not None:
                self._metrics_server = self._metrics.serve(tcfg.metrics_port, tcfg.metrics_host)
        elif self._metrics_registry is not None:
            logger.warning("metrics_registry ignored: metrics are off or prometheus-client missing")
        if tcfg.log == "logging":
            self._log_sink = LoggingSink(max_contexts=self.config.request.max_in_flight + 1024)
            sinks.append(self._log_sink)
        elif tcfg.log:
            sinks.append(JsonLogSink(tcfg.log))
        if tcfg.events_db:
            sinks.append(SqliteEventSink(tcfg.events_db))
        return sinks

    def _boot(self) -> None:
        self._loop_thread = threading.get_ident() if self._io.external else None
        self._io.start()
        state = build_backend(self.config.state, self._io.loop, self.clock, self._bus)
        self._state_backend = state
        supervisor = self._supervisor
        tree = ActorTree(
            self.config,
            self.clock,
            self._io,
            self._bus,
            self._sinks(),
            self._subscribers,
            report=supervisor.tell,
            ledger_store=self._ledger_store,
            state=state if state.shared else None,
        )
        self._tree = tree
        tree.build()
        state.subscribe(self._apply_peer_transition)
        state.start()
        mitigation = self.config.mitigation
        if mitigation is not None and mitigation.strategy != "propagate":
            if self._rewriter is None and mitigation.rewriter is not None:
                rw = mitigation.rewriter
                self._rewriter = LLMRewriter(rw.provider, rw.model, rw.instruction)
            if isinstance(self._rewriter, LLMRewriter):
                self._rewriter.bind(self._rewrite_request)
        supervisor.replace(self._start_supervisor(), [])
        with self._lock:
            self._accepting = True

    def _apply_peer_transition(self, t: SharedTransition) -> None:
        """Hand a peer's transition to the actor that owns that state (on the I/O loop)."""
        kind = "key_pool" if isinstance(t, KeyTransition) else "breaker"
        child = self._tree.children.get(f"{kind}:{t.provider}") if self._tree else None
        if child is None:
            return  # a provider this replica does not have
        try:
            child.cell.tell(ApplyTransition(t))
        except pykka.ActorDeadError:
            pass  # down or stopping: its state no longer matters

    def _start_supervisor(self) -> pykka.ActorRef[Any]:
        assert self._tree is not None
        wiring = Wiring("supervisor", self._supervisor, self._supervisor_crashed, self._io.loop)
        return Supervisor.start(self._tree, self._bus, self._rewriter, wiring)

    def _supervisor_crashed(self, report: ChildFailed) -> None:
        """Runs on the dead Supervisor's thread: hand the restart to the I/O loop thread; once
        ``stop()`` has begun, fail what it held here instead (nobody would restart it)."""
        self._supervisor.mark_restarting()
        with self._lock:
            stopping = self._stopped
            if not stopping:
                self._crash = report
        if stopping:
            self._fail_held(_held(report), _stopped_error, "system.stopped")
            return
        self._io.call_soon(self._restart_supervisor)

    def _restart_supervisor(self) -> None:
        """Start a new Supervisor and re-drive the requests the dead one held.

        What it held comes from its crash report: the requests it was walking (its snapshot)
        and those still unread in its mailbox. A request with time left is handed to the new
        Supervisor as it was admitted (its reply channel, its deadline): it is walked again
        from the first provider, and whatever the dead Supervisor's walks still had in flight is
        given back by the provider actors when it completes (they drop answers for walks they no
        longer hold). Only a request whose deadline has passed fails, with
        :class:`DeadlineExceededError` and its ledger entry.

        The restart runs under the facade's lock, so ``stop()`` either finds the new Supervisor
        in place (and shuts it down) or takes the crash report over itself; the answers go out
        after the lock is released.
        """
        with self._lock:
            report, self._crash = self._crash, None
            if report is None or self._stopped:
                self._crash = report  # stop() fails what it held
                return
            expired, redriven, lost = self._restart_from(report)
        self._fail_held(expired, _late_error, "supervisor.crashed")
        if lost is not None:
            self._fail_held(lost, _stopped_error, "supervisor.down")
            return
        self._bus.emit(
            Event(
                event_type=topics.ACTOR_RESTARTED,
                source="system",
                severity=Severity.WARNING,
                payload={
                    "actor": "supervisor",
                    "error": report.error,
                    "redriven": redriven,
                    "failed": len(expired),
                },
            )
        )

    def _restart_from(
        self, report: ChildFailed
    ) -> tuple[list[Complete], int, list[Complete] | None]:
        """Start the replacement with the requests that have time left: returns those that
        have none, how many were re-driven, and (when no Supervisor would start, and it is
        marked down) the requests no one will walk."""
        redrive: list[object] = []
        expired: list[Complete] = []
        for msg in _held(report):
            (expired if msg.request.deadline.expired(self.clock) else redrive).append(msg)
        redriven = len(redrive)
        # A caller who left while it was down: its request ends quietly after the re-drive.
        redrive += [m for m in report.leftovers if isinstance(m, AbandonRequest)]
        try:
            ref = self._start_supervisor()
        except Exception:
            logger.exception("the supervisor could not be restarted")
            backlog = self._supervisor.mark_down()
            return expired, 0, [m for m in (*redrive, *backlog) if isinstance(m, Complete)]
        self._supervisor.replace(ref, redrive)
        return expired, redriven, None

    def _fail_held(self, held: Sequence[Complete], error: _ErrorFor, trail: str) -> None:
        """Answer requests no Supervisor will answer, each with its ledger entry (a reply
        channel already answered drops the second answer; its entry was written then)."""
        ledger = self._tree.ledger_cell() if self._tree is not None else None
        for msg in held:
            if not msg.reply.is_open():
                continue
            req = msg.request
            err = error(req.request_id)
            msg.reply.deliver(err)
            if ledger is not None:
                latency = self.clock.now() - req.started_at
                try:
                    ledger.tell(RequestFinished(req, err, (), ({"type": trail},), latency))
                except pykka.ActorDeadError:
                    pass

    def _stop(self, timeout_s: float = 0.0) -> None:
        with self._lock:
            if self._stopped:
                return
            self._accepting = False
        if timeout_s > 0:
            self._gate.wait_idle(timeout_s)
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            report, self._crash = self._crash, None  # a crash no restart took over
            sup = self._supervisor.ref
        if sup is not None:
            try:
                sup.ask(Shutdown(), timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass  # dead: its crash report holds its requests; stuck: it answers as it stops
        backlog = self._supervisor.mark_down()
        if sup is not None:
            sup.stop(block=True, timeout=_ASK_TIMEOUT_S)
        # What no Supervisor can answer (it was dead or restarting) fails here.
        held = [*(_held(report) if report is not None else ()), *backlog]
        self._fail_held(
            [m for m in held if isinstance(m, Complete)], _stopped_error, "system.stopped"
        )
        self._gate.drain()  # (a stream's slot, held for its reader, goes too)
        tree = self._tree
        if tree is not None:
            self._flush_ledger_for_stop(tree)
            names = [n for n in tree.children if n not in ("telemetry", "ledger")]
            tree.stop(["ledger", *names], _ASK_TIMEOUT_S)
            if self._io.loop.is_running():
                for adapter in tree.adapters.values():
                    try:
                        self._io.submit(adapter.aclose()).result(_ASK_TIMEOUT_S)
                    except Exception:
                        pass
        state = self._state_backend
        if state is not None and self._io.loop.is_running():
            try:
                self._io.submit(state.aclose()).result(_ASK_TIMEOUT_S)
            except Exception:
                logger.warning("state: the backend did not close cleanly", exc_info=True)
        self._io.stop()
        if tree is not None:
            tree.stop(["telemetry"], _ASK_TIMEOUT_S)  # drains and flushes the sinks
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._metrics is not None:
            self._metrics.close()  # leave the host registry even if telemetry never started

    @staticmethod
    def _flush_ledger_for_stop(tree: ActorTree) -> None:
        """Flush until nothing is pending; a failing store gets a few quick retries. A ledger
        that crashed while the system stopped (its report never reached the Supervisor) is
        restarted from its crash report first, so its unwritten entries are not lost."""
        pending = 0
        revivals = 0
        for attempt in range(_STOP_FLUSH_TRIES):
            tree.revive_for_stop("ledger", _ASK_TIMEOUT_S)
            ledger = tree.ledger_cell()
            if ledger is None or ledger.ref is None:
                return
            try:
                pending = cast(int, ledger.ref.ask(FlushLedger(), timeout=_ASK_TIMEOUT_S))
            except pykka.ActorDeadError:
                revivals += 1
                if revivals > 3:
                    return
                continue  # it crashed under the flush: revive it and flush again
            except pykka.Timeout:
                return
            if not pending:
                return
            time.sleep(0.05 * (attempt + 1))
        logger.error("ledger: stopping with %s entries the store would not accept", pending)

    # -- requests -------------------------------------------------------------------------


class AsyncStart:
    """What :meth:`ActorSystem.astart` returns: ``async with`` it, or ``await`` it."""

    def __init__(self, boot: Callable[[asyncio.AbstractEventLoop], ActorSystem]) -> None:
        self._boot = boot
        self._system: ActorSystem | None = None

    def __await__(self) -> Generator[Any, None, ActorSystem]:
        return self._start().__await__()

    async def _start(self) -> ActorSystem:
        self._system = self._boot(asyncio.get_running_loop())
        return self._system

    async def __aenter__(self) -> ActorSystem:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._system is not None:
            await self._system.astop()
