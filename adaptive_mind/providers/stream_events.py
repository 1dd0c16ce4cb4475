"""Each SDK's stream events as :class:`~adaptive_mind.streaming.StreamChunk` values.

Pure, stateful translators (one per stream), read by attribute like the adapters' response
classifiers; every text they hand on goes through the adapter's redactor.

- OpenAI ``ChatCompletionChunk``: ``delta.content`` → text; ``delta.tool_calls`` → tool-call
  deltas as they come; ``finish_reason`` is held until the usage chunk that follows it
  (``stream_options.include_usage``) or the end of the events, then delivered with the usage
  as the last chunk; ``delta.refusal`` or finish ``content_filter`` → a CONTENT_POLICY refusal.
- Anthropic raw events: ``text_delta`` → text; a ``tool_use`` block start → a delta with its id
  and name, ``input_json_delta`` → argument pieces (tool calls numbered in block order);
  thinking is not text; ``message_delta`` holds ``stop_reason`` and usage, delivered at
  ``message_stop`` (the terminator); ``stop_reason`` ``refusal`` → CONTENT_POLICY.
- Gemini ``GenerateContentResponse`` chunks: text parts (not thoughts) → text; each
  ``function_call`` part → one whole tool-call delta (an id made up when it has none); a chunk
  with ``finish_reason`` is the last one (with its usage); a blocked prompt or a blocking finish
  → CONTENT_POLICY.
"""

from __future__ import annotations

import json
from typing import Any

from adaptive_mind.chat import ErrorCategory, FinishReason, Usage
from adaptive_mind.providers.base import CallFailure
from adaptive_mind.providers.redact import Redactor
from adaptive_mind.providers.streams import Refused
from adaptive_mind.streaming import StreamChunk, ToolCallDelta

C = ErrorCategory


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _refused(error: str) -> Refused:
    return Refused(CallFailure(C.CONTENT_POLICY, error, 200))


class OpenAIEvents:
    """One OpenAI chat-completions stream."""

    def __init__(self, redact: Redactor, finish: dict[str, FinishReason]) -> None:
        self._redact = redact
        self._finish_map = finish
        self._finish: str | None = None

    def __call__(self, chunk: Any) -> StreamChunk | None:
        usage = getattr(chunk, "usage", None)
        choices = getattr(chunk, "choices", None) or []
        if not choices:  # the usage chunk after the finish
            return self._last(usage) if self._finish is not None else None
        choice = choices[0]
        delta = getattr(choice, "delta", None)
        if getattr(delta, "refusal", None):
            raise _refused("refusal (streamed)")
        finish = getattr(choice, "finish_reason", None)
        if finish == "content_filter":
            raise _refused("finish_reason content_filter")
        text = getattr(delta, "content", None) or ""
        calls = tuple(
            ToolCallDelta(
                index=int(getattr(tc, "index", 0) or 0),
                id=self._redact(tc.id) if getattr(tc, "id", None) else None,
                name=self._name(getattr(tc, "function", None)),
                arguments=self._redact(
                    getattr(getattr(tc, "function", None), "arguments", None) or ""
                ),
            )
            for tc in getattr(delta, "tool_calls", None) or ()
        )
        if isinstance(finish, str):
            self._finish = finish
            if usage is not None:
                return self._last(usage, text, calls)
        if not text and not calls:
            return None
        return StreamChunk(text=self._redact(text), tool_calls=calls)

    def _name(self, fn: Any) -> str | None:
        name = getattr(fn, "name", None)
        return self._redact(name) if isinstance(name, str) and name else None

    def _last(
        self, usage: Any, text: str = "", calls: tuple[ToolCallDelta, ...] = ()
    ) -> StreamChunk:
        upstream, self._finish = self._finish, None
        return StreamChunk(
            text=self._redact(text),
            tool_calls=calls,
            finish_reason=self._finish_map.get(upstream or "stop", "stop"),
            usage=openai_usage(usage) if usage is not None else None,
            upstream_finish_reason=upstream,
        )

    def end(self) -> StreamChunk | None:
        return self._last(None) if self._finish is not None else None


def openai_usage(usage: Any) -> Usage:
    """OpenAI's usage block (plain or streamed)."""
    details_in = getattr(usage, "prompt_tokens_details", None)
    details_out = getattr(usage, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=_int(getattr(usage, "prompt_tokens", None)),
        completion_tokens=_int(getattr(usage, "completion_tokens", None)),
        total_tokens=_int(getattr(usage, "total_tokens", None)),
        cached_tokens=_int(getattr(details_in, "cached_tokens", None)),
        reasoning_tokens=_int(getattr(details_out, "reasoning_tokens", None)),
    )


class AnthropicEvents:
    """One Anthropic Messages stream."""

    def __init__(self, redact: Redactor, finish: dict[str, FinishReason]) -> None:
        self._redact = redact
        self._finish_map = finish
        self._tools: dict[int, int] = {}  # block index -> tool-call index
        self._input: int | None = None
        self._cached: int | None = None
        self._stop: str | None = None
        self._usage: Any = None
        self._ended = False

    def __call__(self, event: Any) -> StreamChunk | None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            usage = getattr(getattr(event, "message", None), "usage", None)
            self._input = _int(getattr(usage, "input_tokens", None))
            self._cached = _int(getattr(usage, "cache_read_input_tokens", None))
        elif kind == "content_block_start":
            block: Any = getattr(event, "content_block", None)
            if getattr(block, "type", None) == "tool_use":
                index = self._tools[int(event.index)] = len(self._tools)
                call = ToolCallDelta(
                    index=index, id=self._redact(str(block.id)), name=self._redact(str(block.name))
                )
                return StreamChunk(tool_calls=(call,))
            text = getattr(block, "text", None) if getattr(block, "type", None) == "text" else None
            return StreamChunk(text=self._redact(text)) if text else None
        elif kind == "content_block_delta":
            delta: Any = getattr(event, "delta", None)
            dtype = getattr(delta, "type", None)
            if dtype == "text_delta" and getattr(delta, "text", ""):
                return StreamChunk(text=self._redact(delta.text))
            if dtype == "input_json_delta" and int(event.index) in self._tools:
                piece = ToolCallDelta(
                    index=self._tools[int(event.index)],
                    arguments=self._redact(getattr(delta, "partial_json", "") or ""),
                )
                return StreamChunk(tool_calls=(piece,))
        elif kind == "message_delta":
            stop = getattr(getattr(event, "delta", None), "stop_reason", None)
            if stop == "refusal":
                raise _refused("stop_reason refusal (streamed)")
            self._stop = stop if isinstance(stop, str) else None
            self._usage = getattr(event, "usage", None)
        elif kind == "message_stop" and self._stop is not None:
            self._ended = True
            return StreamChunk(
                finish_reason=self._finish_map.get(self._stop, "stop"),
                usage=self._usage_now(),
                upstream_finish_reason=self._stop,
            )
        return None

    def _usage_now(self) -> Usage:
        prompt = _int(getattr(self._usage, "input_tokens", None)) or self._input
        completion = _int(getattr(self._usage, "output_tokens", None))
        details = getattr(self._usage, "output_tokens_details", None)
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion
            if prompt is not None and completion is not None
            else None,
            cached_tokens=_int(getattr(self._usage, "cache_read_input_tokens", None))
            or self._cached,
            reasoning_tokens=_int(getattr(details, "thinking_tokens", None)),
        )

    def end(self) -> StreamChunk | None:
        return None  # the last chunk goes out at message_stop, or never


class GeminiEvents:
    """One Gemini streamGenerateContent stream."""

    def __init__(
        self,
        redact: Redactor,
        finish: dict[str, FinishReason],
        blocking: set[str],
        new_id: Any,
    ) -> None:
        self._redact = redact
        self._finish_map = finish
        self._blocking = blocking
        self._new_id = new_id
        self._calls = 0

    def __call__(self, chunk: Any) -> StreamChunk | None:
        feedback: Any = getattr(chunk, "prompt_feedback", None)
        if getattr(feedback, "block_reason", None):
            raise _refused(f"prompt blocked: {_enum_name(feedback.block_reason)}")
        candidates = getattr(chunk, "candidates", None) or []
        if not candidates:
            return None
        candidate = candidates[0]
        finish = _enum_name(getattr(candidate, "finish_reason", None))
        if finish in self._blocking:
            raise _refused(f"finish_reason {finish}")
        parts = getattr(getattr(candidate, "content", None), "parts", None) or []
        text = "".join(p.text or "" for p in parts if not getattr(p, "thought", None))
        calls = []
        for p in parts:
            fc = getattr(p, "function_call", None)
            if fc is None:
                continue
            calls.append(
                ToolCallDelta(
                    index=self._calls,
                    id=self._redact(fc.id or self._new_id()),
                    name=self._redact(fc.name or ""),
                    arguments=self._redact(json.dumps(fc.args or {})),
                )
            )
            self._calls += 1
        if not finish:
            return (
                StreamChunk(text=self._redact(text), tool_calls=tuple(calls))
                if text or calls
                else None
            )
        usage = getattr(chunk, "usage_metadata", None)
        return StreamChunk(
            text=self._redact(text),
            tool_calls=tuple(calls),
            finish_reason=self._finish_map.get(finish, "stop"),
            usage=Usage(
                prompt_tokens=_int(getattr(usage, "prompt_token_count", None)),
                completion_tokens=_int(getattr(usage, "candidates_token_count", None)),
                total_tokens=_int(getattr(usage, "total_token_count", None)),
                cached_tokens=_int(getattr(usage, "cached_content_token_count", None)),
                reasoning_tokens=_int(getattr(usage, "thoughts_token_count", None)),
            )
            if usage is not None
            else None,
            upstream_finish_reason=finish,
        )

    def end(self) -> StreamChunk | None:
        return None  # the chunk with a finish reason is the last one, or it never came


def _enum_name(value: object) -> str:
    name = getattr(value, "name", None)
    return str(name if name is not None else value or "")
