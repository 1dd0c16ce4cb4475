"""Retry policy pieces: the per-provider retry budget and the full-jitter backoff.

Plain logic with no threads. The budget is Finagle's ``RetryBudget`` (and gRPC's retry
throttling) in sliding-window form: over the last ``budget_window_s`` seconds, retries may be at
most ``budget_ratio`` x the requests seen plus ``budget_min_per_s`` x the window. Every first
attempt deposits; every retry withdraws; a retry that was granted but never made is refunded. A
provider that fails every call is therefore hit with at most about (1 + ratio) x its requests
until its breaker opens, while a provider failing 30 % at random (which needs retries on about
43 % of requests) is retried as often as it needs.
"""

from __future__ import annotations

import random
from collections import deque

from adaptive_mind.clock import Clock
from adaptive_mind.config import RetryConfig


class RetryBudget:
    """One provider's retry budget."""

    def __init__(self, config: RetryConfig, clock: Clock) -> None:
        self._cfg = config
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        horizon = now - self._cfg.budget_window_s
        for q in (self._requests, self._retries):
            while q and q[0] <= horizon:
                q.popleft()

    def deposit(self) -> None:
        """A request's first attempt on this provider."""
        now = self._clock.now()
        self._trim(now)
        self._requests.append(now)

    def allowance(self) -> float:
        """Retries the window allows in all (spent ones included)."""
        cfg = self._cfg
        return cfg.budget_min_per_s * cfg.budget_window_s + cfg.budget_ratio * len(self._requests)

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        now = self._clock.now()
        self._trim(now)
        if len(self._retries) + 1 > self.allowance():
            return False
        self._retries.append(now)
        return True

    def refund(self) -> None:
        """Give back the latest retry (granted, then never made)."""
        if self._retries:
            self._retries.pop()

    @property
    def retries(self) -> int:
        """Retries in the current window."""
        self._trim(self._clock.now())
        return len(self._retries)

    @property
    def requests(self) -> int:
        """Requests in the current window."""
        self._trim(self._clock.now())
        return len(self._requests)


def full_jitter(config: RetryConfig, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before the ``attempt``-th same-key retry (1-based): AWS's full jitter,
    uniform(0, min(backoff_max_s, backoff_base_s * 2**(attempt - 1)))."""
    ceiling = min(config.backoff_max_s, config.backoff_base_s * 2 ** max(0, attempt - 1))
    return rng.uniform(0.0, ceiling)
