"""A tool-calling conversation whose provider changes between rounds, through the real SDKs.

Failover is exactly when a conversation started on one provider continues on another, so its
tool calls (ids, roles, ordering) must be translated for each. The chaos server rejects a
structurally invalid request with that provider's real 400, like the real APIs, so a
translation bug fails here instead of at a customer.
"""

import json

import pytest

import adaptive_mind as am
from tests.providers.test_wire_failover import wire_config

TOOLS = [
    {
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
    },
    {
        "type": "function",
        "function": {
            "name": "find_hotel",
            "parameters": {"type": "object", "properties": {"max_price": {"type": "number"}}},
        },
    },
]


@pytest.fixture
def system(server, start):
    one = {"retry": {"max_attempts": 1}, "api_keys": ["k-one"]}
    cfg = wire_config(server, openai=one, anthropic=one, gemini={"api_keys": ["g-one"]})
    return start(cfg)


def invalid(server):
    return [h for h in server.hits() if h.outcome == "invalid"]


def down(server, *providers):
    server.clear_rules()
    for p in providers:
        server.add_rule(p, "unavailable")


def ask(system, server, messages, expect, **kw):
    reply = system.complete(messages, tools=TOOLS, deadline_s=10, **kw)
    assert reply.provider == expect, reply.attempts
    assert invalid(server) == [], [h.body for h in invalid(server)]
    return reply


def test_three_rounds_across_openai_anthropic_and_gemini_stay_valid(system, server):
    messages: list = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    # Round 1 on OpenAI: it calls a tool.
    r1 = ask(system, server, messages, "openai")
    assert r1.finish_reason == "tool_calls" and len(r1.tool_calls) == 1
    call = r1.tool_calls[0]
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "x"}
    messages += [
        r1.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'},
        {"role": "user", "content": "And a hotel under 150?"},
    ]
    # Round 2: OpenAI is down, Anthropic gets OpenAI's tool ids and answers with its own call.
    down(server, "openai")
    r2 = ask(
        system,
        server,
        messages,
        "anthropic",
        tool_choice={"type": "function", "function": {"name": "find_hotel"}},
    )
    sent = server.bodies("anthropic")[-1]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    use, result = sent["messages"][1]["content"][-1], sent["messages"][2]["content"][0]
    assert use["type"] == "tool_use" and result["type"] == "tool_result"
    assert use["id"] == result["tool_use_id"]
    assert r2.tool_calls[0].function.name == "find_hotel"
    messages += [
        r2.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": r2.tool_calls[0].id, "content": "Hotel Rio, 120 EUR"},
        {"role": "user", "content": "Book it and tell me the weather again."},
    ]
    # Round 3: OpenAI and Anthropic down, Gemini gets both providers' ids.
    down(server, "openai", "anthropic")
    r3 = ask(system, server, messages, "gemini")
    sent = server.bodies("gemini")[-1]
    answered = [
        p["functionResponse"]["name"]
        for c in sent["contents"]
        for p in c["parts"]
        if "functionResponse" in p
    ]
    assert answered == ["get_weather", "find_hotel"]
    assert r3.tool_calls and r3.finish_reason == "tool_calls"
    messages += [
        r3.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": r3.tool_calls[0].id, "content": "sunny again"},
    ]
    # Round 4: everyone is back; OpenAI continues a conversation holding Gemini's ids.
    down(server)
    r4 = ask(system, server, messages, "openai")
    assert r4.text and not r4.tool_calls and r4.finish_reason == "stop"
    # And Anthropic takes the whole history too (tool turns last: it answers with text).
    down(server, "openai")
    r5 = ask(system, server, messages, "anthropic")
    assert r5.text and r5.finish_reason == "stop"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_each_provider_answers_a_json_schema_request_with_the_parsed_object(
    system, server, provider
):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "trip", "schema": schema, "strict": True}}
    reply = system.complete(
        [{"role": "user", "content": "plan"}], providers=[provider], response_format=fmt
    )
    assert reply.provider == provider
    assert reply.parsed == {"city": "x", "days": 1}


def test_an_image_reaches_each_provider_in_its_own_format(system, server):
    png = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": png}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    for provider in ("openai", "anthropic", "gemini"):
        reply = system.complete([{"role": "user", "content": content}], providers=[provider])
        assert reply.provider == provider and reply.text
    assert invalid(server) == []
    oa = server.bodies("openai")[-1]["messages"][0]["content"]
    assert oa[1] == {"type": "image_url", "image_url": {"url": png}}
    an = server.bodies("anthropic")[-1]["messages"][0]["content"]
    assert an[1]["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert an[2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}
    ge = server.bodies("gemini")[-1]["contents"][0]["parts"]
    assert ge[1]["inlineData"]["mime_type"] == "image/png"
    assert ge[2]["fileData"] == {
        "file_uri": "https://example.com/cat.jpg",
        "mime_type": "image/jpeg",
    }


def test_a_request_the_runtime_refuses_never_reaches_the_server(system, server):
    with pytest.raises(am.BadRequestError):
        system.complete([{"role": "tool", "tool_call_id": "nope", "content": "x"}], tools=TOOLS)
    assert server.hits() == []
