"""The key pool's state machine: lease the healthiest key, cool, disable, probe, restore.

Plain logic with no threads; :class:`~adaptive_mind.actors.key_pool.KeyPoolActor` owns one instance.
The pool sees key ids only, never secrets and never prompts.

Leasing order: an idle key on probation first (its single probe), then fewest recent failures,
then fewest in flight, then least recently used, then the configured order. A key in cooldown or
disabled is never leased. When a cooldown (or a disabled period) ends the key is on
*probation*: one lease at a time until a success restores it, so a recovering key is not hit by
every request in flight at once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Clock
from adaptive_mind.config import KeyPoolConfig


class KeyState(StrEnum):
    """A key's health as users see it."""

    AVAILABLE = "available"  # leasable
    COOLING = "cooling"  # failed transiently; not leasable until its cooldown ends
    PROBATION = "probation"  # cooldown over; one lease at a time until a success
    DISABLED = "disabled"  # failed fatally (bad key, no quota); out for disabled_s


class KeyEventKind(StrEnum):
    """What happened to a key."""

    COOLED = "cooled"
    DISABLED = "disabled"
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key's state change, for events and metrics."""

    kind: KeyEventKind
    key_id: str
    until: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Lease:
    """One key lent to one attempt."""

    key_id: str
    epoch: int
    """The key's failure epoch when leased; a failure reported for an older epoch is not news."""


@dataclass(frozen=True, slots=True)
class NoKey:
    """No key can be leased now."""

    next_free_at: float | None
    """When the earliest non-excluded key leaves cooldown; None if none will soon."""
    cooling: bool
    """True when some non-excluded key is cooling (the request has not failed on it itself)."""


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """A key's public status (no secret)."""

    key_id: str
    state: KeyState
    cooldown_until: float | None
    failures: int
    in_flight: int


@dataclass(slots=True)
class _Key:
    key_id: str
    index: int
    in_flight: int = 0
    last_used: float = -math.inf
    cooling_until: float = 0.0
    disabled_until: float = 0.0
    streak: int = 0  # consecutive transient failures, for backoff
    epoch: int = 0
    probation: bool = False
    failure_times: deque[float] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pool made of a reported outcome."""

    independent: bool
    """False when the key's failure was already known when this attempt started."""
    events: tuple[KeyEvent, ...] = ()


class KeyPool:
    """One provider's keys and their health."""

    def __init__(self, key_ids: tuple[str, ...], config: KeyPoolConfig, clock: Clock) -> None:
        if not key_ids:
            raise ValueError("key_ids: must not be empty")
        self._cfg = config
        self._clock = clock
        self._keys = {k: _Key(k, i) for i, k in enumerate(key_ids)}

    def _recent_failures(self, key: _Key, now: float) -> int:
        horizon = now - self._cfg.failure_window_s
        while key.failure_times and key.failure_times[0] < horizon:
            key.failure_times.popleft()
        return len(key.failure_times)

    def _state(self, key: _Key, now: float) -> KeyState:
        if key.disabled_until > now:
            return KeyState.DISABLED
        if key.cooling_until > now:
            return KeyState.COOLING
        if key.probation:
            return KeyState.PROBATION
        return KeyState.AVAILABLE

    def lease(
        self, exclude: frozenset[str] = frozenset(), prefer: str | None = None
    ) -> Lease | NoKey:
        """Lease the healthiest key not in ``exclude`` (``prefer`` wins when it is leasable).

        ``prefer`` lets a walk keep the key that just answered a MODEL error for the next model:
        that answer proved the key works.
        """
        now = self._clock.now()
        best: _Key | None = None
        best_rank: tuple[float, ...] = ()
        next_free: float | None = None
        cooling = False
        for key in self._keys.values():
            if key.key_id in exclude:
                continue
            state = self._state(key, now)
            if state is KeyState.DISABLED:
                next_free = _earliest(next_free, key.disabled_until)
                continue
            if state is KeyState.COOLING:
                cooling = True
                next_free = _earliest(next_free, key.cooling_until)
                continue
            probation = state is KeyState.PROBATION
            if probation and key.in_flight > 0:
                continue
            if key.key_id == prefer:
                best, best_rank = key, (-1.0,)
                continue
            # An idle key on probation goes first: its one probe is how it gets restored
            # promptly (within a cooldown) instead of waiting for its failures to age out.
            rank = (
                0 if probation else 1,
                self._recent_failures(key, now),
                key.in_flight,
                key.last_used,
                key.index,
            )
            if best is None or rank < best_rank:
                best, best_rank = key, rank
        if best is None:
            return NoKey(next_free, cooling)
        best.in_flight += 1
        best.last_used = now
        return Lease(best.key_id, best.epoch)

    def report(
        self, lease: Lease, category: ErrorCategory | None, retry_after_s: float | None = None
    ) -> Outcome:
        """Record the outcome of a leased attempt (``category`` None means success)."""
        now = self._clock.now()
        key = self._keys[lease.key_id]
        key.in_flight = max(0, key.in_flight - 1)
        independent = lease.epoch == key.epoch
        if category is None or category is ErrorCategory.CONTENT_POLICY:
            # A refusal proves the key and the provider work.
            key.streak = 0
            if key.probation and self._state(key, now) is KeyState.PROBATION:
                key.probation = False
                return Outcome(True, (KeyEvent(KeyEventKind.RESTORED, key.key_id),))
            return Outcome(True)
        if category in (ErrorCategory.MODEL, ErrorCategory.BAD_REQUEST):
            return Outcome(independent)
        key.failure_times.append(now)
        if category is ErrorCategory.KEY_FATAL:
            already = key.disabled_until > now
            key.epoch += 1
            key.disabled_until = max(key.disabled_until, now + self._cfg.disabled_s)
            key.probation = True
            if already:
                return Outcome(False)
            return Outcome(
                independent, (KeyEvent(KeyEventKind.DISABLED, key.key_id, key.disabled_until),)
            )
        if category is ErrorCategory.TRANSIENT or key.probation:
            # An UNKNOWN failure on a key under probation cools it again, like a transient one.
            if independent:
                key.streak += 1
                key.epoch += 1
            backoff = min(
                self._cfg.cooldown_s * 2 ** max(0, key.streak - 1), self._cfg.cooldown_cap_s
            )
            wait = max(backoff, min(retry_after_s or 0.0, self._cfg.max_retry_after_s))
            until = now + wait
            extended = until > key.cooling_until
            key.cooling_until = max(key.cooling_until, until)
            key.probation = True
            if independent or extended:
                return Outcome(
                    independent,
                    (KeyEvent(KeyEventKind.COOLED, key.key_id, key.cooling_until, category.value),),
                )
            return Outcome(False)
        # UNKNOWN: penalize (it now ranks behind healthier keys) without cooling.
        if independent:
            key.epoch += 1
        return Outcome(independent)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every key's health as plain data (no secrets: the pool never has any)."""
        return [
            {
                "key_id": k.key_id,
                "cooling_until": k.cooling_until,
                "disabled_until": k.disabled_until,
                "streak": k.streak,
                "epoch": k.epoch,
                "probation": k.probation,
                "failure_times": list(k.failure_times),
                "in_flight": k.in_flight,
            }
            for k in self._keys.values()
        ]

    def restore(self, snapshot: list[dict[str, Any]]) -> None:
        """Take over a crashed pool's key health; epochs move on so old leases read as stale."""
        for s in snapshot:
            key = self._keys.get(str(s.get("key_id")))
            if key is None:
                continue
            key.cooling_until = float(s.get("cooling_until", 0.0))
            key.disabled_until = float(s.get("disabled_until", 0.0))
            key.streak = int(s.get("streak", 0))
            key.epoch = int(s.get("epoch", 0)) + 1
            key.probation = bool(s.get("probation", False))
            key.failure_times = deque(float(t) for t in s.get("failure_times", ()))
            key.in_flight = int(s.get("in_flight", 0))

    def release(self, lease: Lease) -> None:
        """Return a lease whose attempt was cancelled or never made: no verdict on the key."""
        key = self._keys[lease.key_id]
        key.in_flight = max(0, key.in_flight - 1)

    def status(self) -> list[KeyStatus]:
        """Every key's public status, in configured order."""
        now = self._clock.now()
        out = []
        for key in self._keys.values():
            state = self._state(key, now)
            until = (
                key.disabled_until
                if state is KeyState.DISABLED
                else key.cooling_until
                if state is KeyState.COOLING
                else None
            )
            out.append(
                KeyStatus(key.key_id, state, until, self._recent_failures(key, now), key.in_flight)
            )
        return out


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)
