"""Messages to and from a CircuitBreakerActor. The breaker never sees prompts or keys."""

from __future__ import annotations

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.core.breaker import BreakerState, Permit
from adaptive_mind.messages.address import Address
from adaptive_mind.records import record


@record
class AcquirePermit:
    """Ask for a permit for one call of ``request_id``; answered to ``reply_to``."""

    request_id: str
    reply_to: Address
    retry: bool = False
    """A retry after a server-side failure: it must fit the provider's retry budget."""
    force: bool = False
    """The last resort: granted whatever the circuit's state (retries still need budget)."""


@record
class PermitGranted:
    """A call may be made under ``permit``."""

    request_id: str
    permit: Permit


@record
class PermitDenied:
    """The circuit is open (or half-open with every probe out), or the retry budget is spent."""

    request_id: str
    retry_at: float | None
    """When the circuit may grant again (clock time), if known."""
    state: BreakerState
    budget_spent: bool = False
    """Denied because the retry budget is spent, not because of the circuit."""


@record
class ReleasePermit:
    """Give back a permit that was not used for a call."""

    permit: Permit
    retry: bool = False
    """It was granted as a retry: refund the retry budget."""


@record
class RecordOutcome:
    """The outcome of a call made under ``permit`` (category None: success)."""

    permit: Permit
    category: ErrorCategory | None
    independent: bool
    """False when the failing key was already known bad when the attempt started."""
    rate_limited: bool = False
    """A rate limit: about the key, so neutral for the breaker."""
    request_id: str = ""
    notify: Address | None = None
    """Who keeps ``request_id``'s audit trail: told when this outcome moved the breaker."""


@record
class GetBreakerState:
    """Ask (with pykka ``ask``) for the state string; for the facade and tests."""
