"""The provider-neutral stream pieces (no network): assembling chunks, the driver's endings,
and the scripted provider's stream."""

import asyncio

import pytest

from adaptive_mind.chat import ChatMessage, RequestParams, ToolSpec, Usage
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.providers import CallFailure, CallRequest
from adaptive_mind.providers.scripted import ScriptedAdapter
from adaptive_mind.providers.streams import StreamFailed, StreamInterrupted, drive
from adaptive_mind.streaming import StreamAssembler, StreamChunk, ToolCallDelta


def test_the_assembler_joins_text_and_tool_call_pieces():
    parts = StreamAssembler()
    for chunk in [
        StreamChunk(text="Hel"),
        StreamChunk(text="lo"),
        StreamChunk(tool_calls=(ToolCallDelta(0, "call_1", "f", ""),)),
        StreamChunk(tool_calls=(ToolCallDelta(0, arguments='{"a":'),)),
        StreamChunk(tool_calls=(ToolCallDelta(0, arguments=" 1}"),)),
        StreamChunk(finish_reason="tool_calls", usage=Usage(total_tokens=3)),
    ]:
        parts.add(chunk)
    assert parts.text == "Hello" and parts.chunks == 6
    (call,) = parts.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "f", '{"a": 1}')
    assert parts.finish_reason == "tool_calls" and parts.usage == Usage(total_tokens=3)


class _Events:
    """A translator over plain chunks: a chunk is delivered as is; the list decides the end."""

    def __call__(self, event, /):
        if isinstance(event, Exception):
            raise event
        return event

    def end(self):
        return None


def _drive(events):
    closed = []

    async def open_stream():
        async def gen():
            for e in events:
                yield e

        async def close():
            closed.append(True)

        return gen(), close

    async def main():
        got = []
        try:
            async for c in drive(open_stream, _Events(), lambda e: CallFailure(C.UNKNOWN, "?")):
                got.append(c)
        except StreamFailed as exc:
            return got, exc, closed
        return got, None, closed

    return asyncio.run(main())


def test_the_driver_ends_normally_only_after_a_finish():
    got, error, closed = _drive([StreamChunk(text="a"), StreamChunk(finish_reason="stop")])
    assert error is None and [c.text for c in got] == ["a", ""] and closed == [True]
    got, error, closed = _drive([StreamChunk(text="a")])
    assert isinstance(error, StreamInterrupted) and error.partial_text == "a"
    assert error.failure.category is C.TRANSIENT and closed == [True]


def test_a_read_error_before_any_chunk_is_not_mid_stream():
    got, error, closed = _drive([ConnectionResetError("gone")])
    assert got == [] and type(error) is StreamFailed and not error.failure.mid_stream
    assert error.failure.category is C.TRANSIENT and closed == [True]


def test_a_finish_stop_after_tool_calls_says_tool_calls():
    delta = StreamChunk(tool_calls=(ToolCallDelta(0, "c", "f", "{}"),))
    got, error, _ = _drive([delta, StreamChunk(finish_reason="stop")])
    assert error is None and got[-1].finish_reason == "tool_calls"


def _scripted(responses=()):
    cfg = RuntimeConfig.model_validate(
        {
            "providers": {
                "s": {
                    "kind": "scripted",
                    "api_keys": ["k1"],
                    "models": ["m"],
                    "responses": list(responses),
                }
            },
            "ledger": {"path": ":memory:"},
        }
    )
    return ScriptedAdapter("s", cfg.providers["s"])


@pytest.mark.parametrize("tools", [False, True])
def test_the_scripted_provider_streams_what_it_completes(tools):
    adapter = _scripted()
    params = RequestParams(tools=(ToolSpec(name="f"),)) if tools else RequestParams()
    call = CallRequest((ChatMessage(role="user", content="hi"),), "m", "s#1", 5.0, params)

    async def main():
        plain = await adapter.complete(call)
        parts = StreamAssembler()
        async for c in adapter.stream(call):
            parts.add(c)
        return plain, parts

    plain, parts = asyncio.run(main())
    assert parts.text == plain.text and parts.finish_reason == plain.finish_reason
    assert [c.function for c in parts.tool_calls] == [c.function for c in plain.tool_calls]


def test_the_scripted_provider_fails_a_stream_before_any_chunk():
    adapter = _scripted([{"fail": 429, "retry_after_s": 2}])
    call = CallRequest((ChatMessage(role="user", content="hi"),), "m", "s#1", 5.0)

    async def main():
        async for _ in adapter.stream(call):
            pass

    with pytest.raises(StreamFailed) as info:
        asyncio.run(main())
    assert info.value.failure.status_code == 429 and info.value.failure.retry_after_s == 2
