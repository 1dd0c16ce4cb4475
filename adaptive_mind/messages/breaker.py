"""Messages to and from a CircuitBreakerActor. The breaker never sees prompts or keys."""

from __future__ import annotations

from dataclasses import dataclass

from adaptive_mind.core.breaker import Permit
from adaptive_mind.messages.address import Address


@dataclass(frozen=True, slots=True)
class AcquirePermit:
    """Ask for a permit for one call of ``request_id``; answered to ``reply_to``."""

    request_id: str
    reply_to: Address


@dataclass(frozen=True, slots=True)
class PermitGranted:
    """A call may be made under ``permit``."""

    request_id: str
    permit: Permit


@dataclass(frozen=True, slots=True)
class PermitDenied:
    """The circuit is open (or half-open with every probe out)."""

    request_id: str
    retry_at: float | None
    """When the circuit may grant again (clock time), if known."""
    state: str


@dataclass(frozen=True, slots=True)
class ReleasePermit:
    """Give back a permit that was not used for a call."""

    permit: Permit


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """The outcome of a call made under ``permit`` (category None: success)."""

    permit: Permit
    category: str | None
    independent: bool
    """False when the failing key was already known bad when the attempt started."""


@dataclass(frozen=True, slots=True)
class GetBreakerState:
    """Ask (with pykka ``ask``) for the state string; for the facade and tests."""
