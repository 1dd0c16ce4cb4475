"""Where one request's walk over one provider stands: its :class:`Stage` and its record.

Plain data with no threads, kept by :class:`~adaptive_mind.core.provider_walk.ProviderWalks` (one
:class:`Walk` per request); the rules that move a walk on after a failure or a refusal are in
:mod:`.provider_walk_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic

from adaptive_mind.clock import Deadline
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.key_pool_types import Lease, Unavailable
from adaptive_mind.core.walk_actions import C, Failure


class Stage(Enum):
    ACQUIRE = 1  # waiting for the breaker's permit and the key pool's lease (asked together)
    CALL = 2  # the call is running
    VERDICT = 3  # waiting for the key pool to say whether a failure was independent


@dataclass(slots=True)
class Walk(Generic[C]):
    """One request's walk over one provider's keys and models."""

    context: C
    deadline: Deadline
    models: tuple[str, ...]
    exclude: set[str]
    """Keys out of this walk for good: fatal errors and rate limits."""
    attempts: int
    """Calls this request has made on this provider in this pass."""
    retry: bool
    """The next call is a retry after a server-side failure (needs retry budget)."""
    force: bool
    stop_mid_stream: bool = False
    """A stream that breaks mid-answer ends the request (policy ``error``)."""
    model_i: int = 0
    tried: set[str] = field(default_factory=set)
    """Keys that failed server-side in this walk: other keys go first, then a backoff."""
    stage: Stage = Stage.ACQUIRE
    permit: Permit | None = None
    lease: Lease | None = None
    denied: tuple[bool, float | None] | None = None
    """(retry budget spent, retry_at) once the breaker said no."""
    no_key: tuple[Unavailable, float | None] | None = None
    lease_asked: bool = True
    call_id: int = 0
    started: float = 0.0
    cut_by_deadline: bool = False
    cancelled: bool = False
    prefer: str | None = None
    failure: Failure | None = None

    @property
    def model(self) -> str:
        """The model this walk is on."""
        return self.models[self.model_i]

    def has_both_answers(self) -> bool:
        """The breaker and (when asked) the key pool have answered this attempt's asks."""
        permit_answered = self.permit is not None or self.denied is not None
        lease_answered = not self.lease_asked or self.lease is not None or self.no_key is not None
        return permit_answered and lease_answered

    def new_attempt(self) -> None:
        """Forget the last attempt's answers: the next permit and lease are about to be asked."""
        self.stage = Stage.ACQUIRE
        self.permit = self.lease = None
        self.denied = self.no_key = None
