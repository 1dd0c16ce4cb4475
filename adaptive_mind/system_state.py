"""The state every part of the ActorSystem facade shares (declared once, for the type checker),
and the admission record of a request in flight."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from adaptive_mind.actors.cell import ActorCell
from adaptive_mind.actors.io_loop import IoLoop
from adaptive_mind.actors.ledger import LedgerStore
from adaptive_mind.chat import Completion
from adaptive_mind.clock import Clock
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.messages import ReplyChannel, RequestSpec
from adaptive_mind.messages.request import Result
from adaptive_mind.state import StateBackend
from adaptive_mind.supervision.rewriter import PromptRewriter
from adaptive_mind.supervision.tree import ActorTree
from adaptive_mind.telemetry import metrics as metrics_mod
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.sinks import LoggingSink, SubscriberSink

ASK_TIMEOUT_S = 10.0
STOP_FLUSH_TRIES = 8


class _Table(Protocol):
    def _forget(self, request_id: str) -> bool: ...

    def _admitted(self, request_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Admitted:
    """Wraps a reply channel: the first answer is delivered and frees the admission slot."""

    request: RequestSpec
    inner: ReplyChannel
    system: _Table

    def deliver(self, result: Result) -> None:
        if self.system._forget(self.request.request_id):
            self.inner.deliver(result)

    def is_open(self) -> bool:
        return self.system._admitted(self.request.request_id)


@dataclass(frozen=True, slots=True)
class StreamAdmitted:
    """A streamed request's slot: its answer ends the stream, but the slot is held until the
    caller has read to the end or left (:meth:`release`): an unread stream is still open, and
    ``request.max_in_flight`` counts it."""

    request: RequestSpec
    inner: ReplyChannel
    system: _Table

    def deliver(self, result: Result) -> None:
        self.inner.deliver(result)  # the stream's channel keeps the first answer only

    def is_open(self) -> bool:
        return self.inner.is_open()

    def release(self) -> None:
        self.system._forget(self.request.request_id)


class SystemState:
    """The facade's fields (set in ``ActorSystem.__init__``)."""

    config: RuntimeConfig
    clock: Clock
    _cv: threading.Condition
    _requests: dict[str, Admitted | StreamAdmitted]
    _accepting: bool
    _stopped: bool
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
