"""Every event type the runtime emits, as constants (the contract's names are marked)."""

from __future__ import annotations

REQUEST_SUCCEEDED = "request.succeeded"  # contract
REQUEST_FAILED = "request.failed"  # contract
REQUEST_WAITING = "request.waiting"  # waiting for a rate-limited key or a retry backoff
PROVIDER_SKIPPED = "provider.skipped"  # a provider could not serve: payload says why and until
# Reserved, not emitted: a per-attempt event would cost the hot path; every attempt is in the
# request.* events' payload (attempt_list) and in the ledger entry.
ATTEMPT_STARTED = "attempt.started"
ATTEMPT_SUCCEEDED = "attempt.succeeded"
ATTEMPT_FAILED = "attempt.failed"  # contract
KEY_PENALIZED = "key.penalized"  # reserved: an UNKNOWN failure only re-ranks the key
KEY_COOLED = "key.cooled"  # contract: a rate-limited key is out until its window ends
KEY_EJECTED = "key.ejected"  # an outlier key is out for a short, growing time
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
# Shared health state (state.backend: redis): the replica lost / (re)gained the shared store.
# While disconnected it serves from its own state; on connect it reconciles (payload:
# republished, applied, dropped).
STATE_DISCONNECTED = "state.disconnected"
STATE_CONNECTED = "state.connected"
# Streams: a stream broke after content had flowed (payload: provider, model, key_id, error,
# policy, delivered_chars); what follows is a resume / restart on the next route, or the error.
STREAM_INTERRUPTED = "stream.interrupted"

ALL: frozenset[str] = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str)
)
