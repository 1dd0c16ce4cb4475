"""Replicas sharing health state through a real Redis: what one learns, every other applies.

In-process pairs of ActorSystems (scripted providers) check the wiring; the cross-process tests
run a second OS process with its own ActorSystem against the chaos server (real SDK, loopback
HTTP), as replicas behind a load balancer would.
"""

from __future__ import annotations

import pytest

import adaptive_mind as am
from adaptive_mind import testing
from tests.state.conftest import wait_until
from tests.state.replica_proc import OA, Replica, state, wire_config

USER = [{"role": "user", "content": "hi"}]


def connected(system: am.ActorSystem) -> bool:
    return bool(getattr(system._state_backend, "connected", False))


def key_state(system: am.ActorSystem, provider: str, key_id: str) -> str:
    return next(k["state"] for k in system.key_states(provider) if k["key_id"] == key_id)


@pytest.fixture
def pair(start, redis_url, namespace):
    def make(provider_a: dict, provider_b: dict) -> tuple[am.ActorSystem, am.ActorSystem]:
        shared = state(redis_url, namespace)
        a = start(testing.config({"p": provider_a}, state=shared))
        b = start(testing.config({"p": provider_b}, state=shared))
        wait_until(lambda: connected(a) and connected(b), 10, "both replicas connected")
        return a, b

    return make


def test_a_key_revoked_at_one_replica_reads_disabled_at_the_other(pair):
    a, b = pair(
        testing.scripted(["k1", "k2"], responses=[{"key": "k1", "fail": 401}]),
        testing.scripted(["k1", "k2"]),
    )
    reply = a.complete(USER)
    assert [x.key_id for x in reply.attempts] == ["p#1", "p#2"]
    wait_until(lambda: key_state(b, "p", "p#1") == "disabled", 5, "B learns p#1 is disabled")
    for _ in range(10):
        assert b.complete(USER).key_id == "p#2"
    assert testing.upstream(b, "p").calls_by_key.get("k1", 0) == 0


def test_a_breaker_opened_at_one_replica_reads_open_at_the_other(pair):
    a, b = pair(
        testing.scripted(responses=[{"fail": 503}], breaker={"failure_threshold": 1}),
        testing.scripted(),
    )
    with pytest.raises(am.AllProvidersFailedError):
        a.complete(USER)
    assert a.breaker_state("p") == "open"
    wait_until(lambda: b.breaker_state("p") == "open", 5, "B's breaker opens")
    assert testing.upstream(b, "p").calls == 0


def test_memory_is_the_default_and_shares_nothing(start):
    system = start(testing.config({"p": testing.scripted()}))
    assert system.config.state.backend == "memory"
    assert system._tree.state is None  # nothing to publish to: actors behave as before


# -- across OS processes ---------------------------------------------------------------------


@pytest.fixture
def replicas(chaos, redis_url, namespace, start):
    """This process's system (A) and a second process's (B), sharing one namespace."""
    cfg = wire_config(chaos, state(redis_url, namespace))
    b = Replica(cfg)
    a = start(cfg)
    wait_until(lambda: connected(a), 10, "A connected")
    yield a, b
    b.close()


def test_a_key_revoked_in_one_process_is_never_used_by_the_other(replicas, chaos):
    a, b = replicas
    chaos.add_rule("openai", "invalid_key", key=OA[0])
    assert [x.key_id for x in a.complete(USER).attempts] == ["openai#1", "openai#2"]
    wait_until(lambda: b.key_state("openai#1") == "disabled", 5, "B learns openai#1 is revoked")
    for _ in range(10):
        assert b.ask("complete", provider="openai")["tried"] == ["openai#2"]
    assert chaos.count("openai", key=OA[0]) == 1  # only A's first call ever reached it


def test_a_retry_after_learned_in_one_process_is_honoured_by_the_other(replicas, chaos):
    a, b = replicas
    chaos.add_rule("openai", "rate_limit", key=OA[0], retry_after_s=30, times=1)
    assert [x.key_id for x in a.complete(USER).attempts] == ["openai#1", "openai#2"]
    wait_until(lambda: b.key_state("openai#1") == "rate_limited", 5, "B learns the window")
    states = b.ask("states", provider="openai")
    assert 25 < states[0]["cooldown_remaining_s"] <= 30
    for _ in range(10):
        assert b.ask("complete", provider="openai")["tried"] == ["openai#2"]
    assert chaos.count("openai", key=OA[0]) == 1  # nobody called it inside its window
