import adaptive_mind as am

CONTRACT = {
    "ActorSystem",
    "AdaptiveMindError",
    "AllProvidersFailedError",
    "Attempt",
    "BadRequestError",
    "ChatMessage",
    "Completion",
    "ConfigError",
    "ContentPolicyError",
    "DeadlineExceededError",
    "ErrorCategory",
    "Event",
    "OverloadedError",
    "RuntimeConfig",
    "SystemStoppedError",
    "Usage",
    "load_config",
}


def test_all_is_sorted_and_complete():
    assert am.__all__ == sorted(am.__all__)
    assert set(am.__all__) >= CONTRACT
    for name in am.__all__:
        assert hasattr(am, name), name


def test_error_tree():
    for cls in (
        am.AllProvidersFailedError,
        am.ContentPolicyError,
        am.DeadlineExceededError,
        am.BadRequestError,
        am.OverloadedError,
        am.ConfigError,
        am.SystemStoppedError,
    ):
        assert issubclass(cls, am.AdaptiveMindError)
    assert issubclass(am.ConfigError, ValueError)


def test_error_categories():
    assert {c.value for c in am.ErrorCategory} == {
        "TRANSIENT",
        "KEY_FATAL",
        "MODEL",
        "CONTENT_POLICY",
        "BAD_REQUEST",
        "UNKNOWN",
    }
