"""Every event type the runtime emits, as constants (the contract's names are marked)."""

from __future__ import annotations

REQUEST_SUCCEEDED = "request.succeeded"  # contract
REQUEST_FAILED = "request.failed"  # contract
REQUEST_WAITING = "request.waiting"  # every provider out only for keys cooling from others
# Reserved, not emitted: a per-attempt event would cost the hot path; every attempt is in the
# request.* events' payload (attempt_list) and in the ledger entry.
ATTEMPT_STARTED = "attempt.started"
ATTEMPT_SUCCEEDED = "attempt.succeeded"
ATTEMPT_FAILED = "attempt.failed"  # contract
KEY_PENALIZED = "key.penalized"  # reserved: an UNKNOWN failure only re-ranks the key
KEY_COOLED = "key.cooled"  # contract
KEY_DISABLED = "key.disabled"  # contract
KEY_RESTORED = "key.restored"  # contract
BREAKER_OPENED = "breaker.opened"  # contract
BREAKER_HALF_OPENED = "breaker.half_opened"  # contract
BREAKER_CLOSED = "breaker.closed"  # contract
PROVIDER_FAILOVER = "provider.failover"  # contract
MODEL_FAILOVER = "model.failover"  # contract
MITIGATION_ATTEMPTED = "mitigation.attempted"  # contract
MITIGATION_SUCCEEDED = "mitigation.succeeded"  # contract
MITIGATION_FAILED = "mitigation.failed"  # contract
ACTOR_RESTARTED = "actor.restarted"  # contract
ACTOR_DOWN = "actor.down"  # contract
EVENTS_DROPPED = "events.dropped"  # contract
LEDGER_STORE_FAILED = "ledger.store_failed"

ALL: frozenset[str] = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str)
)
