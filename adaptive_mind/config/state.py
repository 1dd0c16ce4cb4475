"""Where health state lives: in this process (``memory``) or shared by every replica (``redis``).

With ``backend: redis`` the key pools and breakers of every process that names the same ``url``
and ``namespace`` publish their transitions (a key disabled, rate-limited or ejected until T, a
breaker OPEN until T, …) and apply each other's; the healthy request path never waits on Redis.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from adaptive_mind.config._base import FieldRuleError, Frozen
from adaptive_mind.config._dsn import redact_dsn

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_REDIS_ONLY = (
    "connect_timeout_s",
    "op_timeout_s",
    "probe_timeout_s",
    "probe_ttl_s",
    "queue_size",
    "reconnect_min_s",
    "reconnect_max_s",
)


class StateConfig(Frozen):
    """The health-state backend: ``memory`` (default: nothing to run) or ``redis``."""

    backend: Literal["memory", "redis"] = "memory"
    url: SecretStr | None = None
    """Redis only (required there): ``redis://[:password@]host:6379/0``, ``rediss://…`` or
    ``unix:///path.sock``. Kept secret: its password never appears in errors, logs or reprs."""
    namespace: str = "adaptive_mind"
    """Prefix of every Redis key and of the channel: replicas that share it share state."""
    connect_timeout_s: float = Field(1.0, gt=0)
    """Redis only: how long opening a connection may take."""
    op_timeout_s: float = Field(0.5, gt=0)
    """Redis only: how long one command may take before the connection counts as lost."""
    probe_timeout_s: float = Field(0.05, gt=0)
    """Redis only: the most a half-open probe waits for the fleet-wide probe lock; after it the
    local decision stands (the only Redis round trip near a request, and only when probing)."""
    probe_ttl_s: float = Field(10.0, gt=0)
    """Redis only: how long a replica holds the provider's probe lock (no other replica probes
    that provider meanwhile)."""
    queue_size: int = Field(1024, gt=0)
    """Redis only: transitions waiting to be written; beyond it they are dropped and counted
    (the next reconnect re-publishes the live ones)."""
    reconnect_min_s: float = Field(0.1, gt=0)
    """Redis only: first wait before reconnecting; it doubles per failure."""
    reconnect_max_s: float = Field(5.0, gt=0)
    """Redis only: the longest wait between reconnection attempts."""

    @model_validator(mode="after")
    def _backend_fields(self) -> Self:
        if not _NAMESPACE.match(self.namespace):
            raise FieldRuleError("namespace", "must be 1-64 of A-Z a-z 0-9 _ . : -")
        if self.backend == "redis":
            url = self.url.get_secret_value().strip() if self.url is not None else ""
            if not url:
                raise FieldRuleError("url", "required for backend redis")
            if not url.lower().startswith(REDIS_SCHEMES):
                raise FieldRuleError("url", "must be a redis://, rediss:// or unix:// URL")
            if self.reconnect_max_s < self.reconnect_min_s:
                raise FieldRuleError("reconnect_max_s", "must be >= reconnect_min_s")
            return self
        if self.url is not None:
            raise FieldRuleError("url", "only for backend redis (set backend: redis)")
        for name in _REDIS_ONLY:
            if name in self.model_fields_set:
                raise FieldRuleError(name, "only for backend redis")
        return self

    @property
    def shared(self) -> bool:
        """Whether state is shared with other replicas."""
        return self.backend == "redis"

    @property
    def target(self) -> str:
        """Where the state is, fit to show: the URL with its password masked, or ``memory``."""
        if self.url is None:
            return "memory"
        return redact_dsn(self.url.get_secret_value())
