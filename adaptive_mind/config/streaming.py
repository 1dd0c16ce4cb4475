"""How streams are run: the default timeouts of a streaming attempt and the buffer. (What a broken
stream becomes is ``request.stream_policy``; a provider may set its own timeouts.)"""

from __future__ import annotations

from pydantic import Field

from adaptive_mind.config._base import Frozen


class StreamingConfig(Frozen):
    """``astream`` / ``stream`` (see the README's streaming section)."""

    first_token_timeout_s: float = Field(10.0, gt=0)
    """A provider that accepted a streamed request but sends nothing for this long fails over
    (a provider's own ``first_token_timeout_s`` replaces it). Capped by the provider's
    ``timeout_s``."""
    stall_timeout_s: float = Field(20.0, gt=0, le=3600)
    """Once content has flowed: no chunk for this long is a mid-stream failure (a provider's own
    ``stall_timeout_s`` replaces it)."""
    buffer_chunks: int = Field(64, ge=1, le=100_000)
    """Chunks held for a consumer that reads slower than the provider sends; past it the
    provider's stream is read no further until the consumer catches up."""
