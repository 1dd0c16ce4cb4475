"""The canonical request at admission: message shapes, tools, capabilities (no upstream call
for anything invalid), and the answer's message / tool calls."""

import base64

import pytest

import adaptive_mind as am
from tests.helpers import USER, config, scripted, upstream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
TOOL_ROUND = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]

VALID = [
    [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "hi", "name": "ann"},
    ],
    [{"role": "user", "content": [{"type": "text", "text": "look"}]}],
    [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            ],
        }
    ],
    TOOL_ROUND,
    [*TOOL_ROUND, {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "ok"}],
    # An OpenAI SDK message dump carries empty fields: accepted, so answers can be sent back.
    [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "refusal": None}],
    [
        am.ChatMessage(role="user", content="weather?"),
        am.ChatMessage(role="assistant", tool_calls=[CALL]),
        am.ChatMessage(role="tool", tool_call_id="call_1", content="sunny"),
    ],
]

INVALID_MESSAGES = [
    ([{"role": "robot", "content": "x"}], "messages[0].role"),
    ([{"role": "user", "content": None}], "messages[0].content"),
    ([{"role": "user", "content": []}], "messages[0].content"),
    ([{"role": "user", "content": [{"type": "audio"}]}], "messages[0].content[0].type"),
    ([{"role": "user", "content": [{"type": "text", "text": 5}]}], "messages[0].content[0].text"),
    (
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a"}}]}],
        "messages[0].content[0].image_url.url",
    ),
    (
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
        "messages[0].content[0].image_url.url",
    ),
    (
        [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}
                ],
            }
        ],
        "messages[0].content[0].image_url.url",
    ),
    (
        [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}
                ],
            }
        ],
        "messages[0].content[0].image_url.url",
    ),
    (
        [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": PNG, "detail": "max"}}],
            }
        ],
        "messages[0].content[0].image_url.detail",
    ),
    (
        [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}],
        "messages[0].content[0]",
    ),
    ([{"role": "user", "content": "x", "name": "has space"}], "messages[0].name"),
    ([{"role": "user", "content": "x", "tool_calls": [CALL]}], "messages[0].tool_calls"),
    ([{"role": "user", "content": "x", "tool_call_id": "c"}], "messages[0].tool_call_id"),
    ([{"role": "tool", "content": "sunny"}], "messages[0].tool_call_id"),
    (
        [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c9", "content": "s"}],
        "messages[1].tool_call_id",
    ),
    (  # a tool turn must follow the assistant turn that made the call
        [*TOOL_ROUND, {"role": "user", "content": "x"}, TOOL_ROUND[2]],
        "messages[4].tool_call_id",
    ),
    ([TOOL_ROUND[0], TOOL_ROUND[1]], "messages[1].tool_calls[0].id"),  # never answered
    (
        [TOOL_ROUND[0], TOOL_ROUND[1], {"role": "user", "content": "x"}],
        "messages[1].tool_calls[0].id",
    ),
    (
        [
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "{x"}}],
            }
        ],
        "messages[0].tool_calls[0].function.arguments",
    ),
    (
        [
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}],
            }
        ],
        "messages[0].tool_calls[0].function.arguments",
    ),
    (
        [
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "f g", "arguments": "{}"}}],
            }
        ],
        "messages[0].tool_calls[0].function.name",
    ),
    ([{"role": "assistant", "tool_calls": [{**CALL, "id": ""}]}], "messages[0].tool_calls[0].id"),
    (
        [{"role": "assistant", "tool_calls": [{**CALL, "type": "x"}]}],
        "messages[0].tool_calls[0].type",
    ),
    ([{"role": "assistant", "content": None}], "messages[0].content"),
    ([{"role": "user", "content": "x", "audio": {"id": "a"}}], "messages[0].'audio'"),
]

INVALID_PARAMS = [
    ({"tools": WEATHER}, "tools"),
    ({"tools": []}, "tools"),
    ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]},
        "tools[0].function.parameters.type",
    ),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
        "tools[0].function.parameters",
    ),
    (
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}
            ]
        },
        "tools[0].function.parameters.type",
    ),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
        "tools[0].function.strict",
    ),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    (
        {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "tool_choice.function.name",
    ),
    ({"tool_choice": "auto"}, "tool_choice"),
    ({"tools": [WEATHER], "parallel_tool_calls": "no"}, "parallel_tool_calls"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"reasoning_effort": "max"}, "reasoning_effort"),
]


@pytest.fixture
def system(start):
    return start(config({"a": scripted(), "b": scripted(["k2"])}))


def calls(system):
    return sum(a.calls for a in system._tree.adapters.values())


@pytest.mark.parametrize("messages", VALID, ids=range(len(VALID)))
def test_every_valid_shape_is_accepted_and_answered(system, messages):
    reply = system.complete(messages, tools=[WEATHER])
    last = messages[-1]
    if (last["role"] if isinstance(last, dict) else last.role) == "user":
        assert reply.tool_calls[0].function.name == "get_weather"  # the scripted model calls it
        assert reply.finish_reason == "tool_calls"
        assert reply.text == ""
    else:
        assert reply.text and not reply.tool_calls
    assert calls(system) == 1


@pytest.mark.parametrize(("messages", "field"), INVALID_MESSAGES, ids=range(len(INVALID_MESSAGES)))
def test_every_invalid_message_is_refused_naming_the_field_before_any_call(system, messages, field):
    with pytest.raises(am.BadRequestError) as info:
        system.complete(messages, tools=[WEATHER])
    assert str(info.value).startswith(f"{field}:"), str(info.value)
    assert info.value.request_id is None
    assert calls(system) == 0


@pytest.mark.parametrize(("params", "field"), INVALID_PARAMS, ids=range(len(INVALID_PARAMS)))
def test_every_invalid_tool_parameter_is_refused_naming_it_before_any_call(system, params, field):
    with pytest.raises(am.BadRequestError) as info:
        system.complete(USER, **params)
    assert str(info.value).startswith(f"{field}:"), str(info.value)
    assert calls(system) == 0


def test_a_validated_tool_list_is_cached_and_private(system):
    tools = [WEATHER]
    system.complete(
        USER, tools=tools, tool_choice={"type": "function", "function": {"name": "get_weather"}}
    )
    spec = upstream(system, "a").last_call.params  # the adapter saw the validated spec
    assert spec.tools[0].name == "get_weather"
    assert spec.tool_choice == "required"
    assert spec.tool_choice_name == "get_weather"
    assert spec.tool_choice_openai() == {"type": "function", "function": {"name": "get_weather"}}
    with pytest.raises(TypeError):
        spec.tools[0].parameters["type"] = "array"  # read-only: shared by every request


def test_a_provider_that_cannot_serve_the_request_is_skipped_as_unsupported(start):
    system = start(
        config(
            {
                "a": scripted(capabilities={"tools": False}),
                "b": scripted(["k2"], responses=[{"fail": 503}]),
            }
        )
    )
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER, tools=[WEATHER], deadline_s=5)
    assert ("a", "unsupported") in info.value.skipped
    assert upstream(system, "a").calls == 0
    # Plain text still goes to a.
    assert system.complete(USER).provider == "a"


def test_a_request_no_provider_can_serve_is_a_bad_request_before_any_call(start):
    system = start(
        config(
            {
                "a": scripted(capabilities={"images": False}),
                "b": scripted(["k2"], model_capabilities={"m1": {"images": False}}),
            }
        )
    )
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}]
    with pytest.raises(am.BadRequestError) as info:
        system.complete(image)
    assert str(info.value).startswith("messages (an image part): no provider")
    assert "a does not support images" in str(info.value)
    assert calls(system) == 0


def test_models_without_a_capability_are_left_out_of_the_walk(start):
    system = start(
        config(
            {
                "a": scripted(
                    models=["old", "new"], model_capabilities={"old": {"json_schema": False}}
                )
            }
        )
    )
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
    upstream(system, "a").text = "{}"
    reply = system.complete(USER, response_format=fmt)
    assert reply.model == "new"
    assert [a.model for a in reply.attempts] == ["new"]


def test_reasoning_effort_is_dropped_for_a_model_that_does_not_reason(start):
    system = start(
        config(
            {"a": scripted(models=["m1", "m2"], model_capabilities={"m1": {"reasoning": False}})}
        )
    )
    reply = system.complete(USER, reasoning_effort="high")
    assert reply.attempts[-1].dropped == ("reasoning_effort",)
    assert upstream(system, "a").last_call.params.reasoning_effort is None
    reply = system.complete(USER, reasoning_effort="high", models={"a": ["m2"]})
    assert reply.attempts[-1].dropped == ()
    assert upstream(system, "a").last_call.params.reasoning_effort == "high"


def test_capabilities_config_names_a_wrong_model_or_field():
    base = {"kind": "scripted", "api_keys": ["k"], "models": ["m1"]}
    with pytest.raises(am.ConfigError, match=r"providers\.a\.model_capabilities\.zz"):
        am.RuntimeConfig.model_validate(
            {"providers": {"a": {**base, "model_capabilities": {"zz": {}}}}}
        )
    with pytest.raises(am.ConfigError, match=r"providers\.a\.capabilities\.tool"):
        am.RuntimeConfig.model_validate({"providers": {"a": {**base, "capabilities": {"tool": 1}}}})


def test_the_answer_message_is_a_valid_next_turn():
    calls_ = ({"id": "c1", "function": {"name": "f", "arguments": '{"x": 1}'}},)
    done = am.Completion(
        request_id="r", text="", provider="p", model="m", key_id="k", latency_ms=1.0,
        tool_calls=calls_,
    )  # fmt: skip
    turn = done.message.model_dump(exclude_none=True)
    assert turn["role"] == "assistant" and "content" not in turn
    assert turn["tool_calls"][0]["function"]["name"] == "f"
    history = [
        {"role": "user", "content": "go"},
        turn,
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    from adaptive_mind.admission_messages import validate_messages

    assert len(validate_messages(history)) == 3
