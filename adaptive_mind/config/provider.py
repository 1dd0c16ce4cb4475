"""One provider's configuration: its kind, keys, models, scripted responses and resilience
settings (re-exported by :mod:`adaptive_mind.config`)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from adaptive_mind.config._base import FieldRuleError, Frozen
from adaptive_mind.config.capabilities import (
    KIND_CAPABILITIES,
    CapabilitiesConfig,
)
from adaptive_mind.config.health import BreakerConfig, KeyPoolConfig, RetryConfig

ProviderKind = Literal["openai", "anthropic", "gemini", "scripted"]
NAMED_FAULTS: tuple[str, ...] = (
    "timeout",
    "connection",
    "refusal",
    "content_policy",
    "context_length",
)


class ApiKey(Frozen):
    """One API key: its secret, an optional id (default ``<provider>#<n>``) and optional
    budgets (the provider's published limits for this key)."""

    id: str | None = Field(None, min_length=1)
    secret: SecretStr
    rpm: int | None = Field(None, gt=0)
    """Requests per minute this key may make (across every replica with ``state: redis``)."""
    tpm: int | None = Field(None, gt=0)
    """Tokens per minute (prompt + completion, as the provider's usage reports them)."""

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, v: SecretStr) -> SecretStr:
        secret = v.get_secret_value()
        if not secret.strip():
            raise ValueError("must not be empty")
        if not (secret.isascii() and secret.isprintable()):  # it travels in an HTTP header
            raise ValueError("must be printable ASCII")
        return v


class ScriptRule(Frozen):
    """A scripted provider's response rule; the first matching rule wins."""

    key: SecretStr | None = None
    """A key's secret as configured, or its key id (kept masked). None matches every key."""
    model: str | None = None
    prompt: str | None = None
    """Matches calls whose last user message contains this text."""
    times: int | None = Field(None, gt=0)
    """The first ``times`` matching calls use the rule; then it is spent. None: forever."""
    fail: int | str | None = None
    """HTTP status, or one of timeout, connection, refusal, content_policy, context_length."""
    retry_after_s: float | None = Field(None, ge=0)
    text: str | None = None
    latency_ms: float | None = Field(None, ge=0)

    @field_validator("fail", mode="before")
    @classmethod
    def _valid_fail(cls, v: object) -> object:
        if v is None:
            return v
        if isinstance(v, bool):
            raise ValueError("must be an HTTP status or a named fault")
        if isinstance(v, int):
            if not 100 <= v <= 599:
                raise ValueError("must be an HTTP status between 100 and 599")
            return v
        if isinstance(v, str):
            if v.isdigit():
                return cls._valid_fail(int(v))
            if v not in NAMED_FAULTS:
                raise ValueError("must be an HTTP status or one of " + ", ".join(NAMED_FAULTS))
            return v
        raise ValueError("must be an HTTP status or a named fault")


class ProviderConfig(Frozen):
    """One provider: its kind, keys, models and resilience settings."""

    kind: ProviderKind
    base_url: str | None = None
    api_keys: tuple[ApiKey, ...] = Field(min_length=1)
    models: tuple[str, ...] = Field(min_length=1)
    timeout_s: float = Field(60.0, gt=0)
    first_token_timeout_s: float | None = Field(None, gt=0)
    """Streams: fail over when nothing arrives for this long (None: ``streaming``'s)."""
    stall_timeout_s: float | None = Field(None, gt=0, le=3600)
    """Streams: no chunk for this long once content has flowed is a mid-stream failure (None:
    ``streaming``'s)."""
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """The SDK's HTTP client: aiohttp (faster here) or the SDK's default httpx2 client."""
    max_tokens: int | None = Field(None, gt=0)
    """Cap on generated tokens (Anthropic requires one: default 1024 there)."""
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    keys: KeyPoolConfig = Field(default_factory=KeyPoolConfig)
    retry: RetryConfig | None = None
    """Retry policy for this provider; None: the top-level ``retry`` section."""
    latency_ms: float = Field(0.0, ge=0)
    """Scripted providers only: every call takes this long."""
    responses: tuple[ScriptRule, ...] = ()
    """Scripted providers only: response rules."""
    text: str | None = None
    """Scripted providers only: the text of a successful answer."""
    capabilities: CapabilitiesConfig = Field(default_factory=CapabilitiesConfig)
    """What this provider supports, on top of its kind's defaults."""
    model_capabilities: dict[str, CapabilitiesConfig] = Field(default_factory=dict)
    """Per model (a name from ``models``), on top of ``capabilities``."""
    _capabilities: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)
    """``capabilities_of`` results (the config is frozen, so they never change)."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_as_objects(cls, v: object) -> object:
        if isinstance(v, list | tuple):
            return [{"secret": item} if isinstance(item, str) else item for item in v]
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        secrets = [k.secret.get_secret_value() for k in self.api_keys]
        for i, s in enumerate(secrets):
            if s in secrets[:i]:
                first = secrets.index(s) + 1
                raise FieldRuleError(f"api_keys.{i}", f"duplicate key (same as entry {first - 1})")
        ids = [k.id for k in self.api_keys if k.id is not None]
        if len(set(ids)) != len(ids):
            raise FieldRuleError("api_keys", "duplicate key id")
        for i, m in enumerate(self.models):
            if not m.strip():
                raise FieldRuleError(f"models.{i}", "must not be empty")
            if m in self.models[:i]:
                raise FieldRuleError(f"models.{i}", "duplicate model")
        for m in self.model_capabilities:
            if m not in self.models:
                raise FieldRuleError(f"model_capabilities.{m}", "not one of this provider's models")
        if self.kind != "scripted":
            for name in ("responses", "text"):
                if name in self.model_fields_set:
                    raise FieldRuleError(name, "only allowed for kind: scripted")
            if "latency_ms" in self.model_fields_set:
                raise FieldRuleError("latency_ms", "only allowed for kind: scripted")
        return self

    def capabilities_of(self, model: str) -> frozenset[str]:
        """What ``model`` supports: its kind's defaults, then ``capabilities``, then
        ``model_capabilities[model]``."""
        known = self._capabilities.get(model)
        if known is not None:
            return known
        caps = self.capabilities.apply(KIND_CAPABILITIES[self.kind])
        override = self.model_capabilities.get(model)
        caps = caps if override is None else override.apply(caps)
        if len(self._capabilities) < 1024:  # models named per request are not bounded
            self._capabilities[model] = caps
        return caps

    def key_ids(self, provider: str) -> tuple[str, ...]:
        """Key ids in configured order: the configured ``id``, else ``<provider>#<n>``."""
        return tuple(k.id or f"{provider}#{i}" for i, k in enumerate(self.api_keys, start=1))

    def key_limits(self) -> tuple[tuple[int | None, int | None], ...]:
        """Each key's ``(rpm, tpm)`` in configured order (None: no limit)."""
        return tuple((k.rpm, k.tpm) for k in self.api_keys)
