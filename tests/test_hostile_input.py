"""Hostile requests (issue #12, items 1 and 4): text that cannot be encoded, arguments of the
wrong shape, and failures that happen here before anything is sent. Each is refused at
admission with a BadRequestError naming the argument, or blames no key and no breaker."""

import asyncio
import math
import re

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adaptive_mind as am
from adaptive_mind.chat import ChatMessage, ErrorCategory
from adaptive_mind.config import ProviderConfig
from adaptive_mind.providers.anthropic import AnthropicAdapter
from adaptive_mind.providers.base import CallFailure, CallRequest, local_failure, run_guarded
from adaptive_mind.providers.gemini import GeminiAdapter
from adaptive_mind.providers.openai import OpenAIAdapter
from adaptive_mind.supervision import tree as tree_mod
from adaptive_mind.telemetry import topics
from tests.helpers import USER, EventLog, config, scripted, upstream

SURROGATE = "\ud800"


def fresh(system, *providers):
    """No key failed, no breaker moved."""
    for p in providers:
        assert system.breaker_state(p) == "closed"
        assert all(k["failures"] == 0 for k in system.key_states(p)), system.key_states(p)


BAD_ARGUMENTS = [
    ("surrogate", [{"role": "user", "content": f"hi {SURROGATE}"}], {}, "messages[0].content"),
    ("low-surrogate", [{"role": "user", "content": "\udfff"}], {}, "messages[0].content"),
    ("chat-message", [ChatMessage(role="user", content=SURROGATE)], {}, "messages[0].content"),
    ("messages-dict", {"role": "user", "content": "x"}, {}, "messages: must be a list"),
    ("mixed-keys", [{"role": "user", "content": "x", 1: 2}], {}, "messages[0].<int>"),
    ("role-list", [{"role": ["user"], "content": "x"}], {}, "messages[0].role"),
    ("providers-int", USER, {"providers": 5}, "providers: must be a non-empty list"),
    ("providers-str", USER, {"providers": "a"}, "providers: must be a non-empty list"),
    ("providers-dict", USER, {"providers": {"a": 1}}, "providers: must be a non-empty list"),
    ("providers-item", USER, {"providers": [["a"]]}, "providers[0]: must be a non-empty"),
    ("providers-twice", USER, {"providers": ["a", "a"]}, "providers[1]: 'a' is listed twice"),
    ("providers-unknown", USER, {"providers": ["zzz"]}, "providers[0]: 'zzz' is not a"),
    ("providers-surrogate", USER, {"providers": [SURROGATE]}, "providers[0]"),
    ("models-list", USER, {"models": ["m1"]}, "models: must be a mapping"),
    ("models-str", USER, {"models": {"a": "m1"}}, "models.a: must be a non-empty list"),
    ("models-twice", USER, {"models": {"a": ["m1", "m1"]}}, "models.a[1]: 'm1' is listed twice"),
    ("models-unknown", USER, {"models": {"zzz": ["m1"]}}, "models.zzz: not a configured"),
    ("models-item", USER, {"models": {"a": [1]}}, "models.a[0]: must be a non-empty model"),
    ("models-blank", USER, {"models": {"a": [" "]}}, "models.a[0]: must be a non-empty model"),
    ("models-surrogate", USER, {"models": {"a": [SURROGATE]}}, "models.a[0]: text that cannot"),
    ("deadline-huge-int", USER, {"deadline_s": 10**400}, "deadline_s: must be a number > 0"),
    ("deadline-inf", USER, {"deadline_s": math.inf}, "deadline_s: must be a number > 0"),
    ("deadline-nan", USER, {"deadline_s": math.nan}, "deadline_s: must be a number > 0"),
    ("deadline-negative", USER, {"deadline_s": -1}, "deadline_s: must be a number > 0"),
    ("deadline-true", USER, {"deadline_s": True}, "deadline_s: must be a number > 0"),
    ("deadline-str", USER, {"deadline_s": "10"}, "deadline_s: must be a number > 0"),
    ("metadata-int", USER, {"metadata": 5}, "metadata: must be a mapping"),
]


@pytest.mark.parametrize(
    ("messages", "kwargs", "names"),
    [c[1:] for c in BAD_ARGUMENTS],
    ids=[c[0] for c in BAD_ARGUMENTS],
)
def test_bad_arguments_are_a_bad_request_naming_the_argument(start, messages, kwargs, names):
    system = start(config({"a": scripted(["k1", "k2"])}))
    with pytest.raises(am.BadRequestError) as info:
        system.complete(messages, **kwargs)
    assert names in str(info.value)
    assert info.value.request_id is None
    with pytest.raises(am.BadRequestError, match=re.escape(names)):
        asyncio.run(system.acomplete(messages, **kwargs))
    assert upstream(system, "a").calls == 0
    fresh(system, "a")


def test_a_surrogate_never_reaches_a_provider_nor_opens_its_breaker(start):
    """The issue's scenario: two such requests opened the circuit for every other tenant."""
    system = start(config({"a": scripted(["k1", "k2"], breaker={"failure_threshold": 2})}))
    for _ in range(10):
        with pytest.raises(am.BadRequestError, match="cannot be encoded as UTF-8"):
            system.complete([{"role": "user", "content": "\ud800"}])
    assert [system.complete(USER).provider for _ in range(10)] == ["a"] * 10
    fresh(system, "a")


class RaisesLocally:
    """Wraps an adapter; a prompt holding ``boom`` fails the way an SDK fails before sending."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    async def complete(self, call):
        self.calls += 1
        if "boom" in call.messages[-1].content:
            raise UnicodeEncodeError("ascii", "b\u00f6om", 1, 2, "ordinal not in range(128)")
        return await self.inner.complete(call)

    async def aclose(self):
        await self.inner.aclose()


def test_a_local_failure_blames_no_key_and_no_breaker(start, monkeypatch):
    real = tree_mod.build_adapter

    def build(name, pcfg, **kw):
        adapter = real(name, pcfg, **kw)
        return RaisesLocally(adapter) if name == "a" else adapter

    monkeypatch.setattr(tree_mod, "build_adapter", build)
    a = scripted(["k1", "k2"], breaker={"failure_threshold": 2})
    system = start(config({"a": a, "b": scripted(["k3"])}))
    log = EventLog(system, topics=[topics.PROVIDER_FAILOVER])
    boom = [{"role": "user", "content": "boom"}]
    for _ in range(10):
        reply = system.complete(boom)
        assert reply.provider == "b"  # this provider could not send it: the next one did
        assert reply.attempts[0].category is ErrorCategory.UNKNOWN
        assert "request not sent" in reply.attempts[0].error
    log.wait_for(lambda events: len(events) >= 10)
    assert {e.payload["reason"] for e in log.events} == {"local_error"}
    assert upstream(system, "a").calls == 10  # one per request: no retry on another key
    assert [system.complete(USER).provider for _ in range(5)] == ["a"] * 5
    fresh(system, "a", "b")


def test_a_surrogate_that_gets_past_admission_is_refused_before_the_adapter(start, tmp_path):
    """A custom rewriter may hand back text no SDK can encode: a bad request that blames no one,
    and the ledger records it."""

    class Rewriter:
        async def rewrite(self, messages, refusal):
            return [ChatMessage(role="user", content=f"harmless {SURROGATE}")]

    path = tmp_path / "ledger.sqlite"
    cfg = {
        "providers": {"a": scripted(["k1"], responses=[{"prompt": "bad", "fail": "refusal"}])},
        "mitigation": {"strategy": "rewrite_first", "rewriter": {"provider": "a", "model": "m1"}},
        "ledger": {"path": str(path)},
    }
    system = start(cfg, rewriter=Rewriter())
    with pytest.raises(am.BadRequestError, match="cannot be encoded as UTF-8") as info:
        system.complete([{"role": "user", "content": "bad"}])
    assert upstream(system, "a").calls == 1  # the refusal; the rewritten text never left
    fresh(system, "a")
    system.stop()
    with am.Ledger.open(path) as ledger:
        entry = ledger.get(info.value.request_id)
        assert entry is not None and entry.final_prompt_preview == "harmless \ufffd"
        assert ledger.verify().ok


def test_a_surrogate_in_an_answer_is_recorded_and_the_ledger_keeps_going(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    system = start(
        {
            "providers": {"a": scripted(["k1"], text=f"answer {SURROGATE}\udfff")},
            "ledger": {"path": str(path), "batch_size": 3},
        }
    )
    crashes = EventLog(system, topics=[topics.ACTOR_RESTARTED, topics.LEDGER_STORE_FAILED])
    ids = [system.complete(USER).request_id for _ in range(10)]
    system.stop()
    assert crashes.events == []
    with am.Ledger.open(path) as ledger:
        assert [e.request_id for e in ledger.entries()] == ids
        assert ledger.get(ids[0]).response_preview == "answer \ufffd\ufffd"
        assert ledger.verify().ok


def test_the_ledger_survives_an_entry_it_cannot_build(start, tmp_path, monkeypatch):
    from adaptive_mind.actors import ledger as ledger_actor

    real = ledger_actor.build_entry

    def build(**kw):
        if kw["messages"][-1].content == "poison":
            raise RuntimeError("cannot build")
        return real(**kw)

    monkeypatch.setattr(ledger_actor, "build_entry", build)
    path = tmp_path / "ledger.sqlite"
    system = start({"providers": {"a": scripted()}, "ledger": {"path": str(path)}})
    log = EventLog(system, topics=[topics.LEDGER_STORE_FAILED, topics.ACTOR_RESTARTED])
    first = system.complete(USER).request_id
    poisoned = system.complete([{"role": "user", "content": "poison"}]).request_id
    last = system.complete(USER).request_id
    log.wait_for(lambda events: events)
    system.stop()
    assert [(e.event_type, e.request_id) for e in log.events] == [
        (topics.LEDGER_STORE_FAILED, poisoned)
    ]
    with am.Ledger.open(path) as ledger:
        assert [e.request_id for e in ledger.entries()] == [first, last]
        assert ledger.verify().ok


# -- the adapters: a failure raised before sending is local ------------------------------------


def pcfg(kind):
    return ProviderConfig.model_validate(
        {
            "kind": kind,
            "api_keys": ["sk-test-key"],
            "models": ["m"],
            "base_url": "http://127.0.0.1:9",
        }
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: OpenAIAdapter("o", pcfg("openai")),
        lambda: AnthropicAdapter("a", pcfg("anthropic")),
        lambda: GeminiAdapter("g", pcfg("gemini")),
    ],
    ids=["openai", "anthropic", "gemini"],
)
def test_each_adapter_classifies_an_encoding_error_as_local(make):
    adapter = make()
    exc = UnicodeEncodeError("utf-8", SURROGATE, 0, 1, "surrogates not allowed")
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = exc
    for error in (exc, wrapped):
        failure = adapter.classify_error(error)
        assert failure.local and failure.category is ErrorCategory.UNKNOWN
    assert not adapter.classify_error(RuntimeError("x")).local
    asyncio.run(adapter.aclose())


def test_the_openai_sdk_fails_locally_on_a_surrogate_and_that_is_local():
    adapter = OpenAIAdapter("o", pcfg("openai"))
    call = CallRequest((ChatMessage(role="user", content=SURROGATE),), "m", "o#1", 5.0)

    async def main():
        try:
            direct = await adapter.complete(call)  # the SDK raises while encoding the body
            guarded = await run_guarded(adapter, call)  # refused before the adapter runs
        finally:
            await adapter.aclose()
        return direct, guarded

    direct, guarded = asyncio.run(main())
    assert isinstance(direct, CallFailure) and direct.local
    assert isinstance(guarded, CallFailure) and guarded.local
    assert guarded.category is ErrorCategory.BAD_REQUEST


def test_an_sdk_connection_error_caused_by_encoding_is_local():
    cause = UnicodeEncodeError("ascii", "\u00e9", 0, 1, "ordinal not in range(128)")
    try:
        raise openai.APIConnectionError(request=None) from cause  # type: ignore[arg-type]
    except openai.APIConnectionError as exc:
        assert local_failure(exc) is not None
    assert local_failure(ConnectionResetError()) is None


# -- fuzz: admission answers or refuses, and never blames anyone --------------------------------

TEXT = st.one_of(
    st.text(max_size=12),
    st.text(
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(), max_size=6
    ),
    st.sampled_from(["", " ", "a", "b", "m1", "zzz", SURROGATE, "a\udfffb"]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
MESSAGE = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant"]), "content": TEXT}
    ),
    st.dictionaries(st.sampled_from(["role", "content", "name"]) | TEXT, JSON, max_size=3),
    JSON,
)
NAME = st.sampled_from(["a", "b", "zzz", ""]) | TEXT
WORD = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=["Cs"]))
GOOD_MESSAGES = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]), "content": WORD}),
    min_size=1,
    max_size=3,
)
GOOD_NAMES = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True)
GOOD_MODELS = st.dictionaries(
    st.sampled_from(["a", "b"]), st.lists(WORD.filter(str.strip), min_size=1, unique=True)
)
# Valid arguments are as likely as hostile ones, so that whole requests are often valid too.
MESSAGES = st.one_of(GOOD_MESSAGES, GOOD_MESSAGES, st.lists(MESSAGE, max_size=3), JSON)
PROVIDERS = st.one_of(st.none(), GOOD_NAMES, st.lists(NAME, max_size=3), JSON)
MODELS = st.one_of(
    st.none(), GOOD_MODELS, st.dictionaries(NAME, st.lists(TEXT, max_size=3) | JSON), JSON
)
METADATA = st.one_of(st.none(), st.dictionaries(TEXT, JSON, max_size=2), JSON)


def short_but_valid(d):
    """A deadline too short for any answer is a DeadlineExceededError, not an admission matter."""
    return isinstance(d, int | float) and not isinstance(d, bool) and 0 < d < 5


DEADLINE = st.one_of(
    st.none(),
    st.floats(min_value=5, max_value=1e300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**500), max_value=10**500),
    JSON,
).filter(lambda d: not short_but_valid(d))


def test_fuzz_admission_answers_or_refuses_and_never_blames(start):
    system = start(config({"a": scripted(["k1", "k2"]), "b": scripted(["k3"])}))
    outcomes = {"answered": 0, "refused": 0}

    @settings(
        max_examples=1000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(
        messages=MESSAGES,
        providers=PROVIDERS,
        models=MODELS,
        deadline_s=DEADLINE,
        metadata=METADATA,
        use_async=st.booleans(),
    )
    def request(messages, providers, models, deadline_s, metadata, use_async):
        kwargs = {"providers": providers, "models": models, "deadline_s": deadline_s}
        kwargs.update(metadata=metadata)
        calls = sum(a.calls for a in system._tree.adapters.values())
        try:
            if use_async:
                reply = asyncio.run(system.acomplete(messages, **kwargs))
            else:
                reply = system.complete(messages, **kwargs)
        except am.BadRequestError as exc:
            assert exc.request_id is None  # refused at admission, never after a call
            assert sum(a.calls for a in system._tree.adapters.values()) == calls
            outcomes["refused"] += 1
        else:
            assert reply.text.startswith("ok from")
            outcomes["answered"] += 1

    request()
    assert outcomes["answered"] > 0 and outcomes["refused"] > 0
    assert system.in_flight == 0
    fresh(system, "a", "b")
