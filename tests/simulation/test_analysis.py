from adaptive_mind.simulation.analysis import checks, retry_after_violations
from adaptive_mind.simulation.drill import DrillResult, PhaseResult, RequestRecord
from adaptive_mind.simulation.scenario import Scenario
from adaptive_mind.simulation.server import Hit


def phase(*hits: tuple[float, str, str]) -> PhaseResult:
    p = PhaseResult("runtime", 10)
    p.hits = [(t, Hit("openai", key, "m", outcome)) for t, key, outcome in hits]
    return p


def test_calls_inside_a_retry_after_window_are_counted_once_each() -> None:
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


def answered(counts: tuple[int, int], name: str) -> PhaseResult:
    n_ok, n_failed = counts
    p = PhaseResult(name, 10)
    p.records = [RequestRecord(0, 0, True) for _ in range(n_ok)]
    p.records += [RequestRecord(0, 0, False) for _ in range(n_failed)]
    return p


def baseline_checks(rt: tuple[int, int], base: tuple[int, int], **expect: bool) -> dict[str, bool]:
    scenario = Scenario.model_validate(
        {"name": "s", "duration_s": 1, "requests": 10, "providers": {}, "expect": expect}
    )
    result = DrillResult(scenario, 1, answered(rt, "runtime"), answered(base, "baseline"))
    return {c.name: c.ok for c in checks(result) if "baseline" in c.name}


def test_at_least_the_baseline_allows_a_tie_and_beats_the_baseline_does_not() -> None:
    both = {"beats_baseline": True, "at_least_baseline": True}
    assert baseline_checks((10, 0), (10, 0), **both) == {
        "beats the baseline": False,
        "at least the baseline": True,
    }
    assert baseline_checks((9, 1), (10, 0), **both) == {
        "beats the baseline": False,
        "at least the baseline": False,
    }
    assert baseline_checks((10, 0), (9, 1), **both) == {
        "beats the baseline": True,
        "at least the baseline": True,
    }
    assert baseline_checks((9, 1), (10, 0), beats_baseline=False) == {}
    assert baseline_checks((9, 1), (0, 0), at_least_baseline=True) == {}  # no baseline phase
