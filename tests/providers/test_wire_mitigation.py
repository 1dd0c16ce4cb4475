"""Mitigation with real SDK refusals from the local chaos server."""

import pytest

import adaptive_mind as am
from tests.helpers import USER
from tests.providers.test_wire_failover import wire_config

CASES = [
    ("openai", "content_policy", "anthropic"),  # 400 content_policy_violation
    ("openai", "refusal", "anthropic"),  # 200 finish_reason content_filter
    ("anthropic", "refusal", "openai"),  # 200 stop_reason refusal
    ("gemini", "prompt_blocked", "openai"),  # 200 promptFeedback.blockReason
]


@pytest.mark.parametrize(("provider", "fault", "rewriter"), CASES)
def test_refusal_is_rewritten_once_and_retried(server, start, provider, fault, rewriter):
    server.add_rule(provider, fault, times=1)
    cfg = wire_config(server)
    rw_model = cfg["providers"][rewriter]["models"][0]
    cfg["mitigation"] = {
        "strategy": "rewrite_first",
        "rewriter": {"provider": rewriter, "model": rw_model},
    }
    system = start(cfg)
    reply = system.complete(USER, providers=[provider])
    assert reply.mitigated and reply.provider == provider
    assert reply.attempts[0].category is am.ErrorCategory.CONTENT_POLICY
    assert server.count(provider) == 2  # the refused call and the rewritten one
    assert server.count(rewriter) == 1  # exactly one rewrite request
    assert system.breaker_state(provider) == "closed"
    assert system.key_states(provider)[0]["failures"] == 0
