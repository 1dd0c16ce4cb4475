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

from pydantic import BaseModel, ConfigDict, Field, computed_field

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")
ReasoningEffort = Literal["low", "medium", "high"]
REASONING_EFFORTS: tuple[str, ...] = ("low", "medium", "high")
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


class TextPart(BaseModel):
    """A text part of a message's content: ``{"type": "text", "text": …}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["text"] = "text"
    text: str


class ImageURL(BaseModel):
    """Where an image is: an ``https://`` URL or a ``data:<mime>;base64,…`` URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    """An image part: ``{"type": "image_url", "image_url": {"url": …, "detail": …}}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = TextPart | ImagePart
"""One part of a multi-part ``content``."""


class FunctionCall(BaseModel):
    """The function a tool call invokes: its name and its arguments as a JSON text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    arguments: str
    """A JSON object, as text (the OpenAI shape)."""


class ToolCall(BaseModel):
    """One tool call made by the assistant (OpenAI shape)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    """One chat turn, in the OpenAI Chat Completions shape.

    ``content`` is a string or a tuple of parts (text, image); None only for an assistant turn
    that just calls tools. ``tool_calls`` on assistant turns; ``tool_call_id`` on ``tool`` turns.
    ``model_dump(exclude_none=True)`` gives back the OpenAI dict.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    """Who speaks: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``."""
    content: str | tuple[ContentPart, ...] | None = None
    """The turn's text, or its parts."""
    name: str | None = None
    """An optional participant name."""
    tool_calls: tuple[ToolCall, ...] | None = None
    """Assistant turns: the tools it called."""
    tool_call_id: str | None = None
    """Tool turns: the id of the call this turn answers."""

    @property
    def text(self) -> str:
        """The turn's text: ``content`` itself, or its text parts joined ("" for None)."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "".join(p.text for p in content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The turn's image parts (empty for text content)."""
        content = self.content
        if content is None or isinstance(content, str):
            return ()
        return tuple(p for p in content if isinstance(p, ImagePart))


class Usage(BaseModel):
    """Token usage as the provider reported it; None where it did not say."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    """Prompt tokens served from the provider's cache (OpenAI ``cached_tokens``, Anthropic
    ``cache_read_input_tokens``, Gemini ``cached_content_token_count``)."""
    reasoning_tokens: int | None = None
    """Completion tokens spent thinking (OpenAI ``reasoning_tokens``, Anthropic
    ``output_tokens_details.thinking_tokens``, Gemini ``thoughts_token_count``)."""


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
class ToolSpec:
    """A function the model may call (from ``tools``: ``{"type": "function", "function":
    {"name", "description", "parameters", "strict"}}``), validated at admission."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None
    """Its arguments as a JSON schema (a read-only copy; None: no arguments)."""
    strict: bool | None = None

    def schema(self) -> dict[str, Any]:
        """A fresh, mutable copy of ``parameters`` (``{"type": "object", "properties": {}}``
        when None), safe to hand to an SDK."""
        if self.parameters is None:
            return {"type": "object", "properties": {}}
        out: dict[str, Any] = thaw(self.parameters)  # builds every container afresh
        return out

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        fn: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            fn["description"] = self.description
        if self.parameters is not None:
            fn["parameters"] = self.schema()
        if self.strict is not None:
            fn["strict"] = self.strict
        return {"type": "function", "function": fn}


def thaw(value: Any) -> Any:
    """Plain dicts and lists from read-only mappings and tuples (fresh containers, for SDKs)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


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
    tools: tuple[ToolSpec, ...] | None = None
    """Functions the model may call (distinct names)."""
    tool_choice: str | None = None
    """``auto``, ``none`` or ``required``; a named function is ``required`` with
    ``tool_choice_name`` set (OpenAI's ``{"type": "function", "function": {"name": …}}``)."""
    tool_choice_name: str | None = None
    """The one function the model must call, or None."""
    parallel_tool_calls: bool | None = None
    """False: at most one tool call per answer."""
    reasoning_effort: ReasoningEffort | None = None
    """How hard a reasoning model thinks: ``low``, ``medium`` or ``high``."""
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """``{provider_name: {...}}``: JSON merged into that provider's request body only."""

    def tool_choice_openai(self) -> str | dict[str, Any] | None:
        """``tool_choice`` in OpenAI's shape (a string, or the named-function object)."""
        if self.tool_choice_name is not None:
            return {"type": "function", "function": {"name": self.tool_choice_name}}
        return self.tool_choice

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
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
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
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the assistant called (empty when it only answered text)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message(self) -> ChatMessage:
        """The assistant's turn: ``completion.message.model_dump(exclude_none=True)`` is a valid
        next-turn message (content None when it only called tools)."""
        return ChatMessage(
            role="assistant",
            content=self.text if self.text or not self.tool_calls else None,
            tool_calls=self.tool_calls or None,
        )


def encodes_as_utf8(text: str) -> bool:
    """Whether ``text`` can be sent or stored as UTF-8 (False for a lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
