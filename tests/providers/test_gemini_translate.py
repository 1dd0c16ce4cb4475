"""The canonical request in google-genai's typed objects, and Gemini answers back (pure)."""

import base64
import json

import pytest
from google.genai import types

from adaptive_mind.chat import (
    ChatMessage,
    FunctionCall,
    ImagePart,
    ImageURL,
    RequestParams,
    TextPart,
    ToolCall,
    ToolSpec,
)
from adaptive_mind.config import ProviderConfig
from adaptive_mind.providers import gemini_contents as gc
from adaptive_mind.providers.base import CallSuccess
from adaptive_mind.providers.gemini import GeminiAdapter

PNG = b"\x89PNG\r\n\x1a\n-some-bytes"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
WEATHER = ToolSpec(
    name="get_weather",
    description="Weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


def call(id_, name, args):
    return ToolCall(id=id_, function=FunctionCall(name=name, arguments=json.dumps(args)))


def dump(contents):
    return [c.model_dump(exclude_none=True) for c in contents]


def test_system_and_developer_turns_become_the_system_instruction():
    msgs = (
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(
            role="developer", content=(TextPart(text="Answer in "), TextPart(text="French"))
        ),
        ChatMessage(role="user", content="hi"),
    )
    assert gc.system_instruction(msgs) == "Be brief.\n\nAnswer in French"
    assert dump(gc.contents(msgs)) == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert gc.system_instruction(msgs[2:]) is None


def test_a_tool_conversation_becomes_function_calls_and_named_function_responses():
    msgs = (
        ChatMessage(role="user", content="Weather in Paris and Rome?"),
        ChatMessage(
            role="assistant",
            content="Let me check.",
            tool_calls=(
                call("call_abc", "get_weather", {"city": "Paris"}),
                call("toolu_01X", "get_weather", {"city": "Rome"}),
            ),
        ),
        ChatMessage(role="tool", tool_call_id="call_abc", content="sunny"),
        ChatMessage(role="tool", tool_call_id="toolu_01X", content='{"temp": 21}'),
        ChatMessage(role="user", content="Thanks, and tomorrow?"),
    )
    assert dump(gc.contents(msgs)) == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me check."},
                {
                    "function_call": {
                        "id": "call_abc",
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                    }
                },
                {
                    "function_call": {
                        "id": "toolu_01X",
                        "name": "get_weather",
                        "args": {"city": "Rome"},
                    }
                },
            ],
        },
        {  # both tool results and the next user turn: ONE user turn, results first
            "role": "user",
            "parts": [
                {
                    "function_response": {
                        "id": "call_abc",
                        "name": "get_weather",
                        "response": {"result": "sunny"},
                    }
                },
                {
                    "function_response": {
                        "id": "toolu_01X",
                        "name": "get_weather",
                        "response": {"temp": 21},  # a JSON object travels as itself
                    }
                },
                {"text": "Thanks, and tomorrow?"},
            ],
        },
    ]


def test_an_assistant_turn_that_only_calls_tools_has_no_text_part():
    msgs = (
        ChatMessage(role="user", content="go"),
        ChatMessage(role="assistant", tool_calls=(call("c1", "f", {}),)),
        ChatMessage(role="tool", tool_call_id="c1", content=(TextPart(text="[1, 2]"),)),
    )
    model, tool = dump(gc.contents(msgs))[1:]
    assert model == {
        "role": "model",
        "parts": [{"function_call": {"id": "c1", "name": "f", "args": {}}}],
    }
    # a JSON value that is not an object is text
    assert tool["parts"][0]["function_response"]["response"] == {"result": "[1, 2]"}


def test_consecutive_same_role_turns_merge_and_names_are_ignored():
    msgs = (
        ChatMessage(role="user", content="a", name="alice"),
        ChatMessage(role="user", content="b"),
        ChatMessage(role="assistant", content="c"),
        ChatMessage(role="assistant", content="d"),
    )
    assert dump(gc.contents(msgs)) == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
    ]


def test_image_parts_go_inline_or_by_reference_with_a_guessed_mime_type():
    content = (
        TextPart(text="What is in these?"),
        ImagePart(image_url=ImageURL(url=PNG_URL, detail="high")),
        ImagePart(image_url=ImageURL(url="https://example.com/cat.webp?size=2")),
        ImagePart(image_url=ImageURL(url="https://example.com/photo")),
        ImagePart(image_url=ImageURL(url="https://example.com/img.GIF")),
    )
    (user,) = gc.contents((ChatMessage(role="user", content=content),))
    parts = user.parts
    assert parts[0].text == "What is in these?"
    assert parts[1].inline_data == types.Blob(mime_type="image/png", data=PNG)
    assert [(p.file_data.file_uri, p.file_data.mime_type) for p in parts[2:]] == [
        ("https://example.com/cat.webp?size=2", "image/webp"),
        ("https://example.com/photo", "image/jpeg"),  # says nothing: JPEG
        ("https://example.com/img.GIF", "image/gif"),
    ]


def test_url_safe_and_unpadded_base64_decode_and_garbage_is_refused():
    raw = b"\xfb\xff\xfe"
    url = "data:image/jpeg;base64," + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert gc.image_part(url).inline_data.data == raw
    with pytest.raises(ValueError, match="not base64"):
        gc.image_part("data:image/png;base64,a$b!")


def test_an_image_only_user_turn_and_an_empty_text_part():
    content = (TextPart(text=""), ImagePart(image_url=ImageURL(url="https://x.test/a.png")))
    (user,) = gc.contents((ChatMessage(role="user", content=content),))
    assert [p.model_dump(exclude_none=True) for p in user.parts] == [
        {"file_data": {"file_uri": "https://x.test/a.png", "mime_type": "image/png"}}
    ]


def test_tools_are_one_tool_of_declarations_with_the_raw_json_schema():
    bare = ToolSpec(name="ping", strict=True)
    (tool,) = gc.tools(RequestParams(tools=(WEATHER, bare)))
    assert tool.model_dump(exclude_none=True) == {
        "function_declarations": [
            {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters_json_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                },
            },
            {"name": "ping", "parameters_json_schema": {"type": "object", "properties": {}}},
        ]
    }
    assert gc.tools(RequestParams()) is None


@pytest.mark.parametrize(
    ("choice", "name", "mode", "allowed"),
    [
        ("auto", None, "AUTO", None),
        ("none", None, "NONE", None),
        ("required", None, "ANY", None),
        ("required", "get_weather", "ANY", ["get_weather"]),
    ],
)
def test_tool_choice_becomes_a_function_calling_mode(choice, name, mode, allowed):
    config = gc.tool_config(
        RequestParams(tools=(WEATHER,), tool_choice=choice, tool_choice_name=name)
    )
    fcc = config.function_calling_config
    assert (fcc.mode, fcc.allowed_function_names) == (
        types.FunctionCallingConfigMode(mode),
        allowed,
    )


def test_no_tool_choice_no_tool_config():
    assert gc.tool_config(RequestParams(tools=(WEATHER,))) is None


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 8192), ("high", 24576)])
def test_reasoning_effort_becomes_a_thinking_budget(effort, budget):
    assert gc.thinking_config(RequestParams(reasoning_effort=effort)) == types.ThinkingConfig(
        thinking_budget=budget
    )
    assert gc.thinking_config(RequestParams()) is None


# -- answers: the SDK's own response type -------------------------------------------------------


def adapter():
    cfg = ProviderConfig.model_validate(
        {"kind": "gemini", "api_keys": ["AIzaTranslateKey"], "models": ["m"]}
    )
    return GeminiAdapter("gemini", cfg, other_secrets=["sk-other-secret"])


def response(parts, finish="STOP", **usage):
    return types.GenerateContentResponse.model_validate(
        {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 5,
                "totalTokenCount": 15,
                **usage,
            },
            "modelVersion": "gemini-x",
        }
    )


def test_function_call_parts_become_tool_calls_and_thoughts_are_not_text():
    resp = response(
        [
            {"text": "planning the call", "thought": True},
            {"text": "Checking."},
            {"functionCall": {"id": "fc-1", "name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
        cachedContentTokenCount=3,
        thoughtsTokenCount=7,
    )
    result = adapter().classify_response(resp, "m")
    assert isinstance(result, CallSuccess)
    assert result.text == "Checking."
    assert (result.finish_reason, result.upstream_finish_reason) == ("tool_calls", "STOP")
    first, second = result.tool_calls
    assert first == call("fc-1", "get_weather", {"city": "Paris"})
    assert second.function == FunctionCall(name="get_time", arguments="{}")
    assert second.id.startswith("call_") and len(second.id) == 5 + 24  # made up
    assert (result.usage.cached_tokens, result.usage.reasoning_tokens) == (3, 7)
    assert result.usage.total_tokens == 15


def test_made_up_ids_differ_between_calls():
    resp = response([{"functionCall": {"name": "f"}}, {"functionCall": {"name": "f"}}])
    first, second = adapter().classify_response(resp, "m").tool_calls
    assert first.id != second.id
    assert first.function.arguments == "{}"


def test_a_text_answer_has_no_tool_calls_and_a_cut_call_stays_length():
    plain = adapter().classify_response(response([{"text": "hello"}]), "m")
    assert (plain.text, plain.tool_calls, plain.finish_reason) == ("hello", (), "stop")
    assert (plain.usage.cached_tokens, plain.usage.reasoning_tokens) == (None, None)
    cut = adapter().classify_response(
        response([{"functionCall": {"name": "f", "args": {"a": 1}}}], finish="MAX_TOKENS"), "m"
    )
    assert cut.finish_reason == "length" and len(cut.tool_calls) == 1


def test_tool_call_names_arguments_and_ids_are_redacted():
    resp = response(
        [
            {
                "functionCall": {
                    "id": "id-AIzaTranslateKey",
                    "name": "f",
                    "args": {"key": "sk-other-secret"},
                }
            }
        ]
    )
    (tc,) = adapter().classify_response(resp, "m").tool_calls
    dumped = tc.model_dump_json()
    assert "AIzaTranslateKey" not in dumped and "sk-other-secret" not in dumped
    assert json.loads(tc.function.arguments).keys() == {"key"}


def test_parallel_tool_calls_and_user_are_dropped():
    assert {"user", "parallel_tool_calls"} <= GeminiAdapter.unsupported_params
    assert "tools" not in GeminiAdapter.unsupported_params
