"""What the provider walk engine (:mod:`adaptive_mind.core.provider_walk`) takes and returns.

The reasons a walk ends (:class:`ExhaustedReason`, the codes users see), what it must know about
a failed call (:class:`Failure`, which ``CallFailure`` satisfies) and the actions an interpreter
carries out (:data:`Action`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.core.breaker import Permit
from adaptive_mind.core.key_pool import Lease
from adaptive_mind.records import record


class ExhaustedReason(StrEnum):
    """Why a provider could not answer a request (values are the codes users see)."""

    CIRCUIT_OPEN = "circuit_open"  # the breaker denied the permit
    RATE_LIMITED = "rate_limited"  # every usable key is inside a rate-limit window
    KEYS_DISABLED = "keys_disabled"  # every key is disabled (bad key, no quota)
    PROBING = "probing"  # the only usable keys are on probation with their probe out
    RETRY_BUDGET = "retry_budget"  # a retry was needed but the provider's retry budget is spent
    ATTEMPTS = "attempts"  # the request made retry.max_attempts calls on this provider
    BACKOFF = "backoff"  # every key was tried: retry this provider after a jittered backoff
    NO_MODELS = "no_models"  # every model failed with a MODEL error
    REFUSED = "refused"  # content-policy refusal
    BAD_REQUEST = "bad_request"  # the request is invalid; stop everything
    LOCAL_ERROR = "local_error"  # the call failed here before anything was sent; next provider
    INVALID_OUTPUT = "invalid_output"  # answered text that is not the JSON asked for; next provider
    DEADLINE = "deadline"  # the request's deadline passed
    DOWN = "down"  # the provider is marked down by supervision
    CRASHED = "crashed"  # its actor crashed mid-walk; it was restarted
    INTERRUPTED = "interrupted"  # a stream broke mid-answer and its policy is ``error``


class Failure(Protocol):
    """What the walk needs to know about a failed call (``CallFailure`` has these)."""

    @property
    def category(self) -> ErrorCategory: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def error(self) -> str: ...
    @property
    def retry_after_s(self) -> float | None: ...
    @property
    def local(self) -> bool: ...
    @property
    def invalid_output(self) -> bool: ...
    @property
    def timed_out(self) -> bool: ...
    @property
    def mid_stream(self) -> bool: ...


def is_rate_limit(failure: Failure) -> bool:
    """A rate limit (429 / RESOURCE_EXHAUSTED / rate_limit_error) is about the key."""
    return failure.category is ErrorCategory.TRANSIENT and failure.status_code == 429


def is_neutral(failure: Failure) -> bool:
    """No verdict for the key pool or the breaker: a local failure, or an answer that is not
    the JSON asked for (the key and the servers worked; the model's output did not)."""
    return failure.local or failure.invalid_output


# -- actions --------------------------------------------------------------------------------

C = TypeVar("C")
"""The caller's context for one walk (the ProviderActor keeps its ``TryProvider`` message)."""


@record
class AskPermit:
    """Ask the breaker for a permit."""

    request_id: str
    retry: bool
    force: bool


@record
class AskLease:
    """Ask the key pool for a lease on a key not in ``exclude``."""

    request_id: str
    exclude: frozenset[str]
    prefer: str | None


@record
class StartCall(Generic[C]):
    """Make one upstream call; report its end with :meth:`ProviderWalks.call_done`."""

    request_id: str
    call_id: int
    model: str
    key_id: str
    timeout_s: float
    lease: Lease
    permit: Permit
    context: C


@record
class CancelCall:
    """Cancel the running call of ``request_id`` (its end still comes back to the engine)."""

    request_id: str


@record
class GiveBack:
    """Return a lease and / or a permit without a verdict (unused, cancelled or neutral)."""

    lease: Lease | None
    permit: Permit | None
    retry: bool = False


@record
class ReportKey(Generic[C]):
    """Tell the key pool how the call on ``lease`` went (``category`` None: success).

    With ``wants_verdict`` the pool must answer whether the failure was independent of the key
    (:meth:`ProviderWalks.verdict`): the breaker must hear it before the next permit is asked.
    """

    request_id: str
    lease: Lease
    category: ErrorCategory | None
    retry_after_s: float | None
    wants_verdict: bool
    rate_limited: bool
    context: C


@record
class RecordBreaker(Generic[C]):
    """Tell the breaker how the call under ``permit`` went (``category`` None: success)."""

    request_id: str
    permit: Permit
    category: ErrorCategory | None
    independent: bool
    rate_limited: bool
    context: C
    notify: bool = False
    """The Supervisor wants to hear what the outcome did to the breaker (for the audit trail)."""


@record
class Succeeded(Generic[C]):
    """The call answered: the walk is over."""

    request_id: str
    model: str
    key_id: str
    latency_ms: float
    context: C


@record
class AttemptFailed(Generic[C]):
    """One failed attempt, to report as it happens."""

    request_id: str
    model: str
    key_id: str
    latency_ms: float
    failure: Failure
    context: C


@record
class ModelFailover:
    """The walk moves to the next model after a MODEL error."""

    request_id: str
    from_model: str
    to_model: str
    reason: str


@record
class Finished(Generic[C]):
    """The walk ended without an answer; ``reason`` says why."""

    request_id: str
    reason: ExhaustedReason
    context: C
    detail: str = ""
    retry_at: float | None = None
    cooling: bool = False
    model_index: int = 0


Action = (
    AskPermit
    | AskLease
    | StartCall[C]
    | CancelCall
    | GiveBack
    | ReportKey[C]
    | RecordBreaker[C]
    | Succeeded[C]
    | AttemptFailed[C]
    | ModelFailover
    | Finished[C]
)
