"""LedgerActor: builds, chains and stores exactly one audit entry per finished request.

Entries are kept until the store confirms them: they are written in batches (by size, or on the
periodic flush tick once older than ``flush_interval_s``), and when the store fails the batch
stays pending, a critical event is emitted, and the next tick retries. Requests never wait on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from adaptive_mind.actors.base import BaseActor, Wiring
from adaptive_mind.clock import Clock
from adaptive_mind.config import LedgerConfig
from adaptive_mind.core.ledger_entry import SealedEntry, build_entry, chain
from adaptive_mind.messages import FlushLedger, RequestFinished
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event, EventSink, Severity
from adaptive_mind.telemetry.ledger_store import SqliteLedgerStore


class LedgerStore(Protocol):
    """Where sealed entries go. ``append`` is all-or-nothing."""

    def head(self) -> str: ...

    def append(self, batch: list[SealedEntry]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LedgerTick:
    """Internal: time to flush entries older than the flush interval (and retry failures)."""


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
    ) -> None:
        super().__init__("ledger", wiring)
        self._cfg = config
        self._clock = clock
        self._events = events
        self._factory = store_factory or (lambda: SqliteLedgerStore(config.path))
        self._store: LedgerStore | None = None
        self._head = ""
        self._pending: list[dict[str, Any]] = list(pending or [])
        self._oldest = 0.0
        self._failing = False
        self._key = config.hash_key.get_secret_value().encode() if config.hash_key else None

    def on_start(self) -> None:
        super().on_start()
        self._store = self._factory()  # opened on the actor's own thread
        self._head = self._store.head()

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
        )
        if not self._pending:
            self._oldest = self._clock.now()
        self._pending.append(fields)
        if len(self._pending) >= self._cfg.batch_size and not self._failing:
            self._flush()

    def _tick(self, _msg: LedgerTick) -> None:
        if self._pending and self._clock.now() - self._oldest >= self._cfg.flush_interval_s:
            self._flush()

    def _flush(self) -> int:
        """Seal and write every pending entry; returns how many are still pending."""
        if not self._pending or self._store is None:
            return len(self._pending)
        batch: list[SealedEntry] = []
        prev = self._head
        for fields in self._pending:
            sealed = chain(fields, prev)
            batch.append(sealed)
            prev = sealed.entry_hash
        try:
            self._store.append(batch)
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
        self._head = prev
        self._pending.clear()
        return 0

    def on_stop(self) -> None:
        self._flush()
        if self._store is not None:
            self._store.close()
