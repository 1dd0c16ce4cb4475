"""LingerInbox: the mailbox of a thread actor fed from the I/O loop, waking its thread once per
batch instead of once per message.

The ledger and telemetry actors run on threads of their own (disk I/O, user callbacks), and the
request path tells them something for every request: the ledger one entry, the event bus one
drain. Waking an idle thread per message costs more than the message: a futex wake, then the
GIL handed to that thread and back. Measured on the OpenAI wire benchmark this was the largest
single cost the ledger added (about 80 µs a request of process CPU), while the ledger's own work
was a tenth of it.

So mail told from the loop's own thread *lingers* (Nagle, Kafka's ``linger.ms``): the first such
message arms one wake-up ``linger_s`` later on the loop, and everything told until then goes to
the thread in that one wake; a consumer keeps taking while mail is queued. Anything else wakes
the thread at once: a message from another thread, an ask (someone waits for the answer: a
barrier, a flush, a stop), pykka's stop message. Mail is never reordered, never dropped, and an
idle actor sets no wake-up.

pykka documents ``actor_inbox`` as an extension point; this implements the queue interface its
threaded actor loop uses (``put``, ``get``, ``get_nowait``, ``empty``, ``qsize``).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from typing import Any

from adaptive_mind.actors.loop_actor import Envelope, is_stop

LINGER_S = 0.01
"""How long loop-side mail may wait for its thread: short beside the ledger's own flush
interval and imperceptible in logs; about ten requests a wake at the benchmark's load."""


class LingerInbox:
    """A thread actor's inbox whose wake-ups from ``loop``'s thread are batched (see above)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, linger_s: float = LINGER_S) -> None:
        self._loop = loop
        self._linger_s = linger_s
        self._mail: collections.deque[Envelope[Any]] = collections.deque()
        self._cv = threading.Condition(threading.Lock())
        self._ready = False
        """The consumer may take mail: set by a wake, cleared when it finds the inbox empty."""
        self._armed = False
        """A lingering wake-up is set on the loop."""
        self._loop_thread: int | None = None

    def put(self, envelope: Envelope[Any], /) -> None:
        urgent = envelope.reply_to is not None or is_stop(envelope.message)
        on_loop = not urgent and self._on_loop()
        with self._cv:
            self._mail.append(envelope)
            if self._ready:
                return  # the consumer is awake (or already woken): it will take this too
            if not on_loop:
                self._ready = True
                self._cv.notify()
                return
            if self._armed:
                return
            self._armed = True
        try:
            self._loop.call_later(self._linger_s, self._release)
        except RuntimeError:  # the loop is closed (the system is stopping): wake now
            self._release()

    def _on_loop(self) -> bool:
        me = threading.get_ident()
        if self._loop_thread is None:
            try:
                if asyncio.get_running_loop() is not self._loop:
                    return False
            except RuntimeError:
                return False
            self._loop_thread = me
        return me == self._loop_thread

    def _release(self) -> None:
        with self._cv:
            self._armed = False
            if self._mail and not self._ready:
                self._ready = True
                self._cv.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> Envelope[Any]:
        with self._cv:
            if not block:
                return self._take()
            if not self._cv.wait_for(lambda: self._ready and self._mail, timeout=timeout):
                raise queue.Empty
            return self._take()

    def _take(self) -> Envelope[Any]:
        """The next envelope; an awake consumer takes lingering mail too (called under the lock)."""
        if not self._mail:
            self._ready = False
            raise queue.Empty
        envelope = self._mail.popleft()
        if not self._mail:
            self._ready = False
        else:
            self._ready = True
        return envelope

    def get_nowait(self) -> Envelope[Any]:
        return self.get(block=False)

    def empty(self) -> bool:
        """Whether no mail waits. Only a draining consumer asks (pykka's teardown: ``while not
        empty(): get()``), so waiting mail becomes takeable at once instead of lingering."""
        with self._cv:
            if self._mail:
                self._ready = True
            return not self._mail

    def qsize(self) -> int:
        with self._cv:
            return len(self._mail)

    def __repr__(self) -> str:
        return f"LingerInbox({len(self._mail)} waiting, linger {self._linger_s}s)"
