"""The system's I/O loop: one asyncio event loop, on a thread owned by the ActorSystem
(``ActorSystem.start``) or the caller's own running loop (``ActorSystem.astart``).

Actors never wait on network I/O: they start a coroutine here with :meth:`IoLoop.submit` and get
the completion back as a message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from adaptive_mind.clock import Clock

T = TypeVar("T")


class IoLoop:
    """An asyncio loop running on its own (named) thread, or (``loop`` given) a loop someone
    else runs: then :meth:`start` starts no thread and :meth:`stop` only cancels what was
    submitted here and stops the timers, leaving the loop to its owner."""

    def __init__(
        self, name: str = "adaptive-mind-io", loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self._external = loop is not None
        self._loop = loop if loop is not None else asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._stopped = False
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def external(self) -> bool:
        """The loop belongs to the caller (``astart``)."""
        return self._external

    def start(self) -> None:
        if self._external:
            return
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        self._loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop from any thread."""
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        if self._external:  # stop() cancels what is still running on the caller's loop
            self._pending.add(fut)
            fut.add_done_callback(self._pending.discard)
        return fut

    def spawn(
        self, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Future[T] | concurrent.futures.Future[T]:
        """Start ``coro`` on the loop: as a task when called on the loop's own thread (an actor
        on the loop: no thread hop, no wake-up of the loop's self-pipe), else as
        :meth:`submit` does. Either result has ``add_done_callback``, ``cancel``, ``cancelled``
        and ``result``; cancel a task only from the loop's thread."""
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if not here:
            return self.submit(coro)
        task = self._loop.create_task(coro)
        if self._external:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    def call_soon(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the loop thread (thread-safe)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            self._loop.call_soon_threadsafe(fn, *args)

    def wake_at(self, clock: Clock, at: float, fn: Callable[[], object]) -> None:
        """Call ``fn()`` on the loop once ``clock`` reaches ``at`` (clock time).

        A clock that schedules its own callbacks (a :class:`~adaptive_mind.clock.FakeClock`)
        runs ``fn`` when a test advances it; the real clock goes through ``loop.call_later``.
        One mechanism for every wake-up: nothing polls.
        """
        call_at = getattr(clock, "call_at", None)
        if call_at is not None:
            call_at(at, fn)
            return
        delay = max(0.0, at - clock.now())
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            self._loop.call_later(delay, fn)
        else:
            self.call_soon(lambda: self._loop.call_later(delay, fn))

    def every(self, interval_s: float, fn: Callable[[], object]) -> None:
        """Call ``fn`` every ``interval_s`` seconds on the loop until it stops."""

        def tick() -> None:
            if self._stopped:
                return
            try:
                fn()
            finally:
                self._loop.call_later(interval_s, tick)

        self.call_soon(lambda: self._loop.call_later(interval_s, tick))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every task, stop the loop and join its thread. Idempotent. On the caller's
        loop: cancel what was submitted here and stop the timers only."""
        self._stopped = True
        if self._external:
            for fut in list(self._pending):
                fut.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                    self._loop.call_soon_threadsafe(task.cancel)
            return
        if not self._thread.is_alive():
            if not self._loop.is_closed():
                self._loop.close()
            return

        async def _drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._loop.shutdown_asyncgens()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_drain(), self._loop).result(timeout_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._loop.close()
