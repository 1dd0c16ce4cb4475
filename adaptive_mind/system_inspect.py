"""The ActorSystem's observability surface: actor states, breaker and key states, subscribers,
metrics, mailbox depths (a mixin of the facade)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

import pykka

from adaptive_mind.actors.cell import ActorCell, CellState
from adaptive_mind.actors.telemetry import (
    Drain,
    FlushTelemetry,
    Subscribe,
    Unsubscribe,
    draining_bus,
)
from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.errors import (
    SystemStoppedError,
)
from adaptive_mind.messages import (
    FlushLedger,
    GetBreakerState,
    GetKeyStates,
)
from adaptive_mind.system_state import (
    ASK_TIMEOUT_S as _ASK_TIMEOUT_S,
)
from adaptive_mind.system_state import (
    SystemState,
)
from adaptive_mind.telemetry.events import Event

logger = logging.getLogger("adaptive_mind")


class Inspection(SystemState):
    """What a running system shows of itself."""

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
