"""The chaos server refuses structurally invalid requests as the real APIs do: each rule is one
body that the real SDK gets back as its typed 400, the message naming the problem; the hit is
recorded with outcome ``invalid`` and no fault rule is spent on it."""

import copy
import json
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google.genai import errors, types

from adaptive_mind.simulation.server import ChaosServer
from tests.simulation.test_wire_tools import (
    ANTHROPIC_TOOLS,
    GEMINI_TOOLS,
    KEY,
    OPENAI_TOOLS,
    USER,
    anthropic_chat,
    gemini_chat,
    openai_chat,
    run,
)


def outcomes(server: ChaosServer) -> list[str]:
    return [h.outcome for h in server.hits()]


# -- OpenAI ---------------------------------------------------------------------------------

CALL_A = {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
CALL_B = {"id": "call_b", "type": "function", "function": {"name": "clock", "arguments": "{}"}}
ASKS = {"role": "assistant", "content": None, "tool_calls": [CALL_A, CALL_B]}
OPENAI_INVALID = {
    "tool_without_call": (
        [USER, {"role": "tool", "tool_call_id": "call_a", "content": "Sunny"}],
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
    ),
    "tool_answers_an_unknown_id": (
        [USER, ASKS, {"role": "tool", "tool_call_id": "call_zzz", "content": "Sunny"}],
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
    ),
    "call_not_answered": (
        [USER, ASKS, {"role": "tool", "tool_call_id": "call_a", "content": "Sunny"}, USER],
        "The following tool_call_ids did not have response messages: call_b",
    ),
    "unknown_role": (
        [{"role": "robot", "content": "Hi"}],
        "Invalid value: 'robot'. Supported values are",
    ),
    "image_url_not_http_or_data": (
        [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "ftp://host/a.png"}}],
            }
        ],
        "messages[0].content[0].image_url.url",
    ),
}


@pytest.mark.parametrize("case", OPENAI_INVALID)
def test_openai_refuses_an_invalid_body(server: ChaosServer, case: str) -> None:
    messages, words = OPENAI_INVALID[case]
    with pytest.raises(openai.BadRequestError) as caught:
        run(lambda: openai_chat(server, messages, tools=OPENAI_TOOLS))
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert words in caught.value.body["message"]
    assert outcomes(server) == ["invalid"]


def test_openai_accepts_a_valid_multi_turn_tool_conversation(server: ChaosServer) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        USER,
        ASKS,
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
        {"role": "tool", "tool_call_id": "call_a", "content": "Sunny"},
        {"role": "assistant", "content": "Sunny at noon."},
        USER,
    ]
    resp = run(lambda: openai_chat(server, messages, tools=OPENAI_TOOLS))
    assert resp.choices[0].finish_reason == "tool_calls"
    assert outcomes(server) == ["ok"]


def test_validation_comes_before_fault_rules(server: ChaosServer) -> None:
    rule = server.add_rule("openai", "rate_limit", times=1)
    bad = [{"role": "robot", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError):
        run(lambda: openai_chat(server, bad))
    assert rule.used == 0
    with pytest.raises(openai.RateLimitError):
        run(lambda: openai_chat(server, [USER]))
    assert outcomes(server) == ["invalid", "rate_limit"]


# -- Anthropic ------------------------------------------------------------------------------


def use(tool_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": "weather", "input": {"city": "Paris"}}


def result(tool_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "Sunny"}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


TEXT = {"type": "text", "text": "Go on."}
ANTHROPIC_INVALID: dict[str, tuple[list[dict[str, Any]], dict[str, Any], str]] = {
    "system_role_in_messages": (
        [{"role": "system", "content": "Be brief."}, USER],
        {},
        'Unexpected role "system"',
    ),
    "roles_not_alternating": (
        [USER, USER],
        {},
        'roles must alternate between "user" and "assistant"',
    ),
    "first_message_not_user": (
        [{"role": "assistant", "content": "Hello"}, USER],
        {},
        'first message must use the "user" role',
    ),
    "tool_result_without_tool_use": (
        [USER, assistant(use("toolu_1")), user(result("toolu_2"))],
        {},
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_2",
    ),
    "tool_use_not_answered": (
        [USER, assistant(use("toolu_1")), user(TEXT)],
        {},
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
    ),
    "tool_result_not_first": (
        [USER, assistant(use()), user(TEXT, result())],
        {},
        "Did not find 1 `tool_result` block(s) at the beginning of this message",
    ),
    "tool_id_pattern": (
        [USER, assistant(use("call.1/x")), user(result("call.1/x"))],
        {},
        "String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    "empty_text_block": (
        [user({"type": "text", "text": ""})],
        {},
        "text content blocks must be non-empty",
    ),
    "tool_blocks_without_tools": (
        [USER, assistant(use()), user(result())],
        {"tools": None},
        "must define tools",
    ),
    "thinking_budget_below_minimum": (
        [USER],
        {"thinking": {"type": "enabled", "budget_tokens": 512}},
        "budget_tokens: Input should be greater than or equal to 1024",
    ),
    "thinking_budget_not_below_max_tokens": (
        [USER],
        {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2048},
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
}


@pytest.mark.parametrize("case", ANTHROPIC_INVALID)
def test_anthropic_refuses_an_invalid_body(server: ChaosServer, case: str) -> None:
    messages, extra, words = copy.deepcopy(ANTHROPIC_INVALID[case])
    kw: dict[str, Any] = {"tools": ANTHROPIC_TOOLS, **extra}
    if kw["tools"] is None:
        del kw["tools"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        run(lambda: anthropic_chat(server, messages, **kw))
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert words in caught.value.body["error"]["message"]
    assert outcomes(server) == ["invalid"]


def test_anthropic_accepts_a_valid_multi_turn_tool_conversation(server: ChaosServer) -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    messages = [
        user({"type": "text", "text": "Weather here?"}, image),
        assistant({"type": "text", "text": "Checking."}, use("toolu_1"), use("toolu_2")),
        user(result("toolu_2"), result("toolu_1"), TEXT),
        {"role": "assistant", "content": "Sunny."},
        USER,
    ]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    resp = run(
        lambda: anthropic_chat(
            server,
            messages,
            tools=ANTHROPIC_TOOLS,
            thinking=thinking,
            max_tokens=2048,
            system="Be brief.",
        )
    )
    assert resp.stop_reason == "tool_use"
    assert outcomes(server) == ["ok"]


# -- Gemini ---------------------------------------------------------------------------------


def content(role: str, *parts: types.Part) -> types.Content:
    return types.Content(role=role, parts=list(parts))


def call_part(name: str = "weather") -> types.Part:
    return types.Part(function_call=types.FunctionCall(id="c1", name=name, args={"city": "P"}))


def answer_part(name: str = "weather") -> types.Part:
    answer = types.FunctionResponse(id="c1", name=name, response={"result": "Sunny"})
    return types.Part(function_response=answer)


ASK = content("user", types.Part(text="Weather?"))
GEMINI_INVALID = {
    "role_not_user_or_model": (
        [content("system", types.Part(text="Be brief.")), ASK],
        "Please use a valid role: user, model.",
    ),
    "function_response_name_does_not_match": (
        [ASK, content("model", call_part("weather")), content("user", answer_part("clock"))],
        "function response for 'clock' that matches no function call",
    ),
    "function_response_without_call_turn": (
        [ASK, content("user", answer_part("weather"))],
        "function response turn comes immediately after a function call turn",
    ),
    "function_call_not_answered": (
        [ASK, content("model", call_part()), content("user", types.Part(text="Well?"))],
        "the number of function response parts is equal to the number of function call parts",
    ),
    "part_without_data": (
        [content("user", types.Part(text="Hi"), types.Part())],
        "contents[0].parts[1].data: required oneof field 'data' must have one initialized field",
    ),
}


@pytest.mark.parametrize("case", GEMINI_INVALID)
def test_gemini_refuses_an_invalid_body(server: ChaosServer, case: str) -> None:
    contents, words = GEMINI_INVALID[case]
    config = types.GenerateContentConfig(tools=GEMINI_TOOLS)
    with pytest.raises(errors.ClientError) as caught:
        run(lambda: gemini_chat(server, contents, config))
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert words in caught.value.message
    assert outcomes(server) == ["invalid"]


def test_gemini_accepts_a_valid_tool_conversation_with_repeated_roles(
    server: ChaosServer,
) -> None:
    contents = [
        ASK,
        content("user", types.Part(text="In Paris.")),  # Gemini does not need alternation
        content("model", types.Part(text="Checking."), call_part()),
        content("user", answer_part()),
        content("model", types.Part(text="Sunny.")),
        content("model", types.Part(text="Anything else?")),
        ASK,
    ]
    config = types.GenerateContentConfig(tools=GEMINI_TOOLS)
    resp = run(lambda: gemini_chat(server, contents, config))
    assert [c.name for c in resp.function_calls] == ["weather"]
    assert outcomes(server) == ["ok"]


def test_gemini_raw_body_with_an_empty_part_gets_google_error_body(server: ChaosServer) -> None:
    async def post() -> tuple[int, Any]:
        url = f"{server.url('gemini')}/v1beta/models/gemini-x:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"thought": True}]}]}
        headers = {"x-goog-api-key": KEY}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as resp,
        ):
            return resp.status, json.loads(await resp.text())

    status, body = run(post)
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT" and body["error"]["code"] == 400
    assert "parts[0].data" in body["error"]["message"]
    assert outcomes(server) == ["invalid"]
