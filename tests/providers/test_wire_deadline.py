"""The request deadline against real dropped connections and real hangs (issue #11 item 5).

A call counts as cut by the deadline only when the deadline has actually expired. A TCP reset
or a server closing before any response header is a TRANSIENT failure that fails over, even
when the deadline is shorter than the provider's ``timeout_s`` (OpenAI's aiohttp transport
reports both as a connect timeout). Real SDKs on both transports against the chaos server.
"""

import asyncio
import time

import pytest

import adaptive_mind as am
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.providers import CallFailure, CallRequest, build_adapter
from adaptive_mind.providers.base import run_guarded
from tests.helpers import USER
from tests.providers.test_classification import MODELS, MSGS, provider_config
from tests.providers.test_wire_failover import OA, walk, wire_config

TRANSPORTS = ["aiohttp", "httpx"]
DROPS = ["reset", "disconnect"]  # an RST / a FIN, both before any response header


def deadline_config(server, transport):
    """OpenAI (one key, one model) first, a healthy Anthropic behind it; long attempt timeouts."""
    both = {"timeout_s": 30, "transport": transport}
    return wire_config(
        server,
        openai={**both, "api_keys": OA[:1], "models": ["gpt-a"]},
        anthropic=both,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("fault", DROPS)
def test_dropped_connection_fails_over_within_a_short_deadline(server, start, fault, transport):
    server.add_rule("openai", fault)
    system = start(deadline_config(server, transport))
    reply = system.complete(USER, providers=["openai", "anthropic"], deadline_s=5)
    assert (reply.provider, reply.text) == ("anthropic", server.text)
    # Every call the primary made is recorded as a TRANSIENT failure (how many calls is the
    # retry policy's business), then the fallback answers.
    tries = server.count("openai")
    assert tries >= 1
    assert walk(reply.attempts) == [("openai", "gpt-a", "openai#1", C.TRANSIENT, None)] * tries + [
        ("anthropic", "claude-a", "anthropic#1", None, None)
    ]
    assert server.count("anthropic") == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hang_past_a_short_deadline_is_deadline_exceeded(server, start, transport):
    server.add_rule("openai", "hang")
    system = start(deadline_config(server, transport))
    t0 = time.monotonic()
    with pytest.raises(am.DeadlineExceededError) as info:
        system.complete(USER, providers=["openai", "anthropic"], deadline_s=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 5, elapsed  # cut by the deadline, long before timeout_s (30)
    assert info.value.attempts == ()  # the deadline's cut is not the provider's failure
    assert (server.count("openai"), server.count("anthropic")) == (1, 0)
    key = system.key_states("openai")[0]
    assert (key["state"], key["failures"]) == ("available", 0)


def call_once(provider, server, transport, timeout_s):
    async def main():
        adapter = build_adapter(provider, provider_config(provider, server, transport=transport))
        try:
            return await run_guarded(
                adapter, CallRequest(MSGS, MODELS[provider], f"{provider}#1", timeout_s)
            )
        finally:
            await adapter.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("fault", DROPS)
def test_dropped_connection_is_transient_and_not_a_timeout(server, fault, provider, transport):
    server.add_rule(provider, fault)
    result = call_once(provider, server, transport, timeout_s=30)
    assert isinstance(result, CallFailure), result
    assert (result.category, result.status_code, result.timed_out) == (C.TRANSIENT, None, False)
    assert result.error.startswith("connection error")
    assert server.count(provider) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("provider", list(MODELS))
def test_sdk_timeout_is_still_a_timeout(server, provider, transport):
    # The SDK's own timeout cuts the call (no run_guarded here); 5 s only guards the test.
    server.add_rule(provider, "hang")

    async def main():
        adapter = build_adapter(provider, provider_config(provider, server, transport=transport))
        try:
            async with asyncio.timeout(5):
                return await adapter.complete(
                    CallRequest(MSGS, MODELS[provider], f"{provider}#1", 0.3)
                )
        finally:
            await adapter.aclose()

    result = asyncio.run(main())
    assert isinstance(result, CallFailure), result
    assert (result.category, result.timed_out) == (C.TRANSIENT, True)
    assert result.error == "request timed out"
