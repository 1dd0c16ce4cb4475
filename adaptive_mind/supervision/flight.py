"""The Supervisor's record of one in-flight request, and how a finished walk becomes an answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from adaptive_mind.chat import Attempt, ErrorCategory
from adaptive_mind.errors import (
    AdaptiveMindError,
    AllProvidersFailedError,
    BadRequestError,
    ContentPolicyError,
)
from adaptive_mind.messages import Complete, ExhaustedReason, ProviderExhausted, RequestSpec

KEY_FAILURES = (ErrorCategory.TRANSIENT, ErrorCategory.KEY_FATAL, ErrorCategory.UNKNOWN)


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
    waited_s: float = 0.0
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
        self.wake_at = None

    def cooling_retry_at(self) -> float | None:
        """Earliest time a key cooling from *other* requests frees up, if that is all we lack."""
        times = [
            e.retry_at
            for e in self.exhausted
            if e.reason is ExhaustedReason.NO_KEYS and e.cooling and e.retry_at is not None
        ]
        return min(times) if times else None

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
        harmless = (ExhaustedReason.REFUSED, ExhaustedReason.CIRCUIT_OPEN, ExhaustedReason.DOWN)
        if self.refusals and all(e.reason in harmless for e in self.exhausted):
            return ContentPolicyError(request_id=rid, attempts=self.attempts, reasons=self.refusals)
        return AllProvidersFailedError(request_id=rid, attempts=self.attempts, skipped=self.skipped)
