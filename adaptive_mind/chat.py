"""Chat values that cross the public API: messages in, completions and attempts out.

These are plain frozen pydantic models with no behaviour beyond validation, so every layer of the
runtime may use them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


class ErrorCategory(StrEnum):
    """What an upstream outcome means for the key, the breaker and the next step."""

    TRANSIENT = (
        "TRANSIENT"  # rate limit, 5xx, overload, timeout, dropped connection: retry elsewhere
    )
    KEY_FATAL = "KEY_FATAL"  # bad, revoked or out-of-quota key: disable the key
    MODEL = "MODEL"  # missing, deprecated or too-small model: next model, same provider
    CONTENT_POLICY = "CONTENT_POLICY"  # refused on content grounds: mitigation or next provider
    BAD_REQUEST = "BAD_REQUEST"  # the request itself is wrong: no key or model will fix it
    UNKNOWN = "UNKNOWN"  # anything unexpected: penalize the key, try the next one


class ChatMessage(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    """Who speaks: `system`, `user` or `assistant`."""
    content: str
    """The turn's text."""


class Usage(BaseModel):
    """Token usage as the provider reported it; None where it did not say."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class Attempt(BaseModel):
    """One upstream call made for a request (successful or not)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    key_id: str
    category: ErrorCategory | None = None
    """None for the successful attempt."""
    status_code: int | None = None
    error: str = ""
    """Short description of the failure; never contains a secret."""
    latency_ms: float = 0.0


class Completion(BaseModel):
    """The answer to a request."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    text: str
    provider: str
    model: str
    key_id: str
    latency_ms: float
    usage: Usage = Field(default_factory=Usage)
    attempts: tuple[Attempt, ...] = ()
    mitigated: bool = False
