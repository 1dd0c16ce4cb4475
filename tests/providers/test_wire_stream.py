"""Streaming through the real SDKs against the chaos server: each adapter's ``stream()``.

Healthy streams say what ``complete()`` says; errors before the first chunk classify as
``complete()`` does; every stream fault raises ``StreamInterrupted`` with the partial answer
(never a normal end); stopping early closes the upstream connection, as the server sees it.
Timeouts are the caller's ``asyncio.timeout`` around ``__anext__``; closes are asserted with
the server's stream log, never by sleeping.
"""

import asyncio
import json

import pytest

from adaptive_mind.chat import NO_PARAMS, ChatMessage, RequestParams, ToolSpec
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.providers import CallFailure, CallRequest, CallSuccess
from adaptive_mind.providers.anthropic import AnthropicAdapter
from adaptive_mind.providers.gemini import GeminiAdapter
from adaptive_mind.providers.openai import OpenAIAdapter
from adaptive_mind.providers.streams import StreamFailed, StreamInterrupted
from adaptive_mind.streaming import StreamAssembler
from tests.providers.test_wire_failover import AN, GE, OA, wire_config

ADAPTERS = {
    "openai": (OpenAIAdapter, "gpt-a", OA),
    "anthropic": (AnthropicAdapter, "claude-a", AN),
    "gemini": (GeminiAdapter, "gemini-a", GE),
}
PROVIDERS = list(ADAPTERS)
USER = (ChatMessage(role="user", content="hi"),)
WEATHER = ToolSpec(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def adapter_for(server, provider, **overrides):
    cls, _, _ = ADAPTERS[provider]
    cfg = RuntimeConfig.model_validate(wire_config(server, **overrides))
    return cls(provider, cfg.providers[provider])


def call_for(provider, messages=USER, params=NO_PARAMS):
    _, model, _ = ADAPTERS[provider]
    return CallRequest(tuple(messages), model, f"{provider}#1", 5.0, params)


async def drain(adapter, call):
    """Every chunk of a stream, and the exception that ended it (None: a normal end)."""
    chunks = []
    try:
        async for chunk in adapter.stream(call):
            chunks.append(chunk)
    except StreamFailed as exc:
        return chunks, exc
    return chunks, None


def run(server, provider, body, **overrides):
    """``body(adapter)`` on a fresh adapter, closed afterwards."""

    async def main():
        adapter = adapter_for(server, provider, **overrides)
        try:
            return await body(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


def assemble(chunks):
    parts = StreamAssembler()
    for c in chunks:
        parts.add(c)
    return parts


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_streamed_text_says_what_complete_says(server, provider):
    async def body(adapter):
        plain = await adapter.complete(call_for(provider))
        return plain, await drain(adapter, call_for(provider))

    plain, (chunks, error) = run(server, provider, body)
    assert isinstance(plain, CallSuccess) and error is None
    assert len(chunks) > 3  # the text came in pieces
    assert "".join(c.text for c in chunks) == plain.text == server.text
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == plain.finish_reason == "stop"
    assert chunks[-1].upstream_finish_reason == plain.upstream_finish_reason
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert server.streams.wait("completed", 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_streamed_tool_call_assembles_to_the_plain_one(server, provider):
    params = RequestParams(tools=(WEATHER,))

    async def body(adapter):
        plain = await adapter.complete(call_for(provider, params=params))
        return plain, await drain(adapter, call_for(provider, params=params))

    plain, (chunks, error) = run(server, provider, body)
    assert isinstance(plain, CallSuccess) and error is None
    parts = assemble(chunks)
    assert parts.finish_reason == plain.finish_reason == "tool_calls"
    (streamed,) = parts.tool_calls
    (expected,) = plain.tool_calls
    assert streamed.id  # ids are fresh per answer: compare what the model called
    assert streamed.function.name == expected.function.name == "get_weather"
    assert json.loads(streamed.function.arguments) == json.loads(expected.function.arguments)
    if provider != "gemini":  # Gemini sends a function call whole, in one part
        assert sum(1 for c in chunks if c.tool_calls) > 2


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["rate_limit", "invalid_key", "overloaded", "model_not_found"])
def test_an_error_before_the_first_chunk_classifies_like_complete(server, provider, fault):
    server.add_rule(provider, fault, retry_after_s=2)

    async def body(adapter):
        plain = await adapter.complete(call_for(provider))
        return plain, await drain(adapter, call_for(provider))

    plain, (chunks, error) = run(server, provider, body)
    assert isinstance(plain, CallFailure)
    assert chunks == [] and type(error) is StreamFailed
    got = error.failure
    assert (got.category, got.status_code, got.retry_after_s, got.mid_stream) == (
        plain.category,
        plain.status_code,
        plain.retry_after_s,
        False,
    )
    assert server.streams.count() == 0  # answered with an error status, no stream


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refusal_in_the_stream_is_a_content_policy_failure(server, provider):
    server.add_rule(provider, "refusal")
    chunks, error = run(server, provider, lambda a: drain(a, call_for(provider)))
    assert chunks == [] and type(error) is StreamFailed
    assert error.failure.category is C.CONTENT_POLICY


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["stream_cut", "stream_malformed", "stream_no_terminator"])
def test_a_broken_stream_raises_with_the_partial_text(server, provider, fault):
    server.add_rule(provider, fault, after_chunks=2)
    chunks, error = run(server, provider, lambda a: drain(a, call_for(provider)))
    assert isinstance(error, StreamInterrupted), error
    failure = error.failure
    assert failure.category is C.TRANSIENT and failure.mid_stream
    assert all(c.finish_reason is None for c in chunks)  # never a normal end
    expected = server.text if fault == "stream_no_terminator" else "Hello from"
    assert error.partial_text == "".join(c.text for c in chunks) == expected
    assert error.chunks == len(chunks)
    if fault == "stream_malformed":
        assert "malformed" in failure.error


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stall_is_caught_by_a_timeout_around_anext_and_closes_upstream(server, provider):
    server.add_rule(provider, "stream_stall", after_chunks=2)

    async def body(adapter):
        it = adapter.stream(call_for(provider))
        texts = [(await anext(it)).text, (await anext(it)).text]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await anext(it)
        closed = await asyncio.to_thread(server.streams.wait, "client_closed", 1, 5.0)
        return texts, closed

    texts, closed = run(server, provider, body)
    assert texts == ["Hello", " from"]
    assert closed, server.streams.records()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_first_token_is_caught_and_the_request_closed(server, provider):
    server.add_rule(provider, "slow_first_token", latency_ms=5000)

    async def body(adapter):
        it = adapter.stream(call_for(provider))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await anext(it)
        return await asyncio.to_thread(server.streams.wait, "client_closed", 1, 5.0)

    assert run(server, provider, body), server.streams.records()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_first_token_that_comes_is_a_whole_answer(server, provider):
    server.add_rule(provider, "slow_first_token", latency_ms=100)
    chunks, error = run(server, provider, lambda a: drain(a, call_for(provider)))
    assert error is None and "".join(c.text for c in chunks) == server.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_closing_early_closes_the_upstream_connection(server, provider):
    server.add_rule(provider, "stream_stall", after_chunks=3)  # the server is still sending

    async def body(adapter):
        it = adapter.stream(call_for(provider))
        first = await anext(it)
        await it.aclose()
        closed = await asyncio.to_thread(server.streams.wait, "client_closed", 1, 5.0)
        return first, closed

    first, closed = run(server, provider, body)
    assert first.text == "Hello"
    assert closed, server.streams.records()
    assert server.streams.records()[0].sent == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_route_that_rejects_prefill_answers_a_prefilled_request_with_a_400(server, provider):
    server.add_rule(provider, "reject_prefill")
    prefilled = (*USER, ChatMessage(role="assistant", content="Hello from"))

    async def body(adapter):
        return (
            await drain(adapter, call_for(provider, prefilled)),
            await drain(adapter, call_for(provider)),
        )

    (_, rejected), (chunks, ok) = run(server, provider, body)
    assert type(rejected) is StreamFailed
    assert rejected.failure.category is C.BAD_REQUEST and rejected.failure.status_code == 400
    assert ok is None and "".join(c.text for c in chunks) == server.text


def test_gemini_on_the_httpx_transport_streams_and_closes_too(server):
    server.add_rule("gemini", "stream_stall", after_chunks=2)

    async def body(adapter):
        it = adapter.stream(call_for("gemini"))
        await anext(it)
        await it.aclose()
        return await asyncio.to_thread(server.streams.wait, "client_closed", 1, 5.0)

    assert run(server, "gemini", body, gemini={"transport": "httpx"})
