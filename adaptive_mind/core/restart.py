"""Supervision the OTP way, as data: :class:`SupFlags` (restart intensity and period) and one
:class:`ChildSpec` per supervised actor, in one place; :class:`RestartIntensity` counts restarts
per restart group: at most ``intensity`` restarts within ``period_s`` seconds.

A provider's breaker, key pool and provider actor form one group (named after the provider): their
crashes share one budget, and when it is spent the provider is marked down, as a one_for_all
subtree's exhausted intensity takes its whole subtree down in OTP.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from adaptive_mind.clock import Clock


class ChildKind(StrEnum):
    """What a supervised actor is."""

    TELEMETRY = "telemetry"
    LEDGER = "ledger"
    BREAKER = "breaker"
    KEY_POOL = "key_pool"
    PROVIDER = "provider"


class Restart(StrEnum):
    """OTP's restart types; every child of ours is ``permanent`` (always restarted)."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@dataclass(frozen=True, slots=True)
class SupFlags:
    """How much restarting the Supervisor allows: ``intensity`` restarts per group within
    ``period_s`` seconds (``supervision.max_restarts`` / ``within_s`` in the config)."""

    intensity: int
    period_s: float


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One supervised actor: its name, kind and restart group."""

    id: str
    kind: ChildKind
    group: str | None = None
    """The provider whose group it belongs to (its restarts count against that provider)."""
    restart: Restart = Restart.PERMANENT

    @property
    def budget(self) -> str:
        """The name its restarts are counted under: its group, else itself."""
        return self.group if self.group is not None else self.id

    @classmethod
    def of_provider(cls, provider: str) -> tuple[ChildSpec, ChildSpec, ChildSpec]:
        """A provider's group, in start order: breaker, key pool, provider actor."""
        return (
            cls(f"breaker:{provider}", ChildKind.BREAKER, provider),
            cls(f"key_pool:{provider}", ChildKind.KEY_POOL, provider),
            cls(f"provider:{provider}", ChildKind.PROVIDER, provider),
        )


class RestartIntensity:
    """Decides whether a crashed child may be restarted again."""

    def __init__(self, flags: SupFlags, clock: Clock) -> None:
        self._max = flags.intensity
        self._within = flags.period_s
        self._clock = clock
        self._times: dict[str, deque[float]] = {}

    def allow(self, name: str) -> bool:
        """Record a restart counted under ``name`` (a :attr:`ChildSpec.budget`) if it is within
        the limit; False means give up."""
        now = self._clock.now()
        times = self._times.setdefault(name, deque())
        while times and times[0] <= now - self._within:
            times.popleft()
        if len(times) >= self._max:
            return False
        times.append(now)
        return True
