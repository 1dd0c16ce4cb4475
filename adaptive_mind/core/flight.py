"""The Supervisor's record of one in-flight request, and how a finished walk becomes an answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from adaptive_mind.chat import Attempt, Completion, ErrorCategory
from adaptive_mind.errors import (
    AdaptiveMindError,
    AllProvidersFailedError,
    BadRequestError,
    ContentPolicyError,
    InvalidOutputError,
    StreamInterruptedError,
)
from adaptive_mind.messages import Complete, ExhaustedReason, ProviderExhausted, RequestSpec
from adaptive_mind.messages.provider import SKIP_REASONS

KEY_FAILURES = (ErrorCategory.KEY_FATAL,)
"""Failures that keep a key out of the rest of the request (the pool disables it anyway)."""


@dataclass(slots=True)
class Flight:
    """Where one request stands. Owned by the Supervisor only."""

    msg: Complete
    index: int = 0
    """Position in ``request.providers`` of the provider being tried."""
    current: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    failed_keys: dict[str, set[str]] = field(default_factory=dict)
    exhausted: list[ProviderExhausted] = field(default_factory=list)
    active: RequestSpec | None = None
    """The request as currently tried (the rewritten one after mitigation); None: the original."""
    rewriting: object | None = None
    """The running rewrite's future, while mitigation is in progress."""
    mitigation_attempted: bool = False
    wake_at: float | None = None
    wake_retry: bool | None = None
    """When waking: None starts a new pass; True/False re-tries the current provider (True: the
    first call is a retry after a backoff, False: after a rate-limit wait)."""
    waited_s: float = 0.0
    pass_attempts: dict[str, int] = field(default_factory=dict)
    """Calls made per provider in this pass (for retry.max_attempts)."""
    backoffs: dict[str, int] = field(default_factory=dict)
    """Backoffs taken per provider in this pass (the jitter's exponent)."""
    resume_model: dict[str, int] = field(default_factory=dict)
    """Where a provider's walk resumes after a backoff (model index)."""
    forced: str | None = None
    """The provider being tried as the last resort (its breaker is bypassed)."""
    last_resort_used: bool = False
    until: dict[str, float] = field(default_factory=dict)
    """For skipped providers: when they may serve again (clock time), where known."""
    events: list[dict[str, object]] = field(default_factory=list)

    @property
    def request_id(self) -> str:
        return self.msg.request.request_id

    @property
    def request(self) -> RequestSpec:
        """The request to send to providers now."""
        return self.active or self.msg.request

    @property
    def rewritten(self) -> bool:
        return self.active is not None

    def note(self, kind: str, **fields: object) -> None:
        """Add a resilience event to this request's audit trail."""
        self.events.append({"type": kind, **fields})

    def record_attempt(self, attempt: Attempt, refusal: str | None) -> None:
        prev = self.attempts[-1] if self.attempts else None
        if prev is not None and prev.provider == attempt.provider and prev.model != attempt.model:
            self.note(
                "model.failover",
                provider=attempt.provider,
                to=attempt.model,
                **{"from": prev.model},
            )
        self.attempts.append(attempt)
        self.pass_attempts[attempt.provider] = self.pass_attempts.get(attempt.provider, 0) + 1
        self.note(
            "attempt.failed",
            provider=attempt.provider,
            model=attempt.model,
            key_id=attempt.key_id,
            category=attempt.category.value if attempt.category else None,
            status_code=attempt.status_code,
            error=attempt.error,
        )
        if attempt.category in KEY_FAILURES:
            self.failed_keys.setdefault(attempt.provider, set()).add(attempt.key_id)
        if refusal is not None:
            self.refusals.append((attempt.provider, refusal))

    def start_pass(self) -> None:
        """Begin another walk of the priority list (after waiting for a cooling key)."""
        self.index = 0
        self.current = None
        self.skipped.clear()
        self.exhausted.clear()
        self.until.clear()
        self.pass_attempts.clear()
        self.backoffs.clear()
        self.resume_model.clear()
        self.forced = None
        self.wake_at = None
        self.wake_retry = None

    def cooling_retry_at(self) -> float | None:
        """Earliest time a rate-limited key frees up, if rate limits are what we lack."""
        times = [e.retry_at for e in self.exhausted if e.cooling and e.retry_at is not None]
        return min(times) if times else None

    def wall(self, t: float) -> datetime:
        """A clock reading as a UTC datetime."""
        req = self.msg.request
        return datetime.fromtimestamp(req.started_wall + (t - req.started_at), UTC)

    def failure(self) -> AdaptiveMindError:
        """The error for a request every provider has failed."""
        rid = self.request_id
        for e in self.exhausted:
            if e.reason is ExhaustedReason.BAD_REQUEST:
                return BadRequestError(
                    f"{e.provider} rejected the request: {e.detail}",
                    request_id=rid,
                    attempts=self.attempts,
                )
        stream = self.msg.request.stream
        if stream is not None and stream.delivered.chunks:  # the caller has part of an answer
            return StreamInterruptedError(
                partial_text=stream.delivered.text,
                request_id=rid,
                attempts=self.attempts,
                skipped=self.skipped,
                until={p: self.wall(t) for p, t in self.until.items()},
            )
        harmless = (ExhaustedReason.REFUSED, ExhaustedReason.CIRCUIT_OPEN, ExhaustedReason.DOWN)
        if self.refusals and all(e.reason in harmless for e in self.exhausted):
            return ContentPolicyError(request_id=rid, attempts=self.attempts, reasons=self.refusals)
        invalid = [e for e in self.exhausted if e.reason is ExhaustedReason.INVALID_OUTPUT]
        error = AllProvidersFailedError
        if invalid and all(
            e.reason is ExhaustedReason.INVALID_OUTPUT or e.reason in SKIP_REASONS
            for e in self.exhausted
        ):
            error = InvalidOutputError
        return error(
            request_id=rid,
            attempts=self.attempts,
            skipped=[(p, "unsupported") for p in self.msg.request.unsupported] + self.skipped,
            until={p: self.wall(t) for p, t in self.until.items()},
        )

    def summary(
        self, result: Completion | AdaptiveMindError, latency_s: float
    ) -> dict[str, object]:
        """The payload of the request's final event (``request.succeeded`` / ``request.failed``)."""
        payload: dict[str, object] = {
            "latency_ms": round(latency_s * 1000.0, 3),
            "attempts": len(self.attempts),
            "attempt_list": [
                (a.provider, a.model, a.category.value if a.category else "OK", a.latency_ms)
                for a in self.attempts
            ],
        }
        if isinstance(result, Completion):
            payload.update(provider=result.provider, model=result.model, key_id=result.key_id)
            payload["usage"] = result.usage.model_dump(exclude_none=True)
            payload["finish_reason"] = result.finish_reason
        else:
            payload["error"] = type(result).__name__
        stream = self.msg.request.stream
        if stream is not None:  # time to first token, chunks, and breaks carried on
            first = stream.first_token_at
            payload["stream"] = {
                "ttft_ms": None if first is None else round((first - stream.started_at) * 1e3, 3),
                "chunks": stream.chunks,
                "interruptions": stream.interruptions,
                "attempts": stream.attempts,
            }
        metadata = self.msg.request.metadata
        if metadata is not None:
            payload["metadata"] = dict(metadata)  # users join a failure to their records
        return payload
