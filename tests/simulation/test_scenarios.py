"""Every shipped scenario runs and shows its expected effect; the CLI writes a full report."""

import asyncio
import json
import time
from pathlib import Path

import openai
import pytest

import adaptive_mind as am
from adaptive_mind.simulation.analysis import checks, summary
from adaptive_mind.simulation.drill import DrillResult, _Timeline, run_drill
from adaptive_mind.simulation.scenario import Scenario, load_scenario, shipped
from adaptive_mind.simulation.server import ChaosServer
from run_simulation import main as run_simulation


def drill(name: str, tmp_path: Path, seed: int = 1) -> DrillResult:
    scenario = load_scenario(name)
    baseline = scenario.expect.beats_baseline or scenario.expect.at_least_baseline
    ledger = tmp_path / f"{name}-{seed}.sqlite"
    return asyncio.run(run_drill(scenario, seed=seed, ledger_path=ledger, baseline=baseline))


@pytest.mark.parametrize("name", shipped())
def test_shipped_scenario_shows_its_expected_effect(name: str, tmp_path: Path) -> None:
    result = drill(name, tmp_path)
    failed = [c for c in checks(result) if not c.ok]
    if failed:  # real time on a shared machine: one retry with the next seed, both reported
        first = failed
        result = drill(name, tmp_path, seed=2)
        failed = [c for c in checks(result) if not c.ok]
        assert not failed, f"{name}: seed 1 failed {first}; seed 2 failed {failed}"
    assert len(result.runtime.records) == result.scenario.requests
    if result.scenario.expect.at_least_baseline:  # never skipped: the baseline ran in full
        assert len(result.baseline.records) == result.scenario.requests
        assert result.runtime.availability >= result.baseline.availability
    assert result.ledger_path is not None
    with am.Ledger.open(result.ledger_path) as ledger:
        assert ledger.verify().checked >= result.scenario.requests


def test_the_cli_writes_summary_and_a_report_referencing_every_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert run_simulation(["--scenario", "quick", "--report", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Adaptive Mind" in printed and f"report: {out / 'report.html'}" in printed
    data = json.loads((out / "summary.json").read_text())
    assert data["scenario"] == "quick" and data["runtime"]["requests"] == 500
    assert data["runtime"]["availability"] > data["baseline"]["availability"]
    page = (out / "report.html").read_text()
    for chart in ("outcomes", "breakers", "keys", "latency"):
        assert (out / f"{chart}.png").stat().st_size > 1000
        assert f'alt="{chart}" src="data:image/png;base64,' in page
    with am.Ledger.open(out / "ledger.sqlite") as ledger:
        assert ledger.verify().ok


def test_json_output_and_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--scenario",
        "rate_limit",
        "--requests",
        "60",
        "--concurrency",
        "5",
        "--seed",
        "7",
        "--no-report",
        "--no-baseline",
        "--json",
    ]
    assert run_simulation(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 7 and data["runtime"]["requests"] == 60


def test_list_and_bad_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_simulation(["--list"]) == 0
    assert "default" in capsys.readouterr().out
    assert run_simulation(["--scenario", "nope", "--no-report"]) == 2
    assert "neither a shipped scenario" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nduration_s: 1\nrequests: 5\nproviders: {}\n"
        "timeline: [{at: 0, fault: explode}]\n"
    )
    with pytest.raises(am.ConfigError, match=r"timeline\.0"):
        load_scenario(str(bad))


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("{at: 0, fault: server_error, probability: 1.5}", r"timeline\.0\.probability"),
        ("{at: 0, fault: server_error, probability: 0}", r"timeline\.0\.probability"),
        ("{at: 0, fault: server_error, probability: often}", r"timeline\.0\.probability"),
        ("{at: 0, crash: ledger, probability: 0.5}", r"timeline\.0.*probability"),
    ],
)
def test_a_bad_probability_is_rejected_naming_the_field(
    tmp_path: Path, entry: str, match: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: bad\nduration_s: 1\nrequests: 5\nproviders: {{}}\ntimeline: [{entry}]\n")
    with pytest.raises(am.ConfigError, match=match):
        load_scenario(str(bad))


def test_random_scenarios_are_random_independent_faults_against_the_default_sdk() -> None:
    for name in (
        "random_500_two_keys",
        "random_500_one_key",
        "random_500_heavy",
        "random_429",
        "dead_primary",
        "random_batch",
    ):
        scenario = load_scenario(name)
        assert scenario.expect.at_least_baseline, name
        for cfg in scenario.providers.values():  # default runtime settings: no tuning
            assert set(cfg) <= {"kind", "api_keys", "models", "timeout_s"}, name
    assert load_scenario("random_429").expect.min_availability <= 0.97
    windows = load_scenario("random_batch").timeline
    assert {w.probability for w in windows} == {0.02, 0.3, 0.1, 0.4}


def test_probabilistic_windows_reach_the_server_and_repeat_with_the_seed() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "p",
            "duration_s": 1,
            "requests": 1,
            "providers": {},
            "timeline": [
                {"at": 0, "provider": "openai", "fault": "server_error", "probability": 0.3}
            ],
        }
    )

    async def outcomes(server: ChaosServer) -> list[str]:
        server.reset_counts()
        server.reseed(7)
        client = openai.AsyncOpenAI(api_key="k", base_url=server.url("openai"), max_retries=0)
        for _ in range(200):
            try:
                await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
            except openai.InternalServerError:
                pass
        await client.close()
        return [h.outcome for h in server.hits()]

    async def run() -> tuple[list[str], list[str]]:
        with ChaosServer() as server:
            timeline = _Timeline(server, scenario.timeline, None)
            await timeline.play(time.monotonic())
            first, second = await outcomes(server), await outcomes(server)
            timeline.clear()
            return first, second

    first, second = asyncio.run(run())
    assert first == second  # the same seed, the same draws
    assert 30 <= first.count("server_error") <= 90  # ~60 of 200
    assert set(first) == {"ok", "server_error"}


def test_summary_counts_wasted_calls_from_the_server(tmp_path: Path) -> None:
    result = drill("revoked_key", tmp_path)
    data = summary(result)
    assert data["runtime"]["wasted_calls"] >= 1  # the 401s the disabled key answered
    assert data["runtime"]["upstream_calls"] >= data["runtime"]["requests"]
