"""A fleet across OS processes sharing Redis: one half-open probe for the whole fleet, and a
Redis that dies mid-run costs no request and loses no state (issue #16).

This process's ActorSystem (A) and other processes' (``tests.state.replica_main``) run against
one chaos server; every wait is on observable state with a deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import adaptive_mind as am
from tests.state.conftest import wait_until
from tests.state.replica_proc import OA, Replica, state, wire_config

USER = [{"role": "user", "content": "hi"}]
REOPEN_S = 2.0


def connected(system: am.ActorSystem) -> bool:
    return bool(getattr(system._state_backend, "connected", False))


def key_state(system: am.ActorSystem, key_id: str) -> str:
    return next(k["state"] for k in system.key_states("openai") if k["key_id"] == key_id)


@pytest.fixture
def spawn() -> Iterator[Any]:
    procs: list[Replica] = []

    def make(cfg: dict[str, Any]) -> Replica:
        procs.append(Replica(cfg))
        return procs[-1]

    yield make
    for p in procs:
        p.close()


def test_one_breaker_opens_every_replicas_and_one_replica_probes(
    chaos, redis_url, namespace, start, spawn
):
    cfg = wire_config(
        chaos,
        state(redis_url, namespace, probe_ttl_s=60),
        breaker={
            "failure_threshold": 1,
            "reset_timeout_s": REOPEN_S,
            "max_reset_timeout_s": REOPEN_S,
        },
        retry={"last_resort": False},  # a forced last-resort call is not a probe
    )
    b, c = spawn(cfg), spawn(cfg)
    a = start(cfg)
    wait_until(lambda: connected(a), 10, "A connected")
    chaos.add_rule("openai", "server_error")  # the provider is down for the whole test

    with pytest.raises(am.AllProvidersFailedError):
        a.complete(USER)
    assert a.breaker_state("openai") == "open"
    for r in (b, c):
        wait_until(lambda r=r: r.ask("breaker", provider="openai") == "open", 5, "peer opens")
    chaos.reset_counts()
    assert b.ask("complete", provider="openai") == {"error": "AllProvidersFailedError"}
    assert chaos.count("openai") == 0  # an open circuit at B sends nothing upstream

    # The window ends everywhere (an expired OPEN reads half-open); all three then ask at once.
    wait_until(lambda: a.breaker_state("openai") == "half_open", 3 * REOPEN_S, "A half-open")
    for r in (b, c):
        wait_until(lambda r=r: r.ask("breaker", provider="openai") == "half_open", 5, "half-open")
    for r in (b, c):
        r.send("burst", provider="openai", n=10)
    a_failed = 0

    def burst_a() -> None:
        nonlocal a_failed
        for _ in range(10):
            try:
                a.complete(USER)
            except am.AllProvidersFailedError:
                a_failed += 1

    t = threading.Thread(target=burst_a)
    t.start()
    answers = [b.read(), c.read()]
    t.join(30)
    assert answers == [{"ok": 0}, {"ok": 0}] and a_failed == 10  # the provider is still down
    assert chaos.count("openai") == 1  # 30 requests in 3 processes: exactly one probe call
    for r in (b, c):
        assert r.ask("breaker", provider="openai") == "open"  # the failed probe re-opened it
    assert a.breaker_state("openai") == "open"


def test_redis_killed_mid_run_costs_no_request_and_state_converges_after(
    chaos, private_redis, namespace, start, spawn
):
    shared = state(private_redis.url, namespace, reconnect_min_s=0.05, reconnect_max_s=0.2)
    cfg = wire_config(chaos, shared)
    b = spawn(cfg)
    a = start(cfg)
    wait_until(lambda: connected(a), 10, "A connected")

    failures: list[str] = []
    done, served = threading.Event(), [0]

    def load_a() -> None:  # A serves one request after another for the whole test
        while not done.is_set():
            try:
                a.complete(USER)
                served[0] += 1
            except am.AdaptiveMindError as exc:
                failures.append(type(exc).__name__)

    loader = threading.Thread(target=load_a)
    loader.start()
    try:
        wait_until(lambda: served[0] >= 5, 10, "A serving")
        private_redis.stop()  # killed: both replicas lose their connection
        wait_until(lambda: not connected(a), 10, "A sees Redis gone")
        wait_until(lambda: b.ask("connected") is False, 10, "B sees Redis gone")
        for _ in range(5):
            assert "tried" in b.ask("complete", provider="openai")  # B keeps serving too

        # While Redis is down, A learns that key 1 is revoked; B cannot hear of it yet.
        chaos.add_rule("openai", "invalid_key", key=OA[0])
        wait_until(lambda: key_state(a, "openai#1") == "disabled", 10, "A disables key 1")
        assert b.key_state("openai#1") == "available"
        at_restart = served[0]

        private_redis.start()  # same port: both reconnect, A re-publishes what it learned
        wait_until(lambda: b.key_state("openai#1") == "disabled", 15, "B learns key 1 is out")
        wait_until(lambda: connected(a) and b.ask("connected") is True, 10, "both reconnected")
        wait_until(lambda: served[0] >= at_restart + 5, 10, "A serving after the restart")
    finally:
        done.set()
        loader.join(30)
    assert failures == []  # no request failed because Redis went away and came back
    for _ in range(10):
        assert b.ask("complete", provider="openai")["tried"] == ["openai#2"]
    revoked = [h for h in chaos.hits() if h.key == OA[0] and h.outcome == "invalid_key"]
    assert len(revoked) == 1  # after the revocation: A's one call, while Redis was down
