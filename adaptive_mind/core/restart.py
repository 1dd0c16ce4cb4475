"""Restart intensity, in the spirit of OTP: at most N restarts within T seconds per child."""

from __future__ import annotations

from collections import deque

from adaptive_mind.clock import Clock


class RestartIntensity:
    """Decides whether a crashed child may be restarted again."""

    def __init__(self, max_restarts: int, within_s: float, clock: Clock) -> None:
        self._max = max_restarts
        self._within = within_s
        self._clock = clock
        self._times: dict[str, deque[float]] = {}

    def allow(self, name: str) -> bool:
        """Record a restart of ``name`` if it is within the limit; False means give up."""
        now = self._clock.now()
        times = self._times.setdefault(name, deque())
        while times and times[0] <= now - self._within:
            times.popleft()
        if len(times) >= self._max:
            return False
        times.append(now)
        return True
