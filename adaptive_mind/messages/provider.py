"""Messages between the Supervisor and a ProviderActor."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adaptive_mind.chat import Attempt, Usage
from adaptive_mind.messages.address import Address
from adaptive_mind.messages.request import RequestSpec


class ExhaustedReason(StrEnum):
    """Why a provider could not answer a request."""

    CIRCUIT_OPEN = "circuit open"  # the breaker denied the first permit
    NO_KEYS = "no key available"  # every key is cooling, disabled or already failed
    NO_MODELS = "no model left"  # every model failed with a MODEL error
    REFUSED = "refused"  # content-policy refusal
    BAD_REQUEST = "bad request"  # the request is invalid; stop everything
    DEADLINE = "deadline"  # the request's deadline passed
    DOWN = "provider down"  # the provider is marked down by supervision
    CRASHED = "provider actor crashed"  # its actor crashed mid-walk; it was restarted


@dataclass(frozen=True, slots=True)
class TryProvider:
    """Walk this provider's models and keys for ``request``; answer to ``reply_to``."""

    request: RequestSpec
    exclude_keys: frozenset[str]
    """Keys this request has already failed on."""
    reply_to: Address


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """One failed attempt, reported as it happens so the Supervisor always has them all."""

    request_id: str
    attempt: Attempt
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderSucceeded:
    """The provider answered."""

    request_id: str
    provider: str
    text: str
    model: str
    key_id: str
    usage: Usage
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class ProviderExhausted:
    """The provider could not answer; ``reason`` says why."""

    request_id: str
    provider: str
    reason: ExhaustedReason
    detail: str = ""
    retry_at: float | None = None
    """For CIRCUIT_OPEN / NO_KEYS: when capacity may free up (clock time)."""
    cooling: bool = False
    """For NO_KEYS: keys are cooling from other requests' failures."""


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Stop working on ``request_id`` (deadline passed or system stopping); no answer expected."""

    request_id: str
