"""The canonical request in Anthropic terms: pure translation, no SDK, no server."""

import hashlib
import itertools
import json
import re

import anthropic
import pytest

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
from adaptive_mind.providers.anthropic_messages import (
    CONTINUED,
    anthropic_tool_id,
    image_block,
    system_text,
    thinking_budget,
    to_messages,
    tool_calls_from,
    tool_choice_param,
    tools_param,
)


def user(content):
    return ChatMessage(role="user", content=content)


def call(id_, name="get_weather", arguments='{"city": "Paris"}'):
    return ToolCall(id=id_, function=FunctionCall(name=name, arguments=arguments))


def assistant(content=None, *calls):
    return ChatMessage(role="assistant", content=content, tool_calls=calls or None)


def tool(id_, content):
    return ChatMessage(role="tool", tool_call_id=id_, content=content)


# -- ids -------------------------------------------------------------------------------------


def test_valid_ids_are_kept():
    for id_ in ("toolu_01A09q90qw90lq917835lq9", "call_abc123", "a-b_C-9"):
        assert anthropic_tool_id(id_) == id_


@pytest.mark.parametrize("id_", ["call.1", "call:abc", "id with space", "é", "x" * 65, ""])
def test_other_ids_map_to_a_deterministic_toolu_id(id_):
    mapped = anthropic_tool_id(id_)
    assert mapped == "toolu_" + hashlib.sha256(id_.encode()).hexdigest()[:24]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", mapped)
    assert anthropic_tool_id(id_) == mapped


def test_call_and_result_share_the_mapped_id():
    msgs = to_messages([user("go"), assistant(None, call("fc.1")), tool("fc.1", "sunny")])
    use, result = msgs[1]["content"][0], msgs[2]["content"][0]
    assert use["id"] == result["tool_use_id"] == anthropic_tool_id("fc.1") != "fc.1"


# -- system / developer ------------------------------------------------------------------------


def test_system_and_developer_turns_go_to_system_text_only():
    msgs = [
        ChatMessage(role="system", content="Be brief."),
        user("hi"),
        ChatMessage(role="developer", content=(TextPart(text="Use "), TextPart(text="French."))),
        ChatMessage(role="system", content=""),
    ]
    assert system_text(msgs) == "Be brief.\n\nUse French."
    assert to_messages(msgs) == [{"role": "user", "content": "hi"}]


# -- turns ---------------------------------------------------------------------------------------


def test_plain_conversation_keeps_string_content():
    msgs = [user("hi"), assistant("hello"), user("how are you?")]
    assert to_messages(msgs) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "how are you?"},
    ]


def test_name_is_ignored():
    assert to_messages([ChatMessage(role="user", content="hi", name="bob")]) == [
        {"role": "user", "content": "hi"}
    ]


def test_consecutive_same_role_turns_merge():
    msgs = [user("a"), user("b"), assistant("c"), assistant("d")]
    assert to_messages(msgs) == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}],
        },
    ]


def test_assistant_text_then_tool_use_blocks_then_one_user_turn_of_results():
    msgs = [
        user("Weather in Paris and Rome?"),
        assistant(
            "Checking.",
            call("call_1", arguments='{"city": "Paris"}'),
            call("call_2", arguments='{"city": "Rome", "days": [1, 2]}'),
        ),
        tool("call_1", "sunny"),
        tool("call_2", (TextPart(text="rain"), TextPart(text="y"))),
        user("Thanks. Which is warmer?"),
    ]
    assert to_messages(msgs) == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"city": "Rome", "days": [1, 2]},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "rainy"},
                {"type": "text", "text": "Thanks. Which is warmer?"},
            ],
        },
    ]


def test_assistant_that_only_calls_a_tool_has_no_text_block():
    msgs = to_messages([user("go"), assistant(None, call("call_1")), tool("call_1", "ok")])
    assert [b["type"] for b in msgs[1]["content"]] == ["tool_use"]


def test_tool_results_come_first_even_after_a_user_turn():
    # A user turn slipped between the call and its result still yields results first.
    msgs = to_messages(
        [user("go"), assistant(None, call("call_1")), user("hurry"), tool("call_1", "ok")]
    )
    assert [b["type"] for b in msgs[2]["content"]] == ["tool_result", "text"]


def test_empty_tool_result_has_no_content_and_images_in_results_are_blocks():
    png = ImagePart(image_url=ImageURL(url="data:image/png;base64,iVBORw0KGgo="))
    msgs = to_messages(
        [
            user("go"),
            assistant(None, call("call_1"), call("call_2")),
            tool("call_1", ""),
            tool("call_2", (TextPart(text="chart:"), png)),
        ]
    )
    assert msgs[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": [{"type": "text", "text": "chart:"}, image_block(png)],
        },
    ]


def test_first_turn_must_be_user():
    msgs = to_messages(
        [ChatMessage(role="system", content="s"), assistant("I was saying"), user("go on")]
    )
    assert msgs == [
        {"role": "user", "content": CONTINUED},
        {"role": "assistant", "content": "I was saying"},
        {"role": "user", "content": "go on"},
    ]


def test_empty_turns_are_left_out_and_neighbours_merge():
    msgs = to_messages([user("a"), assistant(""), user("b")])
    assert msgs == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
    assert to_messages([user("")]) == [{"role": "user", "content": CONTINUED}]


def test_blank_text_blocks_are_left_out():
    msgs = to_messages(
        [
            user((TextPart(text=" "), TextPart(text="hi"), TextPart(text="\n"))),
            assistant("\n", call("call_1")),
            tool("call_1", "  "),
        ]
    )
    assert msgs == [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1"}]},
    ]


def test_turns_alternate_whatever_the_input():
    msgs = to_messages(
        [
            assistant("x"),
            tool("t", "r"),
            user("u"),
            assistant(None, call("c1")),
            assistant("y", call("c2")),
            tool("c1", "1"),
            tool("c2", "2"),
            assistant("z"),
        ]
    )
    roles = [m["role"] for m in msgs]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))


# -- images ------------------------------------------------------------------------------------


def test_image_url_and_base64_sources_and_detail_ignored():
    https = ImagePart(image_url=ImageURL(url="https://example.com/cat.png", detail="high"))
    b64 = ImagePart(image_url=ImageURL(url="data:image/jpeg;base64,/9j/4AAQSkZJRg==", detail="low"))
    msgs = to_messages([user((TextPart(text="What is this?"), https, b64))])
    assert msgs == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/jpeg",
                        "data": "/9j/4AAQSkZJRg==",
                    },
                },
            ],
        }
    ]


def test_a_lone_image_stays_a_block_list():
    part = ImagePart(image_url=ImageURL(url="https://example.com/a.webp"))
    assert to_messages([user((part,))])[0]["content"] == [image_block(part)]


# -- tools and tool_choice ---------------------------------------------------------------------


def test_tools_param_shapes_and_defaults():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    specs = (
        ToolSpec(name="get_weather", description="Weather now.", parameters=schema, strict=True),
        ToolSpec(name="ping"),
        ToolSpec(name="loose", parameters={"properties": {}}),
    )
    assert tools_param(specs) == [
        {
            "name": "get_weather",
            "description": "Weather now.",
            "input_schema": schema,
            "strict": True,
        },
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
        {"name": "loose", "input_schema": {"properties": {}, "type": "object"}},
    ]


def test_sdk_tool_param_has_strict():
    assert "strict" in anthropic.types.ToolParam.__annotations__


TOOLS = (ToolSpec(name="get_weather"),)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (RequestParams(tools=TOOLS), None),
        (RequestParams(tools=TOOLS, tool_choice="auto"), {"type": "auto"}),
        (RequestParams(tools=TOOLS, tool_choice="required"), {"type": "any"}),
        (RequestParams(tools=TOOLS, tool_choice="none"), {"type": "none"}),
        (
            RequestParams(tools=TOOLS, tool_choice="required", tool_choice_name="get_weather"),
            {"type": "tool", "name": "get_weather"},
        ),
        (
            RequestParams(tools=TOOLS, parallel_tool_calls=False),
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
        (
            RequestParams(tools=TOOLS, tool_choice="required", parallel_tool_calls=False),
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        (
            RequestParams(
                tools=TOOLS,
                tool_choice="required",
                tool_choice_name="get_weather",
                parallel_tool_calls=False,
            ),
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        (
            RequestParams(tools=TOOLS, tool_choice="none", parallel_tool_calls=False),
            {"type": "none"},
        ),
        (RequestParams(tools=TOOLS, parallel_tool_calls=True), None),
        (
            RequestParams(tools=TOOLS, tool_choice="auto", parallel_tool_calls=True),
            {"type": "auto"},
        ),
    ],
)
def test_tool_choice_variants(params, expected):
    assert tool_choice_param(params) == expected


# -- thinking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_budgets(effort, budget):
    assert thinking_budget(RequestParams(reasoning_effort=effort), [user("hi")]) == budget


def test_no_thinking_without_effort_with_a_forced_tool_or_inside_a_tool_loop():
    assert thinking_budget(RequestParams(), [user("hi")]) is None
    forced = RequestParams(tools=TOOLS, tool_choice="required", reasoning_effort="high")
    named = RequestParams(
        tools=TOOLS, tool_choice="required", tool_choice_name="get_weather", reasoning_effort="low"
    )
    assert thinking_budget(forced, [user("hi")]) is None
    assert thinking_budget(named, [user("hi")]) is None
    loop = [user("go"), assistant(None, call("call_1")), tool("call_1", "ok")]
    effort = RequestParams(tools=TOOLS, reasoning_effort="medium")
    assert thinking_budget(effort, loop) is None
    done = [*loop, assistant("It is ok."), user("And now?")]
    assert thinking_budget(effort, done) == 4096


# -- answer --------------------------------------------------------------------------------------


def test_tool_use_blocks_become_tool_calls():
    msg = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-a",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris", "units": ["c"]},
                },
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )
    (tc,) = tool_calls_from(msg.content)
    assert tc.id == "toolu_01" and tc.type == "function" and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Paris", "units": ["c"]}
