"""ActorSystem: the facade a service embeds. Starts the actors and the I/O loop, admits requests.

``complete`` (sync) and ``acomplete`` (async) validate a request, admit it (or fail fast with
OverloadedError), tell the Supervisor, and wait for the single answer. Nothing here holds breaker
or key state: that lives in the actors.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import pykka

from adaptive_mind.actors.breaker import CircuitBreakerActor
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.key_pool import KeyPoolActor
from adaptive_mind.actors.ledger import LedgerActor, LedgerStore, LedgerTick
from adaptive_mind.actors.provider import ProviderActor
from adaptive_mind.actors.telemetry import (
    Drain,
    FlushTelemetry,
    Subscribe,
    TelemetryActor,
    Unsubscribe,
)
from adaptive_mind.admission import build_request
from adaptive_mind.chat import Completion
from adaptive_mind.clock import Clock, MonotonicClock
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.errors import AdaptiveMindError, OverloadedError, SystemStoppedError
from adaptive_mind.messages import (
    AsyncioReply,
    Complete,
    FlushLedger,
    GetBreakerState,
    GetKeyStates,
    ReplyChannel,
    RequestSpec,
)
from adaptive_mind.messages.request import Result, new_thread_reply
from adaptive_mind.providers import ProviderAdapter, build_adapter
from adaptive_mind.supervision.rewriter import LLMRewriter, PromptRewriter
from adaptive_mind.supervision.supervisor import AbandonRequest, Shutdown, Supervisor, Tick
from adaptive_mind.telemetry import metrics as metrics_mod
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.events import Event
from adaptive_mind.telemetry.sinks import JsonLogSink, Sink, SqliteEventSink, SubscriberSink

TICK_S = 0.01
"""How often the Supervisor checks deadlines and cooldown waits."""
_ASK_TIMEOUT_S = 10.0
_STOP_FLUSH_TRIES = 8
logger = logging.getLogger("adaptive_mind")


@dataclass(frozen=True, slots=True)
class _Admitted:
    """Wraps a reply channel so the admission slot is freed when the answer is delivered."""

    inner: ReplyChannel
    system: ActorSystem

    def deliver(self, result: Result) -> None:
        try:
            self.inner.deliver(result)
        finally:
            self.system._release_slot()


@dataclass(frozen=True, slots=True)
class _ProviderRefs:
    provider: pykka.ActorRef[Any]
    key_pool: pykka.ActorRef[Any]
    breaker: pykka.ActorRef[Any]
    adapter: ProviderAdapter


class ActorSystem:
    """One embedded runtime: actors, the I/O loop, admission. Use :meth:`start`."""

    def __init__(
        self, config: RuntimeConfig, clock: Clock, ledger_store: LedgerStore | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self._events = EventBus(config.telemetry.buffer_size)
        self._ledger_store = ledger_store
        self._metrics: metrics_mod.MetricsSink | None = None
        self._metrics_server: Any = None
        self._telemetry: pykka.ActorRef[Any] | None = None
        self._ledger: pykka.ActorRef[Any] | None = None
        self._rewriter: PromptRewriter | None = None
        self._cv = threading.Condition()
        self._in_flight = 0
        self._accepting = False
        self._stopped = False
        self._io = IoLoop()
        self._providers: dict[str, _ProviderRefs] = {}
        self._supervisor: pykka.ActorRef[Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        config: RuntimeConfig | Mapping[str, Any],
        *,
        clock: Clock | None = None,
        ledger_store: LedgerStore | None = None,
        rewriter: PromptRewriter | None = None,
    ) -> ActorSystem:
        """Validate ``config``, start every actor and the I/O loop, and return the system.

        Args:
            config: a RuntimeConfig or a mapping to validate into one.
            clock: the time source (a FakeClock in tests); monotonic by default.
            ledger_store: where ledger entries go instead of ``ledger.path`` (any object with
                ``head()``, ``append(batch)`` and ``close()``).
            rewriter: a custom PromptRewriter for content-policy mitigation (default: the
                LLM rewriter configured in ``mitigation.rewriter``).

        Raises:
            ConfigError: the configuration is invalid.
        """
        if not isinstance(config, RuntimeConfig):
            config = RuntimeConfig.model_validate(config)
        system = cls(config, clock or MonotonicClock(), ledger_store)
        system._rewriter = rewriter
        try:
            system._boot()
        except BaseException:
            system.stop()
            raise
        return system

    def _start_telemetry(self) -> None:
        tcfg = self.config.telemetry
        sinks: list[Sink] = []
        if tcfg.metrics and metrics_mod.AVAILABLE:
            self._metrics = metrics_mod.MetricsSink()
            sinks.append(self._metrics)
            if tcfg.metrics_port is not None:
                self._metrics_server = self._metrics.serve(tcfg.metrics_port)
        if tcfg.log:
            sinks.append(JsonLogSink(tcfg.log))
        if tcfg.events_db:
            sinks.append(SqliteEventSink(tcfg.events_db))
        telemetry = TelemetryActor.start(self._events, sinks, SubscriberSink())
        self._telemetry = telemetry

        def wake() -> None:
            telemetry.tell(Drain())

        self._events.wake = wake

    def _boot(self) -> None:
        self._io.start()
        self._start_telemetry()
        lcfg = self.config.ledger
        if lcfg.enabled:
            store = self._ledger_store
            ledger = LedgerActor.start(
                lcfg, self.clock, self._events, (lambda: store) if store is not None else None
            )
            self._ledger = ledger

            def ledger_tick() -> None:
                try:
                    ledger.tell(LedgerTick())
                except pykka.ActorDeadError:
                    pass

            self._io.every(min(lcfg.flush_interval_s, 1.0), ledger_tick)
        for name, pcfg in self.config.providers.items():
            breaker = CircuitBreakerActor.start(name, pcfg.breaker, self.clock, self._events)
            pool = KeyPoolActor.start(name, pcfg.key_ids(name), pcfg.keys, self.clock, self._events)
            adapter = build_adapter(name, pcfg)
            provider = ProviderActor.start(
                name,
                adapter,
                pcfg.models,
                pcfg.timeout_s,
                breaker,
                pool,
                self._io,
                self.clock,
                self._events,
            )
            self._providers[name] = _ProviderRefs(provider, pool, breaker, adapter)
        mitigation = self.config.mitigation
        if mitigation is not None and mitigation.strategy != "propagate":
            if self._rewriter is None and mitigation.rewriter is not None:
                rw = mitigation.rewriter
                self._rewriter = LLMRewriter(rw.provider, rw.model, rw.instruction)
            if isinstance(self._rewriter, LLMRewriter):
                self._rewriter.bind(self._rewrite_request)
        self._supervisor = Supervisor.start(
            {n: r.provider for n, r in self._providers.items()},
            self.config.request,
            self.clock,
            self._events,
            self._ledger,
            mitigation,
            self._rewriter,
            self._io,
        )
        supervisor = self._supervisor

        def tick() -> None:
            try:
                supervisor.tell(Tick())
            except pykka.ActorDeadError:
                pass

        self._io.every(TICK_S, tick)
        with self._cv:
            self._accepting = True

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
        """
        with self._cv:
            if self._stopped:
                return
            self._stopped = True
            self._accepting = False
            if timeout_s > 0:
                self._cv.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)
        if self._supervisor is not None:
            try:
                self._supervisor.ask(Shutdown(), timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
            self._supervisor.stop(block=True, timeout=_ASK_TIMEOUT_S)
        if self._ledger is not None:
            self._flush_ledger_for_stop(self._ledger)
            self._ledger.stop(block=True, timeout=_ASK_TIMEOUT_S)
        for refs in self._providers.values():
            for ref in (refs.provider, refs.key_pool, refs.breaker):
                try:
                    ref.stop(block=True, timeout=_ASK_TIMEOUT_S)
                except pykka.Timeout:
                    pass
        if self._io.loop.is_running():
            for refs in self._providers.values():
                try:
                    self._io.submit(refs.adapter.aclose()).result(_ASK_TIMEOUT_S)
                except Exception:  # closing a client must not break stop()
                    pass
        self._io.stop()
        if self._telemetry is not None:
            self._telemetry.stop(block=True, timeout=_ASK_TIMEOUT_S)  # drains and flushes sinks
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()

    @staticmethod
    def _flush_ledger_for_stop(ledger: pykka.ActorRef[Any]) -> None:
        """Flush until nothing is pending; a failing store gets a few quick retries."""
        for attempt in range(_STOP_FLUSH_TRIES):
            try:
                pending = ledger.ask(FlushLedger(), timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                return
            if not pending:
                return
            time.sleep(0.05 * (attempt + 1))
        logger.error("ledger: stopping with %s entries the store would not accept", pending)

    # -- requests -------------------------------------------------------------------------

    def _admit(self, spec: RequestSpec, reply: ReplyChannel) -> None:
        with self._cv:
            if not self._accepting:
                raise SystemStoppedError("the system is stopped")
            limit = self.config.request.max_in_flight
            if self._in_flight >= limit:
                raise OverloadedError(
                    f"request.max_in_flight ({limit}) requests are already in flight"
                )
            self._in_flight += 1
        assert self._supervisor is not None
        try:
            self._supervisor.tell(Complete(spec, _Admitted(reply, self)))
        except pykka.ActorDeadError:
            self._release_slot()
            raise SystemStoppedError("the system is stopped") from None

    def _release_slot(self) -> None:
        with self._cv:
            self._in_flight -= 1
            self._cv.notify_all()

    def _build(
        self,
        messages: object,
        providers: Sequence[str] | None,
        models: Mapping[str, Sequence[str]] | None,
        deadline_s: float | None,
        metadata: Mapping[str, Any] | None,
    ) -> RequestSpec:
        return build_request(
            self.config,
            self.clock,
            messages,
            providers=providers,
            models=models,
            deadline_s=deadline_s,
            metadata=metadata,
        )

    async def acomplete(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        deadline_s: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Answer a chat request from the best provider that can serve it.

        Raises:
            BadRequestError: invalid arguments (before any upstream call) or a request that
                no key or model will fix.
            OverloadedError: more than ``request.max_in_flight`` requests in flight.
            AllProvidersFailedError, ContentPolicyError, DeadlineExceededError,
            SystemStoppedError: see :mod:`adaptive_mind.errors`.
        """
        spec = self._build(messages, providers, models, deadline_s, metadata)
        return await self._run(spec)

    async def _run(self, spec: RequestSpec) -> Completion:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        self._admit(spec, AsyncioReply(loop, fut))
        try:
            result = await fut
        except asyncio.CancelledError:
            if self._supervisor is not None:
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
        spec = build_request(
            self.config,
            self.clock,
            messages,
            providers=providers,
            models=models,
            deadline_s=deadline_s,
            parent_request_id=parent_request_id,
            allow_mitigation=False,
        )
        return await self._run(spec)

    def complete(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        deadline_s: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Completion:
        """The synchronous facade of :meth:`acomplete` (blocks the calling thread)."""
        spec = self._build(messages, providers, models, deadline_s, metadata)
        reply, fut = new_thread_reply()
        self._admit(spec, reply)
        result = fut.result()
        if isinstance(result, AdaptiveMindError):
            raise result
        return result

    # -- observability --------------------------------------------------------------------

    def _refs(self, provider: str) -> _ProviderRefs:
        refs = self._providers.get(provider)
        if refs is None:
            raise ValueError(f"provider: '{provider}' is not configured")
        return refs

    def breaker_state(self, provider: str) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        return str(self._refs(provider).breaker.ask(GetBreakerState(), timeout=_ASK_TIMEOUT_S))

    def key_states(self, provider: str) -> list[dict[str, Any]]:
        """Every key's ``{key_id, state, cooldown_until, failures}`` (never a secret)."""
        states = self._refs(provider).key_pool.ask(GetKeyStates(), timeout=_ASK_TIMEOUT_S)
        return list(states)

    def subscribe(
        self, callback: Callable[[Event], object], topics: Iterable[str] | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (of ``topics``, if given).

        Callbacks run on the telemetry thread; one that raises is logged and skipped. Returns a
        function that unsubscribes.
        """
        assert self._telemetry is not None
        telemetry = self._telemetry
        sid = cast(
            int,
            telemetry.ask(
                Subscribe(callback, frozenset(topics) if topics is not None else None),
                timeout=_ASK_TIMEOUT_S,
            ),
        )

        def unsubscribe() -> None:
            try:
                telemetry.tell(Unsubscribe(sid))
            except pykka.ActorDeadError:
                pass

        return unsubscribe

    def flush(self) -> None:
        """Write pending ledger entries and deliver pending events now (for tests and tools)."""
        if self._ledger is not None:
            self._ledger.ask(FlushLedger(), timeout=_ASK_TIMEOUT_S)
        if self._telemetry is not None:
            self._telemetry.ask(FlushTelemetry(), timeout=_ASK_TIMEOUT_S)

    def metrics_text(self) -> str:
        """Prometheus exposition text.

        Raises:
            RuntimeError: metrics are off, or ``prometheus-client`` (the ``metrics`` extra) is
                not installed.
        """
        if self._metrics is None:
            raise RuntimeError(
                "metrics are unavailable: install adaptive-mind[metrics] and keep "
                "telemetry.metrics on"
            )
        if self._telemetry is not None and self._telemetry.is_alive():
            try:  # deliver what is already published, so the text is current
                self._telemetry.ask(Drain(), timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        with self._cv:
            self._metrics.in_flight.set(self._in_flight)
        return self._metrics.text()

    @property
    def events_dropped(self) -> int:
        """Events dropped because the telemetry buffer overflowed."""
        return self._events.dropped_total

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"ActorSystem(providers={list(self.config.providers)}, {state})"
