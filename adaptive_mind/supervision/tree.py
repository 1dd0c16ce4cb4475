"""The supervision tree: every supervised actor, its stable cell, and how to (re)start it.

The ActorSystem builds one tree from one :class:`~adaptive_mind.core.restart.ChildSpec` per actor
and the :class:`~adaptive_mind.core.restart.SupFlags` of the config; the (live) Supervisor restarts
its children through it, counting restarts per group (a provider's three actors share one). Each
child is started with a :class:`~adaptive_mind.actors.base.Wiring` naming it, giving its cell as
its address, and reporting its crash to the Supervisor's cell.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from adaptive_mind.actors.base import CrashReporter, Wiring
from adaptive_mind.actors.breaker import CircuitBreakerActor
from adaptive_mind.actors.cell import ActorCell, CellState
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.key_pool import KeyPoolActor
from adaptive_mind.actors.ledger import LedgerActor, LedgerStore
from adaptive_mind.actors.provider import ProviderActor
from adaptive_mind.actors.telemetry import Drain, TelemetryActor
from adaptive_mind.clock import Clock
from adaptive_mind.config import ProviderConfig, RuntimeConfig
from adaptive_mind.core.restart import ChildKind, ChildSpec, RestartIntensity, SupFlags
from adaptive_mind.core.shared_state import StatePort
from adaptive_mind.messages import ChildFailed
from adaptive_mind.providers import ProviderAdapter, build_adapter
from adaptive_mind.providers.stream_pump import StreamTimeouts
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.sinks import Sink, SubscriberSink

PREFILL_KINDS = frozenset({"anthropic"})
"""Providers that continue an assistant prefill (a broken stream resumes with one there)."""
RESTARTED_BREAKER_OPEN_S = 1.0
"""A breaker restarted without a snapshot starts OPEN for at most this long, then probes."""


@dataclass
class Child:
    """One supervised actor: its spec, its stable cell, and how to start it."""

    spec: ChildSpec
    cell: ActorCell
    start: Callable[[Any], pykka.ActorRef[Any]]
    """Start a fresh actor from a snapshot (None: from defaults)."""

    @property
    def name(self) -> str:
        return self.spec.id

    @property
    def kind(self) -> ChildKind:
        return self.spec.kind

    @property
    def provider(self) -> str | None:
        """The provider whose group it is in (past the group's restart limit, that provider is
        marked down)."""
        return self.spec.group


@dataclass
class ActorTree:
    """The system's actors below the Supervisor, and the facts the Supervisor needs about them."""

    config: RuntimeConfig
    clock: Clock
    io: IoLoop
    bus: EventBus
    sinks: list[Sink]
    subscribers: SubscriberSink
    report: CrashReporter
    ledger_store: LedgerStore | None = None
    state: StatePort | None = None
    """Where key pools and breakers publish their transitions when health state is shared with
    other replicas (``state.backend: redis``); None: not shared."""
    children: dict[str, Child] = field(default_factory=dict)
    adapters: dict[str, ProviderAdapter] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    """Providers marked down (a part of them passed its restart limit)."""

    def __post_init__(self) -> None:
        self._started: set[str] = set()
        sup = self.config.supervision
        self.flags = SupFlags(intensity=sup.max_restarts, period_s=sup.within_s)
        self.intensity = RestartIntensity(self.flags, self.clock)
        self._crashes: dict[str, ChildFailed] = {}
        self._crash_cv = threading.Condition()

    def _wiring(self, name: str, cell: ActorCell) -> Wiring:
        return Wiring(name=name, address=cell, on_crash=self._crashed, loop=self.io.loop)

    def _crashed(self, report: ChildFailed) -> None:
        """Keep the report until the Supervisor handles it: a crash that reaches a stopping
        Supervisor is not lost (``revive_for_stop``)."""
        with self._crash_cv:
            self._crashes[report.name] = report
            self._crash_cv.notify_all()
        self.report(report)

    def crash_handled(self, name: str) -> None:
        """The Supervisor has acted on ``name``'s latest crash report."""
        with self._crash_cv:
            self._crashes.pop(name, None)

    def revive_for_stop(self, name: str, timeout_s: float) -> bool:
        """Restart ``name`` from its crash report when it crashed while the system stopped and
        the Supervisor never handled it (its snapshot and unread mail would be lost otherwise).
        Called by ``stop()`` once the Supervisor is gone. Returns whether it restarted it."""
        child = self.children.get(name)
        if child is None or child.cell.state is not CellState.RESTARTING:
            return False
        with self._crash_cv:
            self._crash_cv.wait_for(lambda: name in self._crashes, timeout=timeout_s)
            report = self._crashes.pop(name, None)
        ref = child.start(report.snapshot if report is not None else None)
        child.cell.replace(ref, list(report.leftovers) if report is not None else [])
        return True

    def _add(
        self, spec: ChildSpec, start: Callable[[Any, Wiring], pykka.ActorRef[Any]]
    ) -> ActorCell:
        cell = ActorCell(spec.id)
        wiring = self._wiring(spec.id, cell)
        child = Child(spec, cell, lambda snap: start(snap, wiring))
        self.children[spec.id] = child
        cell.replace(child.start(None), [])
        self._started.add(spec.id)
        return cell

    def build(self) -> None:
        """Start every child actor (telemetry first, so the others can publish)."""
        clock, bus = self.clock, self.bus
        tel = self._add(
            ChildSpec("telemetry", ChildKind.TELEMETRY),
            lambda _s, w: TelemetryActor.start(bus, self.sinks, self.subscribers, wiring=w),
        )
        self.bus.wake = lambda: tel.tell(Drain())
        lcfg = self.config.ledger
        if lcfg.enabled:
            store = self.ledger_store
            factory = (lambda: store) if store is not None else None
            self._add(
                ChildSpec("ledger", ChildKind.LEDGER),
                lambda snap, w: LedgerActor.start(
                    lcfg,
                    clock,
                    bus,
                    factory,
                    pending=snap,
                    wiring=w,
                    wake_at=lambda at, fn: self.io.wake_at(clock, at, fn),
                ),
            )
        for name, pcfg in self.config.providers.items():
            self._add_provider(name, pcfg)

    def _add_provider(self, name: str, pcfg: ProviderConfig) -> None:
        clock, bus, io = self.clock, self.bus, self.io
        bcfg, kcfg, key_ids = pcfg.breaker, pcfg.keys, pcfg.key_ids(name)

        def start_breaker(snap: Any, w: Wiring) -> pykka.ActorRef[Any]:
            # A replacement resumes the crashed breaker's snapshot; a restart without one
            # starts OPEN for a short while and then probes (its state is unknown).
            lost = snap is None and w.name in self._started
            return CircuitBreakerActor.start(
                name,
                bcfg,
                clock,
                bus,
                retry=self.config.retry_for(name),
                start_open_for=min(RESTARTED_BREAKER_OPEN_S, bcfg.reset_timeout_s)
                if lost
                else None,
                restore=snap,
                wiring=w,
                state=self.state,
            )

        def start_pool(snap: Any, w: Wiring) -> pykka.ActorRef[Any]:
            return KeyPoolActor.start(
                name,
                key_ids,
                kcfg,
                clock,
                bus,
                restore=snap,
                wiring=w,
                state=self.state,
                limits=pcfg.key_limits(),
            )

        breaker_spec, pool_spec, provider_spec = ChildSpec.of_provider(name)
        breaker = self._add(breaker_spec, start_breaker)
        pool = self._add(pool_spec, start_pool)
        every_key = (
            k.secret.get_secret_value() for p in self.config.providers.values() for k in p.api_keys
        )
        adapter = build_adapter(name, pcfg, other_secrets=every_key)
        self.adapters[name] = adapter

        scfg = self.config.streaming
        stream_timeouts = StreamTimeouts(
            min(pcfg.first_token_timeout_s or scfg.first_token_timeout_s, pcfg.timeout_s),
            pcfg.stall_timeout_s or scfg.stall_timeout_s,
        )

        def start_provider(_snap: Any, w: Wiring) -> pykka.ActorRef[Any]:
            return ProviderActor.start(
                name,
                adapter,
                pcfg.models,
                pcfg.timeout_s,
                self.config.retry_for(name),
                breaker,
                pool,
                io,
                clock,
                bus,
                wiring=w,
                capabilities_of=pcfg.capabilities_of,
                stream_timeouts=stream_timeouts,
                prefill=pcfg.kind in PREFILL_KINDS,
            )

        self._add(provider_spec, start_provider)

    def cell(self, name: str) -> ActorCell:
        return self.children[name].cell

    def provider_cells(self) -> dict[str, ActorCell]:
        return {n: self.cell(f"provider:{n}") for n in self.config.providers}

    def ledger_cell(self) -> ActorCell | None:
        child = self.children.get("ledger")
        return child.cell if child is not None else None

    def stop(self, names: list[str], timeout_s: float) -> None:
        """Stop the named children (in order) and mark their cells down."""
        for name in names:
            child = self.children.get(name)
            if child is None:
                continue
            ref = child.cell.ref
            child.cell.mark_down()
            if ref is not None:
                try:
                    ref.stop(block=True, timeout=timeout_s)
                except pykka.Timeout:
                    pass
