"""What the chaos server is scripted with and what it records: fault rules and request hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adaptive_mind.simulation.stream_faults import STREAM_FAULTS

STREAM_ONLY = frozenset(STREAM_FAULTS) - {"reject_prefill"}
"""Faults only a streamed request matches."""


@dataclass
class Rule:
    """One scripted fault."""

    provider: str | None
    fault: str
    key: str | None = None
    model: str | None = None
    times: int | None = None
    retry_after_s: float | None = None
    latency_ms: float | None = None
    probability: float | None = None
    """Serve the fault to this share of matching requests (seeded, so runs repeat)."""
    echo: str | None = None
    """Write the request's key (as :data:`wire.ECHOES` says) into the error, refusal or answer."""
    after_chunks: int | None = None
    """Stream faults: how many content events go out before the fault acts."""
    used: int = 0

    def matches(self, provider: str, key: str, model: str, stream: bool = False) -> bool:
        """Whether a request matches (a stream fault matches streamed requests only)."""
        if self.times is not None and self.used >= self.times:
            return False
        if not stream and self.fault in STREAM_ONLY:
            return False
        return (
            (self.provider is None or self.provider == provider)
            and (self.key is None or self.key == key)
            and (self.model is None or self.model == model)
        )


@dataclass(frozen=True)
class Hit:
    """A request the server received."""

    provider: str
    key: str
    model: str
    outcome: str
    """The fault served, ``ok``, or ``invalid`` (refused by :func:`wire.validate`)."""
    t: float = 0.0
    """``time.monotonic()`` when it arrived."""
    body: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The request's JSON body as the SDK sent it (None: not a JSON object)."""
