"""Event sinks behind one small protocol: subscribers, a JSON-lines log, an SQLite events table.

Sinks run on the TelemetryActor's thread, so they may block briefly without slowing requests.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TextIO

import structlog

from adaptive_mind.telemetry.events import Event

logger = logging.getLogger("adaptive_mind.telemetry")


class Sink(Protocol):
    """Receives batches of events."""

    def handle(self, events: Sequence[Event]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class SubscriberSink:
    """In-process listeners (``system.subscribe``); a raising callback is logged and skipped."""

    def __init__(self) -> None:
        self._subs: dict[int, tuple[Callable[[Event], object], frozenset[str] | None]] = {}
        self._ids = itertools.count(1)

    def add(self, callback: Callable[[Event], object], topics: Iterable[str] | None) -> int:
        sid = next(self._ids)
        self._subs[sid] = (callback, frozenset(topics) if topics is not None else None)
        return sid

    def remove(self, sid: int) -> None:
        self._subs.pop(sid, None)

    def handle(self, events: Sequence[Event]) -> None:
        for callback, topics in list(self._subs.values()):
            for event in events:
                if topics is not None and event.event_type not in topics:
                    continue
                try:
                    callback(event)
                except Exception:  # a broken listener must never break the bus
                    logger.exception("event subscriber %r raised; skipped", callback)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self._subs.clear()


class JsonLogSink:
    """Structured JSON lines through structlog, to stderr or a file (not the global config)."""

    def __init__(self, target: str) -> None:
        self._file: TextIO | None = None
        stream: TextIO = sys.stderr
        if target != "stderr":
            self._file = open(target, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            stream = self._file
        self._log = structlog.wrap_logger(
            structlog.PrintLogger(stream),
            processors=[structlog.processors.JSONRenderer(sort_keys=True)],
        )

    def handle(self, events: Sequence[Event]) -> None:
        for e in events:
            self._log.msg(
                e.event_type,
                source=e.source,
                timestamp=e.timestamp,
                severity=e.severity.value,
                request_id=e.request_id,
                payload=e.payload,
            )

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    request_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_type_ts ON events (event_type, ts);
"""


class SqliteEventSink:
    """The embedded time series: every event in a timestamp-indexed table, one insert per batch."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(EVENTS_SCHEMA)

    def handle(self, events: Sequence[Event]) -> None:
        rows = [
            (
                e.timestamp,
                e.event_type,
                e.source,
                e.severity.value,
                e.request_id,
                json.dumps(e.payload, default=str),
            )
            for e in events
        ]
        self._conn.execute("BEGIN")
        try:
            self._conn.executemany(
                "INSERT INTO events (ts, event_type, source, severity, request_id, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(sql, args))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self._conn.close()
