"""Prometheus metrics from events (optional: needs ``prometheus-client``, the ``metrics`` extra).

Each system has its own registry, so several systems in one process never share series. Counters
and histograms are fed by the event stream on the TelemetryActor's thread; the gauges of live
state (requests in flight, mailbox depths) are read at scrape time, on the scraping thread. A host
application can also expose everything through its own registry (:meth:`MetricsSink.register_in`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping, Sequence
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
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TOKEN_TYPES = ("prompt", "completion", "cached", "reasoning")
"""``cached`` and ``reasoning`` are parts of ``prompt`` and ``completion``, where reported."""


class LiveGauges:
    """A custom collector: in-flight requests and mailbox depths, computed when scraped.

    The callables run on the scraping thread (the metrics server's, or ``metrics_text``'s
    caller), so they must be cheap and thread-safe; neither may ask an actor.
    """

    def __init__(
        self, in_flight: Callable[[], int], mailbox_depths: Callable[[], Mapping[str, int]]
    ) -> None:
        self._in_flight = in_flight
        self._depths = mailbox_depths

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            "adaptive_mind_in_flight", "Requests in flight", value=self._in_flight()
        )
        depth = GaugeMetricFamily(
            "adaptive_mind_mailbox_depth", "Messages waiting in an actor's inbox", labels=["actor"]
        )
        for name, n in sorted(self._depths().items()):
            depth.add_metric([name], n)
        yield depth


class _Bridge:
    """Exposes a system's private registry through a host registry, as one collector."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def collect(self) -> Iterable[Any]:
        return list(self._source.collect())

    def describe(self) -> Iterable[Any]:
        # Describing by collecting lets the host registry refuse a second system's duplicate
        # series at registration instead of exposing invalid text at scrape time.
        return self.collect()


class MetricsSink:
    """Counters, gauges and latency histograms fed by the event stream."""

    def __init__(self, live: LiveGauges | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self._hosts: list[tuple[Any, _Bridge]] = []
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        """Labelled children by (metric, label values): ``labels()`` validates and locks on
        every call, a third of this sink's cost per request; the children never change."""
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
            "End-to-end request latency, by the provider and model that answered (or last "
            "tried, on failure) and the outcome",
            ["provider", "model", "outcome"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.attempt_latency = Histogram(
            "adaptive_mind_attempt_latency_seconds",
            "Latency of one upstream attempt, by provider, model and outcome category",
            ["provider", "model", "category"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.ttft = Histogram(
            "adaptive_mind_stream_first_token_seconds",
            "Time from a streamed request's admission to its first chunk of content",
            ["provider", "model"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.stream_interruptions = Counter(
            "adaptive_mind_stream_interruptions",
            "Streams that broke after content had flowed and were carried on (or ended)",
            ["provider"],
            registry=r,
        )
        self.tokens = Counter(
            "adaptive_mind_tokens",
            "Tokens the providers reported for answered requests (type: prompt or completion)",
            ["provider", "model", "type"],
            registry=r,
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
        self.state_connected = Gauge(
            "adaptive_mind_state_connected",
            "Shared health state (state.backend: redis) reachable: 1 yes, 0 no",
            registry=r,
        )
        self.state_disconnects = Counter(
            "adaptive_mind_state_disconnects",
            "Times the shared health state became unreachable (serving from local state)",
            registry=r,
        )
        self.state_dropped = Counter(
            "adaptive_mind_state_transitions_dropped",
            "Transitions not written while the shared state was slow or unreachable (the live "
            "ones are re-published on reconnect)",
            registry=r,
        )
        if live is not None:
            r.register(live)

    def handle(self, events: Sequence[Event]) -> None:
        for e in events:
            self._one(e)

    def _one(self, e: Event) -> None:
        t, p = e.event_type, e.payload
        if t in (topics.REQUEST_SUCCEEDED, topics.REQUEST_FAILED):
            self._request(t == topics.REQUEST_SUCCEEDED, p)
        elif t.startswith("breaker."):
            self.breaker.labels(p.get("provider", "")).set(BREAKER_VALUES.get(p.get("to", ""), 0))
        elif t in KEY_VALUES:
            self.key.labels(p.get("provider", ""), p.get("key_id", "")).set(KEY_VALUES[t])
        elif t == topics.EVENTS_DROPPED:
            self.dropped.inc(p.get("dropped", 0))
        elif t == topics.ACTOR_RESTARTED:
            self.restarts.labels(p.get("actor", "")).inc()
        elif t == topics.STATE_DISCONNECTED:
            self.state_connected.set(0)
            self.state_disconnects.inc()
        elif t == topics.STATE_CONNECTED:
            self.state_connected.set(1)
            self.state_dropped.inc(p.get("dropped", 0))

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached (only the TelemetryActor's thread calls it)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _request(self, ok: bool, p: Mapping[str, Any]) -> None:
        outcome = "success" if ok else "failure"
        self._child(self.requests, outcome).inc()
        attempts = p.get("attempt_list", ())
        for a in attempts:
            self._child(self.attempts, a[0], a[1], a[2]).inc()
            if len(a) > 3 and isinstance(a[3], int | float):
                self._child(self.attempt_latency, a[0], a[1], a[2]).observe(a[3] / 1000.0)
        # The answering provider and model; on failure, the last one tried ("" if none was).
        last = attempts[-1] if attempts else ("", "")
        provider = str(p.get("provider", last[0]))
        model = str(p.get("model", last[1]))
        if isinstance(p.get("latency_ms"), int | float):
            self._child(self.latency, provider, model, outcome).observe(p["latency_ms"] / 1000.0)
        stream = p.get("stream")
        if isinstance(stream, Mapping):
            ttft = stream.get("ttft_ms")
            if isinstance(ttft, int | float):
                self._child(self.ttft, provider, model).observe(ttft / 1000.0)
            interruptions = stream.get("interruptions")
            if isinstance(interruptions, int) and interruptions > 0:
                self._child(self.stream_interruptions, provider).inc(interruptions)
        usage = p.get("usage")
        if isinstance(usage, Mapping):
            for kind in TOKEN_TYPES:
                n = usage.get(f"{kind}_tokens")
                if isinstance(n, int) and n > 0:
                    self._child(self.tokens, provider, model, kind).inc(n)

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int, host: str = "127.0.0.1") -> Any:
        """Serve /metrics on ``host:port``; returns the server (``shutdown()`` to stop)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def register_in(self, registry: Any) -> None:
        """Expose every series through ``registry`` too (a host application's registry).

        Raises:
            ValueError: ``registry`` already holds series of the same names (for example
                another running system's).
        """
        bridge = _Bridge(self.registry)
        registry.register(bridge)
        self._hosts.append((registry, bridge))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        """Leave every host registry, so a later system can register in it again."""
        hosts, self._hosts = self._hosts, []
        for registry, bridge in hosts:
            try:
                registry.unregister(bridge)
            except KeyError:
                pass
