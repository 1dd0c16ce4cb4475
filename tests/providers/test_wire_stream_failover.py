"""Streaming with failover through the runtime: real SDKs, the chaos server's stream faults.

Each stream fault, on each provider, under each policy: ``resume`` gives the caller exactly the
canonical answer, ``restart`` marks the new start and then gives it whole, ``error`` raises
StreamInterruptedError with the partial text; a truncated answer is never a success. Before the
first chunk a stream fails over like ``acomplete``; a provider that sends nothing fails over
after ``first_token_timeout_s``; a route that refuses a prefill is asked with the instruction.
"""

import asyncio

import pytest

import adaptive_mind as am
from adaptive_mind.errors import StreamInterruptedError
from tests.helpers import USER, EventLog
from tests.providers.test_wire_failover import wire_config

CANONICAL = "Hello from the chaos server."
PROVIDERS = ["openai", "anthropic", "gemini"]
FAULTS = ["stream_cut", "stream_stall", "stream_malformed", "stream_no_terminator"]
KEYS = {"openai": "sk-oa-secret-key-one", "anthropic": "sk-ant-1", "gemini": "AIzaGeminiKeyOne"}
SECOND = {"openai": "sk-oa-secret-key-two", "anthropic": "sk-ant-2", "gemini": "AIzaGeminiKeyTwo"}


def config(server, first, *, policy="resume", **streaming):
    """``first`` tried first, two keys each; short stream timeouts (the faults never end)."""
    keys = {p: [KEYS[p], SECOND[p]] for p in PROVIDERS}
    cfg = wire_config(server, **{p: {"api_keys": keys[p]} for p in PROVIDERS})
    cfg["priority"] = [first, *(p for p in PROVIDERS if p != first)]
    cfg["request"] = {"stream_policy": policy}
    # A stalled stream stalls for minutes: the stall timeout decides how long such a test takes.
    # Wide enough that a healthy stream on a loaded machine never looks stalled.
    cfg["streaming"] = {
        "stall_timeout_s": 1.0,
        "first_token_timeout_s": 3.0,
        **streaming,
    }
    return cfg


def read(system, **kw):
    """Every chunk of a streamed request and its completion (or the error it raised)."""

    async def main():
        stream = system.astream(USER, **kw)
        chunks = []
        try:
            async for chunk in stream:
                chunks.append(chunk)
        except am.AdaptiveMindError as exc:
            return chunks, exc, stream
        return chunks, None, stream

    return asyncio.run(main())


def text_after_last_restart(chunks):
    starts = [i for i, c in enumerate(chunks) if c.restart]
    return "".join(c.text for c in chunks[(starts[-1] if starts else 0) :])


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_resume_gives_the_caller_the_whole_answer_once(server, start, provider, fault):
    server.add_rule(provider, fault, key=KEYS[provider], times=1)
    system = start(config(server, provider, policy="resume"))
    chunks, error, stream = read(system)
    assert error is None
    assert "".join(c.text for c in chunks) == CANONICAL
    assert not any(c.restart for c in chunks)
    assert chunks[-1].finish_reason == "stop"
    completion = stream.completion
    assert completion.text == CANONICAL and completion.provider == provider
    first = completion.attempts[0]
    assert (first.key_id, first.category) == (f"{provider}#1", am.ErrorCategory.TRANSIENT)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_restart_marks_the_new_start_then_gives_the_whole_answer(server, start, provider, fault):
    server.add_rule(provider, fault, key=KEYS[provider], times=1)
    system = start(config(server, provider, policy="restart"))
    chunks, error, stream = read(system)
    assert error is None
    assert sum(c.restart for c in chunks) == 1
    assert "".join(c.text for c in chunks) != CANONICAL  # the void start came first
    assert text_after_last_restart(chunks) == CANONICAL == stream.completion.text


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_raises_with_the_partial_text_and_never_succeeds(server, start, provider, fault):
    server.add_rule(provider, fault, key=KEYS[provider], times=1)
    system = start(config(server, provider, policy="error"))
    chunks, error, stream = read(system)
    assert isinstance(error, StreamInterruptedError)
    partial = "".join(c.text for c in chunks)
    assert error.partial_text == partial and partial and CANONICAL.startswith(partial)
    assert partial != CANONICAL or fault == "stream_no_terminator"
    assert stream.completion is None
    assert len(error.attempts) == 1  # no other route was tried


def test_a_policy_per_call_overrides_the_config(server, start):
    server.add_rule("openai", "stream_cut", key=KEYS["openai"], times=1)
    system = start(config(server, "openai", policy="resume"))
    _chunks, error, _stream = read(system, stream_policy="error")
    assert isinstance(error, StreamInterruptedError)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_errors_before_the_first_chunk_fail_over_like_acomplete(server, start, provider):
    server.add_rule(provider, "server_error", key=KEYS[provider])
    system = start(config(server, provider))
    chunks, error, stream = read(system)
    assert error is None and "".join(c.text for c in chunks) == CANONICAL
    assert [(a.key_id, a.status_code) for a in stream.completion.attempts] == [
        (f"{provider}#1", 500),
        (f"{provider}#2", None),
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_sends_nothing_fails_over_after_the_first_token_timeout(
    server, start, provider
):
    server.add_rule(provider, "slow_first_token", key=KEYS[provider], latency_ms=30_000)
    system = start(config(server, provider, first_token_timeout_s=1.0))
    chunks, error, stream = read(system)
    assert error is None and "".join(c.text for c in chunks) == CANONICAL
    first = stream.completion.attempts[0]
    assert first.key_id == f"{provider}#1" and "first chunk" in first.error


def test_a_route_that_refuses_the_prefill_is_asked_with_the_instruction(server, start):
    server.add_rule("anthropic", "stream_cut", key=KEYS["anthropic"], times=1)
    server.add_rule("anthropic", "reject_prefill", key=SECOND["anthropic"])
    system = start(config(server, "anthropic", policy="resume"))
    chunks, error, stream = read(system)
    assert error is None
    assert "".join(c.text for c in chunks) == CANONICAL == stream.completion.text
    bodies = server.bodies("anthropic")
    assert bodies[-2]["messages"][-1]["role"] == "assistant"  # the prefill, refused
    assert bodies[-1]["messages"][-1]["role"] == "user"  # the instruction, answered


def test_no_route_left_to_carry_it_on_is_an_interrupted_error_not_a_success(server, start):
    server.add_rule("openai", "stream_cut", key=KEYS["openai"], times=1)
    server.add_rule("openai", "server_error")  # afterwards, on either key
    server.add_rule("anthropic", "server_error")
    server.add_rule("gemini", "server_error")
    system = start(config(server, "openai", policy="resume"))
    chunks, error, _stream = read(system)
    assert isinstance(error, StreamInterruptedError)
    assert error.partial_text == "".join(c.text for c in chunks) != ""


def test_closing_early_closes_the_upstream_frees_the_key_and_is_recorded(server, start, tmp_path):
    # The stream stalls after its first chunk (and would for minutes): the caller leaves first.
    server.add_rule("openai", "stream_stall", key=KEYS["openai"], after_chunks=1, times=1)
    cfg = config(server, "openai", stall_timeout_s=60)
    cfg["ledger"] = {"path": str(tmp_path / "ledger.sqlite")}
    system = start(cfg)

    async def main():
        async with system.astream(USER) as stream:
            async for _chunk in stream:
                break
        return stream

    stream = asyncio.run(main())
    assert server.streams.wait("client_closed", 1, 5.0)
    assert stream.completion is None
    assert system.complete(USER).text == CANONICAL  # the key is free for the next request
    assert system.in_flight == 0
    system.stop()
    with am.Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        closed, answered = ledger.entries()
    assert closed.outcome == am.Outcome.FAILURE and closed.error_category == "CALLER_CLOSED"
    assert closed.response_preview == "Hello"  # what the caller got before it left
    assert answered.outcome == am.Outcome.SUCCESS


def test_the_blocking_stream_gives_the_same_answer(server, start):
    server.add_rule("gemini", "stream_cut", key=KEYS["gemini"], times=1)
    system = start(config(server, "gemini"))
    with system.stream(USER) as stream:
        text = "".join(c.text for c in stream)
    assert text == CANONICAL == stream.completion.text


def test_the_final_event_says_how_the_stream_went(server, start):
    server.add_rule("anthropic", "stream_cut", key=KEYS["anthropic"], times=1)
    system = start(config(server, "anthropic"))
    log = EventLog(system, topics=["request.succeeded", "stream.interrupted"])
    _chunks, error, _stream = read(system)
    assert error is None
    log.wait_count(2)
    interrupted, done = sorted(log.events, key=lambda e: e.event_type != "stream.interrupted")
    assert interrupted.payload["policy"] == "resume"
    assert interrupted.payload["delivered_chars"] == len("Hello from")
    stats = done.payload["stream"]
    assert stats["interruptions"] == 1 and stats["attempts"] == 2
    assert stats["ttft_ms"] is not None and stats["ttft_ms"] >= 0
