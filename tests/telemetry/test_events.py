"""The event bus and its sinks: subscribers, drops, the JSON log, the events table, metrics."""

import json
import sqlite3

import adaptive_mind as am
from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.bus import EventBus
from adaptive_mind.telemetry.events import Event
from tests.helpers import USER, config, scripted

SECRET = "sk-never-show-me-0123456789"


def test_bus_drops_the_oldest_and_counts():
    bus = EventBus(3)
    wakes = []
    bus.wake = lambda: wakes.append(1)
    for i in range(5):
        bus.emit(Event(event_type="x", source="t", payload={"i": i}))
    events, dropped = bus.drain()
    assert [e.payload["i"] for e in events] == [2, 3, 4]
    assert dropped == 2 and bus.dropped_total == 2
    assert wakes == [1]  # one wake per batch, not per event


def test_bus_never_raises_when_the_waker_fails():
    bus = EventBus(2)

    def broken():
        raise RuntimeError("actor gone")

    bus.wake = broken
    bus.emit(Event(event_type="x", source="t"))


def test_subscribers_get_events_and_a_raising_one_is_skipped(start, caplog):
    system = start(config({"a": scripted(["k1", "k2"], responses=[{"key": "k1", "fail": 429}])}))
    got, failed = [], []
    system.subscribe(lambda e: failed.append(1 / 0))
    system.subscribe(got.append, topics=[topics.REQUEST_SUCCEEDED, topics.KEY_COOLED])
    reply = system.complete(USER)
    system.flush()
    types = [e.event_type for e in got]
    assert types.count(topics.REQUEST_SUCCEEDED) == 1 and topics.KEY_COOLED in types
    done = next(e for e in got if e.event_type == topics.REQUEST_SUCCEEDED)
    assert done.request_id == reply.request_id and done.source == "supervisor"
    assert "raised; skipped" in caplog.text


def test_unsubscribe(start):
    system = start(config({"a": scripted()}))
    got = []
    unsubscribe = system.subscribe(got.append)
    system.complete(USER)
    system.flush()
    n = len(got)
    unsubscribe()
    system.complete(USER)
    system.flush()
    assert len(got) == n > 0


def test_flooding_the_bus_counts_drops(start):
    system = start(config({"a": scripted(["k1"])}, telemetry={"buffer_size": 1}))
    dropped = []
    system.subscribe(dropped.append, topics=[topics.EVENTS_DROPPED])
    for i in range(300):
        system._bus.emit(Event(event_type="flood", source="test", payload={"i": i}))
    system.flush()
    assert system.events_dropped > 0
    assert sum(e.payload["dropped"] for e in dropped) == system.events_dropped
    assert system.complete(USER).text  # requests are unaffected


def test_json_log_events_table_and_metrics_without_secrets(start, tmp_path):
    log, db, ledger = tmp_path / "events.jsonl", tmp_path / "events.sqlite", tmp_path / "l.sqlite"
    system = start(
        {
            "providers": {
                "a": scripted(
                    [SECRET, "sk-other-key-abcdef"], responses=[{"key": SECRET, "fail": 401}]
                )
            },
            "ledger": {"path": str(ledger)},
            "telemetry": {"log": str(log), "events_db": str(db)},
        }
    )
    for _ in range(3):
        system.complete(USER)
    metrics = system.metrics_text()
    system.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"event", "source", "timestamp", "severity", "request_id", "payload"} <= set(lines[0])
    assert any(r["event"] == topics.KEY_DISABLED for r in lines)
    with sqlite3.connect(db) as conn:
        n = conn.execute(
            "SELECT count(*) FROM events WHERE event_type = ?", (topics.REQUEST_SUCCEEDED,)
        ).fetchone()[0]
    assert n == 3
    assert (
        'adaptive_mind_attempts_total{category="KEY_FATAL",model="m1",provider="a"} 1.0' in metrics
    )
    assert 'adaptive_mind_requests_total{outcome="success"} 3.0' in metrics
    assert "adaptive_mind_request_latency_seconds_bucket" in metrics
    assert 'adaptive_mind_key_state{key_id="a#1",provider="a"} 3.0' in metrics
    with sqlite3.connect(ledger) as conn:
        ledger_text = "".join(r[0] for r in conn.execute("SELECT doc FROM ledger"))
    with sqlite3.connect(db) as conn:
        events_text = "".join(r[0] for r in conn.execute("SELECT payload FROM events"))
    for text in (log.read_text(), metrics, ledger_text, events_text):
        assert SECRET not in text


def test_metrics_can_be_turned_off(start):
    system = start(config({"a": scripted()}, telemetry={"metrics": False}))
    try:
        system.metrics_text()
    except RuntimeError as err:
        assert "metrics" in str(err)
    else:
        raise AssertionError("expected RuntimeError")
    assert isinstance(am.Event(event_type="x", source="y").timestamp, float)


def test_rejected_requests_are_counted_in_metrics_not_the_ledger(start, tmp_path):
    system = start({"providers": {"a": scripted()}, "ledger": {"path": str(tmp_path / "l.db")}})
    for bad in ([], [{"role": "robot", "content": "x"}]):
        try:
            system.complete(bad)
        except am.BadRequestError:
            pass
    assert 'adaptive_mind_rejected_requests_total{reason="bad_request"} 2.0' in (
        system.metrics_text()
    )
    system.stop()
    with am.Ledger.open(tmp_path / "l.db") as ledger:
        assert ledger.entries() == []
