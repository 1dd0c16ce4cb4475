"""The circuit breaker's state machine: CLOSED -> OPEN -> HALF_OPEN, driven by a clock.

Plain logic with no threads; :class:`~adaptive_mind.actors.breaker.CircuitBreakerActor` owns one
instance and turns messages into calls. CLOSED opens on a run of ``failure_threshold``
consecutive counted failures, or when the failure rate over the last ``window_size`` counted
calls reaches ``failure_rate_threshold`` with at least ``min_calls`` in the window
(resilience4j's count-based sliding window): a provider failing 10 % at random never opens it, a
dead one opens it within about ten calls. Only *independent* evidence about the provider's
servers counts: the key pool decides independence (a failure from a key already known to be
ejected is not news), and rate limits, bad keys and model errors are never the provider's fault.

A *forced* permit is the last resort when every provider of a request is unavailable: it is
granted whatever the state, and a success under it closes the circuit like a probe's would.
"""

from __future__ import annotations

import math
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Clock
from adaptive_mind.config import BreakerConfig
from adaptive_mind.records import record

if TYPE_CHECKING:  # shared_state imports this module's BreakerState
    from adaptive_mind.core.shared_state import BreakerTransition


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


@record
class Permit:
    """Permission to make one call. ``probe`` permits are the HALF_OPEN trial calls."""

    probe: bool
    generation: int
    """The breaker's trip count when granted; outcomes from an older generation are stale."""
    forced: bool = False
    """Granted as a last resort while the circuit was not closed."""


@record
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
        self._opened_at = -math.inf  # when it last tripped (here or, applied, at a peer)
        self._probes_out = 0
        self._generation = generation
        self._window: deque[bool] = deque(maxlen=config.window_size)
        self._window_failures = 0
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

    @property
    def failure_rate(self) -> float:
        """Failure rate over the current window (0 when empty)."""
        return self._window_failures / len(self._window) if self._window else 0.0

    def acquire(self, *, force: bool = False) -> tuple[Permit | None, list[Transition]]:
        """Ask for a permit. Returns ``(None, ...)`` when denied; ``force`` is never denied."""
        transitions = self._expire_open()
        if force and self._state is not BreakerState.CLOSED:
            return Permit(False, self._generation, forced=True), transitions
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
        if permit.forced:
            # A last-resort call: its success proves the provider serves again.
            if verdict is Verdict.SUCCESS and self._state is not BreakerState.CLOSED:
                transitions.append(self._close())
            return transitions
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
        if verdict is Verdict.NEUTRAL:
            return transitions
        failed = verdict is Verdict.FAILURE
        self._failures = self._failures + 1 if failed else 0
        if len(self._window) == self._window.maxlen and self._window[0]:
            self._window_failures -= 1
        self._window.append(failed)
        self._window_failures += failed
        if failed and (
            self._failures >= self._cfg.failure_threshold
            or (
                len(self._window) >= self._cfg.min_calls
                and self._window_failures >= self._cfg.failure_rate_threshold * len(self._window)
            )
        ):
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
            "opened_at": self._opened_at,
            "window": "".join("1" if f else "0" for f in self._window),
        }

    def restore(self, snap: dict[str, float | int | str]) -> None:
        """Take over a crashed breaker's state. Permits it granted become stale (new
        generation); a half-open breaker gets its probe slots back."""
        self._state = BreakerState(str(snap["state"]))
        self._failures = int(snap["failures"])
        self._reset_timeout = float(snap["reset_timeout"])
        self._open_until = float(snap["open_until"])
        self._opened_at = float(snap.get("opened_at", -math.inf))
        self._generation = int(snap["generation"]) + 1
        self._probes_out = 0
        self._window.clear()
        self._window.extend(c == "1" for c in str(snap.get("window", "")))
        self._window_failures = sum(self._window)

    def apply_remote(self, t: BreakerTransition) -> list[Transition]:
        """Apply a transition another replica published (times already on this clock).

        OPEN until T opens this breaker too, or extends its open window (never shortens it;
        at most ``reset_cap_s`` ahead, whatever a peer says); permits granted before it become
        stale. CLOSED closes it unless it tripped here after the peer closed (this replica's
        evidence is newer). HALF_OPEN only lets an expired window read as half-open: each
        replica's own probe, under the fleet's probe lock, decides the rest. Idempotent.
        """
        now = self._clock.now()
        transitions = self._expire_open()
        if t.state is BreakerState.OPEN and t.until is not None:
            until = min(t.until, now + self._cfg.reset_cap_s)
            if until <= now or (self._state is BreakerState.OPEN and until <= self._open_until):
                return transitions
            old = self._state
            if old is not BreakerState.OPEN:
                self._trip(until - now)
                self._opened_at = min(t.at, now)  # when the peer tripped, not when we heard
            else:
                self._opened_at = max(self._opened_at, min(t.at, now))
            self._open_until = until
            transitions.append(Transition(old, BreakerState.OPEN, until))
        elif (
            t.state is BreakerState.CLOSED
            and self._state is not BreakerState.CLOSED
            and self._opened_at <= t.at
        ):
            transitions.append(self._close())
        return transitions

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
        self._window.clear()
        self._window_failures = 0
        self._opened_at = self._clock.now()
        self._open_until = self._opened_at + timeout
        return Transition(old, BreakerState.OPEN, self._open_until)

    def _close(self) -> Transition:
        old = self._state
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._window.clear()
        self._window_failures = 0
        self._reset_timeout = self._cfg.reset_timeout_s
        return Transition(old, BreakerState.CLOSED)


def verdict_for(
    category: ErrorCategory | None,
    *,
    independent: bool,
    count_unknown: bool,
    rate_limited: bool = False,
) -> Verdict:
    """Map an attempt's category (None: success) to what it means for the breaker.

    A refusal is evidence that the provider is up. Only independent server-side TRANSIENT
    failures (and UNKNOWN ones, when configured) count; a rate limit is about the key, so it is
    neutral like everything else.
    """
    if category is None or category is ErrorCategory.CONTENT_POLICY:
        return Verdict.SUCCESS
    if not independent or rate_limited:
        return Verdict.NEUTRAL
    if category is ErrorCategory.TRANSIENT or (category is ErrorCategory.UNKNOWN and count_unknown):
        return Verdict.FAILURE
    return Verdict.NEUTRAL
