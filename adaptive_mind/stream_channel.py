"""One stream's way from the runtime to its caller, and how a broken stream is carried on.

A :class:`StreamChannel` is created for each ``astream`` / ``stream`` request and travels with its
:class:`~adaptive_mind.messages.RequestSpec`. It lives on the system's I/O loop: the attempt that
is streaming puts chunks into it (waiting while ``buffer`` chunks are unread: a slow consumer never
makes the runtime buffer without limit), and the caller gets them, on the same loop (``astart``) or
across threads. The request's single answer (a Completion or an error) ends it.

It also remembers what the caller has been given, so that when a stream breaks after content has
flowed the next route can carry on (:data:`InterruptPolicy`):

- ``resume``: the next attempt is asked to continue the text already delivered — as an assistant
  prefill where the provider takes one, else with an explicit continuation instruction — and any
  overlap it repeats is cut, so the caller sees one seamless answer;
- ``restart``: the next attempt starts over and its first chunk has ``restart=True`` (earlier deltas
  are void);
- ``error``: the request ends with :class:`~adaptive_mind.errors.StreamInterruptedError`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from typing import Literal

from adaptive_mind.chat import ChatMessage, Completion
from adaptive_mind.clock import Clock
from adaptive_mind.errors import AdaptiveMindError
from adaptive_mind.streaming import StreamAssembler, StreamChunk

InterruptPolicy = Literal["resume", "restart", "error"]
INTERRUPT_POLICIES: tuple[InterruptPolicy, ...] = ("resume", "restart", "error")
CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped, without repeating "
    "anything and without any preamble."
)
"""The user turn that asks a provider without assistant prefill to carry on."""
MIN_OVERLAP = 8
"""A continuation's repeat of the delivered text's tail is cut when at least this long (or the
whole delivered text): shorter coincidences are left alone."""
OVERLAP_WINDOW = 400
"""How much of a continuation's start is held back to look for a repeat."""

Result = Completion | AdaptiveMindError
AttemptMode = Literal["fresh", "resume", "restart"]


class _End:
    """The marker after the last chunk."""


END = _End()


class StreamChannel:
    """A stream's chunks, its bound buffer, and what the caller has been given."""

    def __init__(self, policy: InterruptPolicy, buffer: int, clock: Clock) -> None:
        self.policy: InterruptPolicy = policy
        self._buffer = max(1, buffer)
        self._clock = clock
        self._items: deque[StreamChunk | _End] = deque()
        self._readable: asyncio.Event | None = None
        self._writable: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.delivered = StreamAssembler()
        """What the caller has been given (reset by a restart)."""
        self.result: Result | None = None
        """The request's answer, once it has ended."""
        self.closed = False
        """The caller stopped reading."""
        self.started_at = clock.now()
        self.first_token_at: float | None = None
        self.chunks = 0
        """Chunks the caller was given, restarts included."""
        self.interruptions = 0
        """Mid-stream failures carried on (resume or restart)."""
        self.attempts = 0
        """Attempts that streamed into this channel."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Create the loop's primitives (on ``loop``, before the first chunk)."""
        if self._loop is None:
            self._loop = loop
            self._readable = asyncio.Event()
            self._writable = asyncio.Event()
            self._writable.set()

    # -- the streaming attempt (on the I/O loop) -------------------------------------------

    def begin_attempt(self) -> AttemptMode:
        """An attempt starts streaming into this channel: how it must treat what was given."""
        self.bind(asyncio.get_running_loop())
        self.attempts += 1
        if self.attempts == 1 or not self.delivered.chunks:
            return "fresh"
        self.interruptions += 1
        if (
            self.policy == "resume"
            and not self.delivered.has_tool_calls
            and self.delivered.finish_reason is None
        ):  # (a half-sent tool call, or a whole answer found invalid, is started over)
            return "resume"
        return "restart"

    async def put(self, chunk: StreamChunk) -> None:
        """Give the caller ``chunk`` (waits while the buffer is full; dropped once closed)."""
        assert self._writable is not None and self._readable is not None
        while len(self._items) >= self._buffer and not self.closed:
            self._writable.clear()
            await self._writable.wait()
        if self.closed:
            return
        if chunk.restart:
            self.delivered = StreamAssembler()
        self.delivered.add(chunk)
        self.chunks += 1
        if self.first_token_at is None and (chunk.text or chunk.tool_calls):
            self.first_token_at = self._clock.now()
        self._items.append(chunk)
        self._readable.set()

    # -- the end (the request's answer) ------------------------------------------------------

    def finish(self, result: Result) -> None:
        """The request was answered: no more chunks. Safe from any thread."""
        loop = self._loop
        if loop is None:  # no attempt ever streamed: nothing waits on the loop's events yet
            self.result = result
            self._items.append(END)
            return
        try:
            if asyncio.get_running_loop() is loop:
                self._finish(result)
                return
        except RuntimeError:
            pass
        try:
            loop.call_soon_threadsafe(self._finish, result)
        except RuntimeError:  # the loop is closed: finish here, nobody else runs
            self._finish(result)

    def _finish(self, result: Result) -> None:
        if self.result is not None:
            return
        self.result = result
        self._items.append(END)
        if self._readable is not None:
            self._readable.set()

    # -- the caller (on the I/O loop) --------------------------------------------------------

    async def get(self) -> StreamChunk | _End:
        """The next chunk, or :data:`END` once the request has been answered."""
        self.bind(asyncio.get_running_loop())
        assert self._readable is not None and self._writable is not None
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        if isinstance(item, _End):
            self._items.appendleft(item)  # every later get() sees the end too
        elif len(self._items) < self._buffer:
            self._writable.set()
        return item

    async def get_all(self) -> list[StreamChunk | _End]:
        """Every chunk waiting (at least one; the last may be :data:`END`): one wake-up, and for
        a caller on another thread one crossing, for as many chunks as have arrived."""
        self.bind(asyncio.get_running_loop())
        assert self._readable is not None and self._writable is not None
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        items: list[StreamChunk | _End] = []
        while self._items and not isinstance(self._items[0], _End):
            items.append(self._items.popleft())
        if self._items:  # END stays, for every later read
            items.append(END)
        self._writable.set()
        return items

    def close(self) -> None:
        """The caller stops reading (on the I/O loop): a waiting attempt is released."""
        self.closed = True
        if self._writable is not None:
            self._writable.set()


def continuation(
    messages: tuple[ChatMessage, ...], delivered: str, prefill: bool
) -> tuple[tuple[ChatMessage, ...], bool]:
    """The messages that ask a provider to continue ``delivered``: an assistant prefill (its
    trailing whitespace cut: APIs refuse it), else the delivered turn and an instruction. Returns
    them and whether trailing whitespace was cut (the continuation's leading space is then
    expected and kept once)."""
    if prefill:
        text = delivered.rstrip()
        return (*messages, ChatMessage(role="assistant", content=text)), text != delivered
    said = ChatMessage(role="assistant", content=delivered)
    ask = ChatMessage(role="user", content=CONTINUE_INSTRUCTION)
    return (*messages, said, ask), False


class Overlap:
    """Joins a continuation to the delivered text seamlessly (``resume``).

    After a prefill the provider carries on from it: nothing is repeated, but when the prefill's
    trailing whitespace was cut (APIs refuse it) the continuation's leading whitespace is dropped
    once (the caller has it already). After an instruction the provider may repeat the delivered
    text's tail: text chunks are held back until :data:`OVERLAP_WINDOW` characters (or the
    stream's end) are in, and the longest start of them that the delivered text ends with is cut
    when at least :data:`MIN_OVERLAP` characters long (or all of the delivered text).
    """

    def __init__(self, delivered: str, *, prefill: bool, stripped_space: bool) -> None:
        self._delivered = delivered
        self._prefill = prefill
        self._stripped_space = stripped_space
        self._held: list[StreamChunk] = []
        self._done = False

    def feed(self, chunk: StreamChunk) -> list[StreamChunk]:
        """The chunks to pass on now (possibly none, while holding back)."""
        if self._done:
            return [chunk]
        if self._prefill:
            if not chunk.text and chunk.finish_reason is None:
                return [chunk]
            self._done = True
            text = chunk.text.lstrip() if self._stripped_space else chunk.text
            return _kept([replace(chunk, text=text)])
        self._held.append(chunk)
        held_text = "".join(c.text for c in self._held)
        if len(held_text) < OVERLAP_WINDOW and chunk.finish_reason is None:
            return []
        self._done = True
        cut = self._overlap(held_text)
        out: list[StreamChunk] = []
        for c in self._held:
            if cut and c.text:
                take = min(cut, len(c.text))
                cut -= take
                c = replace(c, text=c.text[take:])
            out.append(c)
        self._held = []
        return _kept(out)

    def _overlap(self, text: str) -> int:
        delivered = self._delivered
        for k in range(min(len(text), len(delivered)), 0, -1):
            if delivered.endswith(text[:k]) and (k >= MIN_OVERLAP or k == len(delivered)):
                return k
        return 0


def _kept(chunks: list[StreamChunk]) -> list[StreamChunk]:
    """Chunks that still carry something (a cut can empty a text chunk)."""
    return [
        c
        for c in chunks
        if c.text or c.tool_calls or c.finish_reason is not None or c.usage is not None
    ]
