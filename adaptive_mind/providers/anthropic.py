"""Anthropic adapter on ``anthropic.AsyncAnthropic``: one client per key, SDK retries off.

Classification (the only place Anthropic's exception types are read): 408/409/429/5xx/529,
timeouts and connection errors → TRANSIENT; 401/402/403 and a 400 saying the credit balance is
too low → KEY_FATAL; 404 and a 400 "prompt is too long" → MODEL; a 400 "Output blocked by content
filtering policy" and a 200 with ``stop_reason == "refusal"`` → CONTENT_POLICY; other 400/413/422
→ BAD_REQUEST; anything else → UNKNOWN. Anthropic sends every 400 as ``invalid_request_error``,
so those three cases are told apart by the body's ``error.message``.

Parameters: ``max_completion_tokens`` (else ``max_tokens``, else the provider's ``max_tokens``,
else 1024) → ``max_tokens`` (required by the API); ``stop`` → ``stop_sequences``; ``user`` →
``metadata.user_id``; ``extra["<name>"]`` → ``extra_body``; ``response_format`` ``json_schema`` →
``output_config.format`` (``{"type": "json_schema", "schema": …}``), ``json_object`` → an
instruction appended to ``system`` (the attempt lists ``"response_format→system"`` in
``translated``), ``text`` → nothing. ``seed`` and the two penalties do not
exist in the Messages API, and ``messages.create()`` in anthropic 2.x has no ``temperature`` or
``top_p`` either: those are dropped (and the attempt says so); a caller who knows a model still
takes them can send them with ``extra={"<name>": {"temperature": …}}``.
Messages, tools, ``tool_choice``, ``parallel_tool_calls`` and tool-call ids are translated by
:mod:`adaptive_mind.providers.anthropic_messages` (system/developer turns → ``system``, tool turns
→ ``tool_result`` blocks, merged turns, images, ``toolu_`` ids). A conversation holding tool calls
sent without ``tools`` declares stand-ins for the tools it used, with ``tool_choice`` ``none``
(the API refuses tool blocks with no tools defined). ``reasoning_effort`` → ``thinking``
(``{"type": "enabled", "budget_tokens": B}``, B 1024 / 4096 / 16384) and ``max_tokens`` raised by
B, except where the API refuses thinking (a forced tool choice, a tool loop in progress).
Answers: ``tool_use`` blocks → ``tool_calls`` (``arguments`` = ``input`` as JSON text, redacted
like the text), ``thinking`` blocks are not text, ``cache_read_input_tokens`` → ``cached_tokens``,
``output_tokens_details.thinking_tokens`` → ``reasoning_tokens``.
``stop_reason``: ``end_turn`` / ``stop_sequence`` → ``stop``, ``max_tokens`` → ``length``,
``tool_use`` → ``tool_calls``, ``refusal`` → ``content_filter``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import anthropic

from adaptive_mind.chat import (
    NO_PARAMS,
    ChatMessage,
    ErrorCategory,
    FinishReason,
    FunctionCall,
    RequestParams,
    ToolCall,
    Usage,
)
from adaptive_mind.config import ProviderConfig
from adaptive_mind.providers.anthropic_messages import (
    history_tools,
    system_text,
    thinking_budget,
    to_messages,
    tool_calls_from,
    tool_choice_param,
    tools_param,
    used_tool_names,
)
from adaptive_mind.providers.base import (
    CallFailure,
    CallRequest,
    CallResult,
    CallSuccess,
    failure_for_status,
    local_failure,
    transport_failure,
)
from adaptive_mind.providers.redact import Redactor
from adaptive_mind.providers.stream_events import AnthropicEvents
from adaptive_mind.providers.streams import Opened, drive
from adaptive_mind.providers.wire_errors import error_text, retry_after_from_headers
from adaptive_mind.streaming import StreamChunk

C = ErrorCategory
_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
DEFAULT_MAX_TOKENS = 1024
JSON_OBJECT_INSTRUCTION = (
    "Answer with a single JSON object and nothing else: no prose, no Markdown code fence."
)
"""Appended to the system prompt of a ``json_object`` request (the Messages API has a JSON
output format only with a schema)."""


class AnthropicAdapter:
    """Messages API through the official async SDK.

    Every text it hands on (answer, refusal, error) goes through a :class:`Redactor` of its keys
    and ``other_secrets`` (the system passes every configured key).
    """

    unsupported_params: frozenset[str] = frozenset(
        {"temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"}
    )
    """Best-effort parameters ``messages.create()`` lacks: dropped, recorded on the attempt."""

    def __init__(
        self, name: str, config: ProviderConfig, *, other_secrets: Iterable[str] = ()
    ) -> None:
        self._name = name
        self._max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        self._secrets = [k.secret.get_secret_value() for k in config.api_keys]
        self._redact = Redactor([*self._secrets, *other_secrets])
        self._clients = {
            kid: anthropic.AsyncAnthropic(
                api_key=secret,
                base_url=config.base_url,
                max_retries=0,
                timeout=config.timeout_s,
                http_client=(
                    anthropic.DefaultAioHttpClient() if config.transport == "aiohttp" else None
                ),
            )
            for kid, secret in zip(config.key_ids(name), self._secrets, strict=True)
        }

    async def complete(self, call: CallRequest) -> CallResult:
        client = self._clients[call.key_id]
        try:
            kwargs = self._request(call)
            resp = await client.messages.create(**kwargs)
        except Exception as exc:  # classified below; nothing escapes
            return self.classify_error(exc)
        return self.classify_response(resp, call.model)

    def stream(self, call: CallRequest) -> AsyncIterator[StreamChunk]:
        """``messages.create(stream=True)``, as chunks (see :mod:`.streams`); closing the
        iterator closes the SDK stream's HTTP response."""
        client = self._clients[call.key_id]

        async def open_stream() -> Opened:
            sdk_stream = await client.messages.create(**self._request(call), stream=True)
            return sdk_stream, sdk_stream.close

        return drive(open_stream, AnthropicEvents(self._redact, _FINISH), self.classify_error)

    def dropped_for(self, p: RequestParams, messages: tuple[ChatMessage, ...]) -> tuple[str, ...]:
        """``reasoning_effort`` is left out where the API refuses thinking (a forced tool, a
        tool loop in progress)."""
        if p.reasoning_effort is not None and thinking_budget(p, messages) is None:
            return ("reasoning_effort",)
        return ()

    def translations(self, p: RequestParams) -> tuple[str, ...]:
        """Parameters carried another way: ``json_object`` becomes a system instruction."""
        return ("response_format→system",) if p.json_mode == "json_object" else ()

    def _request(self, call: CallRequest) -> dict[str, Any]:
        """The ``messages.create()`` keywords for ``call``."""
        p = call.params
        system = system_text(call.messages)
        if p.json_mode == "json_object":  # no native JSON mode without a schema
            system = f"{system}\n\n{JSON_OBJECT_INSTRUCTION}" if system else JSON_OBJECT_INSTRUCTION
        max_tokens = p.output_limit or self._max_tokens
        out: dict[str, Any] = {"model": call.model, "max_tokens": max_tokens}
        out["messages"] = to_messages(call.messages)
        if system:
            out["system"] = system
        out.update(self._params(p))
        if p.tools:
            out["tools"] = tools_param(p.tools)
            choice = tool_choice_param(p)
            if choice is not None:
                out["tool_choice"] = choice
        else:  # history with tool blocks needs declared tools: stand-ins the model may not call
            names = used_tool_names(call.messages)
            if names:
                out["tools"] = history_tools(names)
                out["tool_choice"] = {"type": "none"}
        budget = thinking_budget(p, call.messages)
        if budget is not None:  # thinking counts in max_tokens, and must stay below it
            out["thinking"] = {"type": "enabled", "budget_tokens": budget}
            out["max_tokens"] = max_tokens + budget
        out["timeout"] = call.timeout_s
        return out

    def _params(self, p: RequestParams) -> dict[str, Any]:
        """The request's parameters as ``messages.create()`` keywords (``max_tokens`` aside)."""
        out: dict[str, Any] = {}
        if p is NO_PARAMS:
            return out
        if p.stop is not None:
            out["stop_sequences"] = list(p.stop)
        if p.user is not None:
            out["metadata"] = {"user_id": p.user}
        schema = p.json_schema
        if schema is not None:
            out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        body = p.extra.get(self._name)
        if body:
            out["extra_body"] = dict(body)
        return out

    def classify_response(self, resp: Any, model: str) -> CallResult:
        """Inspect a 200: a refusal is ``stop_reason == "refusal"``."""
        if getattr(resp, "stop_reason", None) == "refusal":
            details = getattr(resp, "stop_details", None)
            why = getattr(details, "explanation", None) or getattr(details, "category", None)
            return CallFailure(
                C.CONTENT_POLICY,
                "stop_reason refusal" + (f": {error_text(str(why), self._redact)}" if why else ""),
                200,
            )
        blocks = getattr(resp, "content", None) or []
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")
        calls = tuple(
            ToolCall(
                id=self._redact(c.id),
                function=FunctionCall(
                    name=self._redact(c.function.name),
                    arguments=self._redact(c.function.arguments),
                ),
            )
            for c in tool_calls_from(blocks)
        )
        stop_reason = getattr(resp, "stop_reason", None)
        upstream = stop_reason if isinstance(stop_reason, str) else None
        finish = _FINISH.get(upstream or "end_turn", "stop")
        return CallSuccess(
            text=self._redact(text),
            model=self._redact(str(getattr(resp, "model", None) or model)),
            usage=_usage(getattr(resp, "usage", None)),
            finish_reason="tool_calls" if calls and finish == "stop" else finish,
            upstream_finish_reason=upstream,
            tool_calls=calls,
        )

    def classify_error(self, exc: BaseException) -> CallFailure:
        """Map an exception raised by the SDK to a category."""
        local = local_failure(exc)  # raised before anything was sent: blames nobody
        if local is not None:
            return local
        lost = transport_failure(exc, anthropic.APITimeoutError, anthropic.APIConnectionError)
        if lost is not None:
            return lost
        if not isinstance(exc, anthropic.APIStatusError):
            return CallFailure(C.UNKNOWN, f"unexpected {type(exc).__name__}")
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        etype = str(error.get("type") or "")
        message = str(error.get("message") or "")
        lowered = message.lower()
        text = error_text(f"{status} {etype}: {message}".strip(" :"), self._redact)
        retry_after = retry_after_from_headers(exc.response.headers)
        if status == 400 and "credit balance is too low" in lowered:
            return CallFailure(C.KEY_FATAL, text, status)
        if status == 400 and "prompt is too long" in lowered:
            return CallFailure(C.MODEL, text, status)
        if status == 400 and "content filtering policy" in lowered:
            return CallFailure(C.CONTENT_POLICY, text, status)
        return failure_for_status(status, text, retry_after)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _usage(usage: Any) -> Usage:
    """Anthropic's usage: ``cache_read_input_tokens`` → ``cached_tokens``,
    ``output_tokens_details.thinking_tokens`` (when reported) → ``reasoning_tokens``."""
    p = _int(getattr(usage, "input_tokens", None))
    c = _int(getattr(usage, "output_tokens", None))
    details = getattr(usage, "output_tokens_details", None)
    return Usage(
        prompt_tokens=p,
        completion_tokens=c,
        total_tokens=p + c if p is not None and c is not None else None,
        cached_tokens=_int(getattr(usage, "cache_read_input_tokens", None)),
        reasoning_tokens=_int(getattr(details, "thinking_tokens", None)),
    )
