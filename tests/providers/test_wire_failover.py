"""The runtime on the real adapters: failover across OpenAI, Anthropic and Gemini SDKs."""

import logging

import adaptive_mind as am
from adaptive_mind.chat import ErrorCategory as C
from tests.helpers import USER

OA = ["sk-oa-secret-key-one", "sk-oa-secret-key-two"]
AN = ["sk-ant-secret-key-one"]
GE = ["AIzaSecretKeyGeminiOne"]


def wire_config(server, **overrides):
    providers = {
        "openai": {
            "kind": "openai",
            "api_keys": OA,
            "models": ["gpt-a", "gpt-b"],
            "base_url": server.url("openai"),
            "timeout_s": 5,
        },
        "anthropic": {
            "kind": "anthropic",
            "api_keys": AN,
            "models": ["claude-a"],
            "base_url": server.url("anthropic"),
            "timeout_s": 5,
        },
        "gemini": {
            "kind": "gemini",
            "api_keys": GE,
            "models": ["gemini-a"],
            "base_url": server.url("gemini"),
            "timeout_s": 5,
        },
    }
    for name, extra in overrides.items():
        providers[name] = {**providers[name], **extra}
    return {
        "priority": ["openai", "anthropic", "gemini"],
        "providers": providers,
        "ledger": {"path": ":memory:"},
    }


def walk(attempts):
    return [(a.provider, a.model, a.key_id, a.category, a.status_code) for a in attempts]


def test_full_failover_walk_across_the_three_sdks(server, start, caplog):
    caplog.set_level(logging.DEBUG, logger="adaptive_mind")
    server.add_rule("openai", "server_error", key=OA[0])
    server.add_rule("openai", "model_not_found", model="gpt-a")
    server.add_rule("openai", "invalid_key", key=OA[1], model="gpt-b")
    server.add_rule("anthropic", "overloaded")
    cfg = wire_config(
        server, openai={"retry": {"max_attempts": 4}}, anthropic={"retry": {"max_attempts": 1}}
    )
    system = start(cfg)
    reply = system.complete(USER)
    assert walk(reply.attempts) == [
        ("openai", "gpt-a", "openai#1", C.TRANSIENT, 500),  # the servers' fault: another key
        ("openai", "gpt-a", "openai#2", C.MODEL, 404),  # the model's: next model, same key
        ("openai", "gpt-b", "openai#2", C.KEY_FATAL, 401),  # the key's: another key
        ("openai", "gpt-b", "openai#1", C.TRANSIENT, 500),  # 4 attempts: the cap
        ("anthropic", "claude-a", "anthropic#1", C.TRANSIENT, 529),
        ("gemini", "gemini-a", "gemini#1", None, None),
    ]
    assert (reply.provider, reply.text) == ("gemini", server.text)
    assert server.count() == 6  # one HTTP request per attempt
    states = {k["key_id"]: k["state"] for k in system.key_states("openai")}
    assert states == {"openai#1": "available", "openai#2": "disabled"}  # a 500 blames no key
    everything = caplog.text + repr(reply) + str(system.key_states("openai"))
    for secret in OA + AN + GE:
        assert secret not in everything


def test_retry_after_keeps_the_key_out_for_at_least_that_long(server, start):
    clock = am.FakeClock()
    server.add_rule("openai", "rate_limit", key=OA[0], retry_after_s=10, times=1)
    system = start(wire_config(server, openai={"keys": {"cooldown_s": 1}}), clock=clock)
    first = system.complete(USER, providers=["openai"])
    assert [a.key_id for a in first.attempts] == ["openai#1", "openai#2"]
    clock.advance(9.9)
    for _ in range(3):
        assert system.complete(USER, providers=["openai"]).key_id == "openai#2"
    assert server.count("openai", key=OA[0]) == 1
    assert system.key_states("openai")[0]["state"] == "rate_limited"
    clock.advance(0.2)
    assert system.key_states("openai")[0]["state"] == "available"
    assert system.complete(USER, providers=["openai"]).key_id == "openai#1"
    assert system.key_states("openai")[0]["state"] == "available"


def test_hanging_upstream_is_cut_at_the_attempt_timeout(server, start):
    server.add_rule("anthropic", "hang")
    system = start(wire_config(server, anthropic={"timeout_s": 0.3}))
    reply = system.complete(USER, providers=["anthropic", "gemini"])
    first = reply.attempts[0]
    assert (first.provider, first.category) == ("anthropic", C.TRANSIENT)
    assert "timed out" in first.error and 250 <= first.latency_ms < 2000
    assert reply.provider == "gemini"


def test_refusal_in_a_200_falls_over_without_touching_key_or_breaker(server, start):
    server.add_rule("openai", "refusal")
    system = start(wire_config(server, openai={"breaker": {"failure_threshold": 1}}))
    reply = system.complete(USER)
    assert walk(reply.attempts)[0] == ("openai", "gpt-a", "openai#1", C.CONTENT_POLICY, 200)
    assert reply.provider == "anthropic"
    assert system.breaker_state("openai") == "closed"
    assert all(
        k["state"] == "available" and k["failures"] == 0 for k in system.key_states("openai")
    )


def test_every_provider_refusing_is_a_content_policy_error(server, start):
    for p in ("openai", "anthropic", "gemini"):
        server.add_rule(p, "refusal")
    system = start(wire_config(server))
    try:
        system.complete(USER)
    except am.ContentPolicyError as err:
        assert [p for p, _ in err.reasons] == ["openai", "anthropic", "gemini"]
        assert len(err.attempts) == 3
    else:
        raise AssertionError("expected ContentPolicyError")
