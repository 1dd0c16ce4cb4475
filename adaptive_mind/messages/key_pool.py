"""Messages to and from a KeyPoolActor. The key pool never sees prompts or secrets."""

from __future__ import annotations

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.core.key_pool import Lease, Unavailable
from adaptive_mind.messages.address import Address
from adaptive_mind.records import record


@record
class LeaseKey:
    """Lease the healthiest key not in ``exclude``; answered to ``reply_to``."""

    request_id: str
    exclude: frozenset[str]
    reply_to: Address
    prefer: str | None = None
    """A key to lease if it is leasable (the one that just answered a MODEL error)."""
    tokens: int = 0
    """The request's token estimate, reserved against the key's tpm budget."""


@record
class KeyLeased:
    """``lease`` is yours until you report or release it."""

    request_id: str
    lease: Lease


@record
class NoKeyAvailable:
    """No key can be leased now."""

    request_id: str
    reason: Unavailable
    """Why: rate-limited, disabled, probing, or only keys this request tried are left."""
    next_free_at: float | None
    """When the earliest non-excluded key may be leasable again (clock time), if known."""


@record
class ReportKeyOutcome:
    """The outcome of an attempt on a leased key (category None: success).

    With ``reply_to`` set the pool answers :class:`KeyOutcomeRecorded`, saying whether the
    failure was independent evidence (the breaker needs that for TRANSIENT / UNKNOWN).
    """

    lease: Lease
    category: ErrorCategory | None
    retry_after_s: float | None = None
    request_id: str = ""
    reply_to: Address | None = None
    rate_limited: bool = False
    """A TRANSIENT failure that was a rate limit: the key's business, not the servers'."""
    notify: Address | None = None
    """Who keeps ``request_id``'s audit trail: told what this outcome did to the key."""
    tokens: int | None = None
    """A success: the call's total tokens as its usage said (None: not said), for tpm."""


@record
class KeyOutcomeRecorded:
    """Reply to a ReportKeyOutcome that asked for one."""

    request_id: str
    independent: bool
    """False when the key's failure was already known when the attempt started."""


@record
class ReleaseKey:
    """Give back a lease without a verdict (cancelled or never used)."""

    lease: Lease


@record
class GetKeyStates:
    """Ask (with pykka ``ask``) for the keys' public status."""
