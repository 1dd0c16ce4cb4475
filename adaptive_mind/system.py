"""ActorSystem: the facade a service embeds. Starts the actors and the I/O loop, admits requests.

``complete`` (sync) and ``acomplete`` (async) validate a request, admit it (or fail fast with
OverloadedError), tell the Supervisor, and wait for the single answer. Nothing here holds breaker
or key state: that lives in the actors. The system supervises the Supervisor itself: if it
crashes, a new one takes over and walks the requests it held again. Admission, lifecycle,
inspection and streaming live in :mod:`adaptive_mind.system_admission`,
:mod:`adaptive_mind.system_lifecycle`, :mod:`adaptive_mind.system_inspect` and
:mod:`adaptive_mind.system_streaming`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import pykka

from adaptive_mind.actors.cell import ActorCell
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.ledger import LedgerStore
from adaptive_mind.admission_gate import AdmissionGate
from adaptive_mind.chat import Completion
from adaptive_mind.clock import Clock, MonotonicClock
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.errors import (
    AdaptiveMindError,
)
from adaptive_mind.messages import (
    AsyncioReply,
    ChildFailed,
    RequestSpec,
)
from adaptive_mind.messages.request import Result, new_thread_reply
from adaptive_mind.messages.supervision import AbandonRequest
from adaptive_mind.state import StateBackend
from adaptive_mind.supervision.chaos import Chaos
from adaptive_mind.supervision.rewriter import PromptRewriter
from adaptive_mind.supervision.tree import ActorTree
from adaptive_mind.system_admission import _params
from adaptive_mind.system_inspect import Inspection
from adaptive_mind.system_lifecycle import AsyncStart, Lifecycle
from adaptive_mind.system_streaming import Streaming
from adaptive_mind.telemetry import metrics as metrics_mod
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.ledger_store import check_config as check_ledger
from adaptive_mind.telemetry.sinks import (
    LoggingSink,
    SubscriberSink,
)

logger = logging.getLogger("adaptive_mind")


class ActorSystem(Lifecycle, Inspection, Streaming):
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
        self._lock = threading.Lock()
        self._gate = AdmissionGate(config.request.max_in_flight)
        self._accepting = False
        self._stopped = False
        self._crash: ChildFailed | None = None
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
        self._state_backend: StateBackend | None = None
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
        """Requests admitted and not yet answered (a stream: not yet read to its end or left)."""
        return self._gate.count

    # -- observability --------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"ActorSystem(providers={list(self.config.providers)}, {state})"
