"""The streaming API on the scripted provider: loops, cancellation, admission, tool calls."""

import asyncio

import pytest

import adaptive_mind as am
from tests.helpers import USER, EventLog, config, scripted

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_astream_on_the_callers_loop_gives_the_completion():
    async def main():
        async with am.ActorSystem.astart(config({"a": scripted()})) as system:
            async with system.astream(USER, temperature=0.1) as stream:
                chunks = [c async for c in stream]
            return chunks, stream.completion

    chunks, completion = asyncio.run(main())
    assert "".join(c.text for c in chunks) == completion.text == "ok from a/m1"
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None


def test_bad_arguments_fail_at_the_call_naming_the_field(start):
    system = start(config({"a": scripted()}))
    with pytest.raises(am.BadRequestError, match="temprature"):
        system.astream(USER, temprature=0.1)
    with pytest.raises(am.BadRequestError, match="stream_policy"):
        system.stream(USER, stream_policy="retry")
    with pytest.raises(am.BadRequestError, match="temperature"):
        system.stream(USER, temperature=7)
    assert system.in_flight == 0


def test_an_open_stream_counts_against_max_in_flight(start):
    system = start(config({"a": scripted()}, request={"max_in_flight": 1}))
    stream = system.stream(USER)
    with pytest.raises(am.OverloadedError):
        system.complete(USER)
    assert "".join(c.text for c in stream) == "ok from a/m1"
    assert system.complete(USER).text == "ok from a/m1"  # its slot is free again


def test_a_cancelled_reader_closes_the_stream(start):
    system = start(config({"a": scripted(latency_ms=60_000)}))
    log = EventLog(system, topics=["request.failed"])

    async def main():
        stream = system.astream(USER)
        reader = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader

    asyncio.run(main())
    log.wait_count(1)
    assert log.events[0].payload["error"] == "StreamClosedError"
    assert system.in_flight == 0


def test_breaking_out_of_a_blocking_stream_closes_it(start):
    system = start(config({"a": scripted(text="one two three four five six")}))
    log = EventLog(system, topics=["request.succeeded", "request.failed"])
    for chunk in system.stream(USER):
        assert chunk.text
        break
    log.wait_count(1)
    # the scripted answer may have finished before the close arrived; either way one answer
    assert log.events[0].event_type in ("request.failed", "request.succeeded")
    assert system.in_flight == 0


def test_a_streamed_tool_call_assembles_into_the_completion(start):
    system = start(config({"a": scripted()}))  # offered a tool, it calls it
    with system.stream(USER, tools=[WEATHER]) as stream:
        chunks = list(stream)
    deltas = [d for c in chunks for d in c.tool_calls]
    assert deltas and deltas[0].name == "get_weather"
    completion = stream.completion
    assert completion.finish_reason == "tool_calls"
    assert [c.function.name for c in completion.tool_calls] == ["get_weather"]
