"""The system's I/O loop: one asyncio event loop on a thread owned by the ActorSystem.

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

T = TypeVar("T")


class IoLoop:
    """An asyncio loop running on its own (named) thread."""

    def __init__(self, name: str = "adaptive-mind-io") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        self._loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call_soon(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the loop thread (thread-safe)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            self._loop.call_soon_threadsafe(fn, *args)

    def every(self, interval_s: float, fn: Callable[[], object]) -> None:
        """Call ``fn`` every ``interval_s`` seconds on the loop until it stops."""

        def tick() -> None:
            try:
                fn()
            finally:
                self._loop.call_later(interval_s, tick)

        self.call_soon(lambda: self._loop.call_later(interval_s, tick))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every task, stop the loop and join its thread. Idempotent."""
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
