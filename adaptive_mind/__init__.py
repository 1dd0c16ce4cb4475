"""Adaptive Mind: keep LLM-backed services answering when providers, models and keys fail.

The public API; everything else may change.
"""

import logging

from adaptive_mind.actors.cell import CellState as ActorState
from adaptive_mind.chat import (
    Attempt,
    ChatMessage,
    Completion,
    ErrorCategory,
    FunctionCall,
    ImagePart,
    ImageURL,
    TextPart,
    ToolCall,
    Usage,
)
from adaptive_mind.clock import Clock, FakeClock, MonotonicClock
from adaptive_mind.config import RuntimeConfig, load_config
from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.core.ledger_entry import LedgerEntry, Outcome
from adaptive_mind.errors import (
    AdaptiveMindError,
    AllProvidersFailedError,
    BadRequestError,
    ConfigError,
    ContentPolicyError,
    DeadlineExceededError,
    InvalidOutputError,
    OverloadedError,
    StreamClosedError,
    StreamInterruptedError,
    SystemStoppedError,
)
from adaptive_mind.streaming import StreamChunk, ToolCallDelta
from adaptive_mind.supervision.rewriter import LLMRewriter, PromptRewriter, RewriteFailed
from adaptive_mind.system import ActorSystem
from adaptive_mind.system_stream import ChatStream, SyncChatStream
from adaptive_mind.telemetry.events import Event, Severity
from adaptive_mind.telemetry.ledger_reader import Ledger, VerifyResult

__all__ = [
    "ActorState",
    "ActorSystem",
    "AdaptiveMindError",
    "AllProvidersFailedError",
    "Attempt",
    "BadRequestError",
    "BreakerState",
    "ChatMessage",
    "ChatStream",
    "Clock",
    "Completion",
    "ConfigError",
    "ContentPolicyError",
    "DeadlineExceededError",
    "ErrorCategory",
    "Event",
    "FakeClock",
    "FunctionCall",
    "ImagePart",
    "ImageURL",
    "InvalidOutputError",
    "LLMRewriter",
    "Ledger",
    "LedgerEntry",
    "MonotonicClock",
    "Outcome",
    "OverloadedError",
    "PromptRewriter",
    "RewriteFailed",
    "RuntimeConfig",
    "Severity",
    "StreamChunk",
    "StreamClosedError",
    "StreamInterruptedError",
    "SyncChatStream",
    "SystemStoppedError",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "VerifyResult",
    "load_config",
]
__version__ = "0.2.0"

logging.getLogger("adaptive_mind").addHandler(logging.NullHandler())
