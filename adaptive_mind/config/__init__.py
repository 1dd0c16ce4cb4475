"""Configuration: frozen pydantic models, loading from dict / YAML / TOML, ``${ENV}`` interpolation.

Every invalid value raises :class:`~adaptive_mind.errors.ConfigError` whose message names the
dotted path of the bad field and the rule it breaks, e.g.
``providers.openai.breaker.failure_threshold: must be > 0``. No message ever echoes a value, and
a path component that shows a secret (a key written as a mapping key or a provider name) is
masked, so secrets cannot leak through config errors. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import Field, SecretStr, ValidationError, model_validator

from adaptive_mind.config._base import FieldRuleError, Frozen
from adaptive_mind.config._dsn import is_postgres_dsn, redact_dsn
from adaptive_mind.config._safety import load_yaml, mask, parse_error, scrub, secrets_in
from adaptive_mind.config.capabilities import (
    CAPABILITIES,
    KIND_CAPABILITIES,
    SEMANTIC,
    CapabilitiesConfig,
)
from adaptive_mind.config.health import BreakerConfig, KeyPoolConfig, RetryConfig
from adaptive_mind.config.provider import (
    NAMED_FAULTS,
    ApiKey,
    ProviderConfig,
    ProviderKind,
    ScriptRule,
)
from adaptive_mind.config.state import StateConfig
from adaptive_mind.config.streaming import StreamingConfig
from adaptive_mind.errors import ConfigError

__all__ = [
    "CAPABILITIES",
    "KIND_CAPABILITIES",
    "NAMED_FAULTS",
    "SEMANTIC",
    "ApiKey",
    "BreakerConfig",
    "CapabilitiesConfig",
    "FieldRuleError",
    "KeyPoolConfig",
    "LedgerConfig",
    "MitigationConfig",
    "ProviderConfig",
    "ProviderKind",
    "RequestConfig",
    "RetryConfig",
    "RewriterConfig",
    "RuntimeConfig",
    "ScriptRule",
    "StateConfig",
    "StreamingConfig",
    "SupervisionConfig",
    "TelemetryConfig",
    "load_config",
]


class RewriterConfig(Frozen):
    """Which provider and model rewrite a refused prompt."""

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    instruction: str | None = None


class MitigationConfig(Frozen):
    """Content-policy mitigation."""

    strategy: Literal["rewrite_first", "failover_first", "propagate"] = "rewrite_first"
    rewriter: RewriterConfig | None = None

    @model_validator(mode="after")
    def _rewriter_needed(self) -> Self:
        if self.strategy != "propagate" and self.rewriter is None:
            raise FieldRuleError("rewriter", f"required by strategy {self.strategy}")
        return self


class LedgerConfig(Frozen):
    """The audit ledger: a SQLite file (``path``) or a PostgreSQL database (``dsn``)."""

    enabled: bool = True
    backend: Literal["sqlite", "postgres"] = "sqlite"
    """Where entries go: ``sqlite`` (the file at ``path``) or ``postgres`` (``dsn``), which any
    number of processes on any number of hosts append to as one chain."""
    path: str = Field("adaptive_mind_ledger.sqlite", min_length=1)
    """SQLite only: the ledger file."""
    dsn: SecretStr | None = None
    """PostgreSQL only (required there): ``postgresql://user:password@host:5432/db`` or libpq's
    ``key=value`` form. Kept secret: its password never appears in errors, logs or reprs."""
    connect_timeout_s: float = Field(10.0, gt=0)
    """PostgreSQL only: how long opening a connection may take."""
    prompt_preview_chars: int = Field(512, ge=0)
    response_preview_chars: int = Field(1024, ge=0)
    hash_key: SecretStr | None = None
    batch_size: int = Field(256, gt=0)
    flush_interval_s: float = Field(0.2, gt=0)

    @model_validator(mode="after")
    def _backend_fields(self) -> Self:
        if self.backend == "postgres":
            dsn = self.dsn.get_secret_value().strip() if self.dsn is not None else ""
            if not dsn:
                raise FieldRuleError("dsn", "required for backend postgres")
            if "=" not in dsn and not is_postgres_dsn(dsn):
                raise FieldRuleError(
                    "dsn", "must be a postgresql:// URI or a libpq key=value connection string"
                )
            if "path" in self.model_fields_set:
                raise FieldRuleError("path", "only for backend sqlite (postgres uses dsn)")
        else:
            if self.dsn is not None:
                raise FieldRuleError("dsn", "only for backend postgres (set backend: postgres)")
            if "connect_timeout_s" in self.model_fields_set:
                raise FieldRuleError("connect_timeout_s", "only for backend postgres")
        return self

    @property
    def target(self) -> str:
        """Where the ledger is, fit to show: the path, or the DSN with its password masked."""
        if self.backend == "postgres" and self.dsn is not None:
            return redact_dsn(self.dsn.get_secret_value())
        return self.path


class TelemetryConfig(Frozen):
    """The event bus and its sinks."""

    buffer_size: int = Field(10_000, gt=0)
    """Events buffered for the sinks; on overflow the oldest are dropped (and counted)."""
    log: str | None = None
    """Event log: ``logging`` (a record per event on the ``adaptive_mind.events`` logger, through
    the host's logging / structlog configuration), ``stderr`` or a file path (JSON lines), or
    None (off)."""
    events_db: str | None = None
    """SQLite file for the events table (the embedded time series); None: off."""
    metrics: bool = True
    """Prometheus metrics (needs the ``metrics`` extra: prometheus-client)."""
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve ``/metrics`` on this port (on ``metrics_host``); None: don't serve."""
    metrics_host: str = Field("127.0.0.1", min_length=1)
    """The address the metrics server binds (``0.0.0.0`` for every interface)."""


class SupervisionConfig(Frozen):
    """Restart intensity of supervised actors."""

    max_restarts: int = Field(3, ge=0)
    within_s: float = Field(10.0, gt=0)


class RequestConfig(Frozen):
    """Per-request budgets and admission."""

    deadline_s: float = Field(120.0, gt=0)
    max_in_flight: int = Field(10_000, gt=0)
    max_cooldown_wait_s: float = Field(5.0, ge=0)
    stream_policy: Literal["resume", "restart", "error"] = "resume"
    """A stream that breaks after content has flowed: ``resume`` carries it on on the next route
    (the caller sees one seamless answer), ``restart`` starts over there (the first new chunk has
    ``restart=True``), ``error`` raises ``StreamInterruptedError``. A call may pass its own."""


class RuntimeConfig(Frozen):
    """The whole runtime's configuration. See the README for every field."""

    priority: tuple[str, ...] = ()
    """Provider names in the order they are tried. Empty: the order of ``providers``."""
    providers: dict[str, ProviderConfig] = Field(min_length=1)
    mitigation: MitigationConfig | None = None
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    supervision: SupervisionConfig = Field(default_factory=SupervisionConfig)
    request: RequestConfig = Field(default_factory=RequestConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    """The default retry policy; a provider's own ``retry`` section replaces it."""
    state: StateConfig = Field(default_factory=StateConfig)
    """Where key and breaker health live: this process (default) or Redis, shared by replicas."""
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)
    """``astream`` / ``stream``: timeouts, buffer, and what a broken stream becomes."""

    def retry_for(self, provider: str) -> RetryConfig:
        """The retry policy that applies to ``provider``."""
        return self.providers[provider].retry or self.retry

    def __init__(self, **data: Any) -> None:
        secrets = secrets_in(data)  # kept out of every error message, paths included
        try:
            resolved = _interpolate(data, (), secrets)
        except RecursionError:
            raise ConfigError("<root>: nested too deeply (or contains itself)") from None
        try:
            super().__init__(**resolved)
        except ValidationError as exc:
            raise _config_error(exc, secrets | secrets_in(resolved)) from None

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Any = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Validate a mapping; raise :class:`ConfigError` (not ValidationError) when invalid."""
        try:
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise _config_error(exc) from None

    @model_validator(mode="after")
    def _priority_known(self) -> Self:
        for name in self.providers:
            if not name.strip():
                raise FieldRuleError("providers", "provider names must not be empty")
        if not self.priority:
            object.__setattr__(self, "priority", tuple(self.providers))
        for i, name in enumerate(self.priority):
            if name not in self.providers:
                raise FieldRuleError(f"priority.{i}", f"'{name}' is not a configured provider")
            if name in self.priority[:i]:
                raise FieldRuleError(f"priority.{i}", f"'{name}' is listed twice")
        if self.mitigation is not None and self.mitigation.rewriter is not None:
            rw = self.mitigation.rewriter
            if rw.provider not in self.providers:
                raise FieldRuleError(
                    "mitigation.rewriter.provider", f"'{rw.provider}' is not a configured provider"
                )
        return self


_ENV = re.compile(r"\$(\$)\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(
    value: Any, path: tuple[str | int, ...], secrets: frozenset[str] = frozenset()
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, and the escape ``$${`` by a
    literal ``${``; a missing VAR is a ConfigError (its path masked where it shows a secret)."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1):
                return "${"
            name, default = m.group(2), m.group(3)
            found = os.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            where = ".".join(mask(str(p), secrets) for p in path) or "<root>"
            raise ConfigError(f"{where}: environment variable {name} is not set")

        return _ENV.sub(sub, value) if "$" in value else value
    if isinstance(value, Mapping):
        return {k: _interpolate(v, (*path, str(k)), secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_interpolate(v, (*path, i), secrets) for i, v in enumerate(value)]
    return value


def _rule(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "value_error":
        inner = ctx.get("error")
        if isinstance(inner, FieldRuleError):
            return inner.rule
        return str(inner) if inner is not None else str(err["msg"])
    return str(err["msg"])


def _path(err: Mapping[str, Any], secrets: frozenset[str]) -> str:
    loc = [str(p) for p in err["loc"]]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, FieldRuleError):
        loc.append(inner.field)
    # A key written as a mapping key or a provider name is part of the path: mask it.
    return ".".join(mask(p, secrets) for p in loc) or "<root>"


def _config_error(exc: ValidationError, secrets: frozenset[str] = frozenset()) -> ConfigError:
    for e in exc.errors(include_input=False):
        inner = (e.get("ctx") or {}).get("error")
        if isinstance(inner, ConfigError):  # raised by __init__ while pydantic validated
            return inner
    problems = [f"{_path(e, secrets)}: {_rule(e)}" for e in exc.errors(include_input=False)]
    if len(problems) == 1:
        return ConfigError(scrub(problems[0], secrets))
    message = f"{len(problems)} configuration errors: " + "; ".join(problems)
    return ConfigError(scrub(message, secrets))


def load_config(path: str | os.PathLike[str]) -> RuntimeConfig:
    """Load a :class:`RuntimeConfig` from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML/TOML, or the config is invalid.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    try:
        if suffix in (".yaml", ".yml"):
            data = load_yaml(raw)  # safe, and refuses alias bombs
        elif suffix == ".toml":
            data = tomllib.loads(raw)
        else:
            raise ConfigError(f"{p}: unsupported config format (use .yaml, .yml or .toml)")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, RecursionError) as exc:
        # Line and column only: the parser's own message quotes the line, which may hold a key.
        raise parse_error(p, suffix[1:].upper(), exc) from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: the top level must be a mapping")
    return RuntimeConfig.model_validate(data)
