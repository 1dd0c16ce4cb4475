"""One streaming attempt: from an adapter's ``stream()`` into the request's StreamChannel.

From the walk's point of view a streaming attempt is a call like any other: it ends with a
:class:`CallSuccess` (the whole answer, as the caller received it) or a :class:`CallFailure`
that the walk classifies, reports to the key pool and the breaker, and acts on. What is special
happens here:

- **before the first chunk** a failure is exactly what ``complete()`` would have said (error
  statuses, refusals, lost connections), and a provider that accepted the request but sends
  nothing within ``first_token_timeout_s`` fails as a timeout: the walk fails over;
- **after content has flowed**, a stall (nothing for ``stall_timeout_s``), a dropped connection,
  a malformed chunk or an end without the terminator is a ``mid_stream`` TRANSIENT failure: the
  walk records it against the key and the breaker and carries the stream on (or, with the
  ``error`` policy, ends the request);
- a continuation (``resume``) is asked for with a prefill where the provider takes one, and if
  that route refuses the prefill (a 400 before any chunk) it is asked again, at once, with the
  instruction instead.

Closing: the adapter's iterator is always closed (which closes the upstream response), also when
this attempt is cancelled (the caller closed the stream, the deadline passed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Callable

from adaptive_mind.chat import ErrorCategory, Usage
from adaptive_mind.clock import Clock
from adaptive_mind.providers.base import (
    CallFailure,
    CallRequest,
    CallResult,
    CallSuccess,
    decode_json,
    local_failure,
    unencodable,
)
from adaptive_mind.providers.streams import StreamFailed
from adaptive_mind.stream_channel import Overlap, StreamChannel, continuation
from adaptive_mind.streaming import StreamChunk


@dataclasses.dataclass(frozen=True, slots=True)
class StreamTimeouts:
    """How long a streaming attempt may wait for its first chunk and between chunks."""

    first_token_s: float
    stall_s: float


StreamFn = Callable[[CallRequest], AsyncIterator[StreamChunk]]
"""An adapter's ``stream`` method."""


async def pump(
    stream: StreamFn,
    call: CallRequest,
    channel: StreamChannel,
    timeouts: StreamTimeouts,
    clock: Clock,
    *,
    prefill: bool,
) -> CallResult:
    """Stream one attempt into ``channel``; its outcome for the walk."""
    refused = unencodable(call)  # as run_guarded: caught here, before anything is sent
    if refused is not None:
        return refused
    deadline = clock.now() + call.timeout_s
    mode = channel.begin_attempt()
    if mode != "resume":
        return await _attempt(stream, call, channel, timeouts, clock, deadline, None, mode)
    delivered = channel.delivered.text
    messages, stripped = continuation(call.messages, delivered, prefill)
    overlap = Overlap(delivered, prefill=prefill, stripped_space=stripped)
    result = await _attempt(
        stream, dataclasses.replace(call, messages=messages), channel, timeouts, clock, deadline,
        overlap, mode,
    )  # fmt: skip
    if (
        prefill
        and isinstance(result, CallFailure)
        and result.category is ErrorCategory.BAD_REQUEST
        and not result.mid_stream
    ):  # this route refuses a prefill: the same route, asked with the instruction instead
        messages, _ = continuation(call.messages, delivered, prefill=False)
        overlap = Overlap(delivered, prefill=False, stripped_space=False)
        again = dataclasses.replace(call, messages=messages)
        result = await _attempt(stream, again, channel, timeouts, clock, deadline, overlap, mode)
    return result


async def _attempt(
    stream: StreamFn,
    call: CallRequest,
    channel: StreamChannel,
    timeouts: StreamTimeouts,
    clock: Clock,
    deadline: float,
    overlap: Overlap | None,
    mode: str,
) -> CallResult:
    chunks = stream(call)
    first = True
    restart = mode == "restart"
    quiet = _Quiet()
    try:
        while True:
            wait = timeouts.first_token_s if first else timeouts.stall_s
            left = deadline - clock.now()
            by_deadline = left < wait
            wait = max(0.0, min(wait, left))
            quiet.expect(wait)
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except asyncio.CancelledError:
                if not quiet.timed_out():
                    raise  # cancelled from outside (the caller left, the deadline): not ours
                if by_deadline:  # the request's deadline, not the provider: no blame
                    return CallFailure(
                        ErrorCategory.TRANSIENT, "the request's deadline passed", local=True
                    )
                if first:
                    return CallFailure(
                        ErrorCategory.TRANSIENT,
                        f"no first chunk within {wait:.3g}s",
                        timed_out=True,
                    )
                return CallFailure(
                    ErrorCategory.TRANSIENT,
                    f"stream stalled: nothing for {wait:.3g}s",
                    timed_out=True,
                    mid_stream=True,
                )
            except StreamFailed as failed:  # StreamInterrupted: failure.mid_stream is set
                return failed.failure
            except Exception as exc:  # an adapter bug or an unexpected SDK error: never escapes
                local = local_failure(exc) if first else None
                if local is not None:
                    return local
                error = f"unexpected {type(exc).__name__}"
                return CallFailure(ErrorCategory.UNKNOWN, error, mid_stream=not first)
            quiet.pause()  # waiting for a slow consumer is not the provider's stall
            first = False
            try:
                for out in overlap.feed(chunk) if overlap is not None else [chunk]:
                    if restart:
                        out = dataclasses.replace(out, restart=True)
                        restart = False
                    await channel.put(out)
            except asyncio.CancelledError:
                if not quiet.timed_out():  # (the watchdog fired as this chunk came in)
                    raise
                stalled = f"stream stalled: nothing for {wait:.3g}s"
                return CallFailure(
                    ErrorCategory.TRANSIENT, stalled, timed_out=True, mid_stream=True
                )
    finally:
        quiet.pause()
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return decode_json(_success(call, channel), call.params)


def _success(call: CallRequest, channel: StreamChannel) -> CallSuccess:
    """The answer as the caller received it (every route's part, overlaps cut)."""
    parts = channel.delivered
    return CallSuccess(
        text=parts.text,
        model=call.model,
        usage=parts.usage or Usage(),
        finish_reason=parts.finish_reason or "stop",
        upstream_finish_reason=parts.upstream_finish_reason,
        tool_calls=parts.tool_calls,
    )


class _Quiet:
    """Cancels the streaming task when the provider sends nothing for a while: one timer for the
    whole stream, re-armed lazily (a chunk only moves ``due``), instead of a timeout context and
    a timer per chunk. Disarmed while the task waits for its consumer."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._due = math.inf
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    def expect(self, within: float) -> None:
        """The next chunk is due within ``within`` seconds."""
        self._due = self._loop.time() + within
        if self._handle is None:
            self._handle = self._loop.call_at(self._due, self._check)

    def pause(self) -> None:
        self._due = math.inf

    def _check(self) -> None:
        self._handle = None
        if self._due == math.inf:
            return
        if self._loop.time() >= self._due:
            self._fired = True
            if self._task is not None:
                self._task.cancel()
            return
        self._handle = self._loop.call_at(self._due, self._check)

    def timed_out(self) -> bool:
        """Whether a cancellation was this watchdog's (and take it back: it is a timeout)."""
        if not self._fired:
            return False
        self._fired = False
        if self._task is not None:
            self._task.uncancel()
        return True
