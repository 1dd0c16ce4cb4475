"""Health settings per provider: the circuit breaker, the key pool and the retry policy.

See the README's "The health model" for how they work together.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from adaptive_mind.config._base import FieldRuleError, Frozen


class BreakerConfig(Frozen):
    """Circuit breaker settings for one provider.

    The circuit opens on a run of consecutive counted failures, or when the failure rate over the
    last ``window_size`` counted calls reaches ``failure_rate_threshold`` (once at least
    ``min_calls`` are in the window): resilience4j's count-based sliding window, whose own default
    window is 100 calls. A 20-call window trips by chance at 30 % random failures (P(>= 10 of 20)
    is 4.8 % per window: 18 trips in 2 000 requests, measured), so the rate needs the longer
    window; a dead provider still opens it within ten calls through ``failure_threshold``. Only
    evidence about the provider's servers counts (5xx, 529, timeouts, dropped connections, and
    UNKNOWN when ``count_unknown``); rate limits, bad keys and model errors never do.
    """

    failure_threshold: int = Field(10, gt=0)
    """Consecutive counted failures that open the circuit (a dead provider: about ten calls)."""
    failure_rate_threshold: float = Field(0.5, gt=0, le=1)
    """Failure rate over the window that opens the circuit."""
    window_size: int = Field(100, gt=0)
    """Counted calls the failure rate is measured over."""
    min_calls: int = Field(50, gt=0)
    """Counted calls needed in the window before the rate can open the circuit."""
    reset_timeout_s: float = Field(5.0, gt=0)
    """How long the circuit stays OPEN before probing."""
    max_reset_timeout_s: float | None = Field(30.0, gt=0)
    """Cap for the reset timeout, which doubles after each failed probe. None: no growth."""
    half_open_max_calls: int = Field(1, gt=0)
    """Probe permits granted at once while HALF_OPEN."""
    count_unknown: bool = True
    """Whether UNKNOWN outcomes count as breaker failures (server-side TRANSIENT always do)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if "max_reset_timeout_s" not in self.model_fields_set and (
            self.max_reset_timeout_s is not None and self.max_reset_timeout_s < self.reset_timeout_s
        ):
            object.__setattr__(self, "max_reset_timeout_s", self.reset_timeout_s)
        if self.max_reset_timeout_s is not None and self.max_reset_timeout_s < self.reset_timeout_s:
            raise FieldRuleError("max_reset_timeout_s", "must be >= reset_timeout_s")
        if self.min_calls > self.window_size:
            raise FieldRuleError("min_calls", "must be <= window_size")
        return self

    @property
    def reset_cap_s(self) -> float:
        return self.max_reset_timeout_s or self.reset_timeout_s


class KeyPoolConfig(Frozen):
    """Key pool settings for one provider.

    Evidence decides who is blamed: a rate limit (429) is about the key, a fatal key error
    disables it, and a 5xx / timeout / dropped connection is about the provider's servers and
    blames no key unless that key is an *outlier* (Envoy's ``consecutive_5xx``).
    """

    cooldown_s: float = Field(1.0, gt=0)
    """Base backoff for a rate-limited key without Retry-After; doubles per consecutive 429."""
    max_cooldown_s: float | None = Field(None, gt=0)
    """Cap for that backoff. None: max(cooldown_s, 30)."""
    disabled_s: float = Field(3600.0, gt=0)
    """How long a key that failed fatally (401, 403, quota) stays disabled."""
    max_retry_after_s: float = Field(3600.0, gt=0)
    """Absurd Retry-After values are capped to this."""
    failure_window_s: float = Field(60.0, gt=0)
    """A key's ``failures`` counts its failed attempts within this window."""
    outlier_consecutive_failures: int = Field(5, gt=0)
    """Consecutive server-side failures on one key, while its siblings succeed, that eject it."""
    ejection_s: float = Field(5.0, gt=0)
    """Base ejection time of an outlier key; the n-th ejection in a row lasts n times as long."""
    max_ejection_s: float = Field(60.0, gt=0)
    """Cap for an outlier's ejection time."""
    max_ejected_fraction: float = Field(0.5, ge=0, le=0.5)
    """At most this fraction of the keys is ejected at once (never more than half): beyond it
    the pool is in panic and leases ejected keys too (Envoy's panic threshold)."""
    slow_start_s: float = Field(10.0, ge=0)
    """After an ejection, the key's share of traffic ramps from 10 % to 100 % over this span."""

    @model_validator(mode="after")
    def _caps_not_below_bases(self) -> Self:
        if self.max_cooldown_s is not None and self.max_cooldown_s < self.cooldown_s:
            raise FieldRuleError("max_cooldown_s", "must be >= cooldown_s")
        if self.max_ejection_s < self.ejection_s:
            raise FieldRuleError("max_ejection_s", "must be >= ejection_s")
        return self

    @property
    def cooldown_cap_s(self) -> float:
        return self.max_cooldown_s or max(self.cooldown_s, 30.0)


class RetryConfig(Frozen):
    """How the runtime retries (the SDKs' own retries are off).

    A server-side failure (5xx, 529, timeout, dropped connection, UNKNOWN) is retried at once on
    another key, or on the same key after a full-jitter backoff when every key has been tried,
    up to ``max_attempts`` calls on the provider, then the walk moves to the next provider. A
    retry budget per provider (Finagle's ``RetryBudget``, gRPC's retry throttling) caps retries
    at ``budget_ratio`` of recent requests plus ``budget_min_per_s`` per second, so a provider
    that fails every call is not hit with a multiple of its traffic.
    """

    max_attempts: int = Field(5, gt=0)
    """Calls one request may make on one provider (first call included) per pass."""
    backoff_base_s: float = Field(0.25, gt=0)
    """Full-jitter backoff before retrying a key: uniform(0, min(max, base * 2**n))."""
    backoff_max_s: float = Field(4.0, gt=0)
    budget_ratio: float = Field(0.5, ge=0)
    """Retries allowed per request over the budget window (0.5: one retry per two requests)."""
    budget_min_per_s: float = Field(5.0, ge=0)
    """Retries always allowed per second, however few requests there were."""
    budget_window_s: float = Field(10.0, gt=0)
    """The span the budget counts requests and retries over."""
    wait_for_rate_limit_s: float = Field(0.0, ge=0)
    """Wait up to this long for a rate-limited key of a preferred provider before falling
    over to the next provider (0: fall over at once; answer now from the configured fallback)."""
    last_resort: bool = True
    """When every provider of a request is skipped for an open circuit, try the first of them
    anyway (Envoy's panic threshold, one level up): never fewer answers than no breaker."""

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.backoff_max_s < self.backoff_base_s:
            raise FieldRuleError("backoff_max_s", "must be >= backoff_base_s")
        return self
