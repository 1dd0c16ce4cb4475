"""Admission control: how many requests hold a slot, and the reply channel that frees one.

Why a counter and not a table of requests: the Supervisor is the one owner of what is in flight
(its flights while it lives, the snapshot in its crash report when it dies). The facade only
needs to know *how many* requests hold a slot — to fail fast past ``request.max_in_flight``, to
report ``in_flight``, and to let ``stop(timeout_s)`` wait for them to drain — and each slot must
be freed exactly once. The reply channel a request travels with can do that itself, on its first
answer, so nothing here points back into the facade and nothing is keyed by request id.
"""

from __future__ import annotations

import threading

from adaptive_mind.messages import ReplyChannel
from adaptive_mind.messages.request import Result


class AdmissionGate:
    """At most ``limit`` slots held at once; thread-safe (callers on any thread, replies on the
    actors' loop)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._drained = False
        self._cv = threading.Condition(threading.Lock())

    @property
    def count(self) -> int:
        """Slots held now: requests admitted and not yet answered, and streams not yet read to
        their end (or left)."""
        with self._cv:
            return self._count

    def try_acquire(self) -> bool:
        """Take a slot; False when all ``limit`` are held (or the gate was drained)."""
        with self._cv:
            if self._drained or self._count >= self._limit:
                return False
            self._count += 1
            return True

    def release(self) -> None:
        """Give a slot back (callers make sure they give back each slot once: see
        :class:`GatedReply`)."""
        with self._cv:
            if self._drained or self._count == 0:
                return
            self._count -= 1
            if self._count == 0:
                self._cv.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no slot is held, at most ``timeout`` seconds; returns whether it is idle."""
        with self._cv:
            return self._cv.wait_for(lambda: self._count == 0, timeout=timeout)

    def drain(self) -> int:
        """The system stopped: forget the slots still held (a stream nobody reads holds its slot
        for ever) and admit nothing more; later releases are no-ops. Returns how many there
        were."""
        with self._cv:
            held, self._count, self._drained = self._count, 0, True
            self._cv.notify_all()
            return held


class GatedReply:
    """A request's reply channel while it holds a slot: the first answer frees the slot and is
    delivered; any later one is dropped (a re-driven request may be answered twice, by a dead
    Supervisor's last act and by its replacement: the caller sees one)."""

    __slots__ = ("_gate", "_lock", "_open", "inner")

    def __init__(self, inner: ReplyChannel, gate: AdmissionGate) -> None:
        self.inner = inner
        self._gate = gate
        self._lock = threading.Lock()
        self._open = True

    def deliver(self, result: Result) -> None:
        if self._settle():
            self.inner.deliver(result)

    def is_open(self) -> bool:
        return self._open

    def withdraw(self) -> None:
        """The request never reached a Supervisor: free the slot without an answer (the caller
        gets an exception instead)."""
        self._settle()

    def _settle(self) -> bool:
        """Close the channel and free the slot; True only the first time. The slot is freed
        before the answer goes out, so a caller woken by it already sees ``in_flight`` drop."""
        with self._lock:
            if not self._open:
                return False
            self._open = False
        self._gate.release()
        return True


class GatedStreamReply:
    """A streamed request's slot: its answer ends the stream, but the slot is held until the
    caller has read to the end or left (:meth:`release`): an unread stream is still open, and
    ``request.max_in_flight`` counts it."""

    __slots__ = ("_gate", "_held", "_lock", "inner")

    def __init__(self, inner: ReplyChannel, gate: AdmissionGate) -> None:
        self.inner = inner
        self._gate = gate
        self._lock = threading.Lock()
        self._held = True

    def deliver(self, result: Result) -> None:
        self.inner.deliver(result)  # the stream's channel keeps the first answer only

    def is_open(self) -> bool:
        return self.inner.is_open()

    def release(self) -> None:
        """Free the slot (once: later calls do nothing)."""
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._gate.release()

    withdraw = release
