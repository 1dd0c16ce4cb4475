"""The breaker and key pool actors with a shared state port: they publish transitions, apply
peers' ones as messages, and a half-open probe waits for the fleet's answer (never blocking)."""

import queue

from adaptive_mind.actors.breaker import CircuitBreakerActor
from adaptive_mind.actors.key_pool import KeyPoolActor
from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import BreakerConfig, KeyPoolConfig
from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.core.key_pool import KeyEventKind
from adaptive_mind.core.shared_state import BreakerTransition, KeyTransition
from adaptive_mind.messages import (
    AcquirePermit,
    ApplyTransition,
    GetBreakerState,
    GetKeyStates,
    KeyLeased,
    LeaseKey,
    PermitDenied,
    PermitGranted,
    RecordOutcome,
    ReportKeyOutcome,
)
from adaptive_mind.telemetry.events import NullSink


class Port:
    """A state port whose probe answers the test gives by hand."""

    def __init__(self) -> None:
        self.published: list = []
        self.pending: queue.Queue = queue.Queue()
        self.released: list[str] = []

    def publish(self, t) -> None:
        self.published.append(t)

    def request_probe(self, provider, reply) -> None:
        self.pending.put(reply)

    def release_probe(self, provider, hold_s: float = 0.0) -> None:
        self.released.append(provider)


class Inbox:
    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue()

    def tell(self, msg) -> None:
        self.q.put(msg)

    def get(self):
        return self.q.get(timeout=5)


def test_breaker_publishes_and_probes_only_with_the_fleets_consent():
    clock, port, inbox = FakeClock(), Port(), Inbox()
    cfg = BreakerConfig(failure_threshold=1, reset_timeout_s=1)
    ref = CircuitBreakerActor.start("p", cfg, clock, NullSink(), state=port)
    try:
        ref.tell(AcquirePermit("r1", inbox))
        granted = inbox.get()
        ref.tell(RecordOutcome(granted.permit, ErrorCategory.TRANSIENT, True))
        ref.ask(GetBreakerState())
        (opened,) = port.published
        assert (opened.state, opened.until) == (BreakerState.OPEN, clock.now() + 1)
        clock.advance(1)
        ref.tell(AcquirePermit("r2", inbox))
        port.pending.get(timeout=5)(False)  # another replica holds the probe lock
        denied = inbox.get()
        assert isinstance(denied, PermitDenied) and denied.state == "half_open"
        ref.tell(AcquirePermit("r3", inbox))
        port.pending.get(timeout=5)(True)
        probe = inbox.get()
        assert isinstance(probe, PermitGranted) and probe.permit.probe
        assert port.released == []
        ref.tell(RecordOutcome(probe.permit, ErrorCategory.TRANSIENT, True))  # the probe failed
        ref.ask(GetBreakerState())
        assert port.released == ["p"]  # the fleet may probe again after its reset timeout
    finally:
        ref.stop()


def test_breaker_applies_a_peers_open_without_publishing_it_again():
    clock, port = FakeClock(), Port()
    ref = CircuitBreakerActor.start("p", BreakerConfig(), clock, NullSink(), state=port)
    try:
        t = BreakerTransition("p", BreakerState.OPEN, clock.now() + 5, clock.now())
        ref.tell(ApplyTransition(t))
        assert ref.ask(GetBreakerState()) == "open"
        assert port.published == []
    finally:
        ref.stop()


def test_key_pool_publishes_a_revoked_key_and_applies_a_peers_window():
    clock, port, inbox = FakeClock(), Port(), Inbox()
    ref = KeyPoolActor.start("p", ("k1", "k2"), KeyPoolConfig(), clock, NullSink(), state=port)
    try:
        ref.tell(LeaseKey("r1", frozenset(), inbox))
        leased = inbox.get()
        assert isinstance(leased, KeyLeased)
        ref.tell(ReportKeyOutcome(leased.lease, ErrorCategory.KEY_FATAL))
        peer = KeyTransition("p", "k2", KeyEventKind.RATE_LIMITED, clock.now() + 9, clock.now())
        ref.tell(ApplyTransition(peer))
        states = {s["key_id"]: s["state"] for s in ref.ask(GetKeyStates())}
        assert states == {"k1": "disabled", "k2": "rate_limited"}
        assert [(t.key_id, t.event) for t in port.published] == [("k1", KeyEventKind.DISABLED)]
    finally:
        ref.stop()
