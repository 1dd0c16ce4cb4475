"""Every shipped scenario runs and shows its expected effect; the CLI writes a full report."""

import asyncio
import json

import pytest

import adaptive_mind as am
from adaptive_mind.simulation.analysis import checks, summary
from adaptive_mind.simulation.drill import run_drill
from adaptive_mind.simulation.scenario import load_scenario, shipped
from run_simulation import main as run_simulation


def drill(name, tmp_path, seed=1):
    scenario = load_scenario(name)
    baseline = scenario.expect.beats_baseline
    ledger = tmp_path / f"{name}-{seed}.sqlite"
    return asyncio.run(run_drill(scenario, seed=seed, ledger_path=ledger, baseline=baseline))


@pytest.mark.parametrize("name", shipped())
def test_shipped_scenario_shows_its_expected_effect(name, tmp_path):
    result = drill(name, tmp_path)
    failed = [c for c in checks(result) if not c.ok]
    if failed:  # real time on a shared machine: one retry with the next seed, both reported
        first = failed
        result = drill(name, tmp_path, seed=2)
        failed = [c for c in checks(result) if not c.ok]
        assert not failed, f"{name}: seed 1 failed {first}; seed 2 failed {failed}"
    assert len(result.runtime.records) == result.scenario.requests
    with am.Ledger.open(result.ledger_path) as ledger:
        assert ledger.verify().checked >= result.scenario.requests


def test_the_cli_writes_summary_and_a_report_referencing_every_chart(tmp_path, capsys):
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


def test_json_output_and_overrides(tmp_path, capsys):
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


def test_list_and_bad_scenarios(tmp_path, capsys):
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


def test_summary_counts_wasted_calls_from_the_server(tmp_path):
    result = drill("revoked_key", tmp_path)
    data = summary(result)
    assert data["runtime"]["wasted_calls"] >= 1  # the 401s the disabled key answered
    assert data["runtime"]["upstream_calls"] >= data["runtime"]["requests"]
