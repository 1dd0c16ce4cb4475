"""Messages between the Supervisor and a ProviderActor (``ExhaustedReason`` lives with the walk
engine in :mod:`adaptive_mind.core.walk_actions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive_mind.chat import Attempt, FinishReason, ToolCall, Usage
from adaptive_mind.core.walk_actions import ExhaustedReason
from adaptive_mind.messages.address import Address
from adaptive_mind.messages.request import RequestSpec
from adaptive_mind.records import record

SKIP_REASONS = frozenset(
    {
        ExhaustedReason.CIRCUIT_OPEN,
        ExhaustedReason.RATE_LIMITED,
        ExhaustedReason.KEYS_DISABLED,
        ExhaustedReason.PROBING,
        ExhaustedReason.RETRY_BUDGET,
        ExhaustedReason.DOWN,
        ExhaustedReason.CRASHED,
    }
)
"""Reasons that say a provider could not serve (as opposed to its attempts failing)."""


@record
class TryProvider:
    """Walk this provider's models and keys for ``request``; answer to ``reply_to``."""

    request: RequestSpec
    exclude_keys: frozenset[str]
    """Keys this request has already failed on fatally."""
    reply_to: Address
    attempts_before: int = 0
    """Calls this request already made on this provider in this pass (for the attempt cap)."""
    retry: bool = False
    """The first call is a retry (after a backoff): it must fit the retry budget."""
    force: bool = False
    """The last resort: ask the breaker for a permit it grants whatever its state."""
    start_model: int = 0
    """Index of the model to start from (a retry after a backoff resumes where it was)."""


@record
class AttemptFailed:
    """One failed attempt, reported as it happens so the Supervisor always has them all."""

    request_id: str
    attempt: Attempt
    refusal: str | None = None


@record
class ProviderSucceeded:
    """The provider answered."""

    request_id: str
    provider: str
    text: str
    model: str
    key_id: str
    usage: Usage
    attempt: Attempt
    finish_reason: FinishReason = "stop"
    upstream_finish_reason: str | None = None
    parsed: Any = None
    """The decoded JSON answer of a JSON request (``response_format``), else None."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the model called."""


@record
class ProviderExhausted:
    """The provider could not answer; ``reason`` says why."""

    request_id: str
    provider: str
    reason: ExhaustedReason
    detail: str = ""
    retry_at: float | None = None
    """When capacity may free up (clock time), if known."""
    cooling: bool = False
    """Keys are out for a known time (rate-limited): waiting for ``retry_at`` may help."""
    model_index: int = 0
    """The model the walk had reached (BACKOFF resumes there)."""


@record
class CancelRequest:
    """Stop working on ``request_id`` (deadline passed or system stopping); no answer expected."""

    request_id: str


@record
class ConsequenceRecorded:
    """What one of ``request_id``'s attempts did to a key or a breaker, for the request's audit
    trail: the type and payload of the very event the telemetry bus gets."""

    request_id: str
    event_type: str
    payload: Mapping[str, object]
