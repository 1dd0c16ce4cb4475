"""Per-key request and token budgets (``rpm`` / ``tpm``): a sliding window, and fleet grants.

Plain logic with no threads; :class:`~adaptive_mind.core.key_pool.KeyPool` owns one
:class:`KeyBudgets` and asks it, per key, whether a lease fits and how much budget is left.

**Local rule (a sliding-window log).** A key makes at most ``rpm`` requests and is charged at
most ``tpm`` tokens in any :data:`WINDOW_S` (60 s) span. Why a sliding window rather than a token
bucket: it is the strictest reading of "per minute". A sequence with at most N in every 60 s
span also passes a fixed-minute counter and a token bucket of capacity N refilling N/60 per
second, so the provider's 429 is avoided whichever of those it runs. A spent key's next-free
time is exact (when the oldest charge in the way leaves the window): the pool reports it like
a rate limit's end, and the Supervisor waits for it (``request.max_cooldown_wait_s``) or fails
over.

**Tokens.** A lease reserves an estimate (:func:`estimate_tokens`: the request's output cap,
else :data:`DEFAULT_OUTPUT_TOKENS`, plus a quarter of the prompt's characters). The outcome
settles it: a success to its usage's ``total_tokens`` (kept at the estimate when the provider
did not say), a failure to 0 (errors are not billed tokens). A lease given back without a
verdict (cancelled, or never called) keeps its charge: the call may have reached the provider.
A lease needs room for one request and for its estimate; a key with nothing charged in its
window always fits (an estimate above ``tpm`` still gets one call at a time).

**Fleet grants (``state.backend: redis``).** Each replica spends, per key, a *block* of
requests and tokens granted by the fleet's counter for the current wall-clock minute
(one script call: grant ``min(asked, limit - used)``). It tops its holding up to one block
(:func:`block_of`: a 50th of the limit, at least 1) when it falls to half, in the background:
the lease itself never waits on Redis. A key whose holding is spent is out until the grant
arrives or, when the fleet's minute is spent, until the next minute. What a replica holds when
a minute ends it spends in the next, so the fleet's calls in one minute stay within the limit
plus at most one block per replica (the documented over-grant); the local sliding window
still holds for each replica. When the fleet cannot be asked (Redis unreachable) the key
falls back to the local rule for :data:`LOCAL_FALLBACK_S` and asks again after it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

WINDOW_S = 60.0
"""The budgets' window: rpm and tpm are per minute."""
DEFAULT_OUTPUT_TOKENS = 256
"""The output part of a token estimate when the request sets no ``max_tokens``."""
CHARS_PER_TOKEN = 4
ASK_WAIT_S = 0.05
"""How long a key whose fleet grant is on the way is reported out (a hint for the walk)."""
LOCAL_FALLBACK_S = 1.0
"""How long a key enforces only the local rule after the fleet could not be asked."""
BLOCK_DIVISOR = 50
_MIN_SHARE = 0.05  # a key with almost no budget left still has a weight (it is leasable)

Limits = tuple[int | None, int | None]
"""A key's ``(rpm, tpm)``; None: no limit."""


def estimate_tokens(prompt_chars: int, output_limit: int | None) -> int:
    """A request's token reservation: its output cap (else a small default) plus its prompt
    at :data:`CHARS_PER_TOKEN` characters a token."""
    output = output_limit if output_limit is not None else DEFAULT_OUTPUT_TOKENS
    return max(1, output + prompt_chars // CHARS_PER_TOKEN)


def block_of(limit: int | None) -> int:
    """The fleet block of a limit: what one replica holds at most (0: no limit)."""
    return 0 if limit is None else max(1, math.ceil(limit / BLOCK_DIVISOR))


@dataclass(frozen=True, slots=True)
class BudgetAsk:
    """A replica asks the fleet for more of one key's budget in the current minute."""

    key_id: str
    requests: int
    """How many more requests (0: none wanted, or no rpm)."""
    tokens: int
    """How many more tokens (0: none wanted, or no tpm)."""
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True, slots=True)
class BudgetGrant:
    """The fleet's answer to a :class:`BudgetAsk`."""

    requests: int
    tokens: int
    window_ends_at: float
    """When the fleet's current minute ends (on the holder's clock)."""


@runtime_checkable
class FleetBudget(Protocol):
    """A state backend that grants budget blocks. ``request_budget`` never blocks."""

    @property
    def shared(self) -> bool: ...

    def request_budget(
        self, provider: str, ask: BudgetAsk, reply: Callable[[BudgetGrant | None], None]
    ) -> None:
        """Ask the fleet; ``reply`` is called once, on the I/O loop: the grant, or None when
        the fleet cannot be asked (the key then enforces the local rule only)."""
        ...


class _Charge:
    __slots__ = ("at", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens


class _Budget:
    """One key's window and fleet holding."""

    def __init__(self, rpm: int | None, tpm: int | None, fleet: bool) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.requests: deque[float] = deque()
        self.charges: deque[_Charge] = deque()
        self.tokens = 0  # the sum of ``charges``
        self.fleet = fleet and (rpm is not None or tpm is not None)
        self.held_r = self.held_t = 0
        self.pending = False
        self.local_until = 0.0  # the fleet could not be asked: local rule only until then
        self.empty_until = 0.0  # the fleet's minute is spent: nothing more until then

    def trim(self, now: float) -> None:
        horizon = now - WINDOW_S
        while self.requests and self.requests[0] <= horizon:
            self.requests.popleft()
        while self.charges and self.charges[0].at <= horizon:
            self.tokens -= self.charges.popleft().tokens

    def local_free_at(self, now: float, tokens: int) -> float | None:
        """When the window has room for one more request of ``tokens`` (None: now)."""
        at = None
        if self.rpm is not None and len(self.requests) >= self.rpm:
            at = self.requests[len(self.requests) - self.rpm] + WINDOW_S
        if self.tpm is not None and self.tokens > 0 and self.tokens + tokens > self.tpm:
            excess = self.tokens + tokens - self.tpm
            for c in self.charges:  # the charge whose leaving makes room
                excess -= c.tokens
                if excess <= 0 or c is self.charges[-1]:
                    at = max(at or 0.0, c.at + WINDOW_S)
                    break
        return at

    def fleet_on(self, now: float) -> bool:
        return self.fleet and now >= self.local_until

    def fleet_free_at(self, now: float) -> float | None:
        short = (self.rpm is not None and self.held_r < 1) or (
            self.tpm is not None and self.held_t <= 0
        )
        if not short or not self.fleet_on(now):
            return None
        if not self.pending and self.empty_until > now:
            return self.empty_until
        return now + ASK_WAIT_S

    def share(self, now: float) -> float:
        share = 1.0
        if self.rpm is not None:
            share = min(share, 1.0 - len(self.requests) / self.rpm)
        if self.tpm is not None:
            share = min(share, 1.0 - self.tokens / self.tpm)
        return max(_MIN_SHARE, share)


class KeyBudgets:
    """Every key's budget of one provider; keys without limits are always within budget."""

    def __init__(self, limits: dict[str, Limits], *, fleet: bool = False) -> None:
        self._budgets = {
            k: _Budget(rpm, tpm, fleet) for k, (rpm, tpm) in limits.items() if rpm or tpm
        }
        self._open: dict[int, tuple[_Budget, _Charge]] = {}
        self._tickets = 0

    def __bool__(self) -> bool:
        return bool(self._budgets)

    def free_at(self, key_id: str, now: float, tokens: int) -> float | None:
        """None when ``key_id`` may take a request of ``tokens`` now; else when it may."""
        b = self._budgets.get(key_id)
        if b is None:
            return None
        b.trim(now)
        local = b.local_free_at(now, tokens)
        fleet = b.fleet_free_at(now)
        if local is None or fleet is None:
            return local if fleet is None else fleet
        return max(local, fleet)

    def share(self, key_id: str, now: float) -> float:
        """The fraction of the key's budget left in its window (1.0 without limits)."""
        b = self._budgets.get(key_id)
        if b is None:
            return 1.0
        b.trim(now)
        return b.share(now)

    def charge(self, key_id: str, now: float, tokens: int) -> int:
        """Charge one request of ``tokens`` (an estimate); returns its ticket (0: none)."""
        b = self._budgets.get(key_id)
        if b is None:
            return 0
        b.requests.append(now)
        charge = _Charge(now, tokens if b.tpm is not None else 0)
        b.charges.append(charge)
        b.tokens += charge.tokens
        if b.fleet_on(now):
            b.held_r -= 1 if b.rpm is not None else 0
            b.held_t -= charge.tokens
        self._tickets += 1
        self._open[self._tickets] = (b, charge)
        return self._tickets

    def settle(self, ticket: int, tokens: int | None) -> None:
        """Correct a charge to what the call used (None: keep the estimate)."""
        entry = self._open.pop(ticket, None)
        if entry is None or tokens is None:
            return
        b, charge = entry
        if b.tpm is None:
            return
        delta = max(0, tokens) - charge.tokens
        if charge in b.charges:  # still in the window: the window's sum moves with it
            b.tokens += delta
        charge.tokens += delta
        if b.fleet:
            b.held_t -= delta

    def forget(self, ticket: int) -> None:
        """A lease given back without a verdict: its charge stays as estimated."""
        self._open.pop(ticket, None)

    # -- fleet grants -----------------------------------------------------------------------

    def asks(self, now: float) -> list[BudgetAsk]:
        """Top-ups to ask the fleet for now (each key's pending ask is marked)."""
        out = []
        for key_id, b in self._budgets.items():
            if not b.fleet_on(now) or b.pending or now < b.empty_until:
                continue
            block_r, block_t = block_of(b.rpm), block_of(b.tpm)
            low_r = b.rpm is not None and b.held_r <= block_r // 2
            low_t = b.tpm is not None and b.held_t <= block_t // 2
            if not (low_r or low_t):
                continue
            b.pending = True
            want_r = max(0, block_r - b.held_r) if b.rpm is not None else 0
            want_t = max(0, block_t - b.held_t) if b.tpm is not None else 0
            out.append(BudgetAsk(key_id, want_r, want_t, b.rpm, b.tpm))
        return out

    def granted(self, key_id: str, now: float, grant: BudgetGrant | None) -> None:
        """The fleet's answer (None: it could not be asked: the local rule only, for a while)."""
        b = self._budgets.get(key_id)
        if b is None:
            return
        b.pending = False
        if grant is None:
            b.local_until = now + LOCAL_FALLBACK_S
            return
        b.held_r += grant.requests
        b.held_t += grant.tokens
        spent = (b.rpm is not None and b.held_r < 1) or (b.tpm is not None and b.held_t <= 0)
        b.empty_until = grant.window_ends_at if spent else 0.0

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self, key_id: str) -> dict[str, Any] | None:
        """The key's window as plain data (a replacement pool keeps counting it)."""
        b = self._budgets.get(key_id)
        if b is None:
            return None
        return {"requests": list(b.requests), "charges": [(c.at, c.tokens) for c in b.charges]}

    def restore(self, key_id: str, data: object) -> None:
        """Take over a window written by :meth:`snapshot` (fleet holdings start again)."""
        b = self._budgets.get(key_id)
        if b is None or not isinstance(data, dict):
            return
        b.requests = deque(float(t) for t in _items(data.get("requests")))
        b.charges = deque(_Charge(float(at), int(n)) for at, n in _items(data.get("charges")))
        b.tokens = sum(c.tokens for c in b.charges)


def _items(v: object) -> Iterable[Any]:
    return v if isinstance(v, list | tuple) else ()
