"""The chaos server's stream faults, the SSE writer that plays them, and the record of streams.

A stream fault is a rule like any other (``server.add_rule("openai", "stream_cut",
after_chunks=2)``) but only a streamed request matches it; a rule's error faults (status codes,
429 with Retry-After, ``hang``, ``disconnect``) answer a streamed request before any stream
starts, as the real APIs do. ``after_chunks`` counts content events (a text piece, a piece of
tool-call arguments), default :data:`DEFAULT_AFTER_CHUNKS`; the events that open a stream
(OpenAI's role chunk, Anthropic's ``message_start`` / ``content_block_start``) always go first.

Every streamed answer is recorded as a :class:`StreamRecord`, with how it ended: ``completed``
(all sent, body closed cleanly), ``cut`` (the server dropped it), ``client_closed`` (the client
went away before the server was done: an early close, a timeout, a cancelled task), or
``stalled`` (a stall ended by the server stopping). A test asserts a close with
:meth:`StreamLog.wait` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import ClientConnectionError, web

from adaptive_mind.simulation.wire_format import (
    WireResponse,
    anthropic_error,
    gemini_error,
    openai_error,
)
from adaptive_mind.simulation.wire_request import obj, objs
from adaptive_mind.simulation.wire_stream import SseEvent, malformed
from adaptive_mind.stream_channel import CONTINUE_INSTRUCTION

STREAM_FAULTS: dict[str, str] = {
    "slow_first_token": "stream: the 200 and headers at once, then latency_ms (default 5 s) "
    "before the first event",
    "stream_cut": "stream: the connection is dropped after after_chunks content events",
    "stream_stall": "stream: nothing more after after_chunks content events; the connection "
    "stays open (until the client leaves or the server stops)",
    "stream_malformed": "stream: a data line that is not JSON after after_chunks content "
    "events, then the rest of the stream",
    "stream_no_terminator": "stream: every content event, then a clean close without the "
    "ending (no finish reason, usage, [DONE] / message_delta / message_stop)",
    "reject_prefill": "a request whose last turn is the assistant's (a prefill) gets that "
    "provider's 400; any other request is answered normally",
}
"""Faults of streamed answers (and of continuing one: ``reject_prefill``)."""

DEFAULT_AFTER_CHUNKS = 2
SLOW_FIRST_TOKEN_MS = 5000.0
STALL_S = 300.0
"""How long a stall holds the connection (the client normally leaves first)."""

PREFILL_MESSAGE = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)
SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive"}


def streamed(provider: str, body: dict[str, Any], path: str) -> bool:
    """Whether a request asks for a stream: OpenAI and Anthropic ``"stream": true``, Gemini the
    ``:streamGenerateContent`` method."""
    if provider == "gemini":
        return ":streamGenerateContent" in path
    return body.get("stream") is True


def include_usage(body: dict[str, Any]) -> bool:
    """OpenAI's ``stream_options.include_usage``."""
    return obj(body.get("stream_options")).get("include_usage") is True


def prefill(provider: str, body: dict[str, Any]) -> bool:
    """Whether the request's last turn is the assistant's (OpenAI and Anthropic ``assistant``,
    Gemini ``model``): it asks the model to carry on from that text."""
    if provider == "gemini":
        contents = objs(body.get("contents"))
        return bool(contents) and contents[-1].get("role") == "model"
    turns = objs(body.get("messages"))
    return bool(turns) and turns[-1].get("role") == "assistant"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One streamed answer as the server played it."""

    provider: str
    key: str
    model: str
    fault: str
    """The stream fault played, or ``ok``."""
    sent: int = 0
    """Content events written."""
    outcome: str = "open"
    """``open``, ``completed``, ``cut``, ``client_closed`` or ``stalled``."""
    t: float = 0.0
    """``time.monotonic()`` when it started."""


class StreamLog:
    """The streams served, safe to read from any thread."""

    def __init__(self) -> None:
        self._records: list[StreamRecord] = []
        self._changed = threading.Condition()

    def open(self, record: StreamRecord) -> int:
        with self._changed:
            self._records.append(record)
            return len(self._records) - 1

    def update(self, i: int, **changes: Any) -> None:
        with self._changed:
            self._records[i] = replace(self._records[i], **changes)
            self._changed.notify_all()

    def records(self) -> list[StreamRecord]:
        with self._changed:
            return list(self._records)

    def count(self, outcome: str | None = None) -> int:
        with self._changed:
            return sum(1 for r in self._records if outcome is None or r.outcome == outcome)

    def clear(self) -> None:
        with self._changed:
            self._records.clear()

    def wait(self, outcome: str, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Block until ``count`` streams ended with ``outcome`` (True), or ``timeout_s`` passed
        (False). Call it off the client's event loop (``asyncio.to_thread``), so the loop can
        finish closing the connection."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count(outcome) >= count, timeout_s)


def prefill_rejected(provider: str) -> WireResponse:
    """The 400 a route that does not take an assistant prefill answers, in its own format."""
    if provider == "openai":
        return openai_error(400, PREFILL_MESSAGE, "invalid_request_error", None, param="messages")
    if provider == "anthropic":
        return anthropic_error(400, "invalid_request_error", PREFILL_MESSAGE)
    return gemini_error(400, PREFILL_MESSAGE)


async def play(
    request: web.Request,
    events: list[SseEvent],
    headers: dict[str, str],
    fault: str,
    after_chunks: int | None,
    latency_ms: float | None,
    log: StreamLog,
    record: StreamRecord,
) -> web.StreamResponse:
    """Send ``events`` as an SSE response (with the answer's ``headers``, e.g. its request id),
    playing stream fault ``fault`` (or ``ok``) and recording the stream in ``log``."""
    i = log.open(replace(record, fault=fault, t=time.monotonic()))
    after = DEFAULT_AFTER_CHUNKS if after_chunks is None else after_chunks
    sse = {**headers, **SSE_HEADERS, "Content-Type": "text/event-stream"}
    resp = web.StreamResponse(status=200, headers=sse)
    sent = 0
    try:
        await resp.prepare(request)
        if fault == "slow_first_token":
            await asyncio.sleep((latency_ms or SLOW_FIRST_TOKEN_MS) / 1000.0)
        for event in events:
            if event.final and fault == "stream_no_terminator":
                break
            if event.content and sent == after:
                if fault == "stream_cut":
                    log.update(i, sent=sent, outcome="cut")
                    if request.transport is not None:
                        request.transport.close()  # a FIN mid-body: the chunked body never ends
                    return resp
                if fault == "stream_stall":
                    await asyncio.sleep(STALL_S)
                    log.update(i, sent=sent, outcome="stalled")
                    return resp
                if fault == "stream_malformed":
                    await resp.write(malformed(record.provider).data)
            await resp.write(event.data)
            if event.content:
                sent += 1
                log.update(i, sent=sent)
        await resp.write_eof()
    except asyncio.CancelledError:  # aiohttp cancels the handler when the client leaves
        log.update(i, sent=sent, outcome="client_closed")
        raise
    except (ConnectionError, ClientConnectionError):  # it left while the server was writing
        log.update(i, sent=sent, outcome="client_closed")
        return resp
    log.update(i, sent=sent, outcome="completed")
    return resp


REPEATED_TAIL = 12
"""Characters of the delivered text a continuation asked for by instruction repeats (models
often do; the runtime cuts the overlap)."""


def continued(turns: list[tuple[str, str]], text: str) -> str:
    """``text``, or the rest of it when the request asks to continue a part of it: after an
    assistant prefill the rest exactly (whitespace the prefill lost included); after the
    continuation instruction the rest, repeating the part's last :data:`REPEATED_TAIL`
    characters."""
    if not turns:
        return text
    role, last = turns[-1]
    if role in ("assistant", "model") and last and text.startswith(last):
        return text[len(last) :]
    if (
        role == "user"
        and last == CONTINUE_INSTRUCTION
        and len(turns) >= 2
        and turns[-2][0] in ("assistant", "model")
        and text.startswith(turns[-2][1])
    ):
        part = turns[-2][1]
        return text[max(0, len(part) - REPEATED_TAIL) :]
    return text
