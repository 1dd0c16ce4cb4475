"""Streamed answers in each provider's SSE format, built from the non-streamed answer's body.

The chaos server makes every 200 answer (text, tool call, refusal, cut by a token cap) as one
JSON body first; :func:`sse_events` turns that body into the event sequence the provider streams
for the same answer, so a streamed answer always says exactly what the plain one says:

- OpenAI (``stream: true``): ``data: {chat.completion.chunk}`` lines — a first chunk with
  ``delta.role``, the text (or ``refusal``) in several ``delta.content`` pieces, a tool call as
  ``delta.tool_calls`` deltas (``index``, then ``id`` / ``type`` / ``function.name``, then pieces
  of ``function.arguments``), a chunk with ``finish_reason``, with
  ``stream_options.include_usage`` a last chunk with ``choices: []`` and ``usage`` (``usage:
  null`` on the others), then ``data: [DONE]``.
- Anthropic (``stream: true``): ``event: message_start`` (the message with empty ``content``),
  per block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
  ``input_json_delta`` with ``partial_json`` pieces, ``thinking_delta``) /
  ``content_block_stop``, then ``message_delta`` (``stop_reason``, ``stop_sequence``,
  ``stop_details``, cumulative ``usage``) and ``message_stop``.
- Gemini (``:streamGenerateContent?alt=sse``): ``data: {GenerateContentResponse}`` chunks, each
  with one text piece (a ``functionCall`` part arrives whole, as Gemini sends it), then a last
  chunk with ``finishReason`` and ``usageMetadata``; a blocked prompt is one chunk with
  ``promptFeedback``.

Each :class:`SseEvent` says whether it carries content (what a stream fault's ``after_chunks``
counts) and whether it belongs to the ending (what ``stream_no_terminator`` leaves out).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from adaptive_mind.simulation.wire_request import obj, objs

_PIECE = re.compile(r"\s*\S+|\s+$")


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event, as bytes on the wire (blank-line terminated)."""

    data: bytes
    content: bool = False
    """It carries a piece of the answer (text, refusal, thinking or tool-call arguments)."""
    final: bool = False
    """It belongs to the ending: finish reason, final usage, terminator."""


def pieces(text: str, size: int = 1) -> list[str]:
    """``text`` in word-sized pieces that concatenate back to it exactly (``size`` words each;
    an empty text is one empty piece)."""
    words = _PIECE.findall(text)
    if not words:
        return [text]
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _json_pieces(text: str) -> list[str]:
    """A JSON text in pieces of about 8 characters (at least two when it is long enough)."""
    step = 8 if len(text) > 8 else max(1, len(text) // 2)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


def _data(payload: Any, *, content: bool = False, final: bool = False) -> SseEvent:
    return SseEvent(f"data: {json.dumps(payload)}\n\n".encode(), content, final)


def _named(name: str, payload: Any, *, content: bool = False, final: bool = False) -> SseEvent:
    return SseEvent(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode(), content, final)


def malformed(provider: str) -> SseEvent:
    """A data line that is not JSON, in ``provider``'s framing."""
    if provider == "anthropic":
        return SseEvent(b'event: content_block_delta\ndata: {"type": "content_block_delta", \n\n')
    return SseEvent(b'data: {"choices": [{"delta": {"content": "broken\n\n')


def sse_events(
    provider: str, body: dict[str, Any], *, include_usage: bool = True
) -> list[SseEvent]:
    """The stream for the non-streamed answer ``body`` (``include_usage``: OpenAI's
    ``stream_options.include_usage``)."""
    if provider == "openai":
        return _openai(body, include_usage)
    if provider == "anthropic":
        return _anthropic(body)
    return _gemini(body)


def _openai(body: dict[str, Any], include_usage: bool) -> list[SseEvent]:
    head = {
        "id": body.get("id", "chatcmpl-stream"),
        "object": "chat.completion.chunk",
        "created": body.get("created", int(time.time())),
        "model": body.get("model", ""),
        "system_fingerprint": body.get("system_fingerprint"),
    }
    choice = objs(body.get("choices"))[0] if objs(body.get("choices")) else {}
    message = obj(choice.get("message"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **kw: bool) -> SseEvent:
        c = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra = {"usage": None} if include_usage else {}
        return _data({**head, "choices": [c], **extra}, **kw)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    for field in ("content", "refusal"):
        text = message.get(field)
        if isinstance(text, str) and text:
            events += [chunk({field: p}, content=True) for p in pieces(text)]
    for i, call in enumerate(objs(message.get("tool_calls"))):
        fn = obj(call.get("function"))
        start = {"index": i, "id": call.get("id"), "type": "function"}
        start["function"] = {"name": fn.get("name"), "arguments": ""}
        events.append(chunk({"tool_calls": [start]}))
        for p in _json_pieces(str(fn.get("arguments", ""))):
            delta = {"tool_calls": [{"index": i, "function": {"arguments": p}}]}
            events.append(chunk(delta, content=True))
    events.append(chunk({}, str(choice.get("finish_reason") or "stop"), final=True))
    if include_usage:
        events.append(_data({**head, "choices": [], "usage": body.get("usage")}, final=True))
    events.append(SseEvent(b"data: [DONE]\n\n", final=True))
    return events


def _anthropic(body: dict[str, Any]) -> list[SseEvent]:
    usage = obj(body.get("usage"))
    start = {k: v for k, v in body.items() if k not in ("content", "stop_details")}
    start.update(content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = {**usage, "output_tokens": 1}
    events = [_named("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(objs(body.get("content"))):
        kind = block.get("type")
        if kind == "tool_use":
            first: dict[str, Any] = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in _json_pieces(json.dumps(block.get("input", {})))
            ]
        elif kind == "thinking":
            first = {**block, "thinking": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"])]
        else:
            first = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces(str(block.get("text")))]
        events.append(
            _named(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": first},
            )
        )
        events += [
            _named(
                "content_block_delta",
                {"type": "content_block_delta", "index": i, "delta": d},
                content=True,
            )
            for d in deltas
        ]
        events.append(_named("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {
        "stop_reason": body.get("stop_reason"),
        "stop_sequence": body.get("stop_sequence"),
        "stop_details": body.get("stop_details"),
    }
    ending = {"type": "message_delta", "delta": delta, "usage": usage}
    events.append(_named("message_delta", ending, final=True))
    events.append(_named("message_stop", {"type": "message_stop"}, final=True))
    return events


def _gemini(body: dict[str, Any]) -> list[SseEvent]:
    meta: dict[str, Any] = {k: body[k] for k in ("modelVersion", "responseId") if k in body}
    if "promptFeedback" in body:  # a blocked prompt: one chunk, nothing else
        return [_data(body, final=True)]
    candidate = objs(body.get("candidates"))[0] if objs(body.get("candidates")) else {}
    parts = objs(obj(candidate.get("content")).get("parts"))
    events = []
    for part in parts:
        texts = pieces(part["text"]) if isinstance(part.get("text"), str) else [None]
        for text in texts:
            piece = {**part, "text": text} if text is not None else part
            content = {"parts": [piece], "role": "model"}
            events.append(
                _data({"candidates": [{"content": content, "index": 0}], **meta}, content=True)
            )
    last: dict[str, Any] = {k: v for k, v in candidate.items() if k != "content"}
    if parts:
        last["content"] = {"parts": [{"text": ""}], "role": "model"}
    ending: dict[str, Any] = {
        "candidates": [last],
        "usageMetadata": body.get("usageMetadata"),
        **meta,
    }
    events.append(_data(ending, final=True))
    return events
