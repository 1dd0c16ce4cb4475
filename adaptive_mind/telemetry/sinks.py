"""Event sinks behind one small protocol: subscribers, the host's logging, a JSON-lines log, an
SQLite events table.

Sinks run on the TelemetryActor's thread, so they may block briefly without slowing requests.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import sqlite3
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

import structlog

from adaptive_mind.telemetry import topics as topic_names
from adaptive_mind.telemetry.events import Event, Severity

logger = logging.getLogger("adaptive_mind.telemetry")

EVENTS_LOGGER = "adaptive_mind.events"
"""The stdlib logger ``telemetry.log: logging`` emits every event on."""
LEVELS: Mapping[Severity, int] = {
    Severity.DEBUG: logging.DEBUG,
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}
_FINAL = frozenset({topic_names.REQUEST_SUCCEEDED, topic_names.REQUEST_FAILED})


def iso_timestamp(ts: float) -> str:
    """Epoch seconds as an ISO 8601 UTC instant with milliseconds (``…T12:00:00.123Z``)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


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


class _JsonText:
    """A payload rendered as JSON only if a handler formats the record."""

    __slots__ = ("payload",)

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload

    def __str__(self) -> str:
        return json.dumps(self.payload, default=str, sort_keys=True) if self.payload else ""


class LoggingSink:
    """Every event as a log record in the host application's own pipeline.

    Without a structlog configuration, each event is a stdlib record on the
    ``adaptive_mind.events`` logger: its level from the event's severity, ``created`` the
    event's own time, the message ``"<event_type> <payload as JSON>"``, and the fields as
    ``extra`` attributes (``event_type``, ``source``, ``severity``, ``request_id``, ``payload``)
    for JSON formatters. When the host has called ``structlog.configure``, events go through its
    structlog pipeline instead (``logger="adaptive_mind.events"``, the same fields as keys).

    Each request's events are logged inside a copy of the context its caller had when the
    request was admitted (:meth:`bind`), so context-variable trace ids (structlog's
    ``merge_contextvars``, OpenTelemetry's log correlation) tag them as the caller's.
    """

    def __init__(self, name: str = EVENTS_LOGGER, max_contexts: int = 10_000) -> None:
        self._name = name
        self._logger = logging.getLogger(name)
        self._lock = threading.Lock()
        self._contexts: OrderedDict[str, contextvars.Context] = OrderedDict()
        self._max = max_contexts
        self._finished: list[str] = []

    def bind(self, request_id: str, context: contextvars.Context) -> None:
        """Remember the admitting caller's context (any thread; cheap)."""
        with self._lock:
            self._contexts[request_id] = context
            if len(self._contexts) > self._max:  # a request whose final event was dropped
                self._contexts.popitem(last=False)

    def handle(self, events: Sequence[Event]) -> None:
        structured = structlog.is_configured()
        with self._lock:
            # Forget requests that finished a batch ago (their trailing events came with them).
            for rid in self._finished:
                self._contexts.pop(rid, None)
            contexts = {
                e.request_id: self._contexts.get(e.request_id) for e in events if e.request_id
            }
            self._finished = [
                e.request_id for e in events if e.request_id and e.event_type in _FINAL
            ]
        for e in events:
            ctx = contexts.get(e.request_id) if e.request_id else None
            if ctx is None:
                self._log(e, structured)
            else:
                ctx.run(self._log, e, structured)

    def _log(self, e: Event, structured: bool) -> None:
        if structured:
            self._structlog(e)
            return
        level = LEVELS.get(e.severity, logging.INFO)
        if not self._logger.isEnabledFor(level):
            return
        record = self._logger.makeRecord(
            self._name,
            level,
            "(adaptive_mind)",
            0,
            "%s %s",
            (e.event_type, _JsonText(e.payload)),
            None,
            extra={
                "event_type": e.event_type,
                "source": e.source,
                "severity": e.severity.value,
                "request_id": e.request_id,
                "payload": e.payload,
            },
        )
        record.created = e.timestamp  # when it happened, not when the sink got to it
        record.msecs = (e.timestamp % 1) * 1000.0
        self._logger.handle(record)

    def _structlog(self, e: Event) -> None:
        if isinstance(structlog.get_config()["logger_factory"], structlog.stdlib.LoggerFactory):
            log = structlog.get_logger(self._name)
        else:  # other factories take positional arguments of their own (a file, …)
            log = structlog.get_logger().bind(logger=self._name)
        method = getattr(log, logging.getLevelName(LEVELS.get(e.severity, logging.INFO)).lower())
        method(
            e.event_type,
            source=e.source,
            severity=e.severity.value,
            request_id=e.request_id,
            payload=e.payload,
        )

    def flush(self) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._contexts.clear()


class JsonLogSink:
    """Structured JSON lines through structlog, to stderr or a file (not the global config).

    Each line: ``event``, ``level`` (the severity: ``info``, ``warning`` …), ``timestamp`` (ISO
    8601 UTC), ``source``, ``severity``, ``request_id``, ``payload``.
    """

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
                level=e.severity.value,
                source=e.source,
                timestamp=iso_timestamp(e.timestamp),
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
