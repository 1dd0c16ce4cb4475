"""Smoke test of ``benchmarks/fleet.py``: its dead-key scenario with tiny numbers."""

from __future__ import annotations

from benchmarks.fleet import Bench, Params


def test_a_fleet_sharing_redis_calls_a_dead_key_less_than_one_that_does_not(redis_url):
    params = Params(replicas=3, concurrency=4, requests=8, stagger_s=0.3)
    with Bench(params, redis_url) as bench:
        dead = bench.dead_key()
    (memory_calls, memory_ok), (redis_calls, redis_ok) = dead["memory"], dead["redis"]
    assert memory_ok == redis_ok == 1.0  # the other key answers every request on both sides
    assert 0 < redis_calls < memory_calls  # each memory replica learns alone; redis once
