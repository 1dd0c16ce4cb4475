"""The state every part of the ActorSystem facade shares (declared once, for the type checker).

The facade keeps no record of the requests in flight: it counts admission slots
(:class:`~adaptive_mind.admission_gate.AdmissionGate`); the Supervisor owns the requests."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_mind.actors.cell import ActorCell
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.ledger import LedgerStore
from adaptive_mind.admission_gate import AdmissionGate
from adaptive_mind.chat import Completion
from adaptive_mind.clock import Clock
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.messages import ChildFailed
from adaptive_mind.state import StateBackend
from adaptive_mind.supervision.rewriter import PromptRewriter
from adaptive_mind.supervision.tree import ActorTree
from adaptive_mind.telemetry import metrics as metrics_mod
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.sinks import LoggingSink, SubscriberSink

ASK_TIMEOUT_S = 10.0
STOP_FLUSH_TRIES = 8


class SystemState:
    """The facade's fields (set in ``ActorSystem.__init__``)."""

    config: RuntimeConfig
    clock: Clock
    _lock: threading.Lock
    """Guards ``_accepting``, ``_stopped`` and ``_crash``; an admission holds it until its
    ``Complete`` is told, so once ``stop()`` has closed admission none is still on its way."""
    _gate: AdmissionGate
    _accepting: bool
    _stopped: bool
    _crash: ChildFailed | None
    """The Supervisor's crash report until a restart (or ``stop()``) takes it over."""
    _io: IoLoop
    _loop_thread: int | None
    _bus: EventBus
    _ledger_store: LedgerStore | None
    _rewriter: PromptRewriter | None
    _metrics: metrics_mod.MetricsSink | None
    _metrics_server: Any
    _metrics_registry: Any
    _log_sink: LoggingSink | None
    _subscribers: SubscriberSink
    _supervisor: ActorCell
    _tree: ActorTree | None
    _state_backend: StateBackend | None

    # Implemented by the other parts of the facade (declared here for the type checker; the
    # facade's class order puts every real implementation ahead of these).
    @property
    def in_flight(self) -> int:
        raise NotImplementedError

    def _mailbox_depths(self) -> dict[str, int]:
        raise NotImplementedError

    async def _rewrite_request(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str],
        models: Mapping[str, Sequence[str]],
        parent_request_id: str | None,
        deadline_s: float | None,
    ) -> Completion:
        raise NotImplementedError
