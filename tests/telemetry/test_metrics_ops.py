"""The ops surface of metrics: labels, tokens, scrape-time gauges, bind address, host registry."""

import asyncio
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import adaptive_mind as am
from adaptive_mind.messages import Ping
from adaptive_mind.telemetry.events import Event
from tests.helpers import USER, config, scripted


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_latency_is_labelled_by_provider_model_and_outcome_and_tokens_are_counted(start):
    system = start(
        config(
            {
                "a": scripted(models=["m1", "m2"], responses=[{"model": "m1", "fail": 404}]),
                "b": scripted(responses=[{"fail": 401}]),
            }
        )
    )
    for _ in range(2):
        assert system.complete(USER).model == "m2"
    with pytest.raises(am.AllProvidersFailedError):
        system.complete(USER, providers=["b"])
    text = system.metrics_text()
    ok = 'model="m2",outcome="success",provider="a"'
    assert f"adaptive_mind_request_latency_seconds_count{{{ok}}} 2.0" in text
    # a failure is labelled with the last provider and model it tried, never mixed with successes
    failed = 'model="m1",outcome="failure",provider="b"'
    assert f"adaptive_mind_request_latency_seconds_count{{{failed}}} 1.0" in text
    assert (
        'adaptive_mind_attempt_latency_seconds_count{category="MODEL",model="m1",provider="a"} 2.0'
        in text
    )
    assert (
        'adaptive_mind_attempt_latency_seconds_count{category="OK",model="m2",provider="a"} 2.0'
        in text
    )
    # the scripted provider counts words: "hello" in, "ok from a/m2" out
    assert 'adaptive_mind_tokens_total{model="m2",provider="a",type="prompt"} 2.0' in text
    assert 'adaptive_mind_tokens_total{model="m2",provider="a",type="completion"} 6.0' in text
    assert 'provider="b",type=' not in text


def test_request_succeeded_event_carries_usage(start):
    system = start(config({"a": scripted()}))
    got: list[Event] = []
    system.subscribe(got.append, topics=["request.succeeded"])
    system.complete(USER)
    system.flush()
    assert got[0].payload["usage"] == {
        "prompt_tokens": 1,
        "completion_tokens": 3,
        "total_tokens": 4,
    }


def test_in_flight_gauge_is_computed_when_the_host_registry_is_scraped(start):
    registry = CollectorRegistry()
    system = start(config({"a": scripted(latency_ms=10_000)}), metrics_registry=registry)
    assert "adaptive_mind_in_flight 0.0" in scrape(registry)

    async def main() -> str:
        tasks = [asyncio.create_task(system.acomplete(USER)) for _ in range(5)]
        await asyncio.sleep(0)  # one turn of the loop: every task is admitted
        text = scrape(registry)  # no metrics_text() call in between: nothing is pushed
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return text

    assert "adaptive_mind_in_flight 5.0" in asyncio.run(main())


def test_mailbox_depth_gauge_is_computed_at_scrape_time(start):
    registry = CollectorRegistry()
    system = start(config({"a": scripted()}), metrics_registry=registry)
    entered, release = threading.Event(), threading.Event()

    def hold(_event: Event) -> None:  # keeps the telemetry actor busy
        entered.set()
        release.wait(5)

    system.subscribe(hold, topics=["hold"])
    system._bus.emit(Event(event_type="hold", source="test"))
    assert entered.wait(5)
    telemetry = system._cells()["telemetry"]
    for _ in range(3):
        telemetry.tell(Ping())
    try:
        assert 'adaptive_mind_mailbox_depth{actor="telemetry"} 3.0' in scrape(registry)
        assert 'adaptive_mind_mailbox_depth{actor="provider:a"} 0.0' in scrape(registry)
    finally:
        release.set()


def test_host_registry_holds_one_system_and_is_released_at_stop():
    registry = CollectorRegistry()
    cfg = config({"a": scripted()})
    first = am.ActorSystem.start(cfg, metrics_registry=registry)
    try:
        first.complete(USER)
        first.flush()
        assert 'adaptive_mind_requests_total{outcome="success"} 1.0' in scrape(registry)
        with pytest.raises(ValueError, match="Duplicated"):
            am.ActorSystem.start(cfg, metrics_registry=registry)
    finally:
        first.stop()
    assert "adaptive_mind" not in scrape(registry)
    second = am.ActorSystem.start(cfg, metrics_registry=registry)
    try:
        assert "adaptive_mind_in_flight 0.0" in scrape(registry)
    finally:
        second.stop()


def test_metrics_server_binds_the_configured_address(start):
    assert am.RuntimeConfig.model_validate(config({"a": scripted()})).telemetry.metrics_host == (
        "127.0.0.1"
    )
    system = start(
        config({"a": scripted()}, telemetry={"metrics_port": 0, "metrics_host": "127.0.0.2"})
    )
    host, port = system._metrics_server.server_address[:2]
    assert host == "127.0.0.2"
    with urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert "adaptive_mind_in_flight 0.0" in body
    assert 'adaptive_mind_mailbox_depth{actor="supervisor"}' in body


def test_metrics_host_must_not_be_empty():
    with pytest.raises(am.ConfigError, match=r"telemetry\.metrics_host"):
        am.RuntimeConfig.model_validate(config({"a": scripted()}, telemetry={"metrics_host": ""}))
