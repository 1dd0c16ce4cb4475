"""A pykka actor type whose mailbox drains on an asyncio event loop, not on a thread of its own.

pykka documents three extension points for new actor types (``_create_actor_inbox``,
``_create_future``, ``_start_actor_loop``); this module implements them and is the one place that
relies on how pykka's own actor loop handles an envelope (``_handle_receive``,
``_handle_failure``, ``on_failure``, the teardown that fails unanswered asks), mirrored from
``pykka.Actor._actor_loop_running`` (pykka 4.x). The other mailbox of the runtime
(:mod:`adaptive_mind.actors.linger_inbox`) and the crash report take pykka's envelope and its
stop message from here (:data:`Envelope`, :func:`is_stop`), so no other module imports pykka's
private names.

Many actors share one loop, as Akka binds many actors to one dispatcher: a ``tell`` appends to
the actor's inbox and, if the actor is idle, schedules one drain on the loop
(``call_soon`` from the loop's own thread, ``call_soon_threadsafe`` from any other). A drain
handles messages one at a time, at most :data:`BATCH` before it yields to the loop, so one busy
actor cannot starve the others. ``ActorRef``, ``tell``, ``ask`` (with a thread-safe future),
proxies and the registry keep working. A handler that blocks blocks every actor on the loop:
handlers must not block (the tests run the loop in asyncio debug mode to catch slow callbacks).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import sys
import threading
from typing import Any

import pykka
from pykka import ActorRegistry, messages
from pykka._envelope import Envelope

logger = logging.getLogger("adaptive_mind.actors")

__all__ = ["BATCH", "Envelope", "LoopActor", "LoopInbox", "ask_inline", "is_stop"]


def is_stop(message: object) -> bool:
    """Whether ``message`` is pykka's own stop request (what ``ActorRef.stop`` sends)."""
    return isinstance(message, messages._ActorStop)


BATCH = 64
"""Messages one drain handles before it yields to the loop."""


class LoopInbox:
    """An actor's mailbox: a deque that wakes its actor on the loop when mail arrives."""

    def __init__(self) -> None:
        self._mail: collections.deque[Envelope[Any]] = collections.deque()
        self.wake: Any = None
        """Set by the actor once it is started: called after every ``put``."""

    def put(self, envelope: Envelope[Any], /) -> None:
        self._mail.append(envelope)
        wake = self.wake
        if wake is not None:
            wake()

    def get(self) -> Envelope[Any]:
        return self.get_nowait()

    def get_nowait(self) -> Envelope[Any]:
        try:
            return self._mail.popleft()
        except IndexError:
            raise queue.Empty from None

    def empty(self) -> bool:
        return not self._mail

    def qsize(self) -> int:
        return len(self._mail)


class _DefaultLoop:
    """A loop thread for loop actors started without one (unit tests of a single actor): it
    runs while at least one such actor is alive, so it leaks no thread."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _users = 0

    @classmethod
    def acquire(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            cls._users += 1
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    loop.close()

                threading.Thread(target=run, name="adaptive-mind-actors", daemon=True).start()
                ready.wait()
                cls._loop = loop
            return cls._loop

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._loop is not None:
                cls._loop.call_soon_threadsafe(cls._loop.stop)
                cls._loop = None


class LoopActor(pykka.Actor):
    """A pykka actor that runs on ``loop`` (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self._default_loop = loop is None
        self.actor_loop = loop if loop is not None else _DefaultLoop.acquire()
        self._scheduled = False
        self._wake_lock = threading.Lock()
        self._loop_thread: int | None = None

    @staticmethod
    def _create_actor_inbox() -> Any:
        return LoopInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        with self._wake_lock:
            self._scheduled = True  # the setup below drains what arrived before it
        inbox.wake = self._wake
        try:
            here = asyncio.get_running_loop() is self.actor_loop
        except RuntimeError:
            here = False
        if here:  # started from its own loop (astart, a restart): it is this thread's already
            self._loop_thread = threading.get_ident()
        self._call(self._setup, threadsafe=not here)

    def _call(self, fn: Any, *, threadsafe: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the system is stopping
            if threadsafe:
                self.actor_loop.call_soon_threadsafe(fn)
            else:
                self.actor_loop.call_soon(fn)

    def _wake(self) -> None:
        # No lock: ``_scheduled`` only gates scheduling, and every drain runs on the one loop
        # thread, so two senders that both schedule one cost an empty drain, never a race. A
        # drain that goes idle re-checks the inbox after clearing the flag (``_drain``), so
        # mail put while it was finishing is never stranded. (Single reads and writes of an
        # attribute and deque appends are atomic under the GIL.) The lock this replaced cost
        # 8 % of the request path's samples.
        if self._scheduled:
            return
        self._scheduled = True
        self._call(self._drain, threadsafe=threading.get_ident() != self._loop_thread)

    def _setup(self) -> None:
        self._loop_thread = threading.get_ident()
        try:
            self.on_start()
        except Exception:
            self._handle_failure(*sys.exc_info())
        self._drain()

    def _drain(self) -> None:
        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        mail = inbox._mail
        for _ in range(BATCH):
            if self.actor_stopped.is_set():
                self._teardown()
                return
            if not mail:
                self._scheduled = False
                if not mail or self._scheduled:
                    return  # idle; or mail came after the flag cleared, and its sender woke us
                self._scheduled = True  # mail came before the flag cleared: handle it here
                continue
            self._handle(mail.popleft())
        if self.actor_stopped.is_set():
            self._teardown()
            return
        self._call(self._drain, threadsafe=False)  # more mail: yield to the loop first

    def _handle(self, envelope: Envelope[Any]) -> None:
        """One envelope, as ``pykka.Actor._actor_loop_running`` handles it."""
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                logger.info("Exception returned from %s to caller:", self, exc_info=True)
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:
                    self._handle_failure(*sys.exc_info())
        except BaseException:
            logger.debug("%r in %s. Stopping all actors.", sys.exc_info()[1], self)
            self._stop()
            ActorRegistry.stop_all()

    def _teardown(self) -> None:
        """Fail the asks still waiting (``pykka.Actor._actor_loop_teardown``)."""
        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        with self._wake_lock:
            if self._scheduled and self._loop_thread is None:
                return  # torn down already
            self._scheduled = True  # never drain again
            self._loop_thread = None
        while not inbox.empty():
            envelope = inbox.get_nowait()
            if envelope.reply_to is None:
                continue
            if is_stop(envelope.message):
                envelope.reply_to.set(None)
            else:
                envelope.reply_to.set_exception(
                    exc_info=(
                        pykka.ActorDeadError,
                        pykka.ActorDeadError(f"{self.actor_ref} stopped before handling it"),
                        None,
                    )
                )
        if self._default_loop:
            _DefaultLoop.release()


def ask_inline(ref: pykka.ActorRef[Any], message: Any) -> tuple[bool, Any]:
    """Answer ``message`` at once when ``ref`` is a loop actor and this is its loop's thread:
    ``(True, answer)``; else ``(False, None)`` (ask it the usual way).

    A blocking ``ask`` from an actor's own loop would wait for the very loop it blocks. On that
    thread no handler of the actor is running (one thread, and the caller is in its own code),
    so the handler can run here directly; it goes ahead of mail already queued, which is fine
    for the read-only inspection questions the facade asks.
    """
    weak = getattr(ref, "_actor_weakref", None)  # pykka 4.x keeps the actor behind a weakref
    actor = weak() if weak is not None else None
    if not isinstance(actor, LoopActor) or actor._loop_thread != threading.get_ident():
        return False, None
    if actor.actor_stopped.is_set():
        raise pykka.ActorDeadError(f"{ref} is dead")
    return True, actor._handle_receive(message)
