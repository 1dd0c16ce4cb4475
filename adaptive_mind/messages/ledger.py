"""Messages to the LedgerActor."""

from __future__ import annotations

from typing import Any

from adaptive_mind.chat import Attempt, ChatMessage, Completion
from adaptive_mind.errors import AdaptiveMindError
from adaptive_mind.messages.request import RequestSpec
from adaptive_mind.records import record


@record
class RequestFinished:
    """A request was answered; the ledger builds and stores its one entry (off the hot path)."""

    request: RequestSpec
    result: Completion | AdaptiveMindError
    attempts: tuple[Attempt, ...]
    events: tuple[dict[str, Any], ...]
    latency_s: float
    final_messages: tuple[ChatMessage, ...] | None = None
    """The rewritten chat, when mitigation changed it."""
    mitigation_attempted: bool = False


@record
class FlushLedger:
    """Write everything pending now (ask: answers how many entries are still unwritten)."""
