"""A key's health record, and applying what another replica learned about a key.

Plain logic with no threads, used by :class:`~adaptive_mind.core.key_pool.KeyPool`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_pool_types import KeyEvent, KeyEventKind
from adaptive_mind.core.shared_state import KeyTransition


@dataclass(slots=True)
class Key:
    """One key's health, as the pool keeps it."""

    key_id: str
    index: int
    in_flight: int = 0
    last_used: float = -math.inf
    rate_limited_until: float = 0.0
    rate_streak: int = 0  # consecutive 429s, for the backoff
    disabled_until: float = 0.0
    probation: bool = False  # after a disabled period: one lease at a time until a success
    ejected_until: float = 0.0
    ejections: int = 0  # ejections in a row, for the growing ejection time
    readmitted_at: float = -math.inf  # slow start begins here
    proven: bool = True  # succeeded since it was last re-admitted
    server_streak: int = 0  # consecutive server-side failures
    # Outcome sequence numbers (the pool's own counter, so simultaneous outcomes still order):
    streak_started: int = 0
    last_success: int = -1
    last_server_failure: int = -1
    epoch: int = 0
    failure_times: deque[float] = field(default_factory=deque)
    server_failure_times: deque[float] = field(default_factory=deque)
    """Server-side failures only: they lower the key's share (a rate limit has its window)."""


def apply_peer(
    key: Key, t: KeyTransition, cfg: KeyPoolConfig, now: float, cap_reached: bool
) -> tuple[KeyEvent, ...]:
    """Apply to ``key`` a transition another replica published (times already on this pool's
    clock); ``cap_reached``: one more ejection would pass the pool's ejection cap.

    Idempotent, and it never moves a key's *until* earlier: a window is only ever extended
    (to at most what this pool's own config would have set, so a peer cannot bench a key for
    longer than a local failure could). A key healthy again elsewhere leaves probation or
    its slow start here, but keeps any window still running. Returns the events of what
    changed here.
    """
    if t.event is KeyEventKind.RESTORED:
        restored = (key.probation and key.disabled_until <= now) or not key.proven
        if key.disabled_until <= now:
            key.probation = False
        key.proven = True
        return (KeyEvent(KeyEventKind.RESTORED, t.key_id, None, "peer"),) if restored else ()
    if t.until is None or t.until <= now:
        return ()  # over already
    if t.event is KeyEventKind.DISABLED:
        until = min(t.until, now + cfg.disabled_s)
        changed = until > key.disabled_until
        key.disabled_until = max(key.disabled_until, until)
        key.probation = True
    elif t.event is KeyEventKind.RATE_LIMITED:
        until = min(t.until, now + max(cfg.max_retry_after_s, cfg.cooldown_cap_s))
        changed = until > key.rate_limited_until
        key.rate_limited_until = max(key.rate_limited_until, until)
    else:
        until = min(t.until, now + cfg.max_ejection_s)
        if until <= key.ejected_until:
            return ()
        if key.ejected_until <= now and cap_reached:
            return ()  # the ejection cap holds for peers' ejections too
        changed = True
        key.ejected_until = key.readmitted_at = until
        key.ejections = max(key.ejections, 1)
        key.proven = False
        key.server_streak = 0
    if not changed:
        return ()
    key.epoch += 1  # attempts already out on this key learn nothing new when they fail
    return (KeyEvent(t.event, t.key_id, until, "peer"),)
