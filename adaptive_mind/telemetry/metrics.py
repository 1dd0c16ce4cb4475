"""Prometheus metrics from events (optional: needs ``prometheus-client``, the ``metrics`` extra).

Each system has its own registry, so several systems in one process never share series.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from adaptive_mind.telemetry import topics
from adaptive_mind.telemetry.events import Event

AVAILABLE = importlib.util.find_spec("prometheus_client") is not None
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
KEY_VALUES = {
    topics.KEY_RESTORED: 0,
    topics.KEY_COOLED: 2,
    topics.KEY_DISABLED: 3,
    topics.KEY_EJECTED: 4,
}


class MetricsSink:
    """Counters, gauges and a latency histogram fed by the event stream."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "adaptive_mind_attempts",
            "Upstream attempts",
            ["provider", "model", "category"],
            registry=r,
        )
        self.requests = Counter(
            "adaptive_mind_requests", "Requests answered", ["outcome"], registry=r
        )
        self.latency = Histogram(
            "adaptive_mind_request_latency_seconds",
            "End-to-end request latency",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.breaker = Gauge(
            "adaptive_mind_breaker_state",
            "Circuit state: 0 closed, 1 half_open, 2 open",
            ["provider"],
            registry=r,
        )
        self.key = Gauge(
            "adaptive_mind_key_state",
            "Key state: 0 available, 1 probation, 2 rate-limited, 3 disabled, 4 ejected",
            ["provider", "key_id"],
            registry=r,
        )
        self.dropped = Counter(
            "adaptive_mind_events_dropped", "Events dropped on overflow", registry=r
        )
        self.restarts = Counter(
            "adaptive_mind_actor_restarts", "Actor restarts", ["actor"], registry=r
        )
        self.rejected = Counter(
            "adaptive_mind_rejected_requests",
            "Requests refused before admission (no ledger entry)",
            ["reason"],
            registry=r,
        )
        self.in_flight = Gauge("adaptive_mind_in_flight", "Requests in flight", registry=r)
        self.mailbox = Gauge(
            "adaptive_mind_mailbox_depth",
            "Messages waiting in an actor's inbox",
            ["actor"],
            registry=r,
        )

    def handle(self, events: Sequence[Event]) -> None:
        for e in events:
            self._one(e)

    def _one(self, e: Event) -> None:
        t, p = e.event_type, e.payload
        if t in (topics.REQUEST_SUCCEEDED, topics.REQUEST_FAILED):
            self.requests.labels("success" if t == topics.REQUEST_SUCCEEDED else "failure").inc()
            if isinstance(p.get("latency_ms"), int | float):
                self.latency.observe(p["latency_ms"] / 1000.0)
            for a in p.get("attempt_list", ()):
                self.attempts.labels(a[0], a[1], a[2]).inc()
        elif t.startswith("breaker."):
            self.breaker.labels(p.get("provider", "")).set(BREAKER_VALUES.get(p.get("to", ""), 0))
        elif t in KEY_VALUES:
            self.key.labels(p.get("provider", ""), p.get("key_id", "")).set(KEY_VALUES[t])
        elif t == topics.EVENTS_DROPPED:
            self.dropped.inc(p.get("dropped", 0))
        elif t == topics.ACTOR_RESTARTED:
            self.restarts.labels(p.get("actor", "")).inc()

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int) -> Any:
        """Serve /metrics on 127.0.0.1:port; returns the server (``shutdown()`` to stop)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        return server

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None
