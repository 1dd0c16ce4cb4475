"""ActorSystem: the facade a service embeds. Starts the actors and the I/O loop, admits requests.

``complete`` (sync) and ``acomplete`` (async) validate a request, admit it (or fail fast with
OverloadedError), tell the Supervisor, and wait for the single answer. Nothing here holds breaker
or key state: that lives in the actors. The system supervises the Supervisor itself: if it
crashes, the requests it held fail with a clear error (and get their ledger entries) and a new
Supervisor takes over.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import pykka

from adaptive_mind.actors.base import Wiring
from adaptive_mind.actors.cell import ActorCell, CellState
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.ledger import LedgerStore, LedgerTick
from adaptive_mind.actors.telemetry import (
    Drain,
    FlushTelemetry,
    Subscribe,
    Unsubscribe,
    draining_bus,
)
from adaptive_mind.admission import build_request
from adaptive_mind.chat import PARAM_NAMES, Completion
from adaptive_mind.clock import Clock, MonotonicClock
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.errors import (
    AdaptiveMindError,
    BadRequestError,
    DeadlineExceededError,
    OverloadedError,
    SystemStoppedError,
)
from adaptive_mind.messages import (
    AsyncioReply,
    ChildFailed,
    Complete,
    FlushLedger,
    GetBreakerState,
    GetKeyStates,
    ReplyChannel,
    RequestFinished,
    RequestSpec,
)
from adaptive_mind.messages.request import Result, new_thread_reply
from adaptive_mind.supervision.chaos import Chaos
from adaptive_mind.supervision.rewriter import LLMRewriter, PromptRewriter
from adaptive_mind.supervision.supervisor import AbandonRequest, Shutdown, Supervisor, Tick
from adaptive_mind.supervision.tree import ActorTree
from adaptive_mind.telemetry import metrics as metrics_mod
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.events import Event, Severity
from adaptive_mind.telemetry.ledger_store import check_config as check_ledger
from adaptive_mind.telemetry.sinks import (
    JsonLogSink,
    LoggingSink,
    Sink,
    SqliteEventSink,
    SubscriberSink,
)

TICK_S = 0.01
"""How often the Supervisor checks deadlines and cooldown waits."""
_ASK_TIMEOUT_S = 10.0
_STOP_FLUSH_TRIES = 8
logger = logging.getLogger("adaptive_mind")


def _params(*values: object) -> dict[str, Any] | None:
    """The generation parameters the caller set, by name (None: none set, the common case).

    ``values`` come in :data:`PARAM_NAMES` order, then ``extra``.
    """
    if all(v is None for v in values):
        return None
    names = (*PARAM_NAMES, "extra")
    return {n: v for n, v in zip(names, values, strict=True) if v is not None}


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


@dataclass(frozen=True, slots=True)
class _Admitted:
    """Wraps a reply channel: the first answer is delivered and frees the admission slot."""

    request: RequestSpec
    inner: ReplyChannel
    system: ActorSystem

    def deliver(self, result: Result) -> None:
        if self.system._forget(self.request.request_id):
            self.inner.deliver(result)

    def is_open(self) -> bool:
        return self.system._admitted(self.request.request_id)


class ActorSystem:
    """One embedded runtime: actors, the I/O loop, admission. Use :meth:`start`."""

    def __init__(
        self,
        config: RuntimeConfig,
        clock: Clock,
        ledger_store: LedgerStore | None = None,
        rewriter: PromptRewriter | None = None,
        metrics_registry: Any = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._cv = threading.Condition()
        self._requests: dict[str, _Admitted] = {}
        self._accepting = False
        self._stopped = False
        self._io = IoLoop(loop=loop)
        self._loop_thread: int | None = None
        """The caller's loop thread (``astart``), else None."""
        self._bus = EventBus(config.telemetry.buffer_size)
        self._ledger_store = ledger_store
        self._rewriter = rewriter
        self._metrics: metrics_mod.MetricsSink | None = None
        self._metrics_server: Any = None
        self._metrics_registry = metrics_registry
        self._log_sink: LoggingSink | None = None
        self._subscribers = SubscriberSink()
        self._supervisor = ActorCell("supervisor")
        self._tree: ActorTree | None = None
        self.chaos = Chaos(self._cells)
        """Chaos hooks: ``system.chaos.crash("provider:openai")``."""

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        config: RuntimeConfig | Mapping[str, Any],
        *,
        clock: Clock | None = None,
        ledger_store: LedgerStore | None = None,
        rewriter: PromptRewriter | None = None,
        metrics_registry: Any = None,
    ) -> ActorSystem:
        """Validate ``config``, start every actor and the I/O loop, and return the system.

        Args:
            config: a RuntimeConfig or a mapping to validate into one.
            clock: the time source (a FakeClock in tests); monotonic by default.
            ledger_store: where ledger entries go instead of ``ledger.path`` / ``ledger.dsn``
                (any object with ``head()``, ``append(batch)`` and ``close()``).
            rewriter: a custom PromptRewriter for content-policy mitigation (default: the
                LLM rewriter configured in ``mitigation.rewriter``).
            metrics_registry: a ``prometheus_client`` registry of the host application (e.g.
                ``prometheus_client.REGISTRY``) to expose this system's metrics in as well, until
                ``stop()``. One system per registry.

        Raises:
            ConfigError: the configuration is invalid.
            ValueError: ``metrics_registry`` already holds this runtime's series.
        """
        return cls._started(config, clock, ledger_store, rewriter, metrics_registry, None)

    @classmethod
    def _started(
        cls,
        config: RuntimeConfig | Mapping[str, Any],
        clock: Clock | None,
        ledger_store: LedgerStore | None,
        rewriter: PromptRewriter | None,
        metrics_registry: Any,
        loop: asyncio.AbstractEventLoop | None,
    ) -> ActorSystem:
        if not isinstance(config, RuntimeConfig):
            config = RuntimeConfig.model_validate(config)
        lcfg = config.ledger
        if lcfg.enabled and ledger_store is None:  # an unusable path or DSN fails here, not later
            key = lcfg.hash_key.get_secret_value().encode() if lcfg.hash_key else None
            check_ledger(lcfg, key)
        system = cls(
            config, clock or MonotonicClock(), ledger_store, rewriter, metrics_registry, loop
        )
        try:
            system._boot()
        except BaseException:
            system._stop()
            raise
        return system

    @classmethod
    def astart(
        cls,
        config: RuntimeConfig | Mapping[str, Any],
        *,
        clock: Clock | None = None,
        ledger_store: LedgerStore | None = None,
        rewriter: PromptRewriter | None = None,
        metrics_registry: Any = None,
    ) -> AsyncStart:
        """Start on the running event loop: ``async with ActorSystem.astart(config) as system:``
        (or ``system = await ActorSystem.astart(config)`` and later ``await system.astop()``).

        The request-path actors (Supervisor, providers, breakers, key pools) and the SDK calls
        run on the caller's loop, so an ``acomplete`` crosses no thread; the ledger and
        telemetry keep their threads. The same arguments as :meth:`start`. On such a system,
        call ``acomplete`` and ``astop`` from the loop; the blocking ``complete`` and ``stop``
        would wait for the loop they block, so they raise ``RuntimeError`` there.
        """
        return AsyncStart(
            lambda loop: cls._started(config, clock, ledger_store, rewriter, metrics_registry, loop)
        )

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
        )
        self._tree = tree
        tree.build()
        mitigation = self.config.mitigation
        if mitigation is not None and mitigation.strategy != "propagate":
            if self._rewriter is None and mitigation.rewriter is not None:
                rw = mitigation.rewriter
                self._rewriter = LLMRewriter(rw.provider, rw.model, rw.instruction)
            if isinstance(self._rewriter, LLMRewriter):
                self._rewriter.bind(self._rewrite_request)
        supervisor.replace(self._start_supervisor(), [])
        ledger = tree.ledger_cell()

        def tick() -> None:
            try:
                supervisor.tell(Tick())
            except pykka.ActorDeadError:
                pass

        self._io.every(TICK_S, tick)
        if ledger is not None:

            def ledger_tick() -> None:
                try:
                    ledger.tell(LedgerTick())
                except pykka.ActorDeadError:
                    pass

            self._io.every(min(self.config.ledger.flush_interval_s, 1.0), ledger_tick)
        with self._cv:
            self._accepting = True

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

    def __enter__(self) -> ActorSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout_s: float = 0.0) -> None:
        """Stop admitting, fail what is still in flight, flush, and stop every thread.

        Idempotent. With ``timeout_s > 0`` in-flight requests get up to that long to finish
        before they are failed with :class:`SystemStoppedError`.

        Raises:
            RuntimeError: called from a subscriber callback (see :meth:`subscribe`), or on the
                loop of a system started with :meth:`astart` (use ``await astop()``).
        """
        self._not_from_subscriber("stop")
        self._not_on_own_loop("stop", "astop")
        self._stop(timeout_s)

    async def astop(self, timeout_s: float = 0.0) -> None:
        """:meth:`stop` without blocking the running loop (it runs on a worker thread while the
        loop keeps serving the actors that stop)."""
        await asyncio.get_running_loop().run_in_executor(None, self._stop, timeout_s)

    def _not_on_own_loop(self, method: str, instead: str) -> None:
        if self._io.external and threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                f"ActorSystem.{method}() blocks, and this system runs on this thread's event "
                f"loop (astart): use await system.{instead}()"
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

    def _admit(self, spec: RequestSpec, reply: ReplyChannel) -> None:
        admitted = _Admitted(spec, reply, self)
        if self._log_sink is not None:  # its events are logged in the caller's context
            self._log_sink.bind(spec.request_id, contextvars.copy_context())
        with self._cv:
            if not self._accepting:
                raise SystemStoppedError("the system is stopped")
            limit = self.config.request.max_in_flight
            if len(self._requests) >= limit:
                self._count_rejected("overloaded")
                raise OverloadedError(
                    f"request.max_in_flight ({limit}) requests are already in flight"
                )
            self._requests[spec.request_id] = admitted
        try:
            self._supervisor.tell(Complete(spec, admitted))
        except pykka.ActorDeadError:
            self._forget(spec.request_id)
            raise SystemStoppedError("the system is stopped") from None

    def _admitted(self, request_id: str) -> bool:
        with self._cv:
            return request_id in self._requests

    def _forget(self, request_id: str) -> bool:
        """Free a request's slot; True only the first time (so it is answered exactly once)."""
        with self._cv:
            found = self._requests.pop(request_id, None) is not None
            if found and not self._requests:
                self._cv.notify_all()
            return found

    def _build(
        self,
        messages: object,
        providers: Sequence[str] | None,
        models: Mapping[str, Sequence[str]] | None,
        deadline_s: float | None,
        metadata: Mapping[str, Any] | None,
        parent_request_id: str | None = None,
        allow_mitigation: bool = True,
        params: dict[str, Any] | None = None,
    ) -> RequestSpec:
        try:
            return build_request(
                self.config,
                self.clock,
                messages,
                providers=providers,
                models=models,
                deadline_s=deadline_s,
                metadata=metadata,
                parent_request_id=parent_request_id,
                allow_mitigation=allow_mitigation,
                params=params,
            )
        except BadRequestError:
            self._count_rejected("bad_request")
            raise

    def _count_rejected(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.rejected.labels(reason).inc()

    async def acomplete(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        deadline_s: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        user: str | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning_effort: str | None = None,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Completion:
        """Answer a chat request from the best provider that can serve it.

        Raises:
            BadRequestError: invalid arguments (before any upstream call) or a request that
                no key or model will fix.
            OverloadedError: more than ``request.max_in_flight`` requests in flight.
            AllProvidersFailedError, ContentPolicyError, DeadlineExceededError,
            SystemStoppedError: see :mod:`adaptive_mind.errors`.
            RuntimeError: called from a subscriber callback (see :meth:`subscribe`).

        The generation parameters have the meaning and ranges of the OpenAI Chat Completions
        API; None leaves the provider's default. A provider that lacks a best-effort one
        (Anthropic: ``seed``, the penalties; Gemini: ``user``) leaves it out and the attempt
        lists it in ``dropped``. ``extra={provider_name: {...}}`` is merged into that
        provider's request body only. ``metadata`` (≤ 16 keys, ≤ 4 KiB as JSON) goes to the
        ledger entry and the request's final event. ``response_format`` (``{"type": "text" |
        "json_object"}`` or ``{"type": "json_schema", "json_schema": {"name", "schema",
        "strict"}}``) asks for JSON: the answer's decoded value is ``Completion.parsed``, and a
        provider whose answer is not JSON fails over to the next one without blame for its key
        or breaker. ``tools`` / ``tool_choice`` / ``parallel_tool_calls`` are OpenAI's; the
        model's calls come back in ``Completion.tool_calls`` (and ``Completion.message``, the
        next turn to send back). ``reasoning_effort`` (``low`` / ``medium`` / ``high``) becomes
        each provider's own thinking setting. Messages take OpenAI's shape: roles ``system``,
        ``developer``, ``user``, ``assistant``, ``tool``; content parts (text, images); assistant
        ``tool_calls`` and ``tool`` turns. A provider that cannot serve the request (a capability
        it lacks, see the configuration reference) is skipped as ``unsupported``.
        """
        self._not_from_subscriber("acomplete")
        params = _params(
            temperature, top_p, max_tokens, max_completion_tokens, stop, seed,
            presence_penalty, frequency_penalty, user, response_format, tools, tool_choice,
            parallel_tool_calls, reasoning_effort, extra,
        )  # fmt: skip
        spec = self._build(messages, providers, models, deadline_s, metadata, params=params)
        return await self._run(spec)

    async def _run(self, spec: RequestSpec) -> Completion:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        self._admit(spec, AsyncioReply(loop, fut))
        try:
            result = await fut
        except asyncio.CancelledError:
            try:
                self._supervisor.tell(AbandonRequest(spec.request_id))
            except pykka.ActorDeadError:
                pass
            raise
        if isinstance(result, AdaptiveMindError):
            raise result
        return result

    async def _rewrite_request(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str],
        models: Mapping[str, Sequence[str]],
        parent_request_id: str | None,
        deadline_s: float | None,
    ) -> Completion:
        """The LLM rewriter's own request: same Supervisor, mitigation off, linked to its parent."""
        spec = self._build(messages, providers, models, deadline_s, None, parent_request_id, False)
        return await self._run(spec)

    def complete(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        deadline_s: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        user: str | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning_effort: str | None = None,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Completion:
        """The synchronous facade of :meth:`acomplete` (blocks the calling thread)."""
        self._not_from_subscriber("complete")
        self._not_on_own_loop("complete", "acomplete")
        params = _params(
            temperature, top_p, max_tokens, max_completion_tokens, stop, seed,
            presence_penalty, frequency_penalty, user, response_format, tools, tool_choice,
            parallel_tool_calls, reasoning_effort, extra,
        )  # fmt: skip
        spec = self._build(messages, providers, models, deadline_s, metadata, params=params)
        reply, fut = new_thread_reply()
        self._admit(spec, reply)
        result = fut.result()
        if isinstance(result, AdaptiveMindError):
            raise result
        return result

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet answered."""
        with self._cv:
            return len(self._requests)

    # -- observability --------------------------------------------------------------------

    def _not_from_subscriber(self, method: str) -> None:
        """Refuse a blocking call made on this system's telemetry thread (a subscriber callback):
        it would wait for the very thread it is blocking."""
        if draining_bus() is self._bus:
            raise RuntimeError(
                f"system.{method}() was called from an event subscriber callback: callbacks run "
                "on the telemetry thread and must not call back into the system synchronously "
                "(hand the work to another thread or task)"
            )

    def _running(self, method: str, blocking: bool = True) -> None:
        """Raise SystemStoppedError once stop() has begun (and refuse subscriber callbacks)."""
        if self._stopped:
            raise SystemStoppedError(f"system.{method}(): the system is stopped")
        if blocking:
            self._not_from_subscriber(method)

    def _ask(self, method: str, cell: ActorCell, message: object) -> Any:
        self._running(method)
        try:
            return cell.ask(message, timeout=_ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            if self._stopped:  # stop() began while we asked
                raise SystemStoppedError(f"system.{method}(): the system is stopped") from None
            raise

    def _cells(self) -> dict[str, ActorCell]:
        cells = {"supervisor": self._supervisor}
        if self._tree is not None:
            cells.update({n: c.cell for n, c in self._tree.children.items()})
        return cells

    def actors(self) -> dict[str, CellState]:
        """Every supervised actor's state: ``running``, ``restarting`` or ``down`` (as
        :class:`am.ActorState`, a ``StrEnum`` equal to those strings).

        Raises:
            SystemStoppedError: the system is stopped.
        """
        self._running("actors", blocking=False)
        return {name: cell.state for name, cell in self._cells().items()}

    def _provider_cell(self, kind: str, provider: str) -> ActorCell:
        if provider not in self.config.providers or self._tree is None:
            raise ValueError(f"provider: '{provider}' is not configured")
        return self._tree.cell(f"{kind}:{provider}")

    def breaker_state(self, provider: str) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half_open"``, as :class:`am.BreakerState` (a
        ``StrEnum``: it compares equal to those strings).

        Raises:
            SystemStoppedError: the system is stopped.
            RuntimeError: called from a subscriber callback (see :meth:`subscribe`).
        """
        self._running("breaker_state")
        cell = self._provider_cell("breaker", provider)
        return BreakerState(self._ask("breaker_state", cell, GetBreakerState()))

    def key_states(self, provider: str) -> list[dict[str, Any]]:
        """Every key's ``{key_id, state, cooldown_until, failures}`` (never a secret).

        Raises:
            SystemStoppedError: the system is stopped.
            RuntimeError: called from a subscriber callback (see :meth:`subscribe`).
        """
        self._running("key_states")
        cell = self._provider_cell("key_pool", provider)
        return list(self._ask("key_states", cell, GetKeyStates()))

    def subscribe(
        self, callback: Callable[[Event], object], topics: Iterable[str] | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (of ``topics``, if given).

        Callbacks run on the telemetry thread; one that raises is logged and skipped. A callback
        must not call the system's blocking methods (``complete``, ``breaker_state``,
        ``key_states``, ``flush``, ``subscribe``, ``metrics_text``, ``stop`` …): they raise
        ``RuntimeError`` there instead of waiting for the thread they block. Returns a function
        that unsubscribes.

        Raises:
            SystemStoppedError: the system is stopped.
        """
        cell = self._cells()["telemetry"]
        wanted = frozenset(topics) if topics is not None else None
        sid = cast(int, self._ask("subscribe", cell, Subscribe(callback, wanted)))

        def unsubscribe() -> None:
            try:
                cell.tell(Unsubscribe(sid))
            except pykka.ActorDeadError:
                pass

        return unsubscribe

    def flush(self) -> None:
        """Write pending ledger entries and deliver pending events now (for tests and tools).

        Raises:
            SystemStoppedError: the system is stopped (``stop()`` flushes).
            RuntimeError: called from a subscriber callback (see :meth:`subscribe`).
        """
        cells = self._cells()
        if "ledger" in cells:
            self._ask("flush", cells["ledger"], FlushLedger())
        self._ask("flush", cells["telemetry"], FlushTelemetry())

    def metrics_text(self) -> str:
        """Prometheus exposition text (in-flight and mailbox gauges are read now).

        Raises:
            SystemStoppedError: the system is stopped.
            RuntimeError: metrics are off, or ``prometheus-client`` (the ``metrics`` extra) is
                not installed, or called from a subscriber callback.
        """
        self._running("metrics_text")
        if self._metrics is None:
            raise RuntimeError(
                "metrics are unavailable: install adaptive-mind[metrics] and keep "
                "telemetry.metrics on"
            )
        try:  # deliver what is already published, so the text is current
            self._cells()["telemetry"].ask(Drain(), timeout=_ASK_TIMEOUT_S)
        except (pykka.ActorDeadError, pykka.Timeout):
            pass
        return self._metrics.text()

    def mailbox_depths(self) -> dict[str, int]:
        """Messages waiting in each live actor's inbox (a backlog signals overload).

        Raises:
            SystemStoppedError: the system is stopped.
        """
        self._running("mailbox_depths", blocking=False)
        return self._mailbox_depths()

    def _mailbox_depths(self) -> dict[str, int]:
        """The depths without the lifecycle check (the metrics scrape calls this)."""
        depths = {}
        for name, cell in self._cells().items():
            ref = cell.ref
            if ref is not None and ref.is_alive():
                depths[name] = ref.actor_inbox.qsize()  # type: ignore[attr-defined]
        return depths

    @property
    def events_dropped(self) -> int:
        """Events dropped because the telemetry buffer overflowed."""
        return self._bus.dropped_total

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"ActorSystem(providers={list(self.config.providers)}, {state})"
