"""A key pool's key health as plain data, for the pool that takes over from a crashed one.

Plain logic with no threads, used by :meth:`~adaptive_mind.core.key_pool.KeyPool.snapshot` and
:meth:`~adaptive_mind.core.key_pool.KeyPool.restore`. No secrets: the pool never has any.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from adaptive_mind.core.key_budget import KeyBudgets
from adaptive_mind.core.key_pool_peers import Key

FLOATS = ("rate_limited_until", "disabled_until", "ejected_until", "readmitted_at")
INTS = (
    "rate_streak",
    "ejections",
    "server_streak",
    "epoch",
    "in_flight",
    "last_success",
    "last_server_failure",
    "streak_started",
)


def snapshot_keys(keys: Iterable[Key], budgets: KeyBudgets) -> list[dict[str, Any]]:
    """Every key's health (and budget window) as plain data."""
    out = []
    for k in keys:
        snap: dict[str, Any] = {"key_id": k.key_id}
        for name in (*FLOATS, *INTS):
            snap[name] = getattr(k, name)
        snap.update(probation=k.probation, proven=k.proven, failure_times=list(k.failure_times))
        snap["budget"] = budgets.snapshot(k.key_id)
        out.append(snap)
    return out


def restore_keys(
    keys: dict[str, Key], budgets: KeyBudgets, snapshot: list[dict[str, Any]], seq: int
) -> int:
    """Take over the keys' health from ``snapshot`` (unknown key ids are skipped); epochs move
    on so old leases read as stale. Returns the pool's outcome counter, moved past ``seq`` to
    the highest outcome the snapshot saw."""
    for s in snapshot:
        key = keys.get(str(s.get("key_id")))
        if key is None:
            continue
        for name in FLOATS:
            if name in s:
                setattr(key, name, float(s[name]))
        for name in INTS:
            if name in s:
                setattr(key, name, int(s[name]))
        key.epoch += 1
        seq = max(seq, key.last_success, key.last_server_failure)
        key.probation = bool(s.get("probation", False))
        key.proven = bool(s.get("proven", True))
        key.failure_times = deque(float(t) for t in s.get("failure_times", ()))
        key.server_failure_times = deque(float(t) for t in s.get("server_failure_times", ()))
        budgets.restore(key.key_id, s.get("budget"))
    return seq
