"""Per-request parameters through the real SDKs: the exact upstream body, drops, finish reasons.

A contract suite, parameter x provider: each request goes through the runtime and the official
SDK to the chaos server, which records the JSON body the SDK sent.
"""

import pytest

import adaptive_mind as am
from tests.helpers import USER
from tests.providers.test_wire_failover import wire_config

PROVIDERS = ("openai", "anthropic", "gemini")


@pytest.fixture
def system(server, start) -> am.ActorSystem:
    one = {"retry": {"max_attempts": 1}}
    return start(wire_config(server, openai=one, anthropic=one))


def sent(server, provider):
    """The parameters of the one body ``provider`` received (Gemini: its generationConfig)."""
    bodies = server.bodies(provider)
    assert len(bodies) == 1, bodies
    body = bodies[0]
    if provider == "gemini":
        return body.get("generationConfig", {}), body
    return body, body


# (keywords, {provider: (fields expected in the body, fields that must be absent)}, dropped)
CASES = {
    "temperature": (
        {"temperature": 0.3},
        {
            "openai": ({"temperature": 0.3}, ()),
            "anthropic": ({}, ("temperature",)),  # anthropic 2.x create() has none
            "gemini": ({"temperature": 0.3}, ()),
        },
        {"anthropic": ("temperature",)},
    ),
    "top_p": (
        {"top_p": 0.5},
        {
            "openai": ({"top_p": 0.5}, ()),
            "anthropic": ({}, ("top_p",)),
            "gemini": ({"topP": 0.5}, ()),
        },
        {"anthropic": ("top_p",)},
    ),
    "max_tokens": (
        {"max_tokens": 64},
        {
            "openai": ({"max_tokens": 64}, ("max_completion_tokens",)),
            "anthropic": ({"max_tokens": 64}, ()),
            "gemini": ({"maxOutputTokens": 64}, ()),
        },
        {},
    ),
    "max_completion_tokens_wins": (
        {"max_tokens": 64, "max_completion_tokens": 32},
        {
            "openai": ({"max_completion_tokens": 32}, ("max_tokens",)),
            "anthropic": ({"max_tokens": 32}, ()),
            "gemini": ({"maxOutputTokens": 32}, ()),
        },
        {},
    ),
    "stop": (
        {"stop": ["END", "###"]},
        {
            "openai": ({"stop": ["END", "###"]}, ()),
            "anthropic": ({"stop_sequences": ["END", "###"]}, ("stop",)),
            "gemini": ({"stopSequences": ["END", "###"]}, ()),
        },
        {},
    ),
    "stop_string": (
        {"stop": "END"},
        {
            "openai": ({"stop": ["END"]}, ()),
            "anthropic": ({"stop_sequences": ["END"]}, ()),
            "gemini": ({"stopSequences": ["END"]}, ()),
        },
        {},
    ),
    "seed": (
        {"seed": 7},
        {
            "openai": ({"seed": 7}, ()),
            "anthropic": ({}, ("seed",)),
            "gemini": ({"seed": 7}, ()),
        },
        {"anthropic": ("seed",)},
    ),
    "penalties": (
        {"presence_penalty": 0.5, "frequency_penalty": -0.5},
        {
            "openai": ({"presence_penalty": 0.5, "frequency_penalty": -0.5}, ()),
            "anthropic": ({}, ("presence_penalty", "frequency_penalty")),
            "gemini": ({"presencePenalty": 0.5, "frequencyPenalty": -0.5}, ()),
        },
        {"anthropic": ("presence_penalty", "frequency_penalty")},
    ),
    "user": (
        {"user": "user-42"},
        {
            "openai": ({"user": "user-42"}, ()),
            "anthropic": ({"metadata": {"user_id": "user-42"}}, ("user",)),
            "gemini": ({}, ("user",)),
        },
        {"gemini": ("user",)},
    ),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", list(CASES))
def test_each_parameter_reaches_each_provider_as_its_sdk_spells_it(server, system, case, provider):
    kwargs, expected, dropped = CASES[case]
    present, absent = expected[provider]
    reply = system.complete(USER, providers=[provider], **kwargs)
    params, body = sent(server, provider)
    for name, value in present.items():
        assert params.get(name) == value, (name, body)
    for name in absent:
        assert name not in params, (name, body)
    assert reply.provider == provider
    assert reply.text == server.text  # no cap or stop sequence bites the default answer
    assert reply.finish_reason == "stop"
    assert reply.attempts[-1].dropped == dropped.get(provider, ())


def test_no_parameters_sends_none_and_keeps_the_defaults(server, system):
    for provider in PROVIDERS:
        system.complete(USER, providers=[provider])
    oa, an = server.bodies("openai")[0], server.bodies("anthropic")[0]
    ge = server.bodies("gemini")[0].get("generationConfig", {})
    assert set(oa) == {"model", "messages"}
    assert set(an) == {"model", "messages", "max_tokens"} and an["max_tokens"] == 1024
    assert ge == {}


def test_extra_still_reaches_anthropic_with_what_its_sdk_dropped(server, system):
    reply = system.complete(
        USER, providers=["anthropic"], temperature=1.5, extra={"anthropic": {"temperature": 0.7}}
    )
    assert server.bodies("anthropic")[0]["temperature"] == 0.7
    assert reply.attempts[-1].dropped == ("temperature",)


UPSTREAM_LENGTH = {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}
UPSTREAM_STOP_SEQ = {"openai": "stop", "anthropic": "stop_sequence", "gemini": "STOP"}
UPSTREAM_STOP = {"openai": "stop", "anthropic": "end_turn", "gemini": "STOP"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_token_cap_that_bites_is_finish_reason_length(server, system, provider):
    reply = system.complete(USER, providers=[provider], max_tokens=2)
    assert reply.text == " ".join(server.text.split()[:2])
    assert reply.finish_reason == "length"
    assert reply.upstream_finish_reason == UPSTREAM_LENGTH[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stop_sequence_that_bites_is_finish_reason_stop(server, system, provider):
    reply = system.complete(USER, providers=[provider], stop=["chaos"])
    assert reply.text == server.text.split("chaos")[0]
    assert reply.finish_reason == "stop"
    assert reply.upstream_finish_reason == UPSTREAM_STOP_SEQ[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_truncated_fault_and_plain_answer_finish_reasons(server, system, provider):
    reply = system.complete(USER, providers=[provider])
    assert (reply.finish_reason, reply.upstream_finish_reason) == ("stop", UPSTREAM_STOP[provider])
    server.add_rule(provider, "truncated", times=1)
    cut = system.complete(USER, providers=[provider])
    assert cut.finish_reason == "length"
    assert cut.upstream_finish_reason == UPSTREAM_LENGTH[provider]
    assert len(cut.text.split()) < len(server.text.split())


EXTRA = {
    "openai": {"logit_bias": {"50256": -100}},
    "anthropic": {"top_k": 5},
    "gemini": {"labels": {"team": "search"}},
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_extra_is_merged_into_its_own_provider_only(server, system, provider):
    system.complete(USER, providers=[provider], extra=EXTRA)
    body = server.bodies(provider)[0]
    for name, fields in EXTRA.items():
        for key, value in fields.items():
            if name == provider:
                assert body[key] == value
            else:
                assert key not in body


def test_failover_translates_the_same_request_for_each_provider(server, system):
    server.add_rule("openai", "server_error")
    server.add_rule("anthropic", "overloaded")
    reply = system.complete(
        USER, temperature=0.2, seed=11, user="u-9", max_completion_tokens=50, extra=EXTRA
    )
    assert reply.provider == "gemini"
    assert [(a.provider, a.dropped) for a in reply.attempts] == [
        ("openai", ()),
        ("anthropic", ("temperature", "seed")),  # a failed attempt records its drops too
        ("gemini", ("user",)),
    ]
    oa = server.bodies("openai")[0]
    assert (oa["temperature"], oa["seed"], oa["user"], oa["max_completion_tokens"]) == (
        0.2,
        11,
        "u-9",
        50,
    )
    assert oa["logit_bias"] == {"50256": -100} and "top_k" not in oa
    an = server.bodies("anthropic")[0]
    assert (an["max_tokens"], an["metadata"]) == (50, {"user_id": "u-9"})
    assert an["top_k"] == 5 and "seed" not in an and "logit_bias" not in an
    assert "temperature" not in an
    ge = server.bodies("gemini")[0]
    assert ge["generationConfig"] == {"temperature": 0.2, "seed": 11, "maxOutputTokens": 50}
    assert ge["labels"] == {"team": "search"} and "top_k" not in ge
