"""How transitions sit in Redis: key names, the envelope, and the two scripts that write them.

Every key of a namespace shares the hash tag ``{namespace}`` (one slot, so a script may touch
several). A transition still in force is a key with a TTL that ends with it, so a replica that
starts later or reconnects reads the fleet's state with one SCAN:

- ``{ns}:key:<provider>:<key_id>:<event>`` — a key disabled / rate_limited / ejected until T;
- ``{ns}:breaker:<provider>`` — a breaker OPEN until T;
- ``{ns}:probe:<provider>`` — the half-open probe lock (``SET NX PX``);
- ``{ns}:budget:<provider>:<key_id>:<minute>`` — a hash of the requests (``r``) and tokens
  (``t``) granted for a key in one wall-clock minute (:data:`GRANT`), kept for two minutes;
- channel ``{ns}:transitions`` — every transition, for the replicas already running.

The value of a key and the message on the channel are the same JSON envelope: the record's wire
form (wall-clock times) plus ``origin``, the publishing replica's id.
"""

from __future__ import annotations

import json
from typing import Any

from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.core.key_pool_types import KeyEventKind
from adaptive_mind.core.shared_state import (
    KeyTransition,
    SharedTransition,
    from_wire,
    to_wire,
)

# Set (and announce) only when it lengthens what is stored: a window is never shortened.
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""
"""Only if this replica (ARGV[1]) holds the probe lock: keep it ARGV[2] ms more (a failed probe:
until the circuit's new open window ends), or delete it (ARGV[2] = 0)."""

EXTEND = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
"""

# Delete what a healthy-again transition ends (only records not newer than it), then announce.
CLEAR = """
for _, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  if cur then
    local ok, rec = pcall(cjson.decode, cur)
    if (not ok) or type(rec) ~= 'table' or tonumber(rec['at']) == nil
        or tonumber(rec['at']) <= tonumber(ARGV[2]) then
      redis.call('DEL', k)
    end
  end
end
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
"""

# Grant up to what is asked of a key's budget in this minute: min(asked, limit - granted).
# ARGV: requests, tokens, rpm, tpm (0: no limit), ttl ms. Returns {requests, tokens} granted.
GRANT = """
local function take(field, want, limit)
  if limit <= 0 or want <= 0 then return 0 end
  local used = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  local got = math.max(0, math.min(want, limit - used))
  if got > 0 then redis.call('HINCRBY', KEYS[1], field, got) end
  return got
end
local r = take('r', tonumber(ARGV[1]), tonumber(ARGV[3]))
local t = take('t', tonumber(ARGV[2]), tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {r, t}
"""

_OUT = (KeyEventKind.DISABLED, KeyEventKind.RATE_LIMITED, KeyEventKind.EJECTED)


class Names:
    """The Redis names of one namespace."""

    def __init__(self, namespace: str) -> None:
        self.prefix = "{" + namespace + "}:"
        self.channel = self.prefix + "transitions"

    def key(self, provider: str, key_id: str, event: KeyEventKind) -> str:
        return f"{self.prefix}key:{provider}:{key_id}:{event.value}"

    def breaker(self, provider: str) -> str:
        return f"{self.prefix}breaker:{provider}"

    def probe(self, provider: str) -> str:
        return f"{self.prefix}probe:{provider}"

    def budget(self, provider: str, key_id: str, minute: int) -> str:
        return f"{self.prefix}budget:{provider}:{key_id}:{minute}"

    @property
    def state_patterns(self) -> tuple[str, str]:
        """SCAN patterns of every stored transition."""
        return (self.prefix + "key:*", self.prefix + "breaker:*")

    def stored(self, t: SharedTransition) -> str | None:
        """Where ``t`` is kept while in force (None: it ends something, it is not kept)."""
        if isinstance(t, KeyTransition):
            return None if t.until is None else self.key(t.provider, t.key_id, t.event)
        return self.breaker(t.provider) if t.state is BreakerState.OPEN else None

    def cleared(self, t: SharedTransition) -> list[str]:
        """The stored keys a healthy-again transition ends (a rate-limit window never ends
        early: only disabled and ejected records go)."""
        if isinstance(t, KeyTransition):
            if t.event is not KeyEventKind.RESTORED:
                return []
            return [
                self.key(t.provider, t.key_id, e)
                for e in (KeyEventKind.DISABLED, KeyEventKind.EJECTED)
            ]
        return [self.breaker(t.provider)] if t.state is BreakerState.CLOSED else []


def is_out(t: SharedTransition) -> bool:
    """Whether ``t`` puts something out of service until a time (a record worth keeping)."""
    if isinstance(t, KeyTransition):
        return t.event in _OUT
    return t.state is BreakerState.OPEN


def encode(t: SharedTransition, origin: str) -> str:
    """The envelope of ``t`` (times already on the wall clock)."""
    return json.dumps({**to_wire(t), "origin": origin}, separators=(",", ":"))


def decode(raw: bytes | str) -> tuple[SharedTransition, str]:
    """``(record, origin)`` from an envelope (times on the wall clock).

    Raises:
        ValueError: not an envelope this version reads.
    """
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not an object")
    origin = data.get("origin")
    return from_wire(data), origin if isinstance(origin, str) else ""
