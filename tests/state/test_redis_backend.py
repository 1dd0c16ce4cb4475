"""RedisBackend against a real redis-server: fan-out, late joiners, TTLs, the probe lock, and
Redis going away and coming back."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from adaptive_mind.clock import MonotonicClock
from adaptive_mind.config import StateConfig
from adaptive_mind.core.breaker import BreakerState
from adaptive_mind.core.key_pool import KeyEventKind
from adaptive_mind.core.shared_state import BreakerTransition, KeyTransition
from adaptive_mind.state.redis_backend import RedisBackend
from adaptive_mind.telemetry import topics
from tests.state.conftest import Events, wait_until

CLOCK = MonotonicClock()


class Inbox:
    def __init__(self) -> None:
        self.got: list = []
        self._cv = threading.Condition()

    def __call__(self, t) -> None:
        with self._cv:
            self.got.append(t)
            self._cv.notify_all()

    def wait(self, pred, timeout=5.0):
        with self._cv:
            assert self._cv.wait_for(lambda: any(pred(t) for t in self.got), timeout), self.got


@pytest.fixture
def backends(io, namespace):
    made: list[RedisBackend] = []

    def make(url, **kw) -> tuple[RedisBackend, Events, Inbox]:
        events, inbox = Events(), Inbox()
        cfg = StateConfig(backend="redis", url=url, namespace=namespace, **kw)
        backend = RedisBackend(cfg, io.loop, CLOCK, events)
        backend.subscribe(inbox)
        backend.start()
        made.append(backend)
        return backend, events, inbox

    yield make
    for b in made:
        asyncio.run_coroutine_threadsafe(b.aclose(), io.loop).result(5)


def disabled(until_in: float, key_id: str = "k1") -> KeyTransition:
    now = CLOCK.now()
    return KeyTransition("p", key_id, KeyEventKind.DISABLED, now + until_in, now)


def test_a_transition_reaches_a_peer_with_its_instant_on_the_peers_clock(backends, redis_url):
    a, a_events, a_inbox = backends(redis_url)
    _b, b_events, b_inbox = backends(redis_url)
    a_events.wait(topics.STATE_CONNECTED)
    b_events.wait(topics.STATE_CONNECTED)
    sent = disabled(60)
    a.publish(sent)
    b_inbox.wait(lambda t: t.key_id == "k1")
    (got,) = b_inbox.got
    assert (got.provider, got.event) == ("p", KeyEventKind.DISABLED)
    assert got.until == pytest.approx(sent.until, abs=0.05)  # wall-clock on the wire
    assert a_inbox.got == []  # its own message comes back and is ignored
    opened = BreakerTransition("p", BreakerState.OPEN, CLOCK.now() + 5, CLOCK.now())
    a.publish(opened)
    b_inbox.wait(lambda t: isinstance(t, BreakerTransition))


def test_a_replica_starting_later_reads_what_is_still_in_force(backends, redis_url, io):
    a, a_events, _ = backends(redis_url)
    a_events.wait(topics.STATE_CONNECTED)
    a.publish(disabled(60, "k1"))
    a.publish(disabled(0.3, "k2"))  # expires on its own (key TTL)
    a.publish(BreakerTransition("p", BreakerState.OPEN, CLOCK.now() + 30, CLOCK.now()))
    wait_until(lambda: a.published == 3, 5, "three writes")
    late, late_events, late_inbox = backends(redis_url)
    done = late_events.wait(topics.STATE_CONNECTED)
    seen = {getattr(t, "key_id", "breaker") for t in late_inbox.got}
    assert {"k1", "breaker"} <= seen and done.payload["applied"] >= 2

    def k2_gone() -> bool:
        snap = asyncio.run_coroutine_threadsafe(late.snapshot(), io.loop).result(5)
        return "k2" not in {getattr(t, "key_id", "") for t in snap}

    wait_until(k2_gone, 5, "k2's record expires with its window")


def test_healthy_again_clears_the_stored_record(backends, redis_url, io):
    a, a_events, _ = backends(redis_url)
    a_events.wait(topics.STATE_CONNECTED)
    a.publish(disabled(60))
    now = CLOCK.now()
    a.publish(KeyTransition("p", "k1", KeyEventKind.RESTORED, None, now + 0.001))
    wait_until(lambda: a.published == 2, 5, "two writes")
    snap = asyncio.run_coroutine_threadsafe(a.snapshot(), io.loop).result(5)
    assert snap == []


def test_exactly_one_of_many_contenders_gets_the_probe_lock(backends, redis_url, io):
    made = [backends(redis_url) for _ in range(8)]
    for _, events, _ in made:
        events.wait(topics.STATE_CONNECTED)

    async def contend() -> list[bool]:
        tries = [b.try_probe("p", 5.0) for b, _, _ in made]
        return list(await asyncio.gather(*tries))

    granted = asyncio.run_coroutine_threadsafe(contend(), io.loop).result(5)
    assert granted.count(True) == 1
    again = asyncio.run_coroutine_threadsafe(contend(), io.loop).result(5)
    assert again.count(True) == 0  # held until its TTL ends


def test_a_released_probe_lock_is_free_at_once_and_only_its_holder_frees_it(
    backends, redis_url, io
):
    (a, a_events, _), (b, b_events, _) = backends(redis_url), backends(redis_url)
    a_events.wait(topics.STATE_CONNECTED)
    b_events.wait(topics.STATE_CONNECTED)

    def take(backend) -> bool:
        return asyncio.run_coroutine_threadsafe(backend.try_probe("p", 30.0), io.loop).result(5)

    assert take(a) and not take(b)
    b.release_probe("p")  # not the holder: nothing happens
    a.release_probe("p")
    wait_until(lambda: take(b), 5, "the lock is free once its holder released it")
    assert not take(a)


def test_redis_killed_then_back_publish_never_blocks_and_state_reconciles(
    backends, private_redis, io
):
    a, a_events, _ = backends(private_redis.url, reconnect_max_s=0.2)
    a_events.wait(topics.STATE_CONNECTED)
    private_redis.stop()
    down = a_events.wait(topics.STATE_DISCONNECTED)
    assert down.payload["target"] == private_redis.url  # no password in this URL to mask
    started = time.perf_counter()
    a.publish(disabled(60))  # learned while Redis is away
    assert time.perf_counter() - started < 0.01
    assert a.dropped >= 1
    decided: list[bool] = []
    a.request_probe("p", decided.append)
    assert decided == [True]  # the fleet cannot be asked: the local decision stands
    private_redis.start()
    back = a_events.wait(topics.STATE_CONNECTED, count=2)
    assert back.payload["republished"] >= 1 and back.payload["dropped"] >= 1
    _b, b_events, b_inbox = backends(private_redis.url)
    b_events.wait(topics.STATE_CONNECTED)
    b_inbox.wait(lambda t: getattr(t, "key_id", "") == "k1")  # re-published on reconnect


def test_the_url_password_never_shows(io, namespace):
    events = Events()
    url = "redis://:hunter2-secret@127.0.0.1:1/0"  # nothing listens on port 1
    cfg = StateConfig(backend="redis", url=url, namespace=namespace, connect_timeout_s=0.2)
    backend = RedisBackend(cfg, io.loop, CLOCK, events)
    backend.start()
    try:
        down = events.wait(topics.STATE_DISCONNECTED)
        shown = repr(backend) + repr(cfg) + str(down.model_dump()) + cfg.target
        assert "hunter2" not in shown and "***" in cfg.target
    finally:
        asyncio.run_coroutine_threadsafe(backend.aclose(), io.loop).result(5)


def test_a_failed_probe_keeps_the_lock_for_the_new_open_window_only(backends, redis_url, io):
    (a, a_events, _), (b, b_events, _) = backends(redis_url), backends(redis_url)
    a_events.wait(topics.STATE_CONNECTED)
    b_events.wait(topics.STATE_CONNECTED)

    def take(backend) -> bool:
        return asyncio.run_coroutine_threadsafe(backend.try_probe("p", 30.0), io.loop).result(5)

    assert take(a)
    a.release_probe("p", hold_s=0.5)  # the probe failed: its circuit re-opened for 0.5 s
    wait_until(  # the 30 s TTL is cut to the window (the release is fire and forget)
        lambda: (
            0
            < asyncio.run_coroutine_threadsafe(a._client.pttl(a._names.probe("p")), io.loop).result(
                5
            )
            <= 500
        ),
        5,
        "the lock's TTL is the new open window",
    )
    assert not take(b)  # inside the window nobody else probes
    wait_until(lambda: take(b), 5, "the lock is free once the window ended")
