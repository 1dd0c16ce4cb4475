"""Messages about health state shared with other replicas (``state.backend: redis``)."""

from __future__ import annotations

from adaptive_mind.core.shared_state import SharedTransition
from adaptive_mind.records import record


@record
class ApplyTransition:
    """Apply what another replica learned (to a KeyPoolActor or a CircuitBreakerActor)."""

    transition: SharedTransition
    """The peer's transition, its times already converted to this process's clock."""
