"""The circuit breaker's state machine: CLOSED -> OPEN -> HALF_OPEN, driven by a clock.

Plain logic with no threads; :class:`~adaptive_mind.actors.breaker.CircuitBreakerActor` owns one
instance and turns messages into calls. Only *independent* failure evidence counts: the key pool
decides that (a failure from a key already known to be cooling is not news about the provider).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adaptive_mind.clock import Clock
from adaptive_mind.config import BreakerConfig


class BreakerState(StrEnum):
    """Where the breaker stands."""

    CLOSED = "closed"  # calls flow; counted failures accumulate toward the threshold
    OPEN = "open"  # no calls until the reset timeout has passed
    HALF_OPEN = "half_open"  # at most half_open_max_calls probe calls at a time


class Verdict(StrEnum):
    """What one finished call means for the breaker."""

    SUCCESS = "success"  # the provider answered (refusals included)
    FAILURE = "failure"  # independent evidence that the provider is failing
    NEUTRAL = (
        "neutral"  # says nothing about the provider (model error, cancellation, known-bad key)
    )


@dataclass(frozen=True, slots=True)
class Permit:
    """Permission to make one call. ``probe`` permits are the HALF_OPEN trial calls."""

    probe: bool
    generation: int
    """The breaker's trip count when granted; outcomes from an older generation are stale."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change, for events and metrics."""

    old: BreakerState
    new: BreakerState
    reopen_at: float | None = None


class Breaker:
    """One provider's circuit breaker."""

    def __init__(
        self,
        config: BreakerConfig,
        clock: Clock,
        *,
        start_open_for: float | None = None,
        generation: int = 0,
    ) -> None:
        self._cfg = config
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._reset_timeout = config.reset_timeout_s
        self._open_until = 0.0
        self._probes_out = 0
        self._generation = generation
        if start_open_for is not None:
            self._trip(start_open_for)

    @property
    def state(self) -> BreakerState:
        """The current state (an expired OPEN reads as HALF_OPEN)."""
        if self._state is BreakerState.OPEN and self._clock.now() >= self._open_until:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def open_until(self) -> float | None:
        return self._open_until if self._state is BreakerState.OPEN else None

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def acquire(self) -> tuple[Permit | None, list[Transition]]:
        """Ask for a permit. Returns ``(None, ...)`` when denied."""
        transitions = self._expire_open()
        if self._state is BreakerState.CLOSED:
            return Permit(False, self._generation), transitions
        if (
            self._state is BreakerState.HALF_OPEN
            and self._probes_out < self._cfg.half_open_max_calls
        ):
            self._probes_out += 1
            return Permit(True, self._generation), transitions
        return None, transitions

    def retry_at(self) -> float | None:
        """When a denied caller may expect a permit again (None when it may ask now)."""
        if self._state is BreakerState.OPEN:
            return self._open_until
        return None

    def record(self, permit: Permit, verdict: Verdict) -> list[Transition]:
        """Record a finished call made under ``permit``."""
        transitions = self._expire_open()
        if permit.generation != self._generation:
            return transitions  # granted before the last trip: stale evidence
        if permit.probe:
            self._probes_out = max(0, self._probes_out - 1)
            if self._state is not BreakerState.HALF_OPEN:
                return transitions
            if verdict is Verdict.SUCCESS:
                transitions.append(self._close())
            elif verdict is Verdict.FAILURE:
                self._reset_timeout = min(self._reset_timeout * 2, self._cfg.reset_cap_s)
                transitions.append(self._trip(self._reset_timeout))
            return transitions
        if self._state is not BreakerState.CLOSED:
            return transitions
        if verdict is Verdict.SUCCESS:
            self._failures = 0
        elif verdict is Verdict.FAILURE:
            self._failures += 1
            if self._failures >= self._cfg.failure_threshold:
                transitions.append(self._trip(self._reset_timeout))
        return transitions

    def release(self, permit: Permit) -> list[Transition]:
        """Return a permit that was never used for a call."""
        return self.record(permit, Verdict.NEUTRAL)

    def snapshot(self) -> dict[str, float | int | str]:
        """The state a replacement should start from (plain data)."""
        return {
            "state": self._state.value,
            "failures": self._failures,
            "reset_timeout": self._reset_timeout,
            "open_until": self._open_until,
            "generation": self._generation,
        }

    def restore(self, snap: dict[str, float | int | str]) -> None:
        """Take over a crashed breaker's state. Permits it granted become stale (new
        generation); a half-open breaker gets its probe slots back."""
        self._state = BreakerState(str(snap["state"]))
        self._failures = int(snap["failures"])
        self._reset_timeout = float(snap["reset_timeout"])
        self._open_until = float(snap["open_until"])
        self._generation = int(snap["generation"]) + 1
        self._probes_out = 0

    def _expire_open(self) -> list[Transition]:
        if self._state is BreakerState.OPEN and self._clock.now() >= self._open_until:
            self._state = BreakerState.HALF_OPEN
            self._probes_out = 0
            return [Transition(BreakerState.OPEN, BreakerState.HALF_OPEN)]
        return []

    def _trip(self, timeout: float) -> Transition:
        old = self._state
        self._state = BreakerState.OPEN
        self._generation += 1
        self._probes_out = 0
        self._failures = 0
        self._open_until = self._clock.now() + timeout
        return Transition(old, BreakerState.OPEN, self._open_until)

    def _close(self) -> Transition:
        old = self._state
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._reset_timeout = self._cfg.reset_timeout_s
        return Transition(old, BreakerState.CLOSED)


def verdict_for(category: str | None, *, independent: bool, count_unknown: bool) -> Verdict:
    """Map an attempt's category (None: success) to what it means for the breaker.

    A refusal is evidence that the provider is up. Only independent TRANSIENT failures (and
    UNKNOWN ones, when configured) count; everything else is neutral.
    """
    if category is None or category == "CONTENT_POLICY":
        return Verdict.SUCCESS
    if not independent:
        return Verdict.NEUTRAL
    if category == "TRANSIENT" or (category == "UNKNOWN" and count_unknown):
        return Verdict.FAILURE
    return Verdict.NEUTRAL
