"""Keys echoed by the upstream never leave an adapter: the real SDKs against the chaos server.

The server's ``echo`` option writes the request's key into the error message, the refusal's text
or the answer: whole, as a 10-character piece without its prefix, with tags, zero-width spaces or
HTML entities between its characters. Nothing that reaches the caller, the events, the ledger or
the rewriter may hold an 8-character run of any configured key's core.
"""

import asyncio
import dataclasses

import pytest

import adaptive_mind as am
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.providers import CallFailure, CallRequest, CallSuccess, build_adapter
from adaptive_mind.providers.base import run_guarded
from adaptive_mind.providers.redact import MARKER
from adaptive_mind.simulation.wire import ECHOES
from tests.helpers import USER
from tests.providers.test_redact import leaked
from tests.providers.test_wire_failover import AN, GE, OA, wire_config

ALL_KEYS = [*OA, *AN, *GE]
KEY = {"openai": OA[0], "anthropic": AN[0], "gemini": GE[0]}
MODEL = {"openai": "gpt-a", "anthropic": "claude-a", "gemini": "gemini-a"}
REFUSAL = {"openai": "refusal_message", "anthropic": "refusal", "gemini": "prompt_blocked"}
MSGS = (am.ChatMessage(role="user", content="hi"),)


def strings(obj):
    """Every string inside ``obj`` (dicts, lists, tuples, pydantic models, dataclasses)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(obj, list | tuple | set):
        for v in obj:
            yield from strings(v)
    elif hasattr(obj, "model_dump"):
        yield from strings(obj.model_dump())
    elif dataclasses.is_dataclass(obj):
        yield from strings(dataclasses.asdict(obj))


def assert_clean(*objs):
    for obj in objs:
        for s in strings(obj):
            assert not leaked(s, ALL_KEYS), s


# -- one adapter call per (provider, fault, echo) -------------------------------------------------

FAULTS = ["invalid_key", "content_policy", "rate_limit", "refusal", "ok"]


def run_call(provider, server, other_secrets=()):
    pcfg = RuntimeConfig.model_validate(wire_config(server)).providers[provider]
    key_id = pcfg.key_ids(provider)[0]

    async def main():
        adapter = build_adapter(provider, pcfg, other_secrets=other_secrets)
        try:
            call = CallRequest(MSGS, MODEL[provider], key_id, 5.0)
            return await run_guarded(adapter, call)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", list(KEY))
def test_an_echoed_key_never_leaves_the_adapter(server, provider, fault, echo):
    name = REFUSAL[provider] if fault == "refusal" else fault
    server.add_rule(provider, name, echo=echo)
    result = run_call(provider, server)
    if fault == "ok":
        assert isinstance(result, CallSuccess), result
        assert result.text.startswith(server.text) and MARKER in result.text
    else:
        assert isinstance(result, CallFailure), result
        assert MARKER in result.error, result.error
    assert_clean(result)
    assert server.count(provider, key=KEY[provider]) == 1


def test_an_adapter_hides_the_other_providers_keys_too(server):
    server.text = f"Your Gemini key is {GE[0]} and Anthropic's {AN[0][7:]}."
    try:
        result = run_call("openai", server, other_secrets=ALL_KEYS)
    finally:
        server.text = "Hello from the chaos server."
    assert isinstance(result, CallSuccess)
    assert result.text == f"Your Gemini key is {MARKER} and Anthropic's {MARKER}."


# -- through the whole system: caller, events, ledger, rewriter -----------------------------------


def system_config(server, tmp_path, **extra):
    cfg = wire_config(server)
    cfg["ledger"] = {"path": str(tmp_path / "ledger.sqlite")}
    cfg.update(extra)
    return cfg


def ledger_entries(tmp_path):
    with am.Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        return ledger.entries()


class RecordingRewriter(am.LLMRewriter):
    """The default rewriter, recording what it is given and what it sends."""

    def __init__(self, provider, model):
        super().__init__(provider, model)
        self.refusals = []
        self.prompts = []

    def bind(self, complete):
        async def recording(prompt, **kw):
            self.prompts.append(list(prompt))
            return await complete(prompt, **kw)

        super().bind(recording)

    async def rewrite(self, messages, refusal):
        self.refusals.append(refusal)
        return await super().rewrite(messages, refusal)


def test_a_failed_request_keeps_no_key_anywhere(server, start, tmp_path):
    server.add_rule("openai", "invalid_key", echo="tags")
    server.add_rule("anthropic", "invalid_key", echo="zero_width")
    server.add_rule("gemini", "invalid_key", echo="entities")
    system = start(system_config(server, tmp_path))
    events = []
    system.subscribe(events.append)
    with pytest.raises(am.AllProvidersFailedError) as info:
        system.complete(USER)
    err = info.value
    assert len(err.attempts) == 4 and all(MARKER in a.error for a in err.attempts)
    system.stop()
    (entry,) = ledger_entries(tmp_path)
    assert_clean(str(err), repr(err), err.attempts, vars(err), events, entry)


@pytest.mark.parametrize(
    ("provider", "rewriter"),
    [("openai", "anthropic"), ("anthropic", "gemini"), ("gemini", "openai")],
)
def test_a_refusal_echoing_the_key_reaches_no_one(server, start, tmp_path, provider, rewriter):
    server.add_rule(provider, REFUSAL[provider], echo="full", times=1)
    server.add_rule(rewriter, "ok", echo="core")  # the rewriter's answer echoes its key too
    rw = RecordingRewriter(rewriter, MODEL[rewriter])
    cfg = system_config(
        server,
        tmp_path,
        mitigation={
            "strategy": "rewrite_first",
            "rewriter": {"provider": rewriter, "model": MODEL[rewriter]},
        },
    )
    system = start(cfg, rewriter=rw)
    events = []
    system.subscribe(events.append)
    reply = system.complete(USER, providers=[provider])
    assert reply.mitigated and reply.provider == provider
    assert MARKER in reply.attempts[0].error and MARKER in rw.refusals[0]
    system.stop()
    entries = ledger_entries(tmp_path)
    assert len(entries) == 2  # the request and the rewriter's own request
    assert_clean(reply, rw.refusals, rw.prompts, events, entries)


@pytest.mark.parametrize("provider", list(KEY))
def test_propagated_refusal_reasons_hold_no_key(server, start, tmp_path, provider):
    server.add_rule(provider, REFUSAL[provider], echo="tags")
    cfg = system_config(server, tmp_path, mitigation={"strategy": "propagate"})
    system = start(cfg)
    with pytest.raises(am.ContentPolicyError) as info:
        system.complete(USER, providers=[provider])
    assert MARKER in info.value.reasons[0][1]
    assert_clean(str(info.value), info.value.reasons, info.value.attempts)


@pytest.mark.parametrize("provider", list(KEY))
def test_an_answer_echoing_the_key_is_redacted_before_the_ledger(server, start, tmp_path, provider):
    server.add_rule(provider, "ok", echo="zero_width")
    system = start(system_config(server, tmp_path))
    events = []
    system.subscribe(events.append)
    reply = system.complete(USER, providers=[provider])
    assert reply.text == f"{server.text} (request made with key {MARKER})"
    system.stop()
    (entry,) = ledger_entries(tmp_path)
    assert MARKER in entry.response_preview
    assert_clean(reply, events, entry)
