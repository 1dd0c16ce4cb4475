"""Tools, tool turns, images and thinking through the real anthropic SDK: the exact JSON body it
sends to the chaos server, and tool_use answers read back as tool calls."""

import asyncio
import json

import anthropic
import pytest

from adaptive_mind.chat import (
    NO_PARAMS,
    ChatMessage,
    FunctionCall,
    ImagePart,
    ImageURL,
    RequestParams,
    TextPart,
    ToolCall,
    ToolSpec,
)
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.providers import CallRequest, CallSuccess
from adaptive_mind.providers.anthropic import AnthropicAdapter
from adaptive_mind.providers.anthropic_messages import anthropic_tool_id
from tests.providers.test_wire_failover import AN, wire_config

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city now.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    strict=True,
)
TIME = ToolSpec(name="get_time")


def adapter_for(server, **overrides):
    cfg = RuntimeConfig.model_validate(wire_config(server, anthropic=overrides))
    return AnthropicAdapter("anthropic", cfg.providers["anthropic"], other_secrets=AN)


def complete(server, messages, params=NO_PARAMS, **overrides):
    """One call through the adapter; returns (result, the body the SDK sent)."""

    async def main():
        adapter = adapter_for(server, **overrides)
        try:
            return await adapter.complete(
                CallRequest(tuple(messages), "claude-a", "anthropic#1", 5.0, params)
            )
        finally:
            await adapter.aclose()

    result = asyncio.run(main())
    return result, server.bodies("anthropic")[-1]


def call(id_, name="get_weather", arguments='{"city": "Paris"}'):
    return ToolCall(id=id_, function=FunctionCall(name=name, arguments=arguments))


def test_plain_request_body_is_unchanged_and_the_answer_parses(server):
    result, body = complete(
        server,
        [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="hi")],
    )
    assert isinstance(result, CallSuccess) and result.text == server.text
    assert result.tool_calls == () and result.finish_reason == "stop"
    assert result.usage.cached_tokens in (0, None)
    assert body == {
        "model": "claude-a",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "Be brief.",
    }


def test_tool_conversation_body(server):
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="developer", content="Use metric units."),
        ChatMessage(role="user", content="Weather in Paris? And the time?", name="alice"),
        ChatMessage(
            role="assistant",
            content=None,
            tool_calls=(call("call_abc"), call("fc.1", "get_time", "{}")),
        ),
        ChatMessage(role="tool", tool_call_id="call_abc", content="18C, sunny"),
        ChatMessage(role="tool", tool_call_id="fc.1", content=(TextPart(text="14:05"),)),
        ChatMessage(role="user", content="Summarise."),
    ]
    params = RequestParams(tools=(WEATHER, TIME), tool_choice="auto", parallel_tool_calls=False)
    result, body = complete(server, messages, params)
    assert isinstance(result, CallSuccess)
    mapped = anthropic_tool_id("fc.1")
    assert mapped.startswith("toolu_")
    assert body["system"] == "Be brief.\n\nUse metric units."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris? And the time?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_abc",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": mapped, "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_abc", "content": "18C, sunny"},
                {"type": "tool_result", "tool_use_id": mapped, "content": "14:05"},
                {"type": "text", "text": "Summarise."},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city now.",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
            "strict": True,
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "thinking" not in body


@pytest.mark.parametrize(
    ("params", "choice"),
    [
        (RequestParams(tools=(WEATHER,)), None),
        (RequestParams(tools=(WEATHER,), tool_choice="none"), {"type": "none"}),
        (RequestParams(tools=(WEATHER,), tool_choice="required"), {"type": "any"}),
        (
            RequestParams(tools=(WEATHER,), tool_choice="required", tool_choice_name="get_weather"),
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice_body(server, params, choice):
    _, body = complete(server, [ChatMessage(role="user", content="hi")], params)
    assert body.get("tool_choice") == choice
    assert [t["name"] for t in body["tools"]] == ["get_weather"]


def test_images_body(server):
    content = (
        TextPart(text="Compare these."),
        ImagePart(image_url=ImageURL(url="https://example.com/a.png", detail="high")),
        ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo=")),
    )
    result, body = complete(server, [ChatMessage(role="user", content=content)])
    assert isinstance(result, CallSuccess)
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these."},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
            ],
        }
    ]


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_body(server, effort, budget):
    params = RequestParams(reasoning_effort=effort, max_completion_tokens=200)
    result, body = complete(server, [ChatMessage(role="user", content="think")], params)
    assert isinstance(result, CallSuccess)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 200 + budget


def test_reasoning_effort_on_the_provider_default_cap(server):
    _, body = complete(
        server,
        [ChatMessage(role="user", content="think")],
        RequestParams(reasoning_effort="low"),
        max_tokens=512,
    )
    assert body["max_tokens"] == 512 + 1024 and body["thinking"]["budget_tokens"] == 1024


def test_tool_history_without_tools_declares_stand_ins_the_model_may_not_call(server):
    messages = [
        ChatMessage(role="user", content="Weather?"),
        ChatMessage(role="assistant", content="Checking.", tool_calls=(call("call_1"),)),
        ChatMessage(role="tool", tool_call_id="call_1", content="sunny"),
        ChatMessage(role="assistant", content="Sunny."),
        ChatMessage(role="user", content="Thanks!"),
    ]
    result, body = complete(server, messages)
    assert isinstance(result, CallSuccess)
    assert [t["name"] for t in body["tools"]] == ["get_weather"]
    assert body["tool_choice"] == {"type": "none"}


def test_a_tool_use_answer_becomes_a_tool_call(server):
    adapter = adapter_for(server)
    secret = AN[0]
    msg = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-a",
            "content": [
                {"type": "thinking", "thinking": "The user wants weather.", "signature": "s"},
                {
                    "type": "tool_use",
                    "id": "toolu_01XYZ",
                    "name": "get_weather",
                    "input": {"city": "Paris", "note": f"key {secret}"},
                },
            ],
            "stop_reason": "tool_use",
            "usage": {
                "input_tokens": 30,
                "output_tokens": 12,
                "cache_read_input_tokens": 20,
                "output_tokens_details": {"thinking_tokens": 7},
            },
        }
    )
    result = adapter.classify_response(msg, "claude-a")
    asyncio.run(adapter.aclose())
    assert isinstance(result, CallSuccess)
    assert result.text == ""  # thinking is not answer text
    assert result.finish_reason == "tool_calls" and result.upstream_finish_reason == "tool_use"
    (tc,) = result.tool_calls
    assert (tc.id, tc.type, tc.function.name) == ("toolu_01XYZ", "function", "get_weather")
    args = json.loads(tc.function.arguments)
    assert args["city"] == "Paris" and secret not in tc.function.arguments
    assert result.usage.cached_tokens == 20 and result.usage.reasoning_tokens == 7
    assert result.usage.total_tokens == 42


def test_a_tool_use_answer_from_the_server_if_it_sends_one(server):
    """When the chaos server answers a tool request with a tool_use block, the adapter reads it."""
    params = RequestParams(tools=(WEATHER,), tool_choice="required", tool_choice_name="get_weather")
    result, _ = complete(server, [ChatMessage(role="user", content="Weather in Paris?")], params)
    assert isinstance(result, CallSuccess)
    if not result.tool_calls:
        pytest.skip("the chaos server does not answer with tool calls (yet)")
    (tc,) = result.tool_calls
    assert tc.function.name == "get_weather" and result.finish_reason == "tool_calls"
    assert isinstance(json.loads(tc.function.arguments), dict)


def test_a_tool_round_trip_through_the_server(server):
    """Ask, get a tool call (when the server makes one), answer it, get text back."""
    params = RequestParams(tools=(WEATHER, TIME))
    ask = [ChatMessage(role="user", content="Weather in Paris?")]
    first, _ = complete(server, ask, params)
    assert isinstance(first, CallSuccess)
    if not first.tool_calls:
        pytest.skip("the chaos server does not answer with tool calls (yet)")
    turn = ChatMessage(role="assistant", content=first.text or None, tool_calls=first.tool_calls)
    (tc,) = first.tool_calls
    reply = ChatMessage(role="tool", tool_call_id=tc.id, content="18C and sunny")
    second, body = complete(server, [*ask, turn, reply], params)
    assert isinstance(second, CallSuccess), second
    assert second.tool_calls == () and second.finish_reason == "stop"
    assert body["messages"][-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tc.id, "content": "18C and sunny"}],
    }
