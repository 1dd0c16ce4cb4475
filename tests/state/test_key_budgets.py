"""Key budgets across replicas: two ActorSystems sharing Redis spend one key's rpm between them
(within the documented over-grant: one block per replica), where two memory-backend systems
each spend all of it.

The systems share one FakeClock, so each replica's local sliding window never frees room
during the test: every call beyond the rpm would have to come from the fleet's grants.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import adaptive_mind as am
from adaptive_mind import testing
from adaptive_mind.core.key_budget import ASK_WAIT_S, LOCAL_FALLBACK_S, WINDOW_S, block_of
from adaptive_mind.state import redis_backend
from tests.state.conftest import wait_until

USER = [{"role": "user", "content": "hi"}]
RPM = 20


def provider() -> dict[str, Any]:
    return testing.scripted([{"secret": "k1", "rpm": RPM}])


def cfg(state: dict[str, Any] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"request": {"max_cooldown_wait_s": 0}}  # a spent key fails fast
    if state is not None:
        extra["state"] = state
    return testing.config({"p": provider()}, **extra)


def key(system: am.ActorSystem) -> dict[str, Any]:
    [k] = system.key_states("p")
    return k


def spend(system: am.ActorSystem, clock: am.FakeClock) -> None:
    """Send requests until the key is out for longer than a grant takes to arrive (its fleet
    minute or its local window is spent); a request that found the grant still on its way
    fails fast and the next one waits for it."""
    for _ in range(10 * RPM):
        try:
            system.complete(USER)
        except am.AllProvidersFailedError:
            pass

        def settled() -> bool:
            k = key(system)
            return k["state"] == "available" or k["cooldown_until"] > clock.now() + ASK_WAIT_S

        wait_until(settled, 5, "the key's grant arrives or its budget is spent")
        k = key(system)
        if k["state"] != "available":
            return
    raise AssertionError("the key never ran out of budget")


def calls(system: am.ActorSystem) -> int:
    return testing.upstream(system, "p").calls


@pytest.fixture
def clock() -> am.FakeClock:
    return am.FakeClock()


def test_two_memory_replicas_each_spend_the_whole_rpm(start, clock):
    a, b = start(cfg(), clock=clock), start(cfg(), clock=clock)
    spend(a, clock)
    spend(b, clock)
    assert calls(a) == calls(b) == RPM  # 2 x rpm in one minute: the provider would 429


def test_replicas_sharing_redis_stay_within_rpm_plus_one_block_each(
    start, clock, redis_url, namespace, monkeypatch
):
    # The fleet counts per wall-clock minute: the replicas' wall clock starts 1 s into one (and
    # runs at the real pace), so the test never straddles two minutes, without waiting.
    started = time.time()
    base = (started // WINDOW_S) * WINDOW_S + 1.0
    monkeypatch.setattr(redis_backend, "wall_time", lambda: base + (time.time() - started))
    shared = {"backend": "redis", "url": redis_url, "namespace": namespace}
    a, b = start(cfg(shared), clock=clock), start(cfg(shared), clock=clock)
    wait_until(lambda: a._state_backend.connected and b._state_backend.connected, 10, "connected")
    clock.advance(LOCAL_FALLBACK_S)  # asked before Redis was reachable: that fallback is over
    for _ in range(3):  # interleaved, as a load balancer would spread them
        for system in (a, b):
            try:
                system.complete(USER)
            except am.AllProvidersFailedError:
                pass
    spend(a, clock)
    spend(b, clock)
    total = calls(a) + calls(b)
    assert RPM <= total <= RPM + 2 * block_of(RPM)  # the documented over-grant
    assert total < 2 * RPM
