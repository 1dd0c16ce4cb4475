"""Key budgets through the real OpenAI SDK against the chaos server: a key's rpm is spent on
purpose, never learned from a 429."""

from concurrent.futures import ThreadPoolExecutor

import pytest

import adaptive_mind as am
from tests.helpers import USER
from tests.providers.test_wire_failover import OA, wire_config


def budget_config(server, keys, **request):
    cfg = wire_config(server, openai={"api_keys": keys})
    return {**cfg, "priority": ["openai"], "request": request}


def burst(system, n):
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: system.complete(USER), range(n)))


def test_a_burst_beyond_a_keys_rpm_goes_to_the_other_key_without_a_429(server, start):
    keys = [{"secret": OA[0], "rpm": 3}, OA[1]]
    system = start(budget_config(server, keys))
    replies = burst(system, 12)
    assert all(len(r.attempts) == 1 for r in replies)  # no attempt failed: no 429 suffered
    assert 1 <= server.count("openai", key=OA[0]) <= 3  # the rpm, and the rest to key 2
    assert server.count("openai") == 12
    assert [h.outcome for h in server.hits()] == ["ok"] * 12


def test_two_keys_of_rpm_3_serve_exactly_3_each_and_the_7th_request_is_not_sent(server, start):
    keys = [{"secret": OA[0], "rpm": 3}, {"secret": OA[1], "rpm": 3}]
    system = start(budget_config(server, keys, max_cooldown_wait_s=0))
    replies = burst(system, 6)
    assert sorted(r.key_id for r in replies) == ["openai#1"] * 3 + ["openai#2"] * 3
    assert all(len(r.attempts) == 1 for r in replies)
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER)  # both keys spent for the minute: failed fast, not sent
    assert "rate_limited" in str(info.value.skipped)
    assert server.count("openai") == 6
    assert {k["state"] for k in system.key_states("openai")} == {"throttled"}
