"""Adaptive Mind: keep LLM-backed services answering when providers, models and keys fail.

The public API; everything else may change.
"""

from adaptive_mind.chat import Attempt, ChatMessage, Completion, ErrorCategory, Usage
from adaptive_mind.clock import Clock, FakeClock, MonotonicClock
from adaptive_mind.config import RuntimeConfig, load_config
from adaptive_mind.errors import (
    AdaptiveMindError,
    AllProvidersFailedError,
    BadRequestError,
    ConfigError,
    ContentPolicyError,
    DeadlineExceededError,
    OverloadedError,
    SystemStoppedError,
)
from adaptive_mind.system import ActorSystem
from adaptive_mind.telemetry.events import Event

__all__ = [
    "ActorSystem",
    "AdaptiveMindError",
    "AllProvidersFailedError",
    "Attempt",
    "BadRequestError",
    "ChatMessage",
    "Clock",
    "Completion",
    "ConfigError",
    "ContentPolicyError",
    "DeadlineExceededError",
    "ErrorCategory",
    "Event",
    "FakeClock",
    "MonotonicClock",
    "OverloadedError",
    "RuntimeConfig",
    "SystemStoppedError",
    "Usage",
    "load_config",
]
__version__ = "0.1.0"
