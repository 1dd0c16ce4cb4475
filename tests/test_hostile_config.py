"""Hostile configuration (issue #12, item 4): alias bombs, non-finite and boolean numbers, an
empty ledger path, the ``$${`` escape, and ConfigErrors that never echo a secret."""

import time

import pytest

import adaptive_mind as am
from adaptive_mind.config import RuntimeConfig
from tests.helpers import scripted

SECRET = "sk-live-0123456789abcdef"


def base(**provider_kw):
    return {
        "providers": {
            "openai": {"kind": "openai", "api_keys": [SECRET], "models": ["m"], **provider_kw}
        }
    }


def billion_laughs() -> str:
    """The classic YAML bomb as a config: nine levels of nine aliases (9**9 keys once expanded)."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("providers: {x: {kind: scripted, api_keys: *i, models: [m]}}")
    return "\n".join(lines) + "\n"


def test_the_bomb_is_a_few_hundred_bytes_like_the_issues_552():
    assert len(billion_laughs().encode()) <= 600


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (billion_laughs(), "expands to more than 10000 nodes"),
        ("providers: &p {x: [*p]}\n", "an alias refers to a node that contains it"),
        ("a: &a [*a]\n", "an alias refers to a node that contains it"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
    ids=["billion-laughs", "recursive-mapping", "recursive-list", "deep-nesting"],
)
def test_hostile_yaml_is_refused_quickly(tmp_path, text, rule):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    began = time.monotonic()
    with pytest.raises(am.ConfigError, match=rule):
        am.load_config(path)
    assert time.monotonic() - began < 1.0


def test_anchors_and_merge_keys_within_the_cap_still_work(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "providers:\n"
        "  a: &shared {kind: scripted, api_keys: [k1], models: [m1, m2]}\n"
        "  b: {<<: *shared, api_keys: [k2]}\n"
    )
    cfg = am.load_config(path)
    assert cfg.providers["b"].models == ("m1", "m2")
    assert cfg.providers["b"].api_keys[0].secret.get_secret_value() == "k2"


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"providers: \xff\xfe\n")
    with pytest.raises(am.ConfigError, match="not UTF-8"):
        am.load_config(path)


NON_FINITE = [
    (base(timeout_s=float("inf")), "providers.openai.timeout_s"),
    (base(timeout_s="inf"), "providers.openai.timeout_s"),
    (base(timeout_s=float("nan")), "providers.openai.timeout_s"),
    (base(breaker={"reset_timeout_s": float("inf")}), "providers.openai.breaker.reset_timeout_s"),
    (base(keys={"disabled_s": "Infinity"}), "providers.openai.keys.disabled_s"),
    (base(keys={"max_retry_after_s": float("inf")}), "providers.openai.keys.max_retry_after_s"),
    ({**base(), "request": {"deadline_s": float("inf")}}, "request.deadline_s"),
    ({**base(), "retry": {"backoff_max_s": float("inf")}}, "retry.backoff_max_s"),
    ({**base(), "ledger": {"flush_interval_s": float("nan")}}, "ledger.flush_interval_s"),
]


@pytest.mark.parametrize(("data", "field"), NON_FINITE, ids=[f for _, f in NON_FINITE])
def test_durations_must_be_finite(data, field):
    with pytest.raises(am.ConfigError, match=f"{field}: must be a finite number"):
        RuntimeConfig.model_validate(data)


BOOLEANS = [
    (base(breaker={"failure_threshold": True}), "providers.openai.breaker.failure_threshold"),
    (base(breaker={"window_size": False}), "providers.openai.breaker.window_size"),
    (base(keys={"outlier_consecutive_failures": True}), "providers.openai.keys."),
    (base(keys={"cooldown_s": True}), "providers.openai.keys.cooldown_s"),
    (base(timeout_s=True), "providers.openai.timeout_s"),
    (base(max_tokens=True), "providers.openai.max_tokens"),
    ({**base(), "retry": {"max_attempts": True}}, "retry.max_attempts"),
    ({**base(), "request": {"max_in_flight": True}}, "request.max_in_flight"),
    ({**base(), "ledger": {"batch_size": True}}, "ledger.batch_size"),
    ({**base(), "telemetry": {"metrics_port": True}}, "telemetry.metrics_port"),
    (
        {"providers": {"s": scripted(responses=[{"fail": 503, "times": True}])}},
        "providers.s.responses.0.times",
    ),
]


@pytest.mark.parametrize(("data", "field"), BOOLEANS, ids=[f for _, f in BOOLEANS])
def test_true_is_not_a_number(data, field):
    with pytest.raises(am.ConfigError, match="must be a number, not true or false") as info:
        RuntimeConfig.model_validate(data)
    assert field in str(info.value)


def test_numbers_from_the_environment_still_parse(monkeypatch):
    monkeypatch.setenv("AM_THRESHOLD", "7")
    cfg = RuntimeConfig.model_validate(base(breaker={"failure_threshold": "${AM_THRESHOLD}"}))
    assert cfg.providers["openai"].breaker.failure_threshold == 7


def test_an_empty_ledger_path_is_refused():
    with pytest.raises(am.ConfigError, match=r"ledger\.path: must not be empty"):
        RuntimeConfig.model_validate({**base(), "ledger": {"path": ""}})


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("$${AM_ESCAPED}", "${AM_ESCAPED}"),
        ("$${AM_ESCAPED:-x}", "${AM_ESCAPED:-x}"),
        ("${AM_SET}$${AM_SET}", "seven${AM_SET}"),
        ("pa$$word", "pa$$word"),
        ("$${not a variable}", "${not a variable}"),
    ],
)
def test_dollar_dollar_brace_writes_a_literal(monkeypatch, written, value):
    monkeypatch.setenv("AM_SET", "seven")
    monkeypatch.delenv("AM_ESCAPED", raising=False)
    cfg = RuntimeConfig.model_validate(base(base_url=written, api_keys=[written]))
    assert cfg.providers["openai"].base_url == value
    assert cfg.providers["openai"].api_keys[0].secret.get_secret_value() == value


def test_a_key_must_be_printable_ascii():
    with pytest.raises(am.ConfigError, match=r"api_keys\.0\.secret: must be printable ASCII"):
        RuntimeConfig.model_validate(base(api_keys=["sk-\u00e9t\u00e9-key"]))


def provider(**kw):
    return {"kind": "openai", "api_keys": [SECRET], "models": ["m"], **kw}


LEAKS = [
    ("key-as-mapping-key", {"providers": {"p": provider(api_keys={SECRET: "x"})}}, "api_keys"),
    ("key-as-provider-name", {"providers": {SECRET: provider(bogus=1)}}, "unknown field"),
    ("key-as-unknown-field", {"providers": {"p": provider(**{SECRET: 1})}}, "unknown field"),
    ("key-in-priority", {"providers": {"p": provider()}, "priority": [SECRET]}, "priority.0"),
    (
        "key-as-rewriter",
        {
            "providers": {"p": provider()},
            "mitigation": {"rewriter": {"provider": SECRET, "model": "m"}},
        },
        "mitigation.rewriter.provider",
    ),
    (
        "key-as-name-of-a-broken-provider",
        {"providers": {"p": provider(), SECRET: {"kind": "openai"}}},
        "field required",
    ),
    (
        "fragment-in-provider-name",
        {"providers": {"p": provider(), f"x{SECRET[5:15]}y": {"kind": "nope"}}},
        "must be one of",
    ),
    (
        "unconfigured-key-shape",
        {"providers": {"p": provider(), "sk-proj-abcdefghijklmnop": {"kind": "nope"}}},
        "must be one of",
    ),
]


@pytest.mark.parametrize(("data", "names"), [c[1:] for c in LEAKS], ids=[c[0] for c in LEAKS])
def test_config_errors_never_echo_a_secret(data, names):
    with pytest.raises(am.ConfigError) as info:
        RuntimeConfig.model_validate(data)
    message = str(info.value)
    assert names in message  # still says what is wrong
    for fragment in (SECRET, SECRET[5:15], "sk-proj-abcdefghijklmnop"):
        assert fragment not in message


def test_only_secrets_are_masked_not_key_ids_or_field_names():
    data = {
        "providers": {"p": provider(api_keys=[{"id": "team-a", "secret": SECRET}]), "q": {}},
        "priority": ["p", "team-a"],
    }
    with pytest.raises(am.ConfigError) as info:
        RuntimeConfig.model_validate(data)
    assert "providers.q.kind: field required" in str(info.value)
    with pytest.raises(am.ConfigError, match=r"api_keys\.0\.id: must not be empty"):
        RuntimeConfig.model_validate({"providers": {"p": provider(api_keys=[{"id": ""}])}})


def test_a_missing_variable_under_a_key_named_provider_does_not_echo_it(monkeypatch):
    monkeypatch.delenv("AM_NOT_SET", raising=False)
    data = {"providers": {"p": provider(), SECRET: provider(base_url="${AM_NOT_SET}")}}
    with pytest.raises(am.ConfigError, match="environment variable AM_NOT_SET") as info:
        RuntimeConfig.model_validate(data)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        (
            "c.yaml",
            f"providers:\n  p:\n    api_keys: [{SECRET}]\n    models: m: x\n",
            "line 4, column 14",
        ),
        ("c.yaml", f'providers:\n  p: {{api_keys: ["{SECRET}" x]}}\n', "line 2"),
        ("c.yaml", f"providers: *{SECRET}\n", "line 1"),
        ("c.yaml", f"providers: !{SECRET} x\n", "line 1"),
        ("c.toml", f'[providers."{SECRET}"]\nkind = "a"\n[providers."{SECRET}"]\n', "line 3"),
        ("c.toml", f'api_keys = ["{SECRET}" "x"]\n', "line 1"),
    ],
    ids=["yaml-snippet", "yaml-flow", "yaml-alias", "yaml-tag", "toml-duplicate", "toml-value"],
)
def test_syntax_errors_give_line_and_column_never_the_line(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(am.ConfigError, match="not valid") as info:
        am.load_config(path)
    message = str(info.value)
    assert where in message
    assert SECRET not in message and SECRET[:12] not in message
