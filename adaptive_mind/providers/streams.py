"""Streaming calls: the two ways a stream fails, and the driver every adapter's ``stream()`` uses.

An adapter's ``stream(call)`` is an async iterator of :class:`~adaptive_mind.streaming.StreamChunk`
that ends normally only after the provider's own ending (a finish reason; Anthropic's
``message_stop``). Everything else raises one of::

    StreamFailed            nothing was delivered; .failure is classified exactly as complete()
    └── StreamInterrupted   chunks were delivered, then the stream broke; .failure.mid_stream,
                            .partial_text, .partial_tool_calls, .chunks

Before any chunk: an error status, a refusal, a lost connection, a timeout — the adapter's
``classify_error`` decides, as for ``complete()``. Once the response has started, a lost
connection, a malformed chunk, a read timeout or an end without the ending is TRANSIENT (the
provider broke its answer; the key and the request are fine), unless the SDK raised something
the adapter classifies more precisely (an ``error`` event carrying an overload). A content
filter or refusal arriving in the stream is CONTENT_POLICY, never a normal end: a truncated or
blocked answer is never a success.

Closing: the iterator closes the upstream HTTP response whenever it stops — exhausted, failed,
closed early by the consumer (``aclose()``), or cancelled while waiting for a chunk (the caller's
first-token and stall timeouts are ``asyncio.timeout`` around ``__anext__``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

import httpx2

from adaptive_mind.chat import ErrorCategory, ToolCall
from adaptive_mind.providers.base import CallFailure
from adaptive_mind.streaming import StreamAssembler, StreamChunk

C = ErrorCategory


class StreamFailed(Exception):
    """A stream that delivered nothing: ``failure`` is what ``complete()`` would have said."""

    def __init__(self, failure: CallFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure


class StreamInterrupted(StreamFailed):
    """A stream that broke after delivering chunks (``failure.mid_stream`` is True)."""

    def __init__(self, failure: CallFailure, parts: StreamAssembler) -> None:
        super().__init__(replace(failure, mid_stream=True))
        self.partial_text = parts.text
        """The text delivered before it broke."""
        self.partial_tool_calls: tuple[ToolCall, ...] = parts.tool_calls
        """The tool calls delivered before it broke (arguments possibly incomplete)."""
        self.chunks = parts.chunks
        """How many chunks were delivered."""


class Refused(Exception):
    """Raised by a translator: the stream carries a refusal or a content filter."""

    def __init__(self, failure: CallFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure


class Translator(Protocol):
    """One stream's SDK events → chunks (stateful: one per stream)."""

    def __call__(self, event: Any, /) -> StreamChunk | None:
        """The chunk for ``event`` (None: nothing to deliver yet). Raises :class:`Refused`."""
        ...

    def end(self) -> StreamChunk | None:
        """The last chunk still held when the SDK's events are exhausted (OpenAI's finish
        waits for its usage chunk), or None (delivered already, or the ending never came)."""
        ...


Opened = tuple[AsyncIterable[Any], Callable[[], Awaitable[None]]]
"""An SDK stream's events and how to close its HTTP response."""


def broken(exc: BaseException, classify: Callable[[BaseException], CallFailure]) -> CallFailure:
    """What an exception raised while reading a started stream means."""
    failure = classify(exc)
    if failure.category is not C.UNKNOWN:
        return failure
    chain = _causes(exc)
    if any(isinstance(e, TimeoutError | httpx2.TimeoutException) for e in chain):
        return CallFailure(C.TRANSIENT, "stream timed out", timed_out=True)
    if any(isinstance(e, json.JSONDecodeError | ValueError) for e in chain):
        return CallFailure(C.TRANSIENT, f"malformed stream chunk ({type(exc).__name__})")
    return CallFailure(C.TRANSIENT, f"stream broken ({type(chain[-1]).__name__})")


NO_ENDING = CallFailure(C.TRANSIENT, "stream ended without its finish (truncated answer)")


async def drive(
    open_stream: Callable[[], Awaitable[Opened]],
    translate: Translator,
    classify: Callable[[BaseException], CallFailure],
) -> AsyncIterator[StreamChunk]:
    """Open an SDK stream, deliver its chunks, and always close it (see the module docstring).

    ``open_stream`` makes the SDK call and returns the events and a closer; it closes what it
    opened itself if it fails, and may raise :class:`StreamFailed` for a failure it classified
    itself (a request that cannot be built). ``classify`` is the adapter's ``classify_error``.
    """
    try:
        events, close = await open_stream()
    except StreamFailed:
        raise
    except Exception as exc:  # before any byte of the answer: exactly as complete()
        raise StreamFailed(classify(exc)) from None
    parts = StreamAssembler()
    try:
        try:
            async for event in events:
                chunk = translate(event)
                if chunk is not None:
                    chunk = _settled(chunk, parts)
                    parts.add(chunk)
                    yield chunk
            last = translate.end()
        except Refused as refused:
            raise _failed(refused.failure, parts) from None
        except Exception as exc:
            raise _failed(broken(exc, classify), parts) from None
        if last is None and parts.finish_reason is None:
            raise _failed(NO_ENDING, parts)
        if last is not None:
            last = _settled(last, parts)
            parts.add(last)
            yield last
    finally:
        await close()


def _settled(chunk: StreamChunk, parts: StreamAssembler) -> StreamChunk:
    """A last chunk of an answer that called tools says ``tool_calls``, as complete() does."""
    if chunk.finish_reason == "stop" and (parts.has_tool_calls or chunk.tool_calls):
        return replace(chunk, finish_reason="tool_calls")
    return chunk


def _failed(failure: CallFailure, parts: StreamAssembler) -> StreamFailed:
    return StreamInterrupted(failure, parts) if parts.chunks else StreamFailed(failure)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes and contexts, outermost first."""
    chain = [exc]
    while len(chain) < 16:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    return chain
