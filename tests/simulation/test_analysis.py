from adaptive_mind.simulation.analysis import retry_after_violations
from adaptive_mind.simulation.drill import PhaseResult
from adaptive_mind.simulation.server import Hit


def phase(*hits):
    p = PhaseResult("runtime", 10)
    p.hits = [(t, Hit("openai", key, "m", outcome)) for t, key, outcome in hits]
    return p


def test_calls_inside_a_retry_after_window_are_counted_once_each():
    p = phase(
        (1.0, "k1", "rate_limit"),
        (1.05, "k1", "ok"),
        (1.5, "k1", "rate_limit"),
        (2.0, "k1", "ok"),
        (2.0, "k2", "ok"),
        (4.0, "k1", "ok"),
    )
    # 1.05 is within the in-flight slack; 1.5 and 2.0 arrive inside the 2 s window; 4.0 is after
    assert retry_after_violations(p, 2.0) == 2
    assert retry_after_violations(phase((1.0, "k1", "rate_limit"), (3.5, "k1", "ok")), 2.0) == 0
