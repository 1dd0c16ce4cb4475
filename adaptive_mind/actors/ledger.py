"""LedgerActor: builds, chains and stores exactly one audit entry per finished request.

Entries are kept until the store confirms them: they are written in batches (by size, or on the
periodic flush tick once older than ``flush_interval_s``), and when the store fails the batch
stays pending, a critical event is emitted, and the next tick retries. Requests never wait on it.
Entries are sealed onto the chain by the store, inside its write transaction, so several
processes may append to one ledger (a SQLite file, or a PostgreSQL database with
``ledger.backend: postgres``; the store is chosen by backend, the behaviour here is the same).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pykka

from adaptive_mind.actors.base import BaseActor, Wiring, logger
from adaptive_mind.clock import Clock
from adaptive_mind.config import LedgerConfig
from adaptive_mind.core.ledger_entry import SealedEntry, build_entry, chain
from adaptive_mind.messages import FlushLedger, RequestFinished
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, EventSink, Severity
from adaptive_mind.telemetry.ledger_store import open_store


class LedgerStore(Protocol):
    """Where sealed entries go. ``append`` is all-or-nothing."""

    def head(self) -> str: ...

    def append(self, batch: list[SealedEntry]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ChainingLedgerStore(LedgerStore, Protocol):
    """A store that seals entries onto its head inside its own write transaction.

    Several writers (processes) on one store keep one chain only this way; a plain
    :class:`LedgerStore` gets batches chained onto its ``head()`` read just before ``append``.
    """

    def append_chained(
        self, fields: Sequence[dict[str, Any]], seal: Callable[[dict[str, Any], str], SealedEntry]
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class LedgerTick:
    """Internal: time to flush entries older than the flush interval (and retry failures)."""


WakeAt = Callable[[float, Callable[[], object]], None]
"""Schedules ``fn()`` at a clock time (``IoLoop.wake_at`` bound to the system's clock)."""


class LedgerActor(BaseActor):
    """Owns the ledger store and the chain head."""

    def __init__(
        self,
        config: LedgerConfig,
        clock: Clock,
        events: EventSink,
        store_factory: Callable[[], LedgerStore] | None = None,
        *,
        pending: list[dict[str, Any]] | None = None,
        wiring: Wiring | None = None,
        wake_at: WakeAt | None = None,
    ) -> None:
        super().__init__("ledger", wiring)
        self._wake_at = wake_at
        self._wake_set = False
        """A flush wake-up is set: one at a time, only while entries wait (an idle ledger sets
        none)."""
        self._cfg = config
        self._clock = clock
        self._events = events
        self._key = config.hash_key.get_secret_value().encode() if config.hash_key else None
        self._factory = store_factory or (lambda: open_store(config, self._key))
        self._store: LedgerStore | None = None
        self._pending: list[dict[str, Any]] = list(pending or [])
        self._oldest = 0.0
        self._failing = False

    def on_start(self) -> None:
        super().on_start()
        self._store = self._factory()  # opened on the actor's own thread
        if self._pending:  # a replacement: its predecessor's entries wait
            self._oldest = self._clock.now()
            self._schedule(self._oldest + self._cfg.flush_interval_s)

    def _schedule(self, at: float) -> None:
        """Wake at ``at`` to flush (unless a wake-up is already set)."""
        if self._wake_at is None or self._wake_set:
            return
        self._wake_set = True
        me = self.address

        def wake() -> None:
            try:
                me.tell(LedgerTick())
            except pykka.ActorDeadError:
                pass

        self._wake_at(at, wake)

    def snapshot(self) -> list[dict[str, Any]]:
        """Entries not yet confirmed by the store: the replacement writes them."""
        return list(self._pending)

    def on_failure(self, *exc_info: Any) -> None:
        super().on_failure(*exc_info)
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                pass

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        return {
            RequestFinished: self._finished,
            LedgerTick: self._tick,
            FlushLedger: lambda _m: self._flush(),
        }

    def _finished(self, msg: RequestFinished) -> None:
        req = msg.request
        try:
            fields = build_entry(
                request_id=req.request_id,
                parent_request_id=req.parent_request_id,
                started_wall=req.started_wall,
                latency_s=msg.latency_s,
                messages=req.messages,
                final_messages=msg.final_messages,
                result=msg.result,
                attempts=msg.attempts,
                events=msg.events,
                mitigation_attempted=msg.mitigation_attempted,
                prompt_preview_chars=self._cfg.prompt_preview_chars,
                response_preview_chars=self._cfg.response_preview_chars,
                hash_key=self._key,
                metadata=req.metadata,
                delivered_text=req.stream.delivered.text if req.stream is not None else None,
            )
        except Exception as exc:  # one entry must never take the ledger (and its pending) down
            logger.exception("ledger: could not build the entry of %s", req.request_id)
            self._events.emit(
                Event(
                    event_type=topics.LEDGER_STORE_FAILED,
                    source="ledger",
                    severity=Severity.CRITICAL,
                    request_id=req.request_id,
                    payload={"error": type(exc).__name__, "pending": len(self._pending)},
                )
            )
            return
        if not self._pending:
            self._oldest = self._clock.now()
            self._schedule(self._oldest + self._cfg.flush_interval_s)
        self._pending.append(fields)
        if len(self._pending) >= self._cfg.batch_size and not self._failing:
            self._flush()

    def _tick(self, _msg: LedgerTick) -> None:
        self._wake_set = False
        now = self._clock.now()
        if self._pending and now - self._oldest >= self._cfg.flush_interval_s:
            self._flush()
        if self._pending:  # not due yet, or the store is failing: look again
            due = self._oldest + self._cfg.flush_interval_s
            self._schedule(
                max(due, now + min(self._cfg.flush_interval_s, 1.0)) if self._failing else due
            )

    def _flush(self) -> int:
        """Seal and write every pending entry; returns how many are still pending."""
        store = self._store
        if not self._pending or store is None:
            return len(self._pending)
        try:
            if isinstance(store, ChainingLedgerStore):
                store.append_chained(self._pending, self._seal)
            else:
                prev = store.head()
                batch: list[SealedEntry] = []
                for fields in self._pending:
                    batch.append(self._seal(fields, prev))
                    prev = batch[-1].entry_hash
                store.append(batch)
        except Exception as exc:  # disk full, read-only file, locked database …
            if not self._failing:
                self._failing = True
                self._events.emit(
                    Event(
                        event_type=topics.LEDGER_STORE_FAILED,
                        source="ledger",
                        severity=Severity.CRITICAL,
                        payload={"error": type(exc).__name__, "pending": len(self._pending)},
                    )
                )
            return len(self._pending)
        self._failing = False
        self._pending.clear()
        return 0

    def _seal(self, fields: dict[str, Any], prev: str) -> SealedEntry:
        return chain(fields, prev, self._key)

    def on_stop(self) -> None:
        self._flush()
        if self._store is not None:
            self._store.close()
