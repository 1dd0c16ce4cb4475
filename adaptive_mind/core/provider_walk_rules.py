"""What ends a provider walk and what moves it on: the rules, apart from the engine's bookkeeping.

Plain logic with no threads, used by :class:`~adaptive_mind.core.provider_walk.ProviderWalks`:
whether a call was cut by the request's deadline rather than failed, which failures need the key
pool's verdict before the breaker hears them, which end the walk at once, why a breaker's or key
pool's refusal ends it, and how a walk steps past a failed key (another key) or model (the next
model).
"""

from __future__ import annotations

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Clock
from adaptive_mind.core.key_pool_types import Unavailable
from adaptive_mind.core.provider_walk_record import Walk
from adaptive_mind.core.walk_actions import C, ExhaustedReason, Failure, is_rate_limit

DEADLINE_SLACK_S = 0.01
"""A call cut by its timeout this close to the deadline was cut by the deadline."""

_NO_KEY = {
    Unavailable.RATE_LIMITED: ExhaustedReason.RATE_LIMITED,
    Unavailable.KEYS_DISABLED: ExhaustedReason.KEYS_DISABLED,
    Unavailable.PROBING: ExhaustedReason.PROBING,
    Unavailable.TRIED: ExhaustedReason.BACKOFF,
}
_SERVER_SIDE = (ErrorCategory.TRANSIENT, ErrorCategory.UNKNOWN)


def cut_by_deadline(walk: Walk[C], failure: Failure, clock: Clock) -> bool:
    """The request's deadline, not the provider, cut this call: not a failure. Only when the
    deadline really has passed: a reset the SDK reports as a timeout is a failure."""
    return (
        failure.timed_out
        and walk.cut_by_deadline
        and walk.deadline.remaining(clock) <= DEADLINE_SLACK_S
    )


def wants_verdict(failure: Failure) -> bool:
    """A server-side failure (not a rate limit): only the key pool knows whether it is news, and
    the breaker must hear that verdict before the walk asks for its next permit."""
    return failure.category in _SERVER_SIDE and not is_rate_limit(failure)


def refusal(walk: Walk[C]) -> tuple[ExhaustedReason, float | None, bool] | None:
    """Why the breaker's or the key pool's answer ends the walk, as ``(reason, retry_at,
    cooling)``; None when both said yes."""
    if walk.denied is not None:
        budget_spent, retry_at = walk.denied
        if budget_spent:
            return ExhaustedReason.RETRY_BUDGET, None, False
        return ExhaustedReason.CIRCUIT_OPEN, retry_at, False
    if walk.no_key is not None:
        unavailable, next_free_at = walk.no_key
        reason = _NO_KEY[unavailable]
        return reason, next_free_at, reason is ExhaustedReason.RATE_LIMITED
    return None


def ending(failure: Failure, stop_mid_stream: bool) -> ExhaustedReason | None:
    """The reason ``failure`` ends the walk at once (no other key or model would help), or
    None when the walk goes on."""
    if failure.mid_stream and stop_mid_stream:
        return ExhaustedReason.INTERRUPTED
    if failure.category is ErrorCategory.CONTENT_POLICY:
        return ExhaustedReason.REFUSED
    if failure.category is ErrorCategory.BAD_REQUEST:
        return ExhaustedReason.BAD_REQUEST
    if failure.local:  # another key would fail the same way here
        return ExhaustedReason.LOCAL_ERROR
    if failure.invalid_output:  # this provider's model missed the format: try another
        return ExhaustedReason.INVALID_OUTPUT
    return None


def next_model(walk: Walk[C], key_id: str) -> bool:
    """After a MODEL error on ``key_id``: move to the next model, keeping the key (its answer
    proved it works); False when no model is left."""
    walk.model_i += 1
    walk.prefer = key_id
    walk.retry = False
    walk.tried.clear()
    return walk.model_i < len(walk.models)


def next_key(walk: Walk[C], key_id: str, failure: Failure) -> None:
    """After a key or server failure on ``key_id``: the next attempt goes to another key."""
    walk.prefer = None
    if failure.category is ErrorCategory.KEY_FATAL or is_rate_limit(failure):
        walk.exclude.add(key_id)  # the key's own fault: another key, no retry budget
        walk.retry = False
    else:
        walk.tried.add(key_id)  # the servers' fault: a retry, another key first
        walk.retry = True
