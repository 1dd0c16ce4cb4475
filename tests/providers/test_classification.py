"""Every row of the classification table, through the real SDKs against the local chaos server.

No SDK class is mocked and no SDK exception is built by hand: each exception comes from a real
HTTP response. The server's counts prove one HTTP request per attempt (SDK retries are off).
"""

import asyncio

import pytest

from adaptive_mind.chat import ChatMessage
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.providers import CallFailure, CallRequest, CallSuccess, build_adapter
from adaptive_mind.providers.base import run_guarded

MODELS = {"openai": "gpt-local", "anthropic": "claude-local", "gemini": "gemini-local"}
SECRETS = {
    "openai": "sk-test-openai-0001",
    "anthropic": "sk-ant-test-0002",
    "gemini": "AIzaTest0003",
}
MSGS = (ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi"))

# (fault, provider) -> (category, status). Retry-After rows are checked separately.
TABLE = {
    "rate_limit": {p: (C.TRANSIENT, 429) for p in MODELS},
    "quota": {
        "openai": (C.KEY_FATAL, 429),
        "anthropic": (C.KEY_FATAL, 400),
        "gemini": (C.TRANSIENT, 429),
    },
    "server_error": {p: (C.TRANSIENT, 500) for p in MODELS},
    "unavailable": {p: (C.TRANSIENT, 503) for p in MODELS},
    "overloaded": {
        "openai": (C.TRANSIENT, 503),
        "anthropic": (C.TRANSIENT, 529),
        "gemini": (C.TRANSIENT, 503),
    },
    "gateway_timeout": {p: (C.TRANSIENT, 504) for p in MODELS},
    "invalid_key": {
        "openai": (C.KEY_FATAL, 401),
        "anthropic": (C.KEY_FATAL, 401),
        "gemini": (C.KEY_FATAL, 400),
    },
    "permission": {p: (C.KEY_FATAL, 403) for p in MODELS},
    "billing": {
        "openai": (C.KEY_FATAL, 429),
        "anthropic": (C.KEY_FATAL, 402),
        "gemini": (C.KEY_FATAL, 400),
    },
    "model_not_found": {p: (C.MODEL, 404) for p in MODELS},
    "context_length": {p: (C.MODEL, 400) for p in MODELS},
    "content_policy": {
        "openai": (C.CONTENT_POLICY, 400),
        "anthropic": (C.CONTENT_POLICY, 400),
        "gemini": (C.CONTENT_POLICY, 200),
    },
    "bad_request": {p: (C.BAD_REQUEST, 400) for p in MODELS},
    "refusal": {p: (C.CONTENT_POLICY, 200) for p in MODELS},
    "refusal_message": {p: (C.CONTENT_POLICY, 200) for p in MODELS},
    "prompt_blocked": {p: (C.CONTENT_POLICY, 200) for p in MODELS},
    "html_502": {p: (C.TRANSIENT, 502) for p in MODELS},
    "disconnect": {p: (C.TRANSIENT, None) for p in MODELS},
    "bad_json": {p: (C.UNKNOWN, None) for p in MODELS},
}
CASES = [(f, p, *TABLE[f][p]) for f in TABLE for p in MODELS]


def provider_config(provider, server, **kw):
    return RuntimeConfig.model_validate(
        {
            "providers": {
                provider: {
                    "kind": provider,
                    "api_keys": [SECRETS[provider]],
                    "models": [MODELS[provider]],
                    "base_url": server.url(provider),
                    **kw,
                }
            }
        }
    ).providers[provider]


def call_once(provider, server, timeout_s=5.0, **kw):
    async def main():
        adapter = build_adapter(provider, provider_config(provider, server, **kw))
        try:
            return await run_guarded(
                adapter, CallRequest(MSGS, MODELS[provider], f"{provider}#1", timeout_s)
            )
        finally:
            await adapter.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize(
    ("fault", "provider", "category", "status"), CASES, ids=[f"{p}-{f}" for f, p, *_ in CASES]
)
def test_classification_row(server, fault, provider, category, status, transport):
    server.add_rule(provider, fault)
    result = call_once(provider, server, transport=transport)
    assert isinstance(result, CallFailure), result
    assert (result.category, result.status_code) == (category, status)
    assert SECRETS[provider] not in result.error
    assert server.count(provider) == 1, "exactly one HTTP request per attempt (no SDK retries)"


@pytest.mark.parametrize("provider", list(MODELS))
def test_success_returns_text_model_and_usage(server, provider):
    result = call_once(provider, server)
    assert isinstance(result, CallSuccess)
    assert result.text == server.text
    assert result.usage.completion_tokens == 5 and result.usage.total_tokens is not None
    assert server.count(provider, key=SECRETS[provider], model=MODELS[provider]) == 1


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("fault", ["rate_limit", "overloaded"])
def test_retry_after_is_read(server, provider, fault):
    server.add_rule(provider, fault, retry_after_s=7)
    result = call_once(provider, server)
    assert isinstance(result, CallFailure) and result.category is C.TRANSIENT
    if provider == "gemini" and fault == "overloaded":
        assert result.retry_after_s is None  # Gemini says when only in a 429's RetryInfo
    else:
        assert result.retry_after_s == pytest.approx(7)


def test_gemini_daily_quota_keeps_the_key_out_for_long(server):
    server.add_rule("gemini", "quota")
    result = call_once("gemini", server)
    assert isinstance(result, CallFailure)
    assert result.category is C.TRANSIENT and result.retry_after_s == 3600


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("provider", list(MODELS))
def test_hang_is_cut_at_the_attempt_timeout(server, provider, transport):
    server.add_rule(provider, "hang")
    result = call_once(provider, server, timeout_s=0.3, transport=transport)
    assert isinstance(result, CallFailure)
    assert result.category is C.TRANSIENT and result.timed_out
    assert server.count(provider) == 1


def test_messages_are_mapped_to_each_format(server):
    # Anthropic's top-level system and Gemini's system_instruction are accepted by the SDKs;
    # the server sees the user text in each provider's own shape.
    for provider in MODELS:
        assert isinstance(call_once(provider, server), CallSuccess)
    assert [h.provider for h in server.hits()] == list(MODELS)
