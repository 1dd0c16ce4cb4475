"""Drills that stream: the streams scenario in quick form, and the scenario fields it uses."""

import asyncio
from collections import Counter
from pathlib import Path

import pytest

import adaptive_mind as am
from adaptive_mind.simulation.analysis import stream_checks, stream_summary
from adaptive_mind.simulation.drill import run_drill
from adaptive_mind.simulation.drill_stream import STREAM_OUTCOMES, streamed
from adaptive_mind.simulation.scenario import Scenario, load_scenario


def quick(scenario: Scenario, factor: float = 0.5) -> Scenario:
    """The same scenario with its timeline compressed by ``factor`` and proportionally fewer
    requests (the same load per second)."""
    timeline = [
        w.model_copy(
            update={"at": w.at * factor, "until": None if w.until is None else w.until * factor}
        )
        for w in scenario.timeline
    ]
    return scenario.model_copy(
        update={
            "duration_s": scenario.duration_s * factor,
            "requests": int(scenario.requests * factor),
            "timeline": timeline,
        }
    )


def test_the_streams_drill_never_counts_a_truncated_answer_and_accounts_for_every_stream(
    tmp_path: Path,
) -> None:
    scenario = quick(load_scenario("streams"))
    ledger = tmp_path / "streams.sqlite"
    result = asyncio.run(run_drill(scenario, seed=3, ledger_path=ledger))
    rt, base = result.runtime, result.baseline
    expected = sum(streamed(3, i, scenario.stream) for i in range(scenario.requests))
    assert 0 < expected < scenario.requests  # a share streams, the rest is acomplete

    reads = [r.stream for r in rt.records if r.stream is not None]
    assert len(reads) == expected and len(rt.records) == scenario.requests
    assert all(r.outcome in STREAM_OUTCOMES for r in reads)
    s = stream_summary(rt)
    assert s is not None
    assert s["truncated"] == 0  # never a truncated answer as a success
    assert s["completed"] + s["interrupted"] + s["failed"] == s["sent"] == expected
    assert s["ended_events"] == expected  # each stream ended with its one final event
    assert s["resumed"] > 0 and s["interrupted"] == 0  # breaks happened and were carried on
    faults = Counter(h.outcome for _, h in rt.hits)
    assert faults["stream_cut"] > 0 and faults["stream_malformed"] > 0
    assert rt.server_streams.get("open", 0) == 0  # the server saw every stream end
    assert all(c.ok for c in stream_checks(result)), stream_checks(result)

    # the detector is not vacuous: the plain SDK shows streams without their ending as answers
    b = stream_summary(base)
    assert b is not None and b["sent"] == expected
    assert b["truncated"] > 0 and b["interrupted"] > 0
    assert result.runtime.availability > base.availability

    with am.Ledger.open(ledger) as book:
        assert book.verify().checked >= scenario.requests


def test_a_scenario_without_streams_sends_none(tmp_path: Path) -> None:
    assert not any(streamed(1, i, 0.0) for i in range(100))
    assert all(streamed(1, i, 1.0) for i in range(100))
    assert load_scenario("default").stream == 0


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("stream: 1.5\ntimeline: []\n", r"stream"),
        ("stream: 0\ntimeline: [{at: 0, fault: stream_cut}]\n", r"stream: must be > 0"),
        (
            "stream: 0.5\ntimeline: [{at: 0, fault: server_error, after_chunks: 2}]\n",
            r"timeline\.0.*after_chunks",
        ),
        ("stream: 0.5\ntimeline: [{at: 0, fault: stream_cut, after_chunks: -1}]\n", "after_chunks"),
        ("stream: 0.5\nstream_policy: retry\n", r"stream_policy"),
    ],
)
def test_bad_stream_settings_are_rejected_naming_the_field(
    tmp_path: Path, body: str, match: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: bad\nduration_s: 1\nrequests: 5\nproviders: {{}}\n{body}")
    with pytest.raises(am.ConfigError, match=match):
        load_scenario(str(bad))
