"""Reading one key's health: its state, its share of traffic and its recent failures.

Plain logic with no threads over a :class:`~adaptive_mind.core.key_pool_peers.Key`, used by
:class:`~adaptive_mind.core.key_pool.KeyPool` to lease (the weighted load) and to report status.
"""

from __future__ import annotations

from collections import deque

from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_pool_peers import Key
from adaptive_mind.core.key_pool_types import KeyState

SLOW_START_FLOOR = 0.1
"""A key's share of traffic when its slow start begins (it ramps up to 1.0)."""


def key_state(key: Key, now: float, slow_start_s: float) -> KeyState:
    """The key's state at ``now`` (its budget aside: that is the pool's :mod:`.key_budget`)."""
    if key.disabled_until > now:
        return KeyState.DISABLED
    if key.rate_limited_until > now:
        return KeyState.RATE_LIMITED
    if key.ejected_until > now:
        return KeyState.EJECTED
    if key.probation:
        return KeyState.PROBATION
    if now - key.readmitted_at < slow_start_s:
        return KeyState.WARMING
    return KeyState.AVAILABLE


def key_weight(key: Key, now: float, cfg: KeyPoolConfig, budget_share: float) -> float:
    """Share of traffic: falls with recent server-side failures, is scaled by ``budget_share``
    (the share of its rpm / tpm budget left) and ramps up through the slow start."""
    recent = trim(key.server_failure_times, now - cfg.failure_window_s)
    weight = 1.0 / (1.0 + recent)
    weight *= budget_share
    if cfg.slow_start_s > 0:
        ramp = (now - key.readmitted_at) / cfg.slow_start_s
        if ramp < 1.0:
            weight *= SLOW_START_FLOOR + (1.0 - SLOW_START_FLOOR) * max(0.0, ramp)
    return weight


def recent_failures(key: Key, now: float, window_s: float) -> int:
    """The key's failures (of any kind) in the last ``window_s``."""
    return trim(key.failure_times, now - window_s)


def trim(times: deque[float], horizon: float) -> int:
    """Drop times before ``horizon``; the count left."""
    while times and times[0] < horizon:
        times.popleft()
    return len(times)
