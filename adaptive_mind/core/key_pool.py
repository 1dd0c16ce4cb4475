"""The key pool's health model: evidence decides who is blamed.

Plain logic with no threads; :class:`~adaptive_mind.actors.key_pool.KeyPoolActor` owns one instance.
The pool sees key ids only, never secrets and never prompts.

- A **rate limit** (429) is about the key: it is not leased until its Retry-After has passed, or,
  without one, for a backoff that starts at ``cooldown_s`` (1 s) and doubles per consecutive 429.
- A **fatal key error** (401, 402, 403, quota) disables the key for ``disabled_s``; afterwards it
  is on *probation*: one lease at a time until a success restores it.
- A **server-side failure** (5xx, 529, timeout, dropped connection, UNKNOWN) is about the
  provider's servers and blames no key, unless the key is an *outlier*:
  ``outlier_consecutive_failures`` failures in a row while its siblings succeed (Envoy's
  ``consecutive_5xx``). An outlier is ejected for ``ejection_s`` x (ejections in a row), capped,
  then re-admitted with a *slow start* (its share of traffic ramps up over ``slow_start_s``). A
  re-admitted key that fails before it succeeds again is ejected again at once: a dead key gets
  its first burst, then single probes.
- Ejection never takes out more than ``max_ejected_fraction`` (at most half) of the keys; when no
  healthy key is left to lease, the pool is in *panic* and leases ejected keys by health rank
  (Envoy's panic threshold). Rate-limited and disabled keys are never leased, panic or not.

Leasing: among leasable keys, an idle key on probation first (its one probe), then the lowest
weighted load ``(in flight + 1) / weight`` where the weight falls with the key's recent failures,
rises through the slow start and is scaled by the share of its rpm / tpm budget left, then least
recently used, then configured order. A key whose budget is spent (:mod:`.key_budget`) is out
like a rate-limited key, until its window frees room.

What lives where: the pool's decisions (leasing, outcomes, ejection) are here; a key's record and
what peers learned in :mod:`.key_pool_peers`; reading one key's state and weight in
:mod:`.key_pool_health`; snapshots for a restarted pool in :mod:`.key_pool_snapshot`; the public
records in :mod:`.key_pool_types`; rpm / tpm budgets in :mod:`.key_budget`.
"""

from __future__ import annotations

import math
from typing import Any

from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import Clock
from adaptive_mind.config import KeyPoolConfig
from adaptive_mind.core.key_budget import BudgetAsk, BudgetGrant, KeyBudgets, Limits
from adaptive_mind.core.key_pool_health import key_state, key_weight, recent_failures
from adaptive_mind.core.key_pool_peers import Key, apply_peer
from adaptive_mind.core.key_pool_snapshot import restore_keys, snapshot_keys
from adaptive_mind.core.key_pool_types import (
    KeyEvent,
    KeyEventKind,
    KeyState,
    KeyStatus,
    Lease,
    NoKey,
    Outcome,
    Unavailable,
)
from adaptive_mind.core.shared_state import KeyTransition

__all__ = [
    "KeyEvent",
    "KeyEventKind",
    "KeyPool",
    "KeyState",
    "KeyStatus",
    "Lease",
    "NoKey",
    "Outcome",
    "Unavailable",
]


class KeyPool:
    """One provider's keys and their health."""

    def __init__(
        self,
        key_ids: tuple[str, ...],
        config: KeyPoolConfig,
        clock: Clock,
        limits: tuple[Limits, ...] = (),
        *,
        fleet: bool = False,
    ) -> None:
        """``limits``: each key's ``(rpm, tpm)`` in order; ``fleet``: budgets granted by the
        fleet (:mod:`.key_budget`)."""
        if not key_ids:
            raise ValueError("key_ids: must not be empty")
        self.budgets = KeyBudgets(dict(zip(key_ids, limits, strict=False)), fleet=fleet)
        self._cfg = config
        self._clock = clock
        self._keys = {k: Key(k, i) for i, k in enumerate(key_ids)}
        self._max_ejected = math.floor(len(key_ids) * config.max_ejected_fraction)
        self._seq = 0  # counts reported outcomes

    # -- reading state -----------------------------------------------------------------------

    def _state(self, key: Key, now: float) -> KeyState:
        return key_state(key, now, self._cfg.slow_start_s)

    def _weight(self, key: Key, now: float) -> float:
        return key_weight(key, now, self._cfg, self.budgets.share(key.key_id, now))

    def _ejected_count(self, now: float) -> int:
        return sum(1 for k in self._keys.values() if k.ejected_until > now)

    # -- leasing ----------------------------------------------------------------------------

    def lease(
        self, exclude: frozenset[str] = frozenset(), prefer: str | None = None, tokens: int = 0
    ) -> Lease | NoKey:
        """Lease the healthiest key not in ``exclude`` (``prefer`` wins when it is leasable)
        that has budget for one request of ``tokens`` (an estimate).

        ``prefer`` lets a walk keep the key that just answered a MODEL error for the next model:
        that answer proved the key works.
        """
        now = self._clock.now()
        healthy: list[Key] = []
        ejected: list[Key] = []
        tried = False
        waits: list[float] = []
        limited: list[float] = []  # when rate-limited or budget-spent keys free up
        disabled = probing = rate_limited = 0
        for key in self._keys.values():
            state = self._state(key, now)
            if state is KeyState.DISABLED:
                disabled += 1
                waits.append(key.disabled_until)
                continue
            free_at = self.budgets.free_at(key.key_id, now, tokens) if self.budgets else None
            if state is KeyState.RATE_LIMITED or free_at is not None:
                rate_limited += 1
                limited.append(free_at if free_at is not None else key.rate_limited_until)
                continue
            if state is KeyState.PROBATION and key.in_flight > 0:
                probing += 1
                continue
            if key.key_id in exclude:
                tried = True
                continue
            if state is KeyState.EJECTED:
                ejected.append(key)
            else:
                healthy.append(key)
        pool = healthy or ejected  # no healthy key left: panic, ejected keys serve
        if pool:
            best = self._best(pool, now, prefer)
            best.in_flight += 1
            best.last_used = now
            ticket = self.budgets.charge(best.key_id, now, tokens)
            return Lease(best.key_id, best.epoch, panic=not healthy, ticket=ticket)
        if tried:
            return NoKey(Unavailable.TRIED, now)
        if rate_limited:
            return NoKey(Unavailable.RATE_LIMITED, min(limited))
        if probing:
            return NoKey(Unavailable.PROBING, None)
        return NoKey(Unavailable.KEYS_DISABLED, min(waits) if waits else None)

    def _best(self, pool: list[Key], now: float, prefer: str | None) -> Key:
        for key in pool:
            if key.key_id == prefer:
                return key
        best = pool[0]
        best_rank: tuple[float, ...] = ()
        for key in pool:
            # An idle key on probation goes first: its one probe is how it gets restored.
            rank = (
                0 if key.probation else 1,
                (key.in_flight + 1) / self._weight(key, now),
                key.last_used,
                key.index,
            )
            if not best_rank or rank < best_rank:
                best, best_rank = key, rank
        return best

    # -- outcomes ---------------------------------------------------------------------------

    def report(
        self,
        lease: Lease,
        category: ErrorCategory | None,
        retry_after_s: float | None = None,
        *,
        rate_limited: bool = False,
        tokens: int | None = None,
    ) -> Outcome:
        """Record the outcome of a leased attempt (``category`` None means success).

        ``rate_limited`` marks a TRANSIENT failure that was a rate limit (429, gRPC
        RESOURCE_EXHAUSTED, Anthropic ``rate_limit_error``): the key's business, not the server's.
        ``tokens``: what a successful call used (its usage's total), for the key's tpm budget.
        """
        now = self._clock.now()
        self._seq += 1
        key = self._keys[lease.key_id]
        key.in_flight = max(0, key.in_flight - 1)
        independent = lease.epoch == key.epoch
        if category is None or category is ErrorCategory.CONTENT_POLICY:
            self.budgets.settle(lease.ticket, tokens)
            return self._success(key, now)
        self.budgets.settle(lease.ticket, 0)  # errors are not billed tokens
        if category in (ErrorCategory.MODEL, ErrorCategory.BAD_REQUEST):
            return Outcome(independent)
        key.failure_times.append(now)
        if category is ErrorCategory.KEY_FATAL:
            return self._disable(key, now, independent)
        if category is ErrorCategory.TRANSIENT and rate_limited:
            return self._rate_limit(key, now, retry_after_s, independent)
        return self._server_failure(key, now, independent and not lease.panic)

    def _success(self, key: Key, now: float) -> Outcome:
        key.rate_streak = 0
        key.server_streak = 0
        key.last_success = self._seq
        events: tuple[KeyEvent, ...] = ()
        restored = key.probation or not key.proven
        if key.probation and key.disabled_until <= now:
            key.probation = False
        if key.ejected_until > now:  # leased in panic, and it answered: re-admit it now
            key.ejected_until = key.readmitted_at = now
        if not key.proven:
            key.proven = True
        elif key.ejections and now - key.readmitted_at >= self._cfg.slow_start_s:
            key.ejections -= 1  # healthy again after a full slow start: forgive one ejection
        if restored and not key.probation:
            events = (KeyEvent(KeyEventKind.RESTORED, key.key_id),)
        return Outcome(True, events)

    def _disable(self, key: Key, now: float, independent: bool) -> Outcome:
        already = key.disabled_until > now
        key.epoch += 1
        key.disabled_until = max(key.disabled_until, now + self._cfg.disabled_s)
        key.probation = True
        if already:
            return Outcome(False)
        return Outcome(
            independent, (KeyEvent(KeyEventKind.DISABLED, key.key_id, key.disabled_until),)
        )

    def _rate_limit(
        self, key: Key, now: float, retry_after_s: float | None, independent: bool
    ) -> Outcome:
        if retry_after_s is not None and retry_after_s > 0:
            wait = min(retry_after_s, self._cfg.max_retry_after_s)
        else:
            key.rate_streak += 1
            wait = min(self._cfg.cooldown_s * 2 ** (key.rate_streak - 1), self._cfg.cooldown_cap_s)
        until = now + wait
        if until <= key.rate_limited_until:
            return Outcome(independent)  # an older window already covers it
        key.rate_limited_until = until
        key.epoch += 1
        reason = ErrorCategory.TRANSIENT.value
        return Outcome(
            independent, (KeyEvent(KeyEventKind.RATE_LIMITED, key.key_id, until, reason),)
        )

    def _server_failure(self, key: Key, now: float, independent: bool) -> Outcome:
        if not independent:
            return Outcome(False)  # the key was already known bad (or leased in panic)
        if key.server_streak == 0:
            key.streak_started = self._seq
        key.server_streak += 1
        key.last_server_failure = self._seq
        key.server_failure_times.append(now)
        if (not key.proven and key.ejections) or (
            key.server_streak >= self._cfg.outlier_consecutive_failures
            and self._siblings_succeed(key)
        ):
            event = self._eject(key, now)
            if event is not None:
                return Outcome(True, (event,))
        return Outcome(True)

    def _siblings_succeed(self, key: Key) -> bool:
        """A sibling's latest outcome is a success, and no sibling failed on the server since
        this key's streak began: the servers work, this key does not."""
        others = [k for k in self._keys.values() if k is not key]
        return any(k.last_success > k.last_server_failure for k in others) and not any(
            k.last_server_failure >= key.streak_started for k in others
        )

    def _eject(self, key: Key, now: float) -> KeyEvent | None:
        if key.ejected_until > now:
            return None
        if self._ejected_count(now) + 1 > self._max_ejected:
            return None  # never eject more than the cap: those keys keep serving
        key.ejections += 1
        span = min(self._cfg.ejection_s * key.ejections, self._cfg.max_ejection_s)
        key.ejected_until = now + span
        key.readmitted_at = key.ejected_until
        key.proven = False
        key.server_streak = 0
        key.epoch += 1
        return KeyEvent(KeyEventKind.EJECTED, key.key_id, key.ejected_until, "outlier")

    def release(self, lease: Lease) -> None:
        """Return a lease whose attempt was cancelled or never made: no verdict on the key."""
        key = self._keys[lease.key_id]
        key.in_flight = max(0, key.in_flight - 1)
        self.budgets.forget(lease.ticket)

    def budget_asks(self) -> list[BudgetAsk]:
        """Fleet budget top-ups to ask for now (see :mod:`.key_budget`)."""
        return self.budgets.asks(self._clock.now()) if self.budgets else []

    def budget_granted(self, key_id: str, grant: BudgetGrant | None) -> None:
        """The fleet's answer to a :meth:`budget_asks` ask (None: it could not be asked)."""
        self.budgets.granted(key_id, self._clock.now(), grant)

    # -- what other replicas learned ----------------------------------------------------------

    def apply_remote(self, t: KeyTransition) -> tuple[KeyEvent, ...]:
        """Apply a transition another replica published (see :func:`.key_pool_peers.apply_peer`);
        the events of what changed here. Unknown key ids (a peer with another config) are
        ignored."""
        key = self._keys.get(t.key_id)
        if key is None:
            return ()
        now = self._clock.now()
        cap_reached = self._ejected_count(now) + 1 > self._max_ejected
        return apply_peer(key, t, self._cfg, now, cap_reached)

    # -- snapshots and status ---------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Every key's health as plain data (no secrets: the pool never has any)."""
        return snapshot_keys(self._keys.values(), self.budgets)

    def restore(self, snapshot: list[dict[str, Any]]) -> None:
        """Take over a crashed pool's key health; epochs move on so old leases read as stale."""
        self._seq = restore_keys(self._keys, self.budgets, snapshot, self._seq)

    def status(self) -> list[KeyStatus]:
        """Every key's public status, in configured order."""
        now = self._clock.now()
        out = []
        for key in self._keys.values():
            state = self._state(key, now)
            free_at = self.budgets.free_at(key.key_id, now, 0) if self.budgets else None
            if free_at is not None and state in (KeyState.AVAILABLE, KeyState.WARMING):
                state = KeyState.THROTTLED
            until = (
                free_at
                if state is KeyState.THROTTLED
                else {
                    KeyState.DISABLED: key.disabled_until,
                    KeyState.RATE_LIMITED: key.rate_limited_until,
                    KeyState.EJECTED: key.ejected_until,
                }.get(state)
            )
            failures = recent_failures(key, now, self._cfg.failure_window_s)
            out.append(KeyStatus(key.key_id, state, until, failures, key.in_flight))
        return out
