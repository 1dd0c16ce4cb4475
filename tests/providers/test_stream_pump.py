"""The streaming attempt's per-chunk path: no task per chunk, and its timeouts still act."""

import asyncio
from collections.abc import AsyncIterator

from adaptive_mind.chat import ChatMessage, ErrorCategory
from adaptive_mind.clock import MonotonicClock
from adaptive_mind.providers.base import CallFailure, CallRequest, CallSuccess
from adaptive_mind.providers.stream_pump import StreamTimeouts, pump
from adaptive_mind.stream_channel import END, StreamChannel
from adaptive_mind.streaming import StreamChunk

CALL = CallRequest((ChatMessage(role="user", content="hi"),), "m", "p#1", timeout_s=5.0)
TIMEOUTS = StreamTimeouts(first_token_s=0.2, stall_s=0.2)


def words(n: int, *, then_stall: bool = False, closed: list[bool] | None = None):
    """An adapter's ``stream``: ``n`` word chunks, then the finish (or a stall that never ends)."""

    async def stream(_call: CallRequest) -> AsyncIterator[StreamChunk]:
        try:
            for i in range(n):
                yield StreamChunk(text=f"w{i} ")
            if then_stall:
                await asyncio.Event().wait()
            yield StreamChunk(finish_reason="stop")
        finally:
            if closed is not None:
                closed.append(True)

    return stream


async def read_all(channel: StreamChannel) -> int:
    n = 0
    while not isinstance(await channel.get(), type(END)):
        n += 1
    return n


def test_a_long_stream_creates_no_task_per_chunk() -> None:
    async def main() -> tuple[int, object]:
        loop = asyncio.get_running_loop()
        created = 0
        default = loop.get_task_factory()

        def counting(lp, coro, **kw):  # type: ignore[no-untyped-def]
            nonlocal created
            created += 1
            return default(lp, coro, **kw) if default else asyncio.Task(coro, loop=lp, **kw)

        channel = StreamChannel("resume", 8, MonotonicClock())
        channel.bind(loop)
        reader = asyncio.create_task(read_all(channel))
        loop.set_task_factory(counting)
        try:
            stream = words(500)
            result = await pump(stream, CALL, channel, TIMEOUTS, MonotonicClock(), prefill=False)
        finally:
            loop.set_task_factory(default)
        channel.finish(result)  # type: ignore[arg-type]
        await reader
        return created, result

    created, result = asyncio.run(main())
    assert isinstance(result, CallSuccess)
    assert result.text == "".join(f"w{i} " for i in range(500))
    assert created < 5  # asyncio.wait_for on 3.11 made one per chunk: 501


def test_a_stall_after_content_fails_mid_stream_and_closes_the_stream() -> None:
    closed: list[bool] = []

    async def main() -> object:
        channel = StreamChannel("resume", 64, MonotonicClock())
        stream = words(3, then_stall=True, closed=closed)
        return await pump(stream, CALL, channel, TIMEOUTS, MonotonicClock(), prefill=False)

    result = asyncio.run(main())
    assert isinstance(result, CallFailure)
    assert (result.category, result.mid_stream, result.timed_out) == (
        ErrorCategory.TRANSIENT,
        True,
        True,
    )
    assert closed == [True]


def test_nothing_before_the_first_token_timeout_fails_over_as_a_timeout() -> None:
    closed: list[bool] = []

    async def main() -> object:
        channel = StreamChannel("resume", 64, MonotonicClock())
        stream = words(0, then_stall=True, closed=closed)
        return await pump(stream, CALL, channel, TIMEOUTS, MonotonicClock(), prefill=False)

    result = asyncio.run(main())
    assert isinstance(result, CallFailure)
    assert result.timed_out and not result.mid_stream and "first chunk" in result.error
    assert closed == [True]
