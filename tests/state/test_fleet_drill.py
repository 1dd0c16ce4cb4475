"""``run_simulation.py --replicas N``: finding Redis, and the fleet drill end to end."""

from __future__ import annotations

import pytest

import run_simulation
from adaptive_mind.simulation import fleet


def test_no_redis_and_no_redis_server_exits_saying_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(fleet, "answers_ping", lambda *_a, **_k: False)
    monkeypatch.setattr(fleet.shutil, "which", lambda _name: None)
    code = run_simulation.main(["--replicas", "2", "--scenario", "quick", "--no-report"])
    assert code == 2
    err = capsys.readouterr().err
    assert "apt-get install redis-server" in err and "--redis-url" in err


def test_redis_url_without_replicas_is_refused():
    with pytest.raises(SystemExit):
        run_simulation.parse_args(["--redis-url", "redis://127.0.0.1:1/0"])


def test_the_drill_as_a_fleet_shares_what_one_replica_learns(redis_url, capsys):
    code = run_simulation.main(
        [
            *("--replicas", "3", "--scenario", "revoked_key", "--requests", "90"),
            *("--redis-url", redis_url, "--no-report", "--no-baseline", "--quiet", "--strict"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "replica 2: served 30, failed 0" in out
    assert "redis://127.0.0.1" in out
