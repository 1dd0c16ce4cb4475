"""The public exception hierarchy.

::

    AdaptiveMindError                    every error the runtime raises
    ├── ConfigError (also ValueError)    invalid configuration; names the dotted field path
    ├── BadRequestError (also ValueError) the request itself is invalid
    ├── OverloadedError                  more than request.max_in_flight requests in flight
    ├── SystemStoppedError               the system stopped (or was stopped) before answering
    ├── DeadlineExceededError            the request's deadline passed
    ├── StreamClosedError                the caller closed a stream before its end
    ├── AllProvidersFailedError          every provider failed or was skipped
    │   ├── InvalidOutputError           every answer was not the JSON asked for
    │   └── StreamInterruptedError       a stream broke after delivering text, and was not
    │                                    (or could not be) continued elsewhere
    └── ContentPolicyError               refused on content-policy grounds

Every error raised for an accepted request carries ``request_id`` and ``attempts`` (possibly
empty). Messages never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from adaptive_mind.chat import Attempt


class AdaptiveMindError(Exception):
    """Base class of every error the runtime raises."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.attempts: tuple[Attempt, ...] = tuple(attempts)

    def __reduce__(self) -> tuple[object, ...]:  # keep errors picklable with keyword state
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[AdaptiveMindError], message: str, state: dict[str, object]) -> object:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigError(AdaptiveMindError, ValueError):
    """The configuration is invalid; the message names the dotted path of the field and the rule."""


class BadRequestError(AdaptiveMindError, ValueError):
    """The request is invalid and no key, model or provider will fix it."""


class OverloadedError(AdaptiveMindError):
    """Admission refused: more than ``request.max_in_flight`` requests are in flight."""


class SystemStoppedError(AdaptiveMindError):
    """The system is stopped or stopping; the request was not (or will not be) answered."""


class DeadlineExceededError(AdaptiveMindError):
    """The request's deadline passed before any provider answered."""


def _chain(attempts: Sequence[Attempt]) -> str:
    parts = [
        f"{a.provider}/{a.model}/{a.key_id}: {a.category.value if a.category else 'OK'}"
        + (f" {a.status_code}" if a.status_code is not None else "")
        + (f" ({a.error})" if a.error else "")
        for a in attempts
    ]
    return "; ".join(parts) if parts else "no attempts"


class AllProvidersFailedError(AdaptiveMindError):
    """Every provider failed or was skipped.

    Attributes:
        skipped: ``(provider, reason)`` pairs for providers that could not serve, with the real
            reason as a code: ``circuit_open``, ``rate_limited``, ``keys_disabled``,
            ``probing``, ``retry_budget``, ``down``, ``crashed``.
        until: provider -> when (UTC) it may serve again, where known (rate-limit windows,
            open circuits, disabled keys).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        request_id: str | None = None,
        attempts: Sequence[Attempt] = (),
        skipped: Sequence[tuple[str, str]] = (),
        until: Mapping[str, datetime] | None = None,
    ) -> None:
        skipped_t = tuple(skipped)
        until_d = dict(until or {})
        if message is None:
            message = f"all providers failed: {_chain(attempts)}"
            if skipped_t:
                message += "; skipped: " + ", ".join(
                    f"{p} ({why}"
                    + (
                        f" until {until_d[p].isoformat(timespec='milliseconds')}"
                        if p in until_d
                        else ""
                    )
                    + ")"
                    for p, why in skipped_t
                )
        super().__init__(message, request_id=request_id, attempts=attempts)
        self.skipped = skipped_t
        self.until = until_d


class InvalidOutputError(AllProvidersFailedError):
    """Every provider that answered gave text that is not the JSON the request asked for (not
    JSON at all, or, for a ``strict`` ``json_schema``, JSON that does not match the schema).
    ``attempts`` show each ``invalid JSON`` error. A subclass of
    :class:`AllProvidersFailedError`, so code that catches that keeps working."""


class StreamInterruptedError(AllProvidersFailedError):
    """A stream broke after part of the answer was delivered, and the runtime did not (policy
    ``error``) or could not (every route failed) carry it on to the end. A truncated answer is
    never reported as a success.

    Attributes:
        partial_text: the text the caller received before it broke.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        partial_text: str = "",
        request_id: str | None = None,
        attempts: Sequence[Attempt] = (),
        skipped: Sequence[tuple[str, str]] = (),
        until: Mapping[str, datetime] | None = None,
    ) -> None:
        if message is None:
            message = (
                f"the stream broke after {len(partial_text)} characters and was not completed: "
                f"{_chain(attempts)}"
            )
        super().__init__(
            message, request_id=request_id, attempts=attempts, skipped=skipped, until=until
        )
        self.partial_text = partial_text


class StreamClosedError(AdaptiveMindError):
    """The caller closed the stream (``break``, ``aclose()``, cancellation) before its end: the
    runtime stopped the upstream call. Not a failure of any provider."""


class ContentPolicyError(AdaptiveMindError):
    """The request was refused on content-policy grounds.

    Attributes:
        reasons: ``(provider, reason)`` per refusal, in order.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        request_id: str | None = None,
        attempts: Sequence[Attempt] = (),
        reasons: Sequence[tuple[str, str]] = (),
    ) -> None:
        reasons_t = tuple(reasons)
        if message is None:
            message = "refused by content policy: " + (
                ", ".join(f"{p} ({why})" for p, why in reasons_t) or "no reason given"
            )
        super().__init__(message, request_id=request_id, attempts=attempts)
        self.reasons = reasons_t
