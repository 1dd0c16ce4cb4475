"""The ActorSystem's lifecycle: boot, the Supervisor's own supervision, and stop (a mixin of the
facade)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import pykka

from adaptive_mind.actors.base import Wiring
from adaptive_mind.core.shared_state import KeyTransition, SharedTransition
from adaptive_mind.errors import (
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
from adaptive_mind.messages.supervision import Shutdown
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
        with self._cv:
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
        """Runs on the dead Supervisor's thread: hand the restart to the I/O loop thread."""
        self._supervisor.mark_restarting()
        self._io.call_soon(self._restart_supervisor, report)

    def _restart_supervisor(self, report: ChildFailed) -> None:
        """Start a new Supervisor and re-drive the requests the dead one held.

        A request with time left is handed to the new Supervisor as it was admitted (its reply
        channel, its deadline): it is walked again from the first provider, and whatever the
        dead Supervisor's walks still had in flight is given back by the provider actors when
        it completes (they drop answers for walks they no longer hold). Only a request whose
        deadline has passed fails, with :class:`DeadlineExceededError` and its ledger entry.
        """
        with self._cv:
            if self._stopped:
                return
            held = list(self._requests.values())
        ledger = self._tree.ledger_cell() if self._tree is not None else None
        redrive: list[Complete] = []
        expired = 0
        for admitted in held:
            req = admitted.request
            if not req.deadline.expired(self.clock):
                redrive.append(Complete(req, admitted))
                continue
            expired += 1
            err = DeadlineExceededError(
                "the deadline passed while the supervisor was restarted",
                request_id=req.request_id,
            )
            admitted.deliver(err)
            if ledger is not None:
                latency = self.clock.now() - req.started_at
                ledger.tell(
                    RequestFinished(req, err, (), ({"type": "supervisor.crashed"},), latency)
                )
        try:
            ref = self._start_supervisor()
        except Exception:
            logger.exception("the supervisor could not be restarted")
            self._supervisor.mark_down()
            return
        # Its unread mail holds only requests admitted after it died (those in ``held`` are
        # re-driven from the admission table, once each).
        ids = {c.request.request_id for c in redrive}
        keep = [
            m
            for m in report.leftovers
            if isinstance(m, Complete) and m.request.request_id not in ids
        ]
        self._supervisor.replace(ref, [*redrive, *keep])
        self._bus.emit(
            Event(
                event_type=topics.ACTOR_RESTARTED,
                source="system",
                severity=Severity.WARNING,
                payload={
                    "actor": "supervisor",
                    "error": report.error,
                    "redriven": len(redrive),
                    "failed": expired,
                },
            )
        )

    def _stop(self, timeout_s: float = 0.0) -> None:
        with self._cv:
            if self._stopped:
                return
            self._accepting = False
            if timeout_s > 0:
                self._cv.wait_for(lambda: not self._requests, timeout=timeout_s)
            self._stopped = True
        sup = self._supervisor.ref
        if sup is not None:
            try:
                sup.ask(Shutdown(), timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
            self._supervisor.mark_down()
            sup.stop(block=True, timeout=_ASK_TIMEOUT_S)
        with self._cv:  # anything the supervisor could not answer (it was down) fails here
            orphans = list(self._requests.values())
        for admitted in orphans:
            admitted.deliver(
                SystemStoppedError(
                    "the system stopped before the request was answered",
                    request_id=admitted.request.request_id,
                )
            )
        with self._cv:  # (a stream's slot, held for its reader, goes too)
            self._requests.clear()
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
