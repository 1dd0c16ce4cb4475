"""Supervision: crashed actors come back, restart limits take a provider down, nothing is lost."""

import asyncio

import pytest

import adaptive_mind as am
from adaptive_mind.telemetry import topics
from tests.helpers import USER, EventLog, scripted

KINDS = ["provider:a", "key_pool:a", "breaker:a", "ledger", "telemetry", "supervisor"]


def cfg(tmp_path, **kw):
    return {
        "priority": ["a", "b"],
        "providers": {
            "a": scripted(["a1", "a2"], latency_ms=5),
            "b": scripted(["b1"], latency_ms=5),
        },
        "ledger": {"path": str(tmp_path / "ledger.sqlite")},
        **kw,
    }


async def burst(system, n, crash=None, at=20):
    async def one(i):
        if crash is not None and i == at:
            system.chaos.crash(crash)
        return await system.acomplete(USER)

    sem = asyncio.Semaphore(20)

    async def limited(i):
        async with sem:
            return await one(i)

    return await asyncio.gather(*(limited(i) for i in range(n)), return_exceptions=True)


def test_actors_lists_every_supervised_actor(start, tmp_path):
    system = start(cfg(tmp_path))
    assert system.actors() == {
        "supervisor": "running",
        "telemetry": "running",
        "ledger": "running",
        "breaker:a": "running",
        "key_pool:a": "running",
        "provider:a": "running",
        "breaker:b": "running",
        "key_pool:b": "running",
        "provider:b": "running",
    }


@pytest.mark.parametrize("name", KINDS)
def test_crash_each_actor_kind_during_concurrent_requests(start, tmp_path, name):
    system = start(cfg(tmp_path))
    restarted = EventLog(system, topics=[topics.ACTOR_RESTARTED])
    results = asyncio.run(burst(system, 200, crash=name))
    restarted.wait_count(1, timeout=1.0)  # back within a second
    assert system.actors()[name] == "running"
    ok = [r for r in results if isinstance(r, am.Completion)]
    failed = [r for r in results if not isinstance(r, am.Completion)]
    assert failed == []  # a crashed Supervisor's requests are re-driven, not failed
    assert len(ok) == 200
    assert system.complete(USER).text  # serving again
    system.flush()
    assert [e.payload["actor"] for e in restarted.events] == [name]
    if name == "supervisor":  # it held requests when it died: they were walked again
        assert restarted.events[0].payload["redriven"] > 0
        assert restarted.events[0].payload["failed"] == 0
    ids = {r.request_id for r in results if getattr(r, "request_id", None)}
    system.stop()
    with am.Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        entries = ledger.entries()
        assert ledger.verify().ok
    assert ids <= {e.request_id for e in entries}
    assert len(entries) == len({e.request_id for e in entries}) == len(ids) + 1


def test_restart_limit_marks_the_provider_down_and_others_keep_serving(start, tmp_path):
    system = start(cfg(tmp_path, supervision={"max_restarts": 2, "within_s": 60}))
    log = EventLog(system, topics=[topics.ACTOR_RESTARTED, topics.ACTOR_DOWN])
    events = log.events
    for i in range(3):
        assert system.chaos.crash("provider:a")
        log.wait_count(i + 1)
    assert system.actors()["provider:a"] == "down"
    assert system.chaos.crash("provider:a") is False  # crashing a down actor does nothing
    reply = system.complete(USER)
    assert reply.provider == "b"
    system.flush()
    assert [e.event_type for e in events] == [topics.ACTOR_RESTARTED] * 2 + [topics.ACTOR_DOWN]
    assert events[-1].payload["actor"] == "provider:a"
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER, providers=["a"])
    assert info.value.skipped == (("a", "down"),)


def test_a_providers_three_actors_share_one_restart_budget(start, tmp_path):
    """breaker, key pool and provider actor are one group: their crashes add up."""
    system = start(cfg(tmp_path, supervision={"max_restarts": 2, "within_s": 60}))
    log = EventLog(system, topics=[topics.ACTOR_RESTARTED, topics.ACTOR_DOWN])
    for i, name in enumerate(["breaker:a", "key_pool:a", "provider:a"]):
        assert system.chaos.crash(name)
        log.wait_count(i + 1)
    assert [e.event_type for e in log.events] == [topics.ACTOR_RESTARTED] * 2 + [topics.ACTOR_DOWN]
    assert system.complete(USER).provider == "b"
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER, providers=["a"])
    assert info.value.skipped == (("a", "down"),)
    assert system.actors()["breaker:b"] == "running"  # another group's budget is untouched
    assert system.chaos.crash("breaker:b")


def test_restarted_key_pool_keeps_disabled_keys(start, tmp_path):
    providers = {
        "a": scripted(["bad", "good"], responses=[{"key": "bad", "fail": 401}]),
        "b": scripted(["b1"]),
    }
    system = start(cfg(tmp_path, providers=providers))
    system.complete(USER)
    assert system.key_states("a")[0]["state"] == "disabled"
    restarted = EventLog(system, topics=[topics.ACTOR_RESTARTED])
    system.chaos.crash("key_pool:a")
    restarted.wait_count(1)
    assert system.key_states("a")[0]["state"] == "disabled"
    assert system.complete(USER).key_id == "a#2"


def test_restarted_breaker_resumes_its_state(start, tmp_path):
    clock = am.FakeClock()
    providers = {
        "a": scripted(
            ["a1"],
            responses=[{"fail": 503, "times": 1}],
            breaker={"failure_threshold": 1, "reset_timeout_s": 5},
        ),
        "b": scripted(["b1"]),
    }
    system = start(cfg(tmp_path, providers=providers), clock=clock)
    system.complete(USER)
    assert system.breaker_state("a") == "open"
    system.chaos.crash("breaker:a")
    assert system.breaker_state("a") == "open"  # answered by the replacement
    assert system.actors()["breaker:a"] == "running"
    assert system.complete(USER).provider == "b"
    clock.advance(30)  # the key's cooldown and the breaker's reset both pass
    assert system.complete(USER).provider == "a"  # the probe succeeds
    assert system.breaker_state("a") == "closed"


def test_a_breaker_restarted_without_a_snapshot_starts_open_then_probes(start, tmp_path):
    clock = am.FakeClock()
    system = start(cfg(tmp_path), clock=clock)
    child = system._tree.children["breaker:a"]
    old = child.cell.ref
    child.cell.mark_restarting()
    child.cell.replace(child.start(None), [])  # what a restart with a lost snapshot does
    old.stop()
    assert system.breaker_state("a") == "open"
    assert system.complete(USER).provider == "b"
    clock.advance(1.0)
    assert system.complete(USER).provider == "a"
    assert system.breaker_state("a") == "closed"


def test_unknown_actor_name_is_a_value_error(start, tmp_path):
    system = start(cfg(tmp_path))
    with pytest.raises(ValueError, match="unknown actor 'provider:zzz'"):
        system.chaos.crash("provider:zzz")


def test_a_crashed_ledger_loses_no_entry(start, tmp_path):
    system = start(
        cfg(
            tmp_path,
            ledger={
                "path": str(tmp_path / "ledger.sqlite"),
                "batch_size": 10_000,
                "flush_interval_s": 60,
            },
        )
    )
    ids = [system.complete(USER).request_id for _ in range(20)]  # all pending in memory
    restarted = EventLog(system, topics=[topics.ACTOR_RESTARTED])
    system.chaos.crash("ledger")
    restarted.wait_count(1)
    ids += [system.complete(USER).request_id for _ in range(5)]
    system.stop()
    with am.Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        assert [e.request_id for e in ledger.entries()] == ids
        assert ledger.verify().ok
