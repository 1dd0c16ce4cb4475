"""Structured output through the real SDKs: the exact upstream body for ``response_format``,
``Completion.parsed``, and an answer that is not JSON failing over without blaming key or
breaker."""

import pytest

import adaptive_mind as am
from adaptive_mind.providers.anthropic import JSON_OBJECT_INSTRUCTION
from tests.helpers import USER
from tests.providers.test_wire_failover import wire_config

PROVIDERS = ("openai", "anthropic", "gemini")
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "score": {"type": "number"},
        "count": {"type": "integer"},
        "ok": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name"],
            "additionalProperties": False,
        },
        "unused": {"type": "string"},
    },
    "required": ["title", "score", "count", "ok", "tags", "owner"],
    "additionalProperties": False,
}
EXPECTED = {"title": "x", "score": 1, "count": 1, "ok": True, "tags": [], "owner": {"name": "x"}}
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "ticket", "schema": SCHEMA, "strict": True},
}


@pytest.fixture
def system(server, start) -> am.ActorSystem:
    one = {"retry": {"max_attempts": 1}, "breaker": {"failure_threshold": 1}}
    return start(wire_config(server, openai=one, anthropic=one, gemini=one))


def untouched(system, provider):
    assert system.breaker_state(provider) == "closed"
    assert all(k["failures"] == 0 for k in system.key_states(provider)), system.key_states(provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_json_schema_request_is_parsed_on_each_provider(server, system, provider):
    reply = system.complete(USER, providers=[provider], response_format=JSON_SCHEMA)
    assert reply.provider == provider
    assert reply.parsed == EXPECTED
    assert reply.finish_reason == "stop"
    (body,) = server.bodies(provider)
    if provider == "openai":
        assert body["response_format"] == JSON_SCHEMA
        assert reply.attempts[-1].translated == ()
    elif provider == "anthropic":
        assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
        assert "system" not in body and "response_format" not in body
        assert reply.attempts[-1].translated == ()
    else:
        gen = body["generationConfig"]
        assert gen["responseMimeType"] == "application/json"
        assert gen["responseJsonSchema"] == SCHEMA
        assert "responseSchema" not in gen
    assert reply.attempts[-1].dropped == ()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_json_object_request_is_parsed_on_each_provider(server, system, provider):
    reply = system.complete(
        [{"role": "system", "content": "Be brief."}, *USER],
        providers=[provider],
        response_format={"type": "json_object"},
    )
    assert isinstance(reply.parsed, dict) and reply.parsed
    (body,) = server.bodies(provider)
    if provider == "openai":
        assert body["response_format"] == {"type": "json_object"}
        assert reply.attempts[-1].translated == ()
    elif provider == "anthropic":  # no JSON mode without a schema: a system instruction
        assert body["system"] == f"Be brief.\n\n{JSON_OBJECT_INSTRUCTION}"
        assert "output_config" not in body
        assert reply.attempts[-1].translated == ("response_format→system",)
    else:
        gen = body["generationConfig"]
        assert gen["responseMimeType"] == "application/json"
        assert "responseJsonSchema" not in gen and "responseSchema" not in gen


@pytest.mark.parametrize("provider", PROVIDERS)
def test_text_format_and_no_format_leave_the_body_and_parsed_alone(server, system, provider):
    reply = system.complete(USER, providers=[provider], response_format={"type": "text"})
    assert reply.parsed is None and reply.text == server.text
    (body,) = server.bodies(provider)
    if provider == "openai":
        assert body["response_format"] == {"type": "text"}
    elif provider == "anthropic":
        assert "output_config" not in body and "system" not in body
    else:
        assert "responseMimeType" not in body.get("generationConfig", {})
    plain = system.complete(USER, providers=[provider])
    assert plain.parsed is None


def test_without_a_system_prompt_the_anthropic_instruction_is_the_whole_of_it(server, system):
    reply = system.complete(USER, providers=["anthropic"], response_format={"type": "json_object"})
    assert server.bodies("anthropic")[0]["system"] == JSON_OBJECT_INSTRUCTION
    assert isinstance(reply.parsed, dict)


def test_an_invalid_json_answer_fails_over_without_blaming_key_or_breaker(server, system):
    server.add_rule("openai", "bad_json_answer")
    reply = system.complete(USER, response_format=JSON_SCHEMA)
    assert reply.provider == "anthropic" and reply.parsed == EXPECTED
    first, second = reply.attempts
    assert (first.provider, first.category, first.status_code) == (
        "openai",
        am.ErrorCategory.TRANSIENT,
        200,
    )
    assert "invalid JSON" in first.error
    assert second.provider == "anthropic" and second.category is None
    assert server.count("openai") == 1  # the walk left openai at once: no other key, no model
    untouched(system, "openai")
    again = system.complete(USER, response_format=JSON_SCHEMA)  # breaker still lets it in
    assert again.provider == "anthropic" and server.count("openai") == 2
    untouched(system, "openai")


def test_every_provider_answering_invalid_json_is_all_providers_failed(server, system):
    for provider in PROVIDERS:
        server.add_rule(provider, "bad_json_answer")
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER, response_format={"type": "json_object"})
    attempts = info.value.attempts
    assert [a.provider for a in attempts] == list(PROVIDERS)
    assert all("invalid JSON" in a.error and a.status_code == 200 for a in attempts)
    for provider in PROVIDERS:
        untouched(system, provider)


def test_bad_json_answer_is_an_ordinary_answer_for_a_text_request(server, system):
    server.add_rule("openai", "bad_json_answer")
    reply = system.complete(USER)
    assert reply.provider == "openai" and reply.text == server.text and reply.parsed is None
