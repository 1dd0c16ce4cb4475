"""Per-request parameters and metadata at admission, in the ledger and in the events."""

import asyncio

import pytest

import adaptive_mind as am
from adaptive_mind.chat import NO_PARAMS
from adaptive_mind.telemetry import topics
from tests.helpers import USER, EventLog, config, scripted, upstream

INVALID = [
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"max_completion_tokens": -3}, "max_completion_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": []}, "stop"),
    ({"stop": [1]}, "stop[0]"),
    ({"stop": [""]}, "stop[0]"),
    ({"stop": {"a": 1}}, "stop"),
    ({"stop": "\ud800"}, "stop[0]"),
    ({"seed": 1.0}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"presence_penalty": 2.1}, "presence_penalty"),
    ({"frequency_penalty": -3}, "frequency_penalty"),
    ({"user": 5}, "user"),
    ({"user": ""}, "user"),
    ({"extra": ["a"]}, "extra"),
    ({"extra": {"nope": {}}}, "extra.'nope'"),
    ({"extra": {"a": "x"}}, "extra.a"),
    ({"extra": {"a": {"x": object()}}}, "extra.a"),
    ({"metadata": ["x"]}, "metadata"),
    ({"metadata": {f"k{i}": i for i in range(17)}}, "metadata"),
    ({"metadata": {"blob": "x" * 5000}}, "metadata"),
    ({"metadata": {"v": float("inf")}}, "metadata"),
    ({"metadata": {"v": object()}}, "metadata"),
    ({"metadata": {1: "x"}}, "metadata"),
]


@pytest.fixture
def system(start):
    return start(config({"a": scripted(), "b": scripted(["k2"])}))


def calls(system):
    return sum(a.calls for a in system._tree.adapters.values())


@pytest.mark.parametrize(("kwargs", "field"), INVALID, ids=[f for _, f in INVALID])
def test_every_invalid_argument_is_refused_naming_it_before_any_call(system, kwargs, field):
    with pytest.raises(am.BadRequestError) as info:
        system.complete(USER, **kwargs)
    assert str(info.value).startswith(f"{field}:"), str(info.value)
    assert info.value.request_id is None
    with pytest.raises(am.BadRequestError):
        asyncio.run(system.acomplete(USER, **kwargs))
    assert calls(system) == 0


def test_valid_parameters_reach_the_adapter_by_reference(system):
    seen = []
    adapter = upstream(system, "a")
    original = adapter.complete

    async def spy(call):
        seen.append(call.params)
        return await original(call)

    adapter.complete = spy
    reply = system.complete(
        USER,
        temperature=0,
        top_p=1,
        max_tokens=10,
        stop="x",
        seed=-1,
        presence_penalty=-2,
        frequency_penalty=2,
        user="u",
        extra={"b": {"k": [1]}},
    )
    assert reply.finish_reason == "stop" and reply.upstream_finish_reason is None
    (params,) = seen
    assert (params.temperature, params.top_p, params.max_tokens, params.stop) == (0, 1, 10, ("x",))
    assert (params.seed, params.presence_penalty, params.frequency_penalty) == (-1, -2, 2)
    assert params.user == "u" and dict(params.extra["b"]) == {"k": [1]}
    assert reply.attempts[-1].dropped == ()  # the scripted provider takes everything
    seen.clear()
    system.complete(USER)
    assert seen == [NO_PARAMS] and seen[0] is NO_PARAMS  # shared, not rebuilt


def test_metadata_goes_to_the_ledger_entry_and_the_final_events(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    system = start(
        {
            "providers": {"a": scripted(), "bad": scripted(responses=[{"fail": 503}])},
            "ledger": {"path": str(path)},
        }
    )
    log = EventLog(system, topics=[topics.REQUEST_SUCCEEDED, topics.REQUEST_FAILED])
    meta = {"order": "A-17", "tags": ["x", "y"], "n": 3}
    ok = system.complete(USER, providers=["a"], metadata=meta)
    meta["order"] = "changed later"  # the request kept its own copy
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER, providers=["bad"], metadata={"order": "B-2"})
    plain = system.complete(USER, providers=["a"])
    log.wait_count(3)
    by_id = {e.request_id: e for e in log.events}
    assert by_id[ok.request_id].payload["metadata"] == {"order": "A-17", "tags": ["x", "y"], "n": 3}
    assert by_id[ok.request_id].payload["finish_reason"] == "stop"
    assert by_id[info.value.request_id].payload["metadata"] == {"order": "B-2"}
    assert "metadata" not in by_id[plain.request_id].payload
    system.stop()
    with am.Ledger.open(path) as ledger:
        assert ledger.get(ok.request_id).metadata == {"order": "A-17", "tags": ["x", "y"], "n": 3}
        assert ledger.get(info.value.request_id).metadata == {"order": "B-2"}
        assert ledger.get(plain.request_id).metadata is None
        assert ledger.verify().ok
