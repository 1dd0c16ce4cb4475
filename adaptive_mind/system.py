"""ActorSystem: the facade a service embeds. Starts the actors and the I/O loop, admits requests.

``complete`` (sync) and ``acomplete`` (async) validate a request, admit it (or fail fast with
OverloadedError), tell the Supervisor, and wait for the single answer. Nothing here holds breaker
or key state: that lives in the actors.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

from adaptive_mind.actors.breaker import CircuitBreakerActor
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.key_pool import KeyPoolActor
from adaptive_mind.actors.provider import ProviderActor
from adaptive_mind.admission import build_request
from adaptive_mind.chat import Completion
from adaptive_mind.clock import Clock, MonotonicClock
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.errors import AdaptiveMindError, OverloadedError, SystemStoppedError
from adaptive_mind.messages import (
    AsyncioReply,
    Complete,
    GetBreakerState,
    GetKeyStates,
    ReplyChannel,
    RequestSpec,
)
from adaptive_mind.messages.request import Result, new_thread_reply
from adaptive_mind.providers import ProviderAdapter, build_adapter
from adaptive_mind.supervision.supervisor import AbandonRequest, Shutdown, Supervisor, Tick
from adaptive_mind.telemetry.events import EventSink, NullSink

TICK_S = 0.01
"""How often the Supervisor checks deadlines and cooldown waits."""
_ASK_TIMEOUT_S = 10.0


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

    def __init__(self, config: RuntimeConfig, clock: Clock, events: EventSink) -> None:
        self.config = config
        self.clock = clock
        self._events = events
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
    ) -> ActorSystem:
        """Validate ``config``, start every actor and the I/O loop, and return the system.

        Raises:
            ConfigError: the configuration is invalid.
        """
        if not isinstance(config, RuntimeConfig):
            config = RuntimeConfig.model_validate(config)
        system = cls(config, clock or MonotonicClock(), NullSink())
        try:
            system._boot()
        except BaseException:
            system.stop()
            raise
        return system

    def _boot(self) -> None:
        self._io.start()
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
        self._supervisor = Supervisor.start(
            {n: r.provider for n, r in self._providers.items()},
            self.config.request,
            self.clock,
            self._events,
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
                except Exception:
                    pass
        self._io.stop()

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

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"ActorSystem(providers={list(self.config.providers)}, {state})"
