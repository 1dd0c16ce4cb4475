"""The key pool's public records: key states, why no key is leasable, leases, key events."""

from __future__ import annotations

from enum import StrEnum

from adaptive_mind.records import record


class KeyState(StrEnum):
    """A key's health as users see it."""

    AVAILABLE = "available"  # leasable
    RATE_LIMITED = "rate_limited"  # answered 429: not leasable until its Retry-After/backoff ends
    EJECTED = "ejected"  # an outlier: out for a short, growing time (leased only in panic)
    WARMING = "warming"  # back from ejection: leasable with a share that ramps up
    PROBATION = "probation"  # back from being disabled: one lease at a time until a success
    DISABLED = "disabled"  # failed fatally (bad key, no quota): out for disabled_s
    THROTTLED = "throttled"  # its rpm / tpm budget is spent: out until its window frees room


class KeyEventKind(StrEnum):
    """What happened to a key."""

    RATE_LIMITED = "rate_limited"
    EJECTED = "ejected"
    DISABLED = "disabled"
    RESTORED = "restored"


class Unavailable(StrEnum):
    """Why no key could be leased."""

    RATE_LIMITED = "rate_limited"  # every usable key is rate-limited or its budget is spent
    KEYS_DISABLED = "keys_disabled"  # every key is disabled
    PROBING = "probing"  # the only usable keys are on probation with their probe out
    TRIED = "tried"  # only keys this request already tried are leasable: back off, then retry


@record
class KeyEvent:
    """A key's state change, for events and metrics."""

    kind: KeyEventKind
    key_id: str
    until: float | None = None
    reason: str = ""


@record
class Lease:
    """One key lent to one attempt."""

    key_id: str
    epoch: int
    """The key's epoch when leased; a failure reported for an older epoch is not news."""
    panic: bool = False
    """Leased in panic (the key is ejected, but no healthy key was left)."""
    ticket: int = 0
    """The lease's charge against the key's rpm / tpm budget (0: the key has none)."""


@record
class NoKey:
    """No key can be leased now."""

    reason: Unavailable
    next_free_at: float | None
    """When the earliest non-excluded key may be leasable again; None if not known."""

    @property
    def cooling(self) -> bool:
        """True when waiting for ``next_free_at`` may help (keys out for a known time)."""
        return self.next_free_at is not None and self.reason is not Unavailable.KEYS_DISABLED


@record
class KeyStatus:
    """A key's public status (no secret)."""

    key_id: str
    state: KeyState
    cooldown_until: float | None
    failures: int
    in_flight: int


@record
class Outcome:
    """What the pool made of a reported outcome."""

    independent: bool
    """False when the key was already known bad (ejected, disabled) when this attempt started."""
    events: tuple[KeyEvent, ...] = ()
