"""What ``ActorSystem.astream`` and ``ActorSystem.stream`` return: the caller's end of a stream.

::

    async with system.astream(messages, temperature=0.2) as stream:
        async for chunk in stream:
            print(chunk.text, end="")
    print(stream.completion.usage)

    for chunk in system.stream(messages):      # the blocking twin
        ...

Chunks are :class:`~adaptive_mind.streaming.StreamChunk`: text deltas, tool-call deltas, then a
last chunk with ``finish_reason`` and usage. A chunk with ``restart=True`` (policy ``restart``)
says every earlier delta is void. After the last chunk ``completion`` holds the whole answer, as
``acomplete`` would have returned it. A failure raises the same errors as ``acomplete``: before
any chunk exactly as it would; after content has flowed, :class:`StreamInterruptedError` with the
partial text — never a truncated answer dressed as a success.

Leaving early — ``break``, ``aclose()`` / ``close()``, leaving the ``with`` block, a cancelled task
— stops the upstream call, frees its key and writes the ledger entry with outcome
``CALLER_CLOSED`` (not a failure of any provider).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Protocol

from adaptive_mind.chat import Completion
from adaptive_mind.errors import AdaptiveMindError
from adaptive_mind.stream_channel import StreamChannel
from adaptive_mind.streaming import StreamChunk


class _Slot(Protocol):
    def release(self) -> None: ...


class _Stream:
    """What both ends share: the channel, the request, and how to give up on it."""

    def __init__(
        self,
        request_id: str,
        channel: StreamChannel,
        loop: asyncio.AbstractEventLoop,
        abandon: Callable[[str], None],
        slot: _Slot | None = None,
    ) -> None:
        self.request_id = request_id
        self._slot = slot
        """Its admission slot: held until the caller has read to the end or left."""
        self._channel = channel
        self._loop = loop
        self._abandon = abandon
        self._done = False
        self._ready: collections.deque[object] = collections.deque()
        """Chunks fetched in one go and not yet handed out."""
        self.completion: Completion | None = None
        """The whole answer, once the last chunk has been read (None before)."""

    def _item(self, item: object) -> StreamChunk:
        """A chunk, or raise: StopIteration-like ``_Ended`` at the end, the error on failure."""
        if isinstance(item, StreamChunk):
            return item
        self._done = True
        self._release()
        result = self._channel.result
        if isinstance(result, AdaptiveMindError):
            raise result
        assert isinstance(result, Completion)
        self.completion = result
        raise _Ended

    def _release(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    def _close(self) -> None:
        """Stop the request if it has not ended (safe from any thread, never blocks)."""
        if self._done:
            self._release()
            return
        self._done = True
        self._release()
        self._abandon(self.request_id)
        try:
            self._loop.call_soon_threadsafe(self._channel.close)
        except RuntimeError:  # the loop is closed: nothing runs any more
            pass

    def __del__(self) -> None:  # an abandoned stream still stops its upstream call
        self._close()


class _Ended(Exception):
    """Internal: the stream's end."""


class ChatStream(_Stream):
    """An async stream of chunks (see the module docstring)."""

    async def __anext__(self) -> StreamChunk:
        if self._done and self.completion is not None:
            raise StopAsyncIteration
        try:
            return self._item(await self._get())
        except _Ended:
            raise StopAsyncIteration from None
        except asyncio.CancelledError:
            self._close()
            raise

    async def _get(self) -> object:
        if not self._ready:  # every chunk that has arrived, in one wake-up / one crossing
            if asyncio.get_running_loop() is self._loop:  # astart: the caller's own loop
                batch = await self._channel.get_all()
            else:
                fut = asyncio.run_coroutine_threadsafe(self._channel.get_all(), self._loop)
                batch = await asyncio.wrap_future(fut)
            self._ready.extend(batch)
        return self._ready.popleft()

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[StreamChunk]:
        """The chunks; leaving the loop early (``break``) closes the stream."""
        try:
            while True:
                try:
                    yield await self.__anext__()
                except StopAsyncIteration:
                    return
        finally:
            self._close()

    async def aclose(self) -> None:
        """Stop reading: the upstream call ends and the request is recorded as closed."""
        self._close()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()


class SyncChatStream(_Stream):
    """A blocking stream of chunks (see the module docstring)."""

    def __next__(self) -> StreamChunk:
        if self._done and self.completion is not None:
            raise StopIteration
        if not self._ready:
            fut = asyncio.run_coroutine_threadsafe(self._channel.get_all(), self._loop)
            try:
                self._ready.extend(fut.result())
            except (KeyboardInterrupt, concurrent.futures.CancelledError):
                fut.cancel()
                self._close()
                raise
        item = self._ready.popleft()
        try:
            return self._item(item)
        except _Ended:
            raise StopIteration from None

    def __iter__(self) -> Iterator[StreamChunk]:
        return self._chunks()

    def _chunks(self) -> Iterator[StreamChunk]:
        try:
            while True:
                try:
                    yield next(self)
                except StopIteration:
                    return
        finally:
            self._close()

    def close(self) -> None:
        """Stop reading: the upstream call ends and the request is recorded as closed."""
        self._close()

    def __enter__(self) -> SyncChatStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
