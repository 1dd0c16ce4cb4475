"""The runtime end to end on scripted providers: failover order, consequences, deadlines, stop."""

import asyncio
import time

import pytest

import adaptive_mind as am
from adaptive_mind.chat import ErrorCategory as C
from tests.helpers import USER, EventLog, barrier, config, join_new_threads, scripted


def order(attempts):
    return [(a.provider, a.model, a.key_id, a.category) for a in attempts]


def test_attempt_order_is_provider_then_model_then_key(start):
    system = start(
        config(
            {
                "a": scripted(
                    ["a1", "a2"],
                    ["m1", "m2"],
                    responses=[
                        {"model": "m1", "fail": 404},
                        {"key": "a1", "model": "m2", "fail": 503},
                        {"key": "a2", "model": "m2", "fail": 401},
                    ],
                    retry={"max_attempts": 3},
                ),
                "b": scripted(["b1"], ["n1"]),
            }
        )
    )
    reply = system.complete(USER)
    assert order(reply.attempts) == [
        ("a", "m1", "a#1", C.MODEL),
        ("a", "m2", "a#1", C.TRANSIENT),
        ("a", "m2", "a#2", C.KEY_FATAL),
        ("b", "n1", "b#1", None),
    ]
    assert (reply.provider, reply.model, reply.key_id, reply.text) == (
        "b",
        "n1",
        "b#1",
        "ok from b/n1",
    )
    assert reply.mitigated is False and reply.request_id


def test_category_consequences_for_keys_and_breaker(start):
    system = start(
        config(
            {
                "a": scripted(
                    ["k1", "k2", "k3", "k4"],
                    ["m1", "m2"],
                    responses=[
                        {"key": "k1", "fail": 429, "retry_after_s": 7},
                        {"key": "k2", "fail": 403},
                        {"key": "k3", "model": "m1", "fail": 404},
                    ],
                ),
            }
        )
    )
    reply = system.complete(USER)
    assert reply.key_id == "a#3" and reply.model == "m2"
    states = {s["key_id"]: s for s in system.key_states("a")}
    assert states["a#1"]["state"] == "rate_limited" and states["a#1"]["failures"] == 1
    assert 7 - 0.5 < states["a#1"]["cooldown_remaining_s"] <= 30
    assert states["a#2"]["state"] == "disabled"
    assert states["a#3"]["state"] == "available" and states["a#3"]["failures"] == 0
    assert states["a#4"]["state"] == "available"
    assert set(states["a#1"]) >= {"key_id", "state", "cooldown_until", "failures"}
    assert system.breaker_state("a") == "closed"


def test_bad_request_ends_the_whole_request(start):
    system = start(
        config({"a": scripted(["k1", "k2"], responses=[{"fail": 400}]), "b": scripted()})
    )
    with pytest.raises(am.BadRequestError) as info:
        system.complete(USER)
    assert order(info.value.attempts) == [("a", "m1", "a#1", C.BAD_REQUEST)]
    assert info.value.request_id


def test_all_failed_carries_every_attempt_and_skips(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(["k1"], responses=[{"fail": 503}], breaker={"failure_threshold": 1}),
                "b": scripted(["k1"], responses=[{"fail": "connection"}]),
            },
            retry={"max_attempts": 1, "last_resort": False},
        ),
        clock=clock,
    )
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER)
    err = info.value
    assert order(err.attempts) == [("a", "m1", "a#1", C.TRANSIENT), ("b", "m1", "b#1", C.TRANSIENT)]
    assert "a/m1/a#1: TRANSIENT 503" in str(err)
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER)
    assert ("a", "circuit_open") in info.value.skipped
    assert "a (circuit_open until " in str(info.value)
    assert order(info.value.attempts) == [("b", "m1", "b#1", C.TRANSIENT)]


def test_open_breaker_means_zero_calls_until_reset_then_limited_probes(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(
                    ["k1", "k2", "k3"],
                    responses=[{"fail": 503}],
                    breaker={"failure_threshold": 3, "reset_timeout_s": 10},
                    keys={"cooldown_s": 10},
                ),
                "b": scripted(["b1"]),
            }
        ),
        clock=clock,
    )
    first = system.complete(USER)
    assert [a.provider for a in first.attempts] == ["a", "a", "a", "b"]
    assert system.breaker_state("a") == "open"
    for _ in range(5):
        reply = system.complete(USER)
        assert [a.provider for a in reply.attempts] == ["b"]
    clock.advance(10)  # keys and breaker both recover on the fake clock
    assert system.breaker_state("a") == "half_open"
    probe = system.complete(USER)
    assert [a.provider for a in probe.attempts] == ["a", "b"]  # exactly one probe call
    assert system.breaker_state("a") == "open"


def test_one_dead_key_among_healthy_ones_never_opens_the_breaker(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(
                    ["dead", "ok"],
                    responses=[{"key": "dead", "fail": 500}],
                    breaker={"failure_threshold": 2},
                    keys={"cooldown_s": 1},
                ),
            }
        ),
        clock=clock,
    )
    for _ in range(10):
        reply = system.complete(USER)
        assert reply.key_id == "a#2"
        clock.advance(1)
    assert system.breaker_state("a") == "closed"


def test_concurrent_burst_on_a_dead_key_is_not_independent_evidence(start):
    async def main(system):
        replies = await asyncio.gather(*(system.acomplete(USER) for _ in range(40)))
        assert all(r.key_id == "a#2" for r in replies)

    system = start(
        config(
            {
                "a": scripted(
                    ["dead", "ok"],
                    latency_ms=20,
                    responses=[{"key": "dead", "fail": 503}],
                    breaker={"failure_threshold": 3},
                ),
            }
        )
    )
    asyncio.run(main(system))
    assert system.breaker_state("a") == "closed"


def test_no_serialization_200_concurrent_calls(start):
    system = start(config({"a": scripted(["k1"], latency_ms=100)}))

    async def main():
        t0 = time.perf_counter()
        replies = await asyncio.gather(*(system.acomplete(USER) for _ in range(200)))
        return time.perf_counter() - t0, replies

    elapsed, replies = asyncio.run(main())
    assert len({r.request_id for r in replies}) == 200
    assert elapsed < 2.0, f"200 x 100 ms calls took {elapsed:.2f}s: they were serialized"


def test_deadline_shorter_than_latency(start):
    system = start(config({"a": scripted(["k1"], latency_ms=2000)}))
    t0 = time.perf_counter()
    with pytest.raises(am.DeadlineExceededError) as info:
        system.complete(USER, deadline_s=0.1)
    elapsed = time.perf_counter() - t0
    assert 0.09 <= elapsed < 1.0
    assert info.value.request_id
    # the cancelled call is not held against the key or the breaker
    barrier(system, "provider:a")  # it has handled the cancellation and released the lease
    assert system.key_states("a")[0]["state"] == "available"
    assert system.breaker_state("a") == "closed"


def test_attempt_timeout_is_transient_and_moves_on(start):
    system = start(
        config(
            {
                "a": scripted(
                    ["k1", "k2"], timeout_s=0.05, responses=[{"key": "k1", "fail": "timeout"}]
                ),
            }
        )
    )
    reply = system.complete(USER)
    assert order(reply.attempts) == [("a", "m1", "a#1", C.TRANSIENT), ("a", "m1", "a#2", None)]
    assert "timed out" in reply.attempts[0].error


def test_waits_out_a_short_retry_after_when_no_key_can_serve(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(
                    ["k1"],
                    keys={"cooldown_s": 1},
                    responses=[{"fail": 429, "retry_after_s": 2, "times": 1}],
                ),
            }
        ),
        clock=clock,
    )
    waiting = EventLog(system, topics=["request.waiting"])

    async def main():
        task = asyncio.create_task(system.acomplete(USER))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, waiting.wait_count, 1)
        assert not task.done()
        assert system.key_states("a")[0]["state"] == "rate_limited"
        clock.advance(2)
        return await asyncio.wait_for(task, 5)

    reply = asyncio.run(main())
    assert reply.key_id == "a#1" and len(reply.attempts) == 2
    assert reply.attempts[0].category is C.TRANSIENT and reply.attempts[0].status_code == 429


def test_does_not_wait_beyond_max_cooldown_wait(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(["k1"], responses=[{"fail": 429, "retry_after_s": 60, "times": 1}]),
            },
            request={"max_cooldown_wait_s": 5},
        ),
        clock=clock,
    )
    with pytest.raises(am.AllProvidersFailedError):
        system.complete(USER)
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER)
    assert info.value.attempts == () and ("a", "rate_limited") in info.value.skipped
    assert info.value.until["a"].tzinfo is not None


def test_per_request_providers_and_models(start):
    system = start(config({"a": scripted(["k1"], ["m1"]), "b": scripted(["k1"], ["n1", "n2"])}))
    reply = system.complete(USER, providers=["b"], models={"b": ["n2"]})
    assert (reply.provider, reply.model) == ("b", "n2")


@pytest.mark.parametrize(
    ("messages", "kwargs", "field"),
    [
        ([], {}, "messages: must not be empty"),
        ("hello", {}, "messages: must be a list"),
        ([{"role": "robot", "content": "x"}], {}, "messages[0].role"),
        ([{"role": "user", "content": 3}], {}, "messages[0].content: must be a string"),
        ([{"role": "user"}], {}, "messages[0].content"),
        (["hi"], {}, "messages[0]: must be a dict"),
        (USER, {"providers": ["zzz"]}, "providers[0]: 'zzz' is not a configured provider"),
        (USER, {"providers": []}, "providers: must be a non-empty list"),
        (USER, {"models": {"a": []}}, "models.a: must be a non-empty list"),
        (USER, {"deadline_s": 0}, "deadline_s: must be a number > 0"),
    ],
)
def test_bad_input_is_rejected_before_any_call(start, messages, kwargs, field):
    system = start(config({"a": scripted(["k1"], responses=[{"fail": 500}])}))
    with pytest.raises(am.BadRequestError) as info:
        system.complete(messages, **kwargs)
    assert field in str(info.value)
    assert info.value.request_id is None
    assert system.key_states("a")[0]["failures"] == 0


def test_chat_message_objects_are_accepted(start):
    system = start(config({"a": scripted()}))
    reply = system.complete(
        [
            am.ChatMessage(role="system", content="be brief"),
            am.ChatMessage(role="user", content="hi"),
        ]
    )
    assert reply.text == "ok from a/m1"


def test_overload_fails_fast(start):
    system = start(config({"a": scripted(latency_ms=5000)}, request={"max_in_flight": 3}))

    async def main():
        tasks = [asyncio.create_task(system.acomplete(USER)) for _ in range(3)]
        await asyncio.sleep(0)
        t0 = time.perf_counter()
        with pytest.raises(am.OverloadedError):
            await system.acomplete(USER)
        assert time.perf_counter() - t0 < 0.5
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def test_stop_fails_in_flight_requests_and_is_idempotent(start):
    system = start(config({"a": scripted(latency_ms=10_000)}))

    async def main():
        tasks = [asyncio.create_task(system.acomplete(USER)) for _ in range(5)]
        await asyncio.sleep(0)  # one turn of the loop: every task is admitted
        assert system.in_flight == 5
        await asyncio.get_running_loop().run_in_executor(None, system.stop)
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, am.SystemStoppedError) and r.request_id for r in results)
    system.stop()
    with pytest.raises(am.SystemStoppedError):
        system.complete(USER)


def test_two_systems_do_not_share_state(start):
    clock = am.FakeClock()
    limited = scripted(["k1"], responses=[{"fail": 429, "retry_after_s": 30}])
    s1 = start(config({"a": limited}, request={"max_cooldown_wait_s": 0}), clock=clock)
    s2 = start(config({"a": scripted(["k1"])}), clock=clock)
    with pytest.raises(am.AllProvidersFailedError):
        s1.complete(USER)
    assert s1.key_states("a")[0]["state"] == "rate_limited"
    assert s2.key_states("a")[0]["state"] == "available"
    assert s2.complete(USER).provider == "a"


def test_no_secret_in_replies_errors_or_reprs(start):
    secret = "sk-live-TOPSECRET-123"
    system = start(
        config(
            {"a": scripted([secret, "sk-other-SECRET-2"], responses=[{"key": secret, "fail": 401}])}
        )
    )
    reply = system.complete(USER)
    texts = [
        repr(reply),
        str(reply.model_dump()),
        repr(system),
        str(system.key_states("a")),
        repr(system.config),
    ]
    s2 = start(config({"a": scripted([secret], responses=[{"fail": 401}])}))
    with pytest.raises(am.AllProvidersFailedError) as info:
        s2.complete(USER)
    texts += [str(info.value), repr(info.value.attempts)]
    assert not any(secret in t or "SECRET" in t for t in texts)


def test_stop_with_a_timeout_lets_in_flight_requests_finish(start):
    system = start(config({"a": scripted(latency_ms=100)}))

    async def main():
        tasks = [asyncio.create_task(system.acomplete(USER)) for _ in range(5)]
        await asyncio.sleep(0)  # one turn of the loop: every task is admitted
        assert system.in_flight == 5
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: system.stop(timeout_s=5))
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, am.Completion) for r in results)


def test_stop_leaves_no_threads_behind_with_real_sdk_clients():
    import threading

    from adaptive_mind.simulation.server import ChaosServer

    with ChaosServer() as server:
        before = set(threading.enumerate())
        cfg = {
            "providers": {
                p: {
                    "kind": p,
                    "api_keys": [f"k-{p}"],
                    "models": [f"{p}-m"],
                    "base_url": server.url(p),
                }
                for p in ("openai", "anthropic", "gemini")
            },
            "ledger": {"path": ":memory:"},
        }
        system = am.ActorSystem.start(cfg)
        for p in ("openai", "anthropic", "gemini"):
            system.complete(USER, providers=[p])
        system.stop()
        join_new_threads(before)


def test_mailbox_depths_are_exported(start):
    system = start(config({"a": scripted()}))
    depths = system.mailbox_depths()
    assert set(depths) >= {"supervisor", "provider:a", "key_pool:a", "breaker:a", "ledger"}
    assert 'adaptive_mind_mailbox_depth{actor="provider:a"}' in system.metrics_text()


def test_a_recovering_provider_is_probed_under_a_concurrent_burst(start):
    # One probe permit (half-open) and one probation lease shared by 40 concurrent requests:
    # exactly one of them must get both and close the breaker.
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(
                    ["k1"],
                    latency_ms=5,
                    responses=[{"fail": 503, "times": 1}],
                    breaker={"failure_threshold": 1, "reset_timeout_s": 1},
                    keys={"cooldown_s": 1},
                ),
                "b": scripted(["b1"], latency_ms=5),
            }
        ),
        clock=clock,
    )
    assert system.complete(USER).provider == "b"
    assert system.breaker_state("a") == "open"
    clock.advance(1)

    async def burst():
        return await asyncio.gather(*(system.acomplete(USER) for _ in range(40)))

    replies = asyncio.run(burst())
    assert system.breaker_state("a") == "closed"
    assert any(r.provider == "a" for r in replies)
