"""Chat values that cross the public API: messages in, completions and attempts out.

These are plain frozen pydantic models with no behaviour beyond validation, so every layer of the
runtime may use them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
"""Why the model stopped, normalised across providers."""


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
    dropped: tuple[str, ...] = ()
    """Best-effort request parameters this provider does not support, left out of its call."""
    translated: tuple[str, ...] = ()
    """Parameters this provider has no field for, carried another way (``"response_format→system"``:
    Anthropic asks for a JSON object in the system prompt)."""


@dataclass(frozen=True, slots=True)
class RequestParams:
    """A request's generation parameters, validated at admission (OpenAI Chat Completions
    meaning); None means "not set", so the provider's default applies. Shared by reference."""

    temperature: float | None = None
    """0 to 2."""
    top_p: float | None = None
    """0 to 1."""
    max_tokens: int | None = None
    """> 0; the legacy name of ``max_completion_tokens``."""
    max_completion_tokens: int | None = None
    """> 0; wins over ``max_tokens`` when both are set."""
    stop: tuple[str, ...] | None = None
    """Up to 4 stop sequences."""
    seed: int | None = None
    presence_penalty: float | None = None
    """-2 to 2."""
    frequency_penalty: float | None = None
    """-2 to 2."""
    user: str | None = None
    """The end user's id, for the provider's abuse monitoring."""
    response_format: Mapping[str, Any] | None = None
    """OpenAI's shape: ``{"type": "text"}``, ``{"type": "json_object"}`` or ``{"type":
    "json_schema", "json_schema": {"name", "schema", "strict"}}`` (a private read-only copy)."""
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """``{provider_name: {...}}``: JSON merged into that provider's request body only."""

    def present(self) -> tuple[str, ...]:
        """The names of the parameters that are set (``extra`` aside)."""
        return tuple(name for name in PARAM_NAMES if getattr(self, name) is not None)

    @property
    def output_limit(self) -> int | None:
        """The cap on generated tokens: ``max_completion_tokens``, else ``max_tokens``."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    @property
    def json_mode(self) -> Literal["json_object", "json_schema"] | None:
        """The JSON output the request asks for, or None (no ``response_format``, or ``text``)."""
        kind = None if self.response_format is None else self.response_format.get("type")
        return kind if kind in ("json_object", "json_schema") else None

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema of a ``json_schema`` request (a fresh copy), else None."""
        if self.json_mode != "json_schema" or self.response_format is None:
            return None
        schema: dict[str, Any] = copy.deepcopy(self.response_format["json_schema"]["schema"])
        return schema


PARAM_NAMES: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "user",
    "response_format",
)
"""Every :class:`RequestParams` field but ``extra``, in order."""

NO_PARAMS = RequestParams()
"""The parameters of a request that sets none (shared)."""


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
    finish_reason: FinishReason = "stop"
    """Why the model stopped: ``stop``, ``length``, ``tool_calls`` or ``content_filter``."""
    upstream_finish_reason: str | None = None
    """The provider's own reason (OpenAI ``finish_reason``, Anthropic ``stop_reason``, Gemini
    ``finishReason``), or None when it gave none."""
    parsed: Any = None
    """The decoded JSON answer of a ``json_object`` / ``json_schema`` request, else None."""


def encodes_as_utf8(text: str) -> bool:
    """Whether ``text`` can be sent or stored as UTF-8 (False for a lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
