"""Events in the host's log pipeline: stdlib records, structlog, trace context, JSON lines."""

import contextvars
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
import structlog

from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.sinks import iso_timestamp
from tests.helpers import USER, config, scripted

TRACE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


class Capture(logging.Handler):
    """Keeps records, tagging each with the trace id current when it is handled (as
    OpenTelemetry's log correlation does)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.trace_id = TRACE_ID.get()
        self.records.append(record)


@pytest.fixture
def events_logger() -> Iterator[Capture]:
    log = logging.getLogger("adaptive_mind.events")
    handler, level = Capture(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler
    log.removeHandler(handler)
    log.setLevel(level)


@pytest.fixture
def reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_events_are_stdlib_records_in_the_callers_trace_context(start, events_logger):
    system = start(
        config(
            {"a": scripted(["k1", "k2"], responses=[{"key": "k1", "fail": 401}])},
            telemetry={"log": "logging"},
        )
    )
    token = TRACE_ID.set("trace-123")
    try:
        reply = system.complete(USER)
    finally:
        TRACE_ID.reset(token)
    system.flush()
    by_type = {r.event_type: r for r in events_logger.records}
    done = by_type[topics.REQUEST_SUCCEEDED]
    assert done.name == "adaptive_mind.events" and done.levelname == "INFO"
    assert done.request_id == reply.request_id and done.source == "supervisor"
    assert done.payload["provider"] == "a" and done.trace_id == "trace-123"
    assert done.getMessage().startswith("request.succeeded {")
    disabled = by_type[topics.KEY_DISABLED]
    assert disabled.levelname == "ERROR" and disabled.payload["key_id"] == "a#1"


def test_record_time_is_the_events_own_time(start, events_logger):
    system = start(config({"a": scripted()}, telemetry={"log": "logging"}))
    got = []
    system.subscribe(got.append, topics=[topics.REQUEST_SUCCEEDED])
    system.complete(USER)
    system.flush()
    record = next(r for r in events_logger.records if r.event_type == topics.REQUEST_SUCCEEDED)
    assert record.created == got[0].timestamp


def test_a_structlog_host_gets_events_through_its_own_processors(start, reset_structlog):
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    system = start(config({"a": scripted()}, telemetry={"log": "logging"}))
    structlog.contextvars.bind_contextvars(trace_id="trace-abc")
    reply = system.complete(USER)
    structlog.contextvars.clear_contextvars()
    system.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    done = next(r for r in lines if r["event"] == topics.REQUEST_SUCCEEDED)
    assert done["level"] == "info" and done["logger"] == "adaptive_mind.events"
    assert done["request_id"] == reply.request_id and done["trace_id"] == "trace-abc"
    assert datetime.fromisoformat(done["timestamp"]).tzinfo is not None


def test_structlog_with_the_stdlib_factory_uses_the_events_logger(
    start, reset_structlog, events_logger
):
    structlog.configure(
        processors=[structlog.stdlib.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    system = start(config({"a": scripted()}, telemetry={"log": "logging"}))
    system.complete(USER)
    system.flush()
    docs = [json.loads(r.getMessage()) for r in events_logger.records]
    assert any(d["event"] == topics.REQUEST_SUCCEEDED and d["level"] == "info" for d in docs)


def test_json_lines_carry_iso_timestamps_and_a_level(start, tmp_path):
    log = tmp_path / "events.jsonl"
    system = start(
        config(
            {"a": scripted(["k1", "k2"], responses=[{"key": "k1", "fail": 401}])},
            telemetry={"log": str(log)},
        )
    )
    system.complete(USER)
    system.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:
        assert line["timestamp"].endswith("Z")
        assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
        assert line["level"] == line["severity"]
    levels = {line["event"]: line["level"] for line in lines}
    assert levels[topics.KEY_DISABLED] == "error"
    assert levels[topics.REQUEST_SUCCEEDED] == "info"


def test_iso_timestamp_is_utc_with_milliseconds():
    assert iso_timestamp(0.25) == "1970-01-01T00:00:00.250Z"
