import os

import pytest

import adaptive_mind as am
from adaptive_mind.config import RetryConfig, RuntimeConfig
from tests.helpers import scripted


def base(**provider_kw):
    return {
        "providers": {
            "openai": {"kind": "openai", "api_keys": ["sk-a"], "models": ["m"], **provider_kw}
        }
    }


def test_defaults_match_the_contract():
    cfg = RuntimeConfig.model_validate(base())
    p = cfg.providers["openai"]
    assert cfg.priority == ("openai",)
    # Issue #11 replaced the 0.1 health defaults (threshold 5, reset 30 s, cooldown 30 s).
    assert (p.timeout_s, p.breaker.failure_threshold, p.breaker.reset_timeout_s) == (60, 10, 5)
    assert (p.breaker.window_size, p.breaker.min_calls, p.breaker.failure_rate_threshold) == (
        100,
        50,
        0.5,
    )
    assert p.breaker.half_open_max_calls == 1 and p.keys.cooldown_s == 1
    assert (p.keys.outlier_consecutive_failures, p.keys.ejection_s) == (5, 5)
    assert cfg.retry_for("openai") == RetryConfig() and cfg.retry.max_attempts == 5
    assert (cfg.request.deadline_s, cfg.request.max_in_flight) == (120, 10000)
    assert cfg.request.max_cooldown_wait_s == 5
    assert (cfg.supervision.max_restarts, cfg.supervision.within_s) == (3, 10)
    assert (cfg.ledger.prompt_preview_chars, cfg.ledger.response_preview_chars) == (512, 1024)
    assert cfg.mitigation is None
    assert p.breaker.reset_cap_s == 30 and p.keys.cooldown_cap_s == 30


def test_provider_retry_section_replaces_the_top_level_one():
    cfg = RuntimeConfig.model_validate(
        {**base(retry={"max_attempts": 2}), "retry": {"max_attempts": 7, "budget_ratio": 1.0}}
    )
    assert cfg.retry_for("openai").max_attempts == 2
    assert cfg.retry.max_attempts == 7


@pytest.mark.parametrize(
    ("section", "field", "value", "rule"),
    [
        ("breaker", "min_calls", 300, "must be <= window_size"),
        ("breaker", "failure_rate_threshold", 1.5, "less than or equal to 1"),
        ("keys", "max_ejected_fraction", 0.9, "less than or equal to 0.5"),
        ("keys", "max_ejection_s", 1, "must be >= ejection_s"),
        ("retry", "backoff_max_s", 0.01, "must be >= backoff_base_s"),
        ("retry", "max_attempts", 0, "must be > 0"),
    ],
)
def test_new_health_knobs_are_validated(section, field, value, rule):
    with pytest.raises(am.ConfigError, match=rule) as info:
        RuntimeConfig.model_validate(base(**{section: {field: value}}))
    assert f"providers.openai.{section}.{field}" in str(info.value)


def test_key_ids_default_and_configured():
    cfg = RuntimeConfig.model_validate(
        base(api_keys=["sk-a", {"id": "team-b", "secret": "sk-b"}, "sk-c"])
    )
    assert cfg.providers["openai"].key_ids("openai") == ("openai#1", "team-b", "openai#3")


def test_keys_take_optional_rpm_and_tpm():
    cfg = RuntimeConfig.model_validate(
        base(api_keys=["sk-a", {"id": "b", "secret": "sk-b", "rpm": 3, "tpm": "40000"}])
    )
    assert cfg.providers["openai"].key_limits() == ((None, None), (3, 40000))


@pytest.mark.parametrize("field", ["rpm", "tpm"])
@pytest.mark.parametrize("value", [0, -5])
def test_key_budgets_must_be_positive_and_errors_name_them(field, value):
    secret = "sk-budget-secret-one"
    keys = ["sk-a", {"secret": secret, field: value}]
    with pytest.raises(am.ConfigError) as info:
        RuntimeConfig.model_validate(base(api_keys=keys))
    assert f"providers.openai.api_keys.1.{field}: must be > 0" in str(info.value)
    assert secret not in str(info.value)


def test_key_budgets_are_whole_numbers():
    with pytest.raises(am.ConfigError, match=r"api_keys\.0\.rpm"):
        RuntimeConfig.model_validate(base(api_keys=[{"secret": "sk-a", "rpm": 2.5}]))
    with pytest.raises(am.ConfigError, match=r"api_keys\.0\.tpm: must be a number"):
        RuntimeConfig.model_validate(base(api_keys=[{"secret": "sk-a", "tpm": True}]))


def test_durations_accept_floats():
    cfg = RuntimeConfig.model_validate(base(keys={"cooldown_s": 0.5}, timeout_s=1.5))
    assert cfg.providers["openai"].keys.cooldown_s == 0.5


INVALID = [
    (
        base(breaker={"failure_threshold": 0}),
        "providers.openai.breaker.failure_threshold: must be > 0",
    ),
    (
        base(breaker={"reset_timeout_s": -1}),
        "providers.openai.breaker.reset_timeout_s: must be > 0",
    ),
    (
        base(breaker={"half_open_max_calls": 0}),
        "providers.openai.breaker.half_open_max_calls: must be > 0",
    ),
    (
        base(breaker={"reset_timeout_s": 10, "max_reset_timeout_s": 5}),
        "providers.openai.breaker.max_reset_timeout_s: must be >= reset_timeout_s",
    ),
    (base(timeout_s=0), "providers.openai.timeout_s: must be > 0"),
    (base(keys={"cooldown_s": 0}), "providers.openai.keys.cooldown_s: must be > 0"),
    (base(keys={"disabled_s": -5}), "providers.openai.keys.disabled_s: must be > 0"),
    (base(api_keys=[]), "providers.openai.api_keys: must not be empty"),
    (base(api_keys=["sk-a", "sk-a"]), "providers.openai.api_keys.1: duplicate key"),
    (
        base(api_keys=[{"id": "x", "secret": "a"}, {"id": "x", "secret": "b"}]),
        "providers.openai.api_keys: duplicate key id",
    ),
    (base(api_keys=[""]), "providers.openai.api_keys.0.secret: must not be empty"),
    (base(models=[]), "providers.openai.models: must not be empty"),
    (base(models=["m", "m"]), "providers.openai.models.1: duplicate model"),
    (base(kind="bogus"), "providers.openai.kind: must be one of"),
    (base(tiemout_s=3), "providers.openai.tiemout_s: unknown field"),
    (
        base(responses=[{"fail": 503}]),
        "providers.openai.responses: only allowed for kind: scripted",
    ),
    ({**base(), "priority": ["openai", "nope"]}, "priority.1: 'nope' is not a configured provider"),
    ({**base(), "priority": ["openai", "openai"]}, "priority.1: 'openai' is listed twice"),
    ({**base(), "request": {"deadline_s": 0}}, "request.deadline_s: must be > 0"),
    ({**base(), "request": {"max_in_flight": 0}}, "request.max_in_flight: must be > 0"),
    (
        {**base(), "ledger": {"prompt_preview_chars": -1}},
        "ledger.prompt_preview_chars: must be >= 0",
    ),
    ({**base(), "supervision": {"within_s": 0}}, "supervision.within_s: must be > 0"),
    (
        {**base(), "mitigation": {"strategy": "rewrite_first"}},
        "mitigation.rewriter: required by strategy rewrite_first",
    ),
    (
        {
            **base(),
            "mitigation": {
                "strategy": "rewrite_first",
                "rewriter": {"provider": "x", "model": "m"},
            },
        },
        "mitigation.rewriter.provider: 'x' is not a configured provider",
    ),
    ({**base(), "retries": 3}, "retries: unknown field"),
    ({"providers": {}}, "providers: must not be empty"),
    (
        {"providers": {"s": scripted(responses=[{"fail": "explode"}])}},
        "providers.s.responses.0.fail: must be an HTTP status or one of",
    ),
    (
        {"providers": {"s": scripted(responses=[{"fail": 503, "times": 0}])}},
        "providers.s.responses.0.times: must be > 0",
    ),
]


@pytest.mark.parametrize(("data", "message"), INVALID, ids=[m.split(":")[0] for _, m in INVALID])
def test_invalid_config_names_the_field_and_rule(data, message):
    with pytest.raises(am.ConfigError) as info:
        RuntimeConfig.model_validate(data)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_constructor_raises_config_error_too():
    with pytest.raises(am.ConfigError, match="providers: must not be empty"):
        RuntimeConfig(providers={})


def test_errors_never_echo_secrets():
    secret = "sk-very-secret-value"
    for data in (base(api_keys=[secret, secret]), base(api_keys=[{"secret": secret, "idx": 1}])):
        with pytest.raises(am.ConfigError) as info:
            RuntimeConfig.model_validate(data)
        assert secret not in str(info.value)
    cfg = RuntimeConfig.model_validate(base(api_keys=[secret]))
    assert secret not in repr(cfg) and secret not in str(cfg.model_dump())


def test_env_interpolation(monkeypatch):
    monkeypatch.setenv("AM_TEST_KEY", "sk-from-env")
    cfg = RuntimeConfig.model_validate(
        base(api_keys=["${AM_TEST_KEY}"], base_url="${AM_NOPE:-http://x}")
    )
    p = cfg.providers["openai"]
    assert p.api_keys[0].secret.get_secret_value() == "sk-from-env"
    assert p.base_url == "http://x"


def test_missing_env_var_is_named():
    os.environ.pop("AM_MISSING_VAR", None)
    with pytest.raises(
        am.ConfigError,
        match=r"providers\.openai\.api_keys\.0: environment variable AM_MISSING_VAR is not set",
    ):
        RuntimeConfig.model_validate(base(api_keys=["${AM_MISSING_VAR}"]))


def test_load_yaml_and_toml(tmp_path, monkeypatch):
    monkeypatch.setenv("AM_K", "secret-1")
    y = tmp_path / "c.yaml"
    y.write_text(
        "priority: [sim]\nproviders:\n  sim:\n    kind: scripted\n    api_keys: ['${AM_K}']\n"
        "    models: [m1]\n    breaker: {failure_threshold: 2}\n"
    )
    t = tmp_path / "c.toml"
    t.write_text(
        'priority = ["sim"]\n[providers.sim]\nkind = "scripted"\napi_keys = ["${AM_K}"]\n'
        'models = ["m1"]\n[providers.sim.breaker]\nfailure_threshold = 2\n'
    )
    for path in (y, t):
        cfg = am.load_config(path)
        assert cfg.providers["sim"].breaker.failure_threshold == 2
        assert cfg.providers["sim"].api_keys[0].secret.get_secret_value() == "secret-1"


def test_load_config_errors(tmp_path):
    with pytest.raises(am.ConfigError, match="cannot read"):
        am.load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "c.ini"
    bad.write_text("x")
    with pytest.raises(am.ConfigError, match="unsupported config format"):
        am.load_config(bad)
    broken = tmp_path / "c.yaml"
    broken.write_text("providers: [unclosed")
    with pytest.raises(am.ConfigError, match="not valid YAML"):
        am.load_config(broken)
    lst = tmp_path / "l.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(am.ConfigError, match="top level must be a mapping"):
        am.load_config(lst)


def test_config_is_frozen():
    cfg = RuntimeConfig.model_validate(base())
    with pytest.raises(ValueError, match="frozen"):
        cfg.providers["openai"].timeout_s = 3  # type: ignore[misc]
