"""The facade's lifecycle errors: inspection after stop, and calls from subscriber callbacks."""

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import adaptive_mind as am
from adaptive_mind.telemetry.events import Event
from tests.helpers import USER, config, scripted

CALLS: dict[str, Callable[[am.ActorSystem], Any]] = {
    "breaker_state": lambda s: s.breaker_state("a"),
    "key_states": lambda s: s.key_states("a"),
    "actors": lambda s: s.actors(),
    "mailbox_depths": lambda s: s.mailbox_depths(),
    "metrics_text": lambda s: s.metrics_text(),
    "complete": lambda s: s.complete(USER),
    "acomplete": lambda s: asyncio.run(s.acomplete(USER)),
    "flush": lambda s: s.flush(),
    "subscribe": lambda s: s.subscribe(print),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_inspection_after_stop_raises_system_stopped(start, name):
    system = start(config({"a": scripted()}))
    system.complete(USER)
    system.stop()
    with pytest.raises(am.SystemStoppedError, match="stopped"):
        CALLS[name](system)


BLOCKING: dict[str, Callable[[am.ActorSystem], Any]] = {
    **{n: CALLS[n] for n in ("breaker_state", "key_states", "metrics_text", "complete", "flush")},
    "acomplete": lambda s: asyncio.run(s.acomplete(USER)),
    "subscribe": lambda s: s.subscribe(print),
    "stop": lambda s: s.stop(),
}


def call_from_subscriber(system: am.ActorSystem, call: Callable[[], Any]) -> object:
    """Run ``call`` inside a subscriber callback; return what it returned or raised."""
    done = threading.Event()
    outcome: list[object] = []

    def callback(_event: Event) -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)
        done.set()

    system.subscribe(callback, topics=["probe"])
    system._bus.emit(Event(event_type="probe", source="test"))
    assert done.wait(5), "the callback blocked"
    return outcome[0]


@pytest.mark.parametrize("name", sorted(BLOCKING))
def test_blocking_calls_from_a_subscriber_fail_fast(start, name):
    system = start(config({"a": scripted()}))
    t0 = time.monotonic()
    result = call_from_subscriber(system, lambda: BLOCKING[name](system))
    assert time.monotonic() - t0 < 2
    assert isinstance(result, RuntimeError)
    assert "subscriber" in str(result) and f"system.{name}()" in str(result)
    assert system.complete(USER).text  # the system is unharmed, and usable from other threads


def test_non_blocking_inspection_works_from_a_subscriber(start):
    system = start(config({"a": scripted()}))
    result = call_from_subscriber(system, lambda: (system.actors(), system.mailbox_depths()))
    assert isinstance(result, tuple) and result[0]["telemetry"] == "running"


def test_a_subscriber_may_call_another_system(start):
    one = start(config({"a": scripted()}))
    other = start(config({"b": scripted()}))
    assert call_from_subscriber(one, lambda: other.breaker_state("b")) == "closed"
