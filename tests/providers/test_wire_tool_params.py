"""The contract suite for tools, tool_choice, parallel_tool_calls, reasoning_effort and message
shapes, parameter x provider, through the real SDKs against the chaos server: the exact part of
the body each SDK sent, and the Completion that came back."""

import pytest

from tests.providers.test_wire_failover import wire_config

PROVIDERS = ("openai", "anthropic", "gemini")
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA},
    },
    {"type": "function", "function": {"name": "get_time"}},
]
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def system(server, start):
    one = {"retry": {"max_attempts": 1}}
    return start(wire_config(server, openai=one, anthropic=one))


def body_of(server, provider):
    bodies = server.bodies(provider)
    assert len(bodies) == 1, bodies
    return bodies[0]


def at(body, path):
    for step in path:
        body = body[step]
    return body


# case: (keywords, {provider: [(path in the body, expected value), ...]}, expected tool called)
CASES = {
    "tools": (
        {"tools": TOOLS},
        {
            "openai": [
                (("tools", 0, "function", "name"), "get_weather"),
                (("tools", 0, "function", "parameters"), SCHEMA),
                (("tools", 1, "function"), {"name": "get_time"}),
            ],
            "anthropic": [
                (("tools", 0), {"name": "get_weather", "description": "Weather",
                                "input_schema": SCHEMA}),
                (("tools", 1, "input_schema"), {"type": "object", "properties": {}}),
            ],
            "gemini": [
                (("tools", 0, "functionDeclarations", 0, "name"), "get_weather"),
                (("tools", 0, "functionDeclarations", 0, "parameters_json_schema"), SCHEMA),
            ],
        },
        "get_weather",
    ),
    "tool_choice_required": (
        {"tools": TOOLS, "tool_choice": "required"},
        {
            "openai": [(("tool_choice",), "required")],
            "anthropic": [(("tool_choice",), {"type": "any"})],
            "gemini": [(("toolConfig", "functionCallingConfig", "mode"), "ANY")],
        },
        "get_weather",
    ),
    "tool_choice_named": (
        {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
        {
            "openai": [
                (("tool_choice",), {"type": "function", "function": {"name": "get_time"}})
            ],
            "anthropic": [(("tool_choice",), {"type": "tool", "name": "get_time"})],
            "gemini": [
                (("toolConfig", "functionCallingConfig"),
                 {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
            ],
        },
        "get_time",
    ),
    "tool_choice_none": (
        {"tools": TOOLS, "tool_choice": "none"},
        {
            "openai": [(("tool_choice",), "none")],
            "anthropic": [(("tool_choice",), {"type": "none"})],
            "gemini": [(("toolConfig", "functionCallingConfig", "mode"), "NONE")],
        },
        None,
    ),
    "parallel_tool_calls": (
        {"tools": TOOLS, "parallel_tool_calls": False},
        {
            "openai": [(("parallel_tool_calls",), False)],
            "anthropic": [
                (("tool_choice",), {"type": "auto", "disable_parallel_tool_use": True})
            ],
            "gemini": [],  # no such field: dropped, and the attempt says so
        },
        "get_weather",
    ),
    "reasoning_effort": (
        {"reasoning_effort": "low", "max_tokens": 100},
        {
            "openai": [(("reasoning_effort",), "low"), (("max_tokens",), 100)],
            "anthropic": [
                (("thinking",), {"type": "enabled", "budget_tokens": 1024}),
                (("max_tokens",), 1124),
            ],
            "gemini": [
                (("generationConfig", "thinkingConfig"), {"thinking_budget": 1024}),
                (("generationConfig", "maxOutputTokens"), 1124),
            ],
        },
        None,
    ),
}  # fmt: skip
DROPPED = {("parallel_tool_calls", "gemini"): ("parallel_tool_calls",)}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", list(CASES))
def test_each_tool_parameter_reaches_each_provider_as_its_sdk_spells_it(
    server, system, case, provider
):
    kwargs, expected, tool = CASES[case]
    reply = system.complete(USER, providers=[provider], **kwargs)
    body = body_of(server, provider)
    for path, value in expected[provider]:
        assert at(body, path) == value, (path, body)
    assert reply.provider == provider
    assert reply.attempts[-1].dropped == DROPPED.get((case, provider), ())
    if tool is None:
        assert reply.text and not reply.tool_calls and reply.finish_reason == "stop"
    else:
        assert [c.function.name for c in reply.tool_calls] == [tool]
        assert reply.finish_reason == "tool_calls" and reply.text == ""
        assert reply.message.tool_calls == reply.tool_calls
    if case == "reasoning_effort" and provider != "anthropic":  # the server reports none there
        assert reply.usage.reasoning_tokens is not None and reply.usage.reasoning_tokens > 0
    assert reply.usage.cached_tokens == 0


SHAPES = {
    "developer_and_system": (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": "hi"},
        ],
        {
            "openai": [(("messages", 1), {"role": "developer", "content": "Use metric units."})],
            "anthropic": [(("system",), "Be brief.\n\nUse metric units."),
                          (("messages",), [{"role": "user", "content": "hi"}])],
            "gemini": [
                (("systemInstruction", "parts"),
                 [{"text": "Be brief.\n\nUse metric units."}]),
            ],
        },
    ),
    "name": (
        [{"role": "user", "content": "hi", "name": "ann"}],
        {
            "openai": [(("messages", 0), {"role": "user", "content": "hi", "name": "ann"})],
            "anthropic": [(("messages", 0), {"role": "user", "content": "hi"})],
            "gemini": [(("contents", 0), {"role": "user", "parts": [{"text": "hi"}]})],
        },
    ),
    "text_parts": (
        [{"role": "user", "content": [{"type": "text", "text": "a"},
                                      {"type": "text", "text": "b"}]}],
        {
            "openai": [(("messages", 0, "content", 1), {"type": "text", "text": "b"})],
            "anthropic": [(("messages", 0, "content", 1), {"type": "text", "text": "b"})],
            "gemini": [(("contents", 0, "parts"), [{"text": "a"}, {"text": "b"}])],
        },
    ),
    "consecutive_user_turns": (
        [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
        {
            "openai": [(("messages", 1), {"role": "user", "content": "two"})],
            "anthropic": [
                (("messages",), [{"role": "user", "content": [{"type": "text", "text": "one"},
                                                              {"type": "text", "text": "two"}]}]),
            ],
            "gemini": [(("contents", 0, "parts"), [{"text": "one"}, {"text": "two"}])],
        },
    ),
}  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_message_shape_reaches_each_provider_valid(server, system, shape, provider):
    messages, expected = SHAPES[shape]
    reply = system.complete(messages, providers=[provider])
    body = body_of(server, provider)
    for path, value in expected[provider]:
        assert at(body, path) == value, (path, body)
    assert reply.provider == provider and reply.text
    assert [h.outcome for h in server.hits()] == ["ok"]
