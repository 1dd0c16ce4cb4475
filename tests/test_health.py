"""The health model through the whole runtime: retries, backoff, retry budget, attempt cap, the
last resort, rate-limit waits, and the reasons a failure names (scripted providers)."""

import asyncio

import pytest

import adaptive_mind as am
from adaptive_mind.chat import ErrorCategory as C
from tests.helpers import USER, EventLog, config, scripted, upstream

FAST = {"backoff_base_s": 0.005, "backoff_max_s": 0.01}


def order(attempts):
    return [(a.provider, a.key_id, a.category) for a in attempts]


def test_a_500_once_on_a_single_key_is_retried_on_that_key_after_a_backoff(start):
    system = start(
        config({"a": scripted(["k1"], responses=[{"fail": 500, "times": 1}])}, retry=FAST)
    )
    log = EventLog(system, topics=["request.waiting"])
    reply = system.complete(USER)
    assert order(reply.attempts) == [("a", "a#1", C.TRANSIENT), ("a", "a#1", None)]
    log.wait_for(lambda evs: any(e.payload.get("reason") == "backoff" for e in evs))
    assert system.key_states("a")[0]["state"] == "available"
    assert system.breaker_state("a") == "closed"


def test_a_server_failure_is_retried_on_another_key_first(start):
    system = start(config({"a": scripted(["k1", "k2"], responses=[{"key": "k1", "fail": 503}])}))
    reply = system.complete(USER)
    assert order(reply.attempts) == [("a", "a#1", C.TRANSIENT), ("a", "a#2", None)]


def test_attempt_cap_then_the_next_provider(start):
    system = start(
        config(
            {
                "a": scripted(["k1", "k2"], responses=[{"fail": 503}]),
                "b": scripted(["k1"]),
            },
            retry={**FAST, "max_attempts": 3},
        )
    )
    reply = system.complete(USER)
    assert [a.provider for a in reply.attempts] == ["a", "a", "a", "b"]
    assert {a.key_id for a in reply.attempts[:2]} == {"a#1", "a#2"}


def test_spent_retry_budget_moves_to_the_next_provider(start):
    system = start(
        config(
            {
                "a": scripted(
                    ["k1", "k2"],
                    responses=[{"fail": 503}],
                    retry={"budget_ratio": 0, "budget_min_per_s": 0},
                ),
                "b": scripted(["k1"]),
            }
        )
    )
    reply = system.complete(USER)
    assert order(reply.attempts) == [("a", "a#1", C.TRANSIENT), ("b", "b#1", None)]


def test_retry_budget_bounds_calls_to_a_dead_provider(start):
    system = start(
        config(
            {
                "dead": scripted(
                    ["k1", "k2"],
                    responses=[{"fail": 503}],
                    breaker={"failure_threshold": 1000, "min_calls": 1000, "window_size": 1000},
                    retry={**FAST, "budget_ratio": 0.2, "budget_min_per_s": 0},
                ),
                "ok": scripted(["k1"]),
            }
        )
    )
    for _ in range(50):
        assert system.complete(USER).provider == "ok"
    calls = upstream(system, "dead").calls
    assert 50 <= calls <= 50 * 1.2 + 1  # every request once, retries within the 20 % budget


def test_last_resort_answers_when_the_only_provider_has_its_circuit_open(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(
                    ["k1"],
                    responses=[{"fail": 503, "times": 1}],
                    breaker={"failure_threshold": 1},
                ),
            },
            retry={"max_attempts": 1},
        ),
        clock=clock,
    )
    with pytest.raises(am.AllProvidersFailedError):
        system.complete(USER)
    assert system.breaker_state("a") == "open"
    reply = system.complete(USER)  # skipped for the open circuit, then tried anyway
    assert reply.provider == "a" and len(reply.attempts) == 1
    assert system.breaker_state("a") == "closed"  # the last resort's success closed it


def test_without_last_resort_an_open_circuit_fails_fast_naming_it(start):
    clock = am.FakeClock()
    system = start(
        config(
            {"a": scripted(["k1"], responses=[{"fail": 503}], breaker={"failure_threshold": 1})},
            retry={"max_attempts": 1, "last_resort": False},
        ),
        clock=clock,
    )
    with pytest.raises(am.AllProvidersFailedError):
        system.complete(USER)
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER)
    err = info.value
    assert err.attempts == () and err.skipped == (("a", "circuit_open"),)
    assert err.until["a"].tzinfo is not None


def test_rate_limits_fall_over_at_once_by_default(start):
    system = start(
        config(
            {
                "a": scripted(["k1"], responses=[{"fail": 429, "retry_after_s": 1}]),
                "b": scripted(["k1"]),
            }
        )
    )
    reply = system.complete(USER)
    assert order(reply.attempts) == [("a", "a#1", C.TRANSIENT), ("b", "b#1", None)]
    reply = system.complete(USER)  # a's key is inside its window: not called again
    assert order(reply.attempts) == [("b", "b#1", None)]
    assert upstream(system, "a").calls == 1


def test_a_short_retry_after_on_the_preferred_provider_may_be_waited_out(start):
    clock = am.FakeClock()
    system = start(
        config(
            {
                "a": scripted(
                    ["k1"],
                    responses=[{"fail": 429, "retry_after_s": 1, "times": 1}],
                    retry={"wait_for_rate_limit_s": 2},
                ),
                "b": scripted(["k1"]),
            }
        ),
        clock=clock,
    )
    waiting = EventLog(system, topics=["request.waiting"])

    async def main():
        task = asyncio.create_task(system.acomplete(USER))
        await asyncio.get_running_loop().run_in_executor(None, waiting.wait_count, 1)
        assert not task.done()
        clock.advance(1)
        return await asyncio.wait_for(task, 5)

    reply = asyncio.run(main())
    assert order(reply.attempts) == [("a", "a#1", C.TRANSIENT), ("a", "a#1", None)]


def test_the_ledger_records_the_real_reason(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    cfg = config(
        {"a": scripted(["k1"], responses=[{"fail": 429, "retry_after_s": 60}])},
        request={"max_cooldown_wait_s": 0},
    )
    cfg["ledger"] = {"path": str(path)}
    system = start(cfg)
    ids = []
    for _ in range(2):
        with pytest.raises(am.AllProvidersFailedError) as info:
            system.complete(USER)
        ids.append(info.value.request_id)
    assert info.value.skipped == (("a", "rate_limited"),)
    system.stop()
    with am.Ledger.open(path) as ledger:
        second = ledger.get(ids[1])
    assert second.error_category == "RATE_LIMITED"  # never CIRCUIT_OPEN: no breaker opened
    skip = next(e for e in second.events if e["type"] == "provider.skipped")
    assert skip["reason"] == "rate_limited" and "until" in skip


def test_a_dead_key_among_healthy_siblings_gets_its_first_burst_then_probes(start):
    system = start(
        config(
            {
                "a": scripted(
                    ["dead", "k2", "k3"], latency_ms=1, responses=[{"key": "dead", "fail": 503}]
                )
            }
        )
    )

    async def main():
        sem = asyncio.Semaphore(16)

        async def one():
            async with sem:
                return await system.acomplete(USER)

        return await asyncio.gather(*(one() for _ in range(400)))

    replies = asyncio.run(main())
    assert all(r.provider == "a" for r in replies)
    dead_calls = upstream(system, "a").calls_by_key["a#1"]
    assert dead_calls <= 16 + 5  # the first burst in flight, then at most a probe or two
    assert system.breaker_state("a") == "closed"
    assert system.key_states("a")[0]["state"] in ("ejected", "warming")


def test_the_audit_trail_holds_each_attempts_consequences_in_order(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    cfg = config(
        {
            "a": scripted(
                ["k1", "k2"],
                responses=[{"key": "k1", "fail": 429, "retry_after_s": 30}, {"fail": 503}],
                breaker={"failure_threshold": 1},
            ),
            "b": scripted(["k1"]),
        }
    )
    cfg["ledger"] = {"path": str(path)}
    system = start(cfg)
    reply = system.complete(USER)
    assert reply.provider == "b"
    system.stop()
    with am.Ledger.open(path) as ledger:
        trail = [e["type"] for e in ledger.get(reply.request_id).events]
    assert trail == [
        "attempt.failed",  # a#1: 429
        "key.cooled",  # … so a#1 is out until its Retry-After
        "attempt.failed",  # a#2: 503
        "breaker.opened",  # … which opened a's circuit
        "provider.skipped",  # the next permit was denied
        "provider.failover",
    ]
