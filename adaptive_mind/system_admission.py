"""Admission: a request's arguments become a validated :class:`RequestSpec`, it takes a slot of
``request.max_in_flight`` (or fails fast with ``OverloadedError``) and goes to the Supervisor,
which owns it from then on. Part of the :class:`~adaptive_mind.ActorSystem` facade."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from typing import Any

import pykka

from adaptive_mind.admission import build_request
from adaptive_mind.admission_gate import GatedReply, GatedStreamReply
from adaptive_mind.chat import PARAM_NAMES
from adaptive_mind.errors import BadRequestError, OverloadedError, SystemStoppedError
from adaptive_mind.messages import Complete, ReplyChannel, RequestSpec
from adaptive_mind.system_state import SystemState


def _params(*values: object) -> dict[str, Any] | None:
    """The generation parameters the caller set, by name (None: none set, the common case).

    ``values`` come in :data:`PARAM_NAMES` order, then ``extra``.
    """
    if all(v is None for v in values):
        return None
    names = (*PARAM_NAMES, "extra")
    return {n: v for n, v in zip(names, values, strict=True) if v is not None}


class Admission(SystemState):
    """Building and admitting requests (mixed into the facade)."""

    def _admit(
        self, spec: RequestSpec, reply: ReplyChannel, *, stream: bool = False
    ) -> GatedReply | GatedStreamReply:
        """Take an admission slot and hand the request to the Supervisor, which owns it from
        then on; the reply channel it travels with gives the slot back."""
        slot = GatedStreamReply(reply, self._gate) if stream else GatedReply(reply, self._gate)
        if self._log_sink is not None:  # its events are logged in the caller's context
            self._log_sink.bind(spec.request_id, contextvars.copy_context())
        with self._lock:  # held over the tell: stop() sees every admitted request told
            if not self._accepting:
                raise SystemStoppedError("the system is stopped")
            if not self._gate.try_acquire():
                limit = self.config.request.max_in_flight
                self._count_rejected("overloaded")
                raise OverloadedError(
                    f"request.max_in_flight ({limit}) requests are already in flight"
                )
            try:
                self._supervisor.tell(Complete(spec, slot))
            except pykka.ActorDeadError:
                slot.withdraw()
                raise SystemStoppedError("the system is stopped") from None
        return slot

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
