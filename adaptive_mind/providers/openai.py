"""OpenAI adapter on ``openai.AsyncOpenAI``: one client per key, SDK retries off.

Classification (the only place OpenAI's exception types are read):
429 ``insufficient_quota`` → KEY_FATAL, other 429 → TRANSIENT; 401/402/403 → KEY_FATAL;
404 → MODEL; 400 ``context_length_exceeded`` → MODEL, ``content_policy_violation`` →
CONTENT_POLICY, other 400/422 → BAD_REQUEST; 408/409/5xx, timeouts, connection errors →
TRANSIENT (a reset or a close before any header is a connection error, not a timeout, although
the SDK's aiohttp transport raises it as ``APITimeoutError``); a 200 with ``finish_reason ==
"content_filter"`` or a ``message.refusal`` → CONTENT_POLICY; anything else (e.g. a 200 that is
not JSON) → UNKNOWN.

Calls go through the SDK's client (``client.post`` with the validated body; streams through
``create(stream=True)``). Parameters: every one is a ``create()`` keyword of its own
(``max_completion_tokens`` is sent instead of ``max_tokens`` when both are set;
``response_format``, ``tools``, ``tool_choice``, ``parallel_tool_calls`` and ``reasoning_effort``
as is); ``extra["<name>"]`` goes in ``extra_body``. Messages are the canonical shape, which is
OpenAI's, sent as they are.
``finish_reason`` is already normalised (``function_call`` counts as ``tool_calls``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from adaptive_mind.chat import (
    NO_PARAMS,
    ChatMessage,
    ErrorCategory,
    FinishReason,
    FunctionCall,
    RequestParams,
    ToolCall,
    thaw,
)
from adaptive_mind.config import ProviderConfig
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
from adaptive_mind.providers.stream_events import OpenAIEvents, openai_usage
from adaptive_mind.providers.streams import Opened, drive
from adaptive_mind.providers.wire_errors import error_text, retry_after_from_headers
from adaptive_mind.streaming import StreamChunk

C = ErrorCategory
_DIRECT = ("temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "user")
"""Parameters passed to ``create()`` under their own name."""
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class OpenAIAdapter:
    """Chat completions through the official async SDK.

    Every text it hands on (answer, refusal, error) goes through a :class:`Redactor` of its keys
    and ``other_secrets`` (the system passes every configured key).
    """

    unsupported_params: frozenset[str] = frozenset()
    """Parameters this provider drops (OpenAI defines every one)."""

    def __init__(
        self, name: str, config: ProviderConfig, *, other_secrets: Iterable[str] = ()
    ) -> None:
        self._name = name
        self._max_tokens = config.max_tokens
        self._secrets = [k.secret.get_secret_value() for k in config.api_keys]
        self._redact = Redactor([*self._secrets, *other_secrets])
        self._clients = {
            kid: openai.AsyncOpenAI(
                api_key=secret,
                base_url=config.base_url,
                max_retries=0,
                timeout=config.timeout_s,
                http_client=openai.DefaultAioHttpClient()
                if config.transport == "aiohttp"
                else None,
            )
            for kid, secret in zip(config.key_ids(name), self._secrets, strict=True)
        }

    async def complete(self, call: CallRequest) -> CallResult:
        """One chat completion, sent through the SDK's own client as the body admission has
        already validated (``client.post``, the SDK's documented way to send a body as is).

        ``create()`` would first walk the body against its TypedDicts to transform it, which
        changes nothing for a body that is already OpenAI's wire shape and costs about 280 µs
        of CPU a call (measured: ``create()`` 922 µs, ``post()`` 644 µs of process CPU a
        request at concurrency 50). Everything else is the SDK's: its HTTP client and
        transport, auth, timeout, error types and response model.
        """
        client = self._clients[call.key_id]
        kwargs = self._params(call.params)
        extra = kwargs.pop("extra_body", None)
        body = {
            "model": call.model,
            "messages": [_message(m) for m in call.messages],
            **kwargs,
            **(extra or {}),  # as ``extra_body`` does: merged last
        }
        try:
            resp = await client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletion,
                options={"timeout": call.timeout_s, "security": {"bearer_auth": True}},
            )
        except Exception as exc:  # classified below; nothing escapes
            return self.classify_error(exc)
        return self.classify_response(resp, call.model)

    def stream(self, call: CallRequest) -> AsyncIterator[StreamChunk]:
        """``create(stream=True, stream_options={"include_usage": True})``, as chunks (see
        :mod:`.streams`); closing the iterator closes the SDK stream's HTTP response."""
        client = self._clients[call.key_id]

        async def open_stream() -> Opened:
            create: Any = client.chat.completions.create  # the stream=True overload
            sdk_stream = await create(
                model=call.model,
                messages=[_message(m) for m in call.messages],
                timeout=call.timeout_s,
                stream=True,
                stream_options={"include_usage": True},
                **self._params(call.params),
            )
            return sdk_stream, sdk_stream.close

        return drive(open_stream, OpenAIEvents(self._redact, _FINISH), self.classify_error)

    def _params(self, p: RequestParams) -> dict[str, Any]:
        """The request's parameters as ``create()`` keywords (all of them are OpenAI's own)."""
        out: dict[str, Any] = {}
        if p.max_completion_tokens is not None:  # the current name wins over the legacy one
            out["max_completion_tokens"] = p.max_completion_tokens
        elif p.max_tokens is not None:
            out["max_tokens"] = p.max_tokens
        elif self._max_tokens is not None:
            out["max_tokens"] = self._max_tokens
        if p is NO_PARAMS:
            return out
        for name in _DIRECT:
            value = getattr(p, name)
            if value is not None:
                out[name] = list(value) if name == "stop" else value
        if p.response_format is not None:  # OpenAI's own shape, sent as is
            out["response_format"] = thaw(p.response_format)
        if p.tools is not None:
            out["tools"] = [t.openai() for t in p.tools]
        choice = p.tool_choice_openai()
        if choice is not None:
            out["tool_choice"] = choice
        if p.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = p.parallel_tool_calls
        if p.reasoning_effort is not None:
            out["reasoning_effort"] = p.reasoning_effort
        body = p.extra.get(self._name)
        if body:
            out["extra_body"] = dict(body)
        return out

    def classify_response(self, resp: Any, model: str) -> CallResult:
        """Inspect a 200: refusals arrive inside successful responses."""
        try:
            choice = resp.choices[0]
            message = choice.message
        except (AttributeError, IndexError, TypeError):
            return CallFailure(C.UNKNOWN, "response without choices", 200)
        if choice.finish_reason == "content_filter":
            return CallFailure(C.CONTENT_POLICY, "finish_reason content_filter", 200)
        refusal = getattr(message, "refusal", None)
        if refusal:
            why = error_text(str(refusal), self._redact)
            return CallFailure(C.CONTENT_POLICY, f"refusal: {why}", 200)
        usage = getattr(resp, "usage", None)
        upstream = choice.finish_reason if isinstance(choice.finish_reason, str) else None
        calls = self._tool_calls(getattr(message, "tool_calls", None))
        finish = _FINISH.get(upstream or "stop", "stop")
        return CallSuccess(
            text=self._redact(message.content or ""),
            model=self._redact(str(getattr(resp, "model", None) or model)),
            usage=openai_usage(usage),
            finish_reason="tool_calls" if calls and finish == "stop" else finish,
            upstream_finish_reason=upstream,
            tool_calls=calls,
        )

    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        """The function calls of an answer (redacted), OpenAI's own shape."""
        out: list[ToolCall] = []
        for c in raw or ():
            fn = getattr(c, "function", None)
            name = getattr(fn, "name", None)
            if not isinstance(name, str):
                continue  # a custom (non-function) tool call: not part of the canonical shape
            arguments = getattr(fn, "arguments", None)
            out.append(
                ToolCall(
                    id=self._redact(str(getattr(c, "id", "") or "")),
                    function=FunctionCall(
                        name=self._redact(name),
                        arguments=self._redact(arguments if isinstance(arguments, str) else "{}"),
                    ),
                )
            )
        return tuple(out)

    def classify_error(self, exc: BaseException) -> CallFailure:
        """Map an exception raised by the SDK to a category."""
        local = local_failure(exc)  # raised before anything was sent: blames nobody
        if local is not None:
            return local
        lost = transport_failure(exc, openai.APITimeoutError, openai.APIConnectionError)
        if lost is not None:
            return lost
        if not isinstance(exc, openai.APIStatusError):
            return CallFailure(C.UNKNOWN, f"unexpected {type(exc).__name__}")
        status = exc.status_code
        code = exc.code if isinstance(exc.code, str) else None
        etype = exc.type if isinstance(exc.type, str) else None
        body = exc.body if isinstance(exc.body, dict) else {}
        message = str(body.get("message") or "")
        text = error_text(f"{status} {code or etype or ''}: {message}".strip(" :"), self._redact)
        retry_after = retry_after_from_headers(exc.response.headers)
        if status == 429 and "insufficient_quota" in (code, etype):
            return CallFailure(C.KEY_FATAL, text, status)
        if status == 400 and code == "context_length_exceeded":
            return CallFailure(C.MODEL, text, status)
        if status == 400 and code == "content_policy_violation":
            return CallFailure(C.CONTENT_POLICY, text, status)
        return failure_for_status(status, text, retry_after)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()


def _message(m: ChatMessage) -> dict[str, Any]:
    """A message as OpenAI takes it (the canonical shape is OpenAI's own)."""
    if isinstance(m.content, str) and m.name is None and m.role != "tool":
        return {"role": m.role, "content": m.content}  # the common case, without a dump
    out: dict[str, Any] = thaw(m.model_dump(exclude_none=True))
    return out
