"""Tools, tool turns, images and thinking through the real google-genai SDK: the exact JSON body
it sends to the chaos server.

google-genai 3.6.1 camel-cases the keys it maps itself (``functionCall``, ``inlineData``,
``toolConfig``, ``thinkingConfig``) but passes the insides of ``Blob`` / ``FileData`` /
``FunctionDeclaration`` / ``ThinkingConfig`` through in snake case (``mime_type``,
``parameters_json_schema``, ``thinking_budget``) and bytes as URL-safe base64; the Gemini API's
JSON parser takes both spellings. The answer side is in test_gemini_translate.py (the SDK's own
response type).
"""

import asyncio
import base64
import json

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
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.providers import CallFailure, CallRequest, CallSuccess
from adaptive_mind.providers.base import dropped_params
from adaptive_mind.providers.gemini import GeminiAdapter
from tests.providers.test_wire_failover import GE, wire_config

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
PNG = b"\x89PNG\r\n\x1a\n\xfb\xff\xfe"


def adapter_for(server):
    cfg = RuntimeConfig.model_validate(wire_config(server))
    return GeminiAdapter("gemini", cfg.providers["gemini"], other_secrets=GE)


def complete(server, messages, params=NO_PARAMS):
    """One call through the adapter; returns (result, the body the SDK sent)."""

    async def main():
        adapter = adapter_for(server)
        try:
            return await adapter.complete(
                CallRequest(tuple(messages), "gemini-a", "gemini#1", 5.0, params)
            )
        finally:
            await adapter.aclose()

    result = asyncio.run(main())
    bodies = server.bodies("gemini")
    return result, bodies[-1] if bodies else None


def call(id_, name="get_weather", arguments='{"city": "Paris"}'):
    return ToolCall(id=id_, function=FunctionCall(name=name, arguments=arguments))


def test_a_plain_request_and_system_plus_developer_turns(server):
    result, body = complete(
        server,
        [
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="developer", content=(TextPart(text="Use French."),)),
            ChatMessage(role="user", content="hi"),
        ],
    )
    assert isinstance(result, CallSuccess) and result.text == server.text
    assert result.tool_calls == () and result.finish_reason == "stop"
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief.\n\nUse French."}]},
        "generationConfig": {},
    }


def test_a_tool_conversation_sends_function_calls_and_named_responses(server):
    messages = [
        ChatMessage(role="user", content="Weather and time in Paris?"),
        ChatMessage(
            role="assistant",
            content="Checking.",
            tool_calls=(call("call_abc123"), call("toolu_01XYZ", "get_time", "{}")),
        ),
        ChatMessage(role="tool", tool_call_id="call_abc123", content="sunny, 21 C"),
        ChatMessage(role="tool", tool_call_id="toolu_01XYZ", content='{"time": "12:00"}'),
        ChatMessage(role="user", content="And tomorrow?"),
    ]
    result, body = complete(server, messages, RequestParams(tools=(WEATHER, TIME)))
    assert isinstance(result, CallSuccess)
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {
                        "id": "call_abc123",
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                    }
                },
                {"functionCall": {"id": "toolu_01XYZ", "name": "get_time", "args": {}}},
            ],
        },
        {  # the tool results and the user turn after them: one user turn, results first
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "call_abc123",
                        "name": "get_weather",  # found from the call with that id
                        "response": {"result": "sunny, 21 C"},
                    }
                },
                {
                    "functionResponse": {
                        "id": "toolu_01XYZ",
                        "name": "get_time",
                        "response": {"time": "12:00"},  # a JSON object is sent as itself
                    }
                },
                {"text": "And tomorrow?"},
            ],
        },
    ]


def test_a_turn_that_only_calls_tools_and_a_trailing_tool_result(server):
    messages = [
        ChatMessage(role="user", content="Weather?"),
        ChatMessage(role="assistant", tool_calls=(call("call_1"),)),
        ChatMessage(role="tool", tool_call_id="call_1", content=(TextPart(text="rain"),)),
    ]
    result, body = complete(server, messages, RequestParams(tools=(WEATHER,)))
    assert isinstance(result, CallSuccess)
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "call_1",
                        "name": "get_weather",
                        "response": {"result": "rain"},
                    }
                }
            ],
        },
    ]


def test_tools_are_function_declarations_with_the_raw_json_schema(server):
    result, body = complete(
        server, [ChatMessage(role="user", content="hi")], RequestParams(tools=(WEATHER, TIME))
    )
    assert isinstance(result, CallSuccess)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city now.",
                    "parameters_json_schema": dict(WEATHER.schema()),
                },
                {
                    "name": "get_time",
                    "parameters_json_schema": {"type": "object", "properties": {}},
                },
            ]
        }
    ]
    assert "toolConfig" not in body  # no tool_choice: Gemini's default (AUTO)
    assert "strict" not in json.dumps(body)  # no Gemini field


@pytest.mark.parametrize(
    ("choice", "name", "config"),
    [
        ("auto", None, {"mode": "AUTO"}),
        ("none", None, {"mode": "NONE"}),
        ("required", None, {"mode": "ANY"}),
        ("required", "get_time", {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
    ],
)
def test_tool_choice_becomes_the_function_calling_config(server, choice, name, config):
    params = RequestParams(tools=(WEATHER, TIME), tool_choice=choice, tool_choice_name=name)
    result, body = complete(server, [ChatMessage(role="user", content="hi")], params)
    assert isinstance(result, CallSuccess)
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_parallel_tool_calls_is_dropped_and_recorded(server):
    params = RequestParams(tools=(WEATHER,), parallel_tool_calls=False)
    result, body = complete(server, [ChatMessage(role="user", content="hi")], params)
    assert isinstance(result, CallSuccess)
    assert "parallel" not in json.dumps(body).lower()
    assert dropped_params(adapter_for(server), params) == ("parallel_tool_calls",)


def test_images_go_inline_or_by_reference(server):
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = (
        TextPart(text="Compare these."),
        ImagePart(image_url=ImageURL(url=data_url, detail="low")),
        ImagePart(image_url=ImageURL(url="https://images.test/cat.webp?w=2")),
        ImagePart(image_url=ImageURL(url="https://images.test/photo")),
    )
    result, body = complete(server, [ChatMessage(role="user", content=content)])
    assert isinstance(result, CallSuccess)
    text, inline, webp, unknown = body["contents"][0]["parts"]
    assert text == {"text": "Compare these."}
    assert inline["inlineData"]["mime_type"] == "image/png"
    assert base64.urlsafe_b64decode(inline["inlineData"]["data"]) == PNG
    assert webp == {
        "fileData": {"file_uri": "https://images.test/cat.webp?w=2", "mime_type": "image/webp"}
    }
    assert unknown == {
        "fileData": {"file_uri": "https://images.test/photo", "mime_type": "image/jpeg"}
    }


def test_an_image_whose_data_is_not_base64_is_refused_before_sending(server):
    bad = ImagePart(image_url=ImageURL(url="data:image/png;base64,a$b!"))
    result, body = complete(server, [ChatMessage(role="user", content=(bad,))])
    assert isinstance(result, CallFailure)
    assert (result.category, result.local) == (C.BAD_REQUEST, True)
    assert body is None and server.count("gemini") == 0


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 8192), ("high", 24576)])
def test_reasoning_effort_becomes_a_thinking_budget(server, effort, budget):
    params = RequestParams(reasoning_effort=effort, max_completion_tokens=64)
    result, body = complete(server, [ChatMessage(role="user", content="think")], params)
    assert isinstance(result, CallSuccess)
    assert body["generationConfig"] == {
        "maxOutputTokens": 64 + budget,  # thinking counts against the cap: the answer keeps 64
        "thinkingConfig": {"thinking_budget": budget},
    }


def test_a_round_trip_the_server_calls_the_forced_tool_and_reads_its_result(server):
    params = RequestParams(
        tools=(WEATHER, TIME), tool_choice="required", tool_choice_name="get_time"
    )
    ask = ChatMessage(role="user", content="What time is it?")
    first, _ = complete(server, [ask], params)
    assert isinstance(first, CallSuccess)
    assert first.finish_reason == "tool_calls" and first.text == ""
    (tc,) = first.tool_calls
    assert tc.function.name == "get_time" and json.loads(tc.function.arguments) == {}
    answer = ChatMessage(role="tool", tool_call_id=tc.id, content="noon")
    second, body = complete(server, [ask, first_message(first), answer], params)
    assert isinstance(second, CallSuccess) and second.tool_calls == ()
    assert "noon" in second.text
    assert body["contents"][-1]["parts"][0]["functionResponse"]["name"] == "get_time"


def first_message(result):
    return ChatMessage(role="assistant", tool_calls=result.tool_calls)
