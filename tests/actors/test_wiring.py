"""The thin actors only turn messages into core calls and replies: wiring tests."""

import queue

import pykka
import pytest

from adaptive_mind.actors.base import Wiring
from adaptive_mind.actors.breaker import CircuitBreakerActor
from adaptive_mind.actors.cell import ActorCell, CellState
from adaptive_mind.actors.key_pool import KeyPoolActor
from adaptive_mind.chat import ErrorCategory
from adaptive_mind.clock import FakeClock
from adaptive_mind.config import BreakerConfig, KeyPoolConfig
from adaptive_mind.messages import (
    AcquirePermit,
    ChildFailed,
    Crash,
    GetBreakerState,
    GetKeyStates,
    KeyLeased,
    KeyOutcomeRecorded,
    LeaseKey,
    NoKeyAvailable,
    PermitDenied,
    PermitGranted,
    RecordOutcome,
    ReportKeyOutcome,
)
from adaptive_mind.telemetry.events import NullSink


class Inbox:
    """An Address that collects what it is told."""

    def __init__(self):
        self.q = queue.Queue()

    def tell(self, message):
        self.q.put(message)

    def get(self):
        return self.q.get(timeout=5)


@pytest.fixture
def actors():
    refs = []
    yield refs
    for r in refs:
        r.stop()


def test_breaker_actor_grants_denies_and_records(actors):
    clock = FakeClock()
    ref = CircuitBreakerActor.start("p", BreakerConfig(failure_threshold=1), clock, NullSink())
    actors.append(ref)
    inbox = Inbox()
    ref.tell(AcquirePermit("r1", inbox))
    granted = inbox.get()
    assert isinstance(granted, PermitGranted) and granted.request_id == "r1"
    ref.tell(RecordOutcome(granted.permit, ErrorCategory.TRANSIENT, True))
    assert ref.ask(GetBreakerState()) == "open"
    ref.tell(AcquirePermit("r2", inbox))
    denied = inbox.get()
    assert isinstance(denied, PermitDenied) and denied.retry_at == clock.now() + 5
    ref.tell(AcquirePermit("r3", inbox, force=True))  # the last resort is never denied
    forced = inbox.get()
    assert isinstance(forced, PermitGranted) and forced.permit.forced


def test_breaker_actor_denies_retries_past_the_budget(actors):
    from adaptive_mind.config import RetryConfig

    retry = RetryConfig(budget_ratio=0.5, budget_min_per_s=0.0)
    ref = CircuitBreakerActor.start("p", BreakerConfig(), FakeClock(), NullSink(), retry=retry)
    actors.append(ref)
    inbox = Inbox()
    for i in range(4):  # four first attempts deposit two retries
        ref.tell(AcquirePermit(f"r{i}", inbox))
        assert isinstance(inbox.get(), PermitGranted)
    answers = []
    for i in range(3):
        ref.tell(AcquirePermit(f"x{i}", inbox, retry=True))
        answers.append(inbox.get())
    assert [type(a) for a in answers] == [PermitGranted, PermitGranted, PermitDenied]
    assert answers[2].budget_spent


def test_key_pool_actor_leases_reports_and_answers_independence(actors):
    ref = KeyPoolActor.start("p", ("p#1", "p#2"), KeyPoolConfig(), FakeClock(), NullSink())
    actors.append(ref)
    inbox = Inbox()
    ref.tell(LeaseKey("r1", frozenset({"p#2"}), inbox))
    leased = inbox.get()
    assert isinstance(leased, KeyLeased) and leased.lease.key_id == "p#1"
    ref.tell(ReportKeyOutcome(leased.lease, ErrorCategory.TRANSIENT, None, "r1", inbox))
    recorded = inbox.get()
    assert isinstance(recorded, KeyOutcomeRecorded) and recorded.independent
    ref.tell(LeaseKey("r2", frozenset({"p#2"}), inbox))
    leased = inbox.get()  # a 5xx blames no key
    assert isinstance(leased, KeyLeased) and leased.lease.key_id == "p#1"
    ref.tell(ReportKeyOutcome(leased.lease, ErrorCategory.TRANSIENT, 5.0, rate_limited=True))
    ref.tell(LeaseKey("r3", frozenset({"p#2"}), inbox))
    assert isinstance(inbox.get(), NoKeyAvailable)
    states = ref.ask(GetKeyStates())
    assert [s["state"] for s in states] == ["rate_limited", "available"]


def test_unknown_messages_are_bugs_and_a_crash_reports_mail_and_snapshot(actors):
    reports = []
    cell = ActorCell("key_pool:p")
    wiring = Wiring("key_pool:p", cell, reports.append)
    ref = KeyPoolActor.start("p", ("p#1",), KeyPoolConfig(), FakeClock(), NullSink(), wiring=wiring)
    cell.replace(ref, [])
    with pytest.raises(TypeError, match="unexpected message"):
        ref.ask("not a message")
    cell.tell(Crash())
    inbox = Inbox()
    for i in range(3):
        cell.tell(LeaseKey(f"r{i}", frozenset(), inbox))  # queued behind the crash
    ref.actor_stopped.wait(5)
    assert len(reports) == 1
    report = reports[0]
    assert isinstance(report, ChildFailed) and report.name == "key_pool:p"
    assert "ChaosCrash" in report.error
    assert report.snapshot[0]["key_id"] == "p#1"
    assert cell.state is CellState.RESTARTING
    # mail sent to the dead actor waits in the cell and reaches the replacement in order
    new = KeyPoolActor.start(
        "p", ("p#1",), KeyPoolConfig(), FakeClock(), NullSink(), restore=report.snapshot
    )
    actors.append(new)
    delivered = cell.replace(new, list(report.leftovers))
    assert [m.request_id for m in delivered] == ["r0", "r1", "r2"]
    assert [inbox.get().request_id for _ in range(3)] == ["r0", "r1", "r2"]


def test_a_down_cell_refuses_mail():
    cell = ActorCell("x")
    assert cell.mark_down() == []
    with pytest.raises(pykka.ActorDeadError):
        cell.tell("anything")
