"""Gemini adapter on the Google Gen AI SDK (``google-genai``): one client per key, retries off.

(The older ``google-generativeai`` package reached end of support in November 2025.)

Classification (the only place Gemini's exception types are read): 408/409/429/5xx, timeouts and
transport errors → TRANSIENT (``google-genai`` does not wrap transport errors: they arrive as
aiohttp / httpx2 / builtin exceptions); 400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``,
400 ``FAILED_PRECONDITION``, 401, 403 → KEY_FATAL; 404 and a 400 "input token count … exceeds the
maximum" → MODEL; other 400 → BAD_REQUEST; a 200 with ``promptFeedback.blockReason`` or a
candidate finishing with SAFETY / PROHIBITED_CONTENT / BLOCKLIST / SPII → CONTENT_POLICY.
A 429 whose QuotaFailure names a per-day quota stays TRANSIENT but cools the key for an hour.

Parameters go in ``GenerateContentConfig``: ``temperature``, ``top_p``, ``seed``, the penalties
under their own names, ``max_completion_tokens`` (else ``max_tokens``, else the provider's
``max_tokens``; plus the thinking budget when ``reasoning_effort`` is set) →
``max_output_tokens``, ``stop`` → ``stop_sequences``; ``extra["<name>"]`` →
``http_options.extra_body``; ``response_format`` ``json_object`` → ``response_mime_type``
``application/json``, ``json_schema`` → that and ``response_json_schema`` (the raw JSON schema;
``response_schema`` takes only Gemini's OpenAPI subset). ``user`` and ``parallel_tool_calls``
have no Gemini field: dropped (and the attempt says so). Turns, images, ``tools``,
``tool_choice`` and ``reasoning_effort`` are translated by :mod:`.gemini_contents` (see there).
``finishReason``: ``STOP`` → ``stop`` (``tool_calls`` when the answer calls functions),
``MAX_TOKENS`` → ``length``, ``RECITATION`` and the blocking reasons → ``content_filter``,
anything else → ``stop``. Usage: ``cached_content_token_count`` → ``cached_tokens``,
``thoughts_token_count`` → ``reasoning_tokens``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import aiohttp
import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from adaptive_mind.chat import (
    ErrorCategory,
    FinishReason,
    FunctionCall,
    RequestParams,
    ToolCall,
    Usage,
)
from adaptive_mind.config import ProviderConfig
from adaptive_mind.providers import gemini_contents as gc
from adaptive_mind.providers import gemini_stream
from adaptive_mind.providers.base import (
    CallFailure,
    CallRequest,
    CallResult,
    CallSuccess,
    failure_for_status,
    local_failure,
)
from adaptive_mind.providers.redact import Redactor
from adaptive_mind.providers.stream_events import GeminiEvents
from adaptive_mind.providers.streams import Opened, StreamFailed, drive
from adaptive_mind.providers.wire_errors import (
    daily_quota_exhausted,
    error_text,
    retry_after_from_headers,
    retry_delay_from_google_details,
)
from adaptive_mind.streaming import StreamChunk

C = ErrorCategory
DAILY_QUOTA_RETRY_S = 3600.0
_BLOCKING_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"}
_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "RECITATION": "content_filter",
    **dict.fromkeys(_BLOCKING_FINISH, "content_filter"),
}
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    aiohttp.ClientError,
    httpx2.TransportError,
)


def _no_retries(timeout_s: float) -> types.HttpOptions:
    return types.HttpOptions(
        timeout=max(1, int(timeout_s * 1000)),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),  # also kills aiohttp's reconnect retry
    )


class GeminiAdapter:
    """generateContent through the official async SDK.

    Every text it hands on (answer, refusal, error) goes through a :class:`Redactor` of its keys
    and ``other_secrets`` (the system passes every configured key).
    """

    unsupported_params: frozenset[str] = frozenset({"user", "parallel_tool_calls"})
    """Best-effort parameters generateContent lacks: dropped, recorded on the attempt."""

    def __init__(
        self, name: str, config: ProviderConfig, *, other_secrets: Iterable[str] = ()
    ) -> None:
        self._name = name
        self._max_tokens = config.max_tokens
        self._secrets = [k.secret.get_secret_value() for k in config.api_keys]
        self._redact = Redactor([*self._secrets, *other_secrets])
        self._own_http: list[httpx2.AsyncClient] = []
        self._clients: dict[str, genai.Client] = {}
        self._stream_clients: dict[str, genai.Client] = {}
        """Streams go through a :class:`~.gemini_stream.TrackingHttp` client per key (the same
        client as plain calls when the transport is httpx), so they can be closed early."""
        self._timeout_s = config.timeout_s
        self._base_url = config.base_url
        self._key_secrets = dict(zip(config.key_ids(name), self._secrets, strict=True))
        for kid, secret in self._key_secrets.items():
            if config.transport == "httpx":  # google-genai picks aiohttp itself when importable
                client = self._client(secret)
                self._stream_clients[kid] = client
            else:
                client = genai.Client(api_key=secret, http_options=self._options())
            self._clients[kid] = client

    def _options(self) -> types.HttpOptions:
        options = _no_retries(self._timeout_s)
        if self._base_url:
            options.base_url = self._base_url
        return options

    def _client(self, secret: str) -> genai.Client:
        """A client on a :class:`~.gemini_stream.TrackingHttp` of our own (closed on aclose)."""
        http = gemini_stream.TrackingHttp(timeout=self._timeout_s)
        self._own_http.append(http)
        options = self._options()
        options.httpx_async_client = http
        return genai.Client(api_key=secret, http_options=options)

    async def complete(self, call: CallRequest) -> CallResult:
        client = self._clients[call.key_id]
        try:
            contents = gc.contents(call.messages)
        except ValueError as exc:  # an image whose data is not base64: nothing was sent
            return CallFailure(C.BAD_REQUEST, str(exc), local=True)
        try:
            resp = await client.aio.models.generate_content(
                model=call.model, contents=contents, config=self._config(call)
            )
        except Exception as exc:  # classified below; nothing escapes
            return self.classify_error(exc)
        return self.classify_response(resp, call.model)

    def stream(self, call: CallRequest) -> AsyncIterator[StreamChunk]:
        """``generate_content_stream``, as chunks (see :mod:`.streams`); closing the iterator
        closes the HTTP response (see :mod:`.gemini_stream` for how)."""
        client = self._stream_clients.get(call.key_id)
        if client is None:
            client = self._stream_clients[call.key_id] = self._client(
                self._key_secrets[call.key_id]
            )

        async def open_stream() -> Opened:
            try:
                contents = gc.contents(call.messages)
            except ValueError as exc:  # as complete(): nothing was sent
                raise StreamFailed(CallFailure(C.BAD_REQUEST, str(exc), local=True)) from None
            return await gemini_stream.open_stream(client, call.model, contents, self._config(call))

        events = GeminiEvents(self._redact, _FINISH, _BLOCKING_FINISH, gc.new_call_id)
        return drive(open_stream, events, self.classify_error)

    def _config(self, call: CallRequest) -> types.GenerateContentConfig:
        """The request's parameters as a ``GenerateContentConfig``."""
        p = call.params
        http = _no_retries(call.timeout_s)
        body = p.extra.get(self._name)
        if body:
            http.extra_body = dict(body)
        return types.GenerateContentConfig(
            system_instruction=gc.system_instruction(call.messages),
            max_output_tokens=_output_cap(p.output_limit or self._max_tokens, p),
            temperature=p.temperature,
            top_p=p.top_p,
            stop_sequences=list(p.stop) if p.stop is not None else None,
            seed=p.seed,
            presence_penalty=p.presence_penalty,
            frequency_penalty=p.frequency_penalty,
            response_mime_type="application/json" if p.json_mode else None,
            response_json_schema=p.json_schema,
            tools=gc.tools(p),
            tool_config=gc.tool_config(p),
            thinking_config=gc.thinking_config(p),
            http_options=http,
        )

    def classify_response(self, resp: Any, model: str) -> CallResult:
        """Inspect a 200: blocks arrive as prompt feedback or a candidate's finish reason."""
        feedback = getattr(resp, "prompt_feedback", None)
        block = getattr(feedback, "block_reason", None)
        if block:
            why = self._why(getattr(feedback, "block_reason_message", None))
            return CallFailure(C.CONTENT_POLICY, f"prompt blocked: {_enum_name(block)}{why}", 200)
        candidates = getattr(resp, "candidates", None) or []
        if not candidates:
            return CallFailure(C.UNKNOWN, "response without candidates", 200)
        finish = _enum_name(getattr(candidates[0], "finish_reason", None))
        if finish in _BLOCKING_FINISH:
            why = self._why(getattr(candidates[0], "finish_message", None))
            return CallFailure(C.CONTENT_POLICY, f"finish_reason {finish}{why}", 200)
        content = getattr(candidates[0], "content", None)
        parts = getattr(content, "parts", None) or []
        calls = tuple(
            ToolCall(
                id=self._redact(c.id),
                function=FunctionCall(
                    name=self._redact(c.function.name),
                    arguments=self._redact(c.function.arguments),
                ),
            )
            for c in gc.answer_tool_calls(parts)
        )
        usage = getattr(resp, "usage_metadata", None)
        finish_reason = _FINISH.get(finish or "STOP", "stop")
        return CallSuccess(
            text=self._redact(gc.answer_text(parts)),
            model=self._redact(str(getattr(resp, "model_version", None) or model)),
            usage=Usage(
                prompt_tokens=getattr(usage, "prompt_token_count", None),
                completion_tokens=getattr(usage, "candidates_token_count", None),
                total_tokens=getattr(usage, "total_token_count", None),
                cached_tokens=getattr(usage, "cached_content_token_count", None),
                reasoning_tokens=getattr(usage, "thoughts_token_count", None),
            ),
            finish_reason="tool_calls" if calls and finish_reason == "stop" else finish_reason,
            upstream_finish_reason=finish or None,
            tool_calls=calls,
        )

    def classify_error(self, exc: BaseException) -> CallFailure:
        """Map an exception raised by the SDK (or its transport) to a category."""
        local = local_failure(exc)  # raised before anything was sent: blames nobody
        if local is not None:
            return local
        if isinstance(exc, TimeoutError | httpx2.TimeoutException):
            return CallFailure(C.TRANSIENT, "request timed out", timed_out=True)
        if isinstance(exc, _TRANSPORT_ERRORS):
            return CallFailure(C.TRANSIENT, f"connection error ({type(exc).__name__})")
        if not isinstance(exc, genai_errors.APIError):
            return CallFailure(C.UNKNOWN, f"unexpected {type(exc).__name__}")
        code = exc.code if isinstance(exc.code, int) else 0
        status = str(exc.status or "")
        message = str(exc.message or "")
        details = _details(exc.details)
        reasons = {str(d.get("reason")) for d in details if isinstance(d, Mapping)}
        text = error_text(f"{code} {status}: {message}".strip(" :"), self._redact)
        retry_after = retry_delay_from_google_details(details)
        if retry_after is None:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            retry_after = retry_after_from_headers(headers)
        if code == 429 and retry_after is None and daily_quota_exhausted(details):
            # A per-day quota will not come back in seconds: keep the key out (capped by
            # keys.max_retry_after_s) instead of retrying it every cooldown.
            retry_after = DAILY_QUOTA_RETRY_S
        if code == 400 and ("API_KEY_INVALID" in reasons or status == "FAILED_PRECONDITION"):
            return CallFailure(C.KEY_FATAL, text, code)
        lowered = message.lower()
        if code == 400 and "input token count" in lowered and "exceeds the maximum" in lowered:
            return CallFailure(C.MODEL, text, code)
        if not code:
            return CallFailure(C.UNKNOWN, text)
        return failure_for_status(code, text, retry_after)

    def _why(self, message: object) -> str:
        """The upstream's own words for a block (``": …"``, redacted), or ""."""
        if not isinstance(message, str) or not message:
            return ""
        return f": {error_text(message, self._redact)}"

    async def aclose(self) -> None:
        for client in {*self._clients.values(), *self._stream_clients.values()}:
            await client.aio.aclose()
        for http in self._own_http:  # clients we passed in are ours to close
            await http.aclose()


def _enum_name(value: object) -> str:
    name = getattr(value, "name", None)
    return str(name if name is not None else value or "")


def _details(raw: object) -> list[Any]:
    """The google.rpc detail list inside ``exc.details`` (the whole parsed JSON)."""
    if isinstance(raw, Mapping):
        err = raw.get("error")
        if isinstance(err, Mapping) and isinstance(err.get("details"), list):
            return list(err["details"])
    return []


def _output_cap(limit: int | None, p: RequestParams) -> int | None:
    """``max_output_tokens``: thinking tokens count against it, so a request that asks for
    reasoning gets its thinking budget on top of its answer's cap (as on Anthropic)."""
    if limit is None or p.reasoning_effort is None:
        return limit
    return limit + gc.THINKING_BUDGET[p.reasoning_effort]
