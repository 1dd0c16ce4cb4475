"""A request as it travels through the runtime, and the channel its answer goes back on."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any, Protocol

from adaptive_mind.chat import NO_PARAMS, ChatMessage, Completion, RequestParams
from adaptive_mind.clock import Deadline
from adaptive_mind.errors import AdaptiveMindError
from adaptive_mind.records import record
from adaptive_mind.stream_channel import StreamChannel

Result = Completion | AdaptiveMindError
_NONE: Mapping[str, str] = MappingProxyType({})


class ReplyChannel(Protocol):
    """Where a request's single answer goes. ``deliver`` is called at most once, from any thread."""

    def deliver(self, result: Result) -> None: ...

    def is_open(self) -> bool:
        """False once answered (or abandoned): a Supervisor drops such requests unseen."""
        ...


def _set_if_not_done(fut: asyncio.Future[Result], value: Result) -> None:
    if not fut.done():  # the caller may have been cancelled
        fut.set_result(value)


@record
class AsyncioReply:
    """Answers an asyncio future on the caller's loop (never blocks the sender)."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Result]

    def is_open(self) -> bool:
        return not self.future.done()

    def deliver(self, result: Result) -> None:
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            here = False
        if here:  # answered on the caller's own loop (astart): no wake-up needed
            _set_if_not_done(self.future, result)
            return
        try:
            self.loop.call_soon_threadsafe(_set_if_not_done, self.future, result)
        except RuntimeError:  # the caller's loop is closed: nobody is listening any more
            pass


@record
class ThreadReply:
    """Answers a :class:`concurrent.futures.Future` (the sync facade waits on it)."""

    future: concurrent.futures.Future[Result]

    def is_open(self) -> bool:
        return not self.future.done()

    def deliver(self, result: Result) -> None:
        if not self.future.done():
            try:
                self.future.set_result(result)
            except concurrent.futures.InvalidStateError:
                pass


@record
class RequestSpec:
    """A validated request. Immutable, passed by reference through every hop."""

    request_id: str
    messages: tuple[ChatMessage, ...]
    """The chat, validated."""
    providers: tuple[str, ...]
    """Providers to try, in order."""
    models: Mapping[str, tuple[str, ...]]
    """Per-provider model overrides; a provider not named uses its configured models."""
    deadline: Deadline
    """Absolute deadline on the system's clock."""
    started_at: float
    """Clock reading at admission."""
    started_wall: float = 0.0
    """Wall-clock time (epoch seconds) at admission, for the audit trail."""
    metadata: Mapping[str, Any] | None = None
    """The caller's small JSON object (read-only), for the ledger and events; None if unset."""
    parent_request_id: str | None = None
    """Set for internal requests made on behalf of another (e.g. a rewrite)."""
    allow_mitigation: bool = True
    params: RequestParams = NO_PARAMS
    """Generation parameters (temperature, max_tokens, stop, extra, …), validated."""
    unsupported: Mapping[str, str] = field(default_factory=lambda: _NONE)
    """Providers left out because they cannot serve the request (name → "does not support
    tools"); the walk reports them as skipped ``unsupported``."""
    stream: StreamChannel | None = None
    """Set for a streamed request (``astream`` / ``stream``): where its chunks go."""


@record
class Complete:
    """Supervisor command: answer ``request`` on ``reply``."""

    request: RequestSpec
    reply: ReplyChannel


def new_thread_reply() -> tuple[ThreadReply, concurrent.futures.Future[Result]]:
    """A reply channel for a blocking caller and the future it will wait on."""
    fut: concurrent.futures.Future[Result] = concurrent.futures.Future()
    return ThreadReply(fut), fut
