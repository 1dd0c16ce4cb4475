"""Chaos scenarios as data: a fault timeline plus the runtime configuration it is played against.

Shipped scenarios live in ``adaptive_mind/simulation/scenarios/*.yaml``; ``--scenario`` takes one
of their names or a path to your own file. Times are seconds from the start of a phase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adaptive_mind.config._safety import load_yaml
from adaptive_mind.errors import ConfigError
from adaptive_mind.simulation import wire
from adaptive_mind.simulation.stream_faults import STREAM_FAULTS

SHIPPED = Path(__file__).parent / "scenarios"


class FaultWindow(BaseModel):
    """One timeline entry: a fault served while ``at <= t < until``, or an actor crash at ``at``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: float = Field(ge=0)
    until: float | None = Field(None, gt=0)
    """None: until the end of the phase."""
    provider: Literal["openai", "anthropic", "gemini"] | None = None
    fault: str | None = None
    key: str | None = None
    model: str | None = None
    retry_after_s: float | None = Field(None, ge=0)
    latency_ms: float | None = Field(None, ge=0)
    """With ``fault: ok`` (or alone): a latency spike."""
    probability: float | None = Field(None, gt=0, le=1)
    """Serve the fault to this share of the matching calls, each drawn independently (seeded by
    the drill's seed). None: every matching call. Windows are matched in timeline order and the
    first that fires wins, so a call a probabilistic window lets through can meet a later one."""
    after_chunks: int | None = Field(None, ge=0)
    """A stream fault (``stream_cut``, ``stream_stall`` …) acts after this many content events
    (the server's default: 2). Stream faults only meet the scenario's streamed requests."""
    crash: str | None = None
    """An actor to crash at ``at`` (e.g. ``provider:openai``)."""
    label: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FaultWindow:
        if self.crash is None and self.fault is None and self.latency_ms is None:
            raise ValueError("needs fault, latency_ms or crash")
        if (
            self.fault is not None
            and self.fault != "ok"
            and self.fault not in wire.FAULTS
            and self.fault not in STREAM_FAULTS
        ):
            names = ", ".join([*wire.FAULTS, *STREAM_FAULTS])
            raise ValueError(f"fault: must be ok or one of {names}")
        if self.after_chunks is not None and self.fault not in STREAM_FAULTS:
            raise ValueError(f"after_chunks: only for a stream fault ({', '.join(STREAM_FAULTS)})")
        if self.until is not None and self.until <= self.at:
            raise ValueError("until: must be > at")
        if self.probability is not None and self.crash is not None:
            raise ValueError("probability: only for a fault or latency window, not a crash")
        return self

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        if self.crash:
            return f"crash {self.crash}"
        what = self.fault or f"latency {self.latency_ms:g} ms"
        if self.probability is not None:
            what = f"{self.probability:.0%} {what}"
        scope = "/".join(x for x in (self.provider, self.key, self.model) if x)
        return f"{what} ({scope})" if scope else what


class Expectations(BaseModel):
    """What a run of this scenario should show (checked by the tests and printed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_availability: float = Field(0.99, ge=0, le=1)
    beats_baseline: bool = True
    """The runtime answers strictly more requests than the plain SDK."""
    at_least_baseline: bool = False
    """The runtime answers at least as many requests as the plain SDK (for timelines where the
    SDK's own retries may well answer everything too)."""
    breaker_opens: list[str] = Field(default_factory=list)
    keys_disabled: list[str] = Field(default_factory=list)
    """Key ids (``openai#2``) that must end disabled and see no calls after that."""
    mitigated: bool = False
    restarted: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    """A drill: providers on the local chaos server, a request load, and a fault timeline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    duration_s: float = Field(gt=0)
    requests: int = Field(gt=0)
    concurrency: int = Field(20, gt=0)
    deadline_s: float = Field(10.0, gt=0)
    latency_ms: float = Field(20.0, ge=0)
    """The chaos server's base latency."""
    providers: dict[str, dict[str, Any]]
    """Runtime provider configs (``base_url`` is filled in); ``kind`` is the wire format."""
    priority: list[str] = Field(default_factory=list)
    mitigation: dict[str, Any] | None = None
    timeline: list[FaultWindow] = Field(default_factory=list)
    baseline_provider: str = "openai"
    """The baseline is this provider's SDK with its default retries, first key, first model."""
    baseline_timeout_s: float | None = Field(None, gt=0)
    """The baseline client's per-attempt timeout. None: the SDK's default (600 s, so a hung call
    fails at ``deadline_s``); set it to the provider's ``timeout_s`` to let the SDK retry hangs."""
    stream: float = Field(0.0, ge=0, le=1)
    """The share of requests sent as streams (``astream``; the baseline ``create(stream=True)``),
    the same requests in both phases (drawn from the seed). 0: every request is ``acomplete``."""
    stream_policy: Literal["resume", "restart", "error"] = "resume"
    """The runtime's ``request.stream_policy``: what a stream broken mid-answer becomes."""
    streaming: dict[str, Any] | None = None
    """The runtime's ``streaming`` config (``first_token_timeout_s``, ``stall_timeout_s`` …)."""
    expect: Expectations = Field(default_factory=Expectations)

    @model_validator(mode="after")
    def _streams_meet_stream_faults(self) -> Scenario:
        if self.stream == 0 and any(w.fault in STREAM_FAULTS for w in self.timeline):
            raise ValueError("stream: must be > 0 when the timeline has stream faults")
        return self


def shipped() -> list[str]:
    """Names of the scenarios that come with the package."""
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a YAML file by path.

    Raises:
        ConfigError: unknown name, unreadable file, or an invalid scenario (names the field).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = SHIPPED / f"{name_or_path}.yaml"
    if not path.exists():
        raise ConfigError(
            f"scenario: {name_or_path!r} is neither a shipped scenario ({', '.join(shipped())}) "
            "nor a file"
        )
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))  # refuses alias bombs
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"scenario {path}: cannot read: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise ConfigError(f"scenario {path.name}: {where}: {first['msg']}") from None
