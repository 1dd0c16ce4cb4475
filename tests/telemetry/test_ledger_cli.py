"""Reader filters, per-outcome statistics and tokens, and the ledger command line."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

import adaptive_mind as am
from adaptive_mind.ledger import main as ledger_cli
from tests.helpers import USER, scripted
from tests.telemetry.ledger_util import T0, fields, write

KEY = "cli-audit-key"


@pytest.fixture
def mixed(tmp_path):
    """Ten entries a minute apart from 12:00Z: even ones succeed slowly on provider ``a`` (or
    ``b`` from 12:06), odd ones fail in a millisecond."""
    path = tmp_path / "ledger.sqlite"
    entries = [
        fields(
            i,
            at=T0 + 60 * i,
            ok=i % 2 == 0,
            latency_s=(0.1 + i / 100) if i % 2 == 0 else 0.001,
            provider="a" if i < 6 else "b",
            usage=(100 + i, 10) if i != 8 else None,
        )
        for i in range(10)
    ]
    return path, write(path, entries)


def ids_of(entries):
    return [e.request_id for e in entries]


def test_outcome_filters_are_case_insensitive(mixed):
    path, ids = mixed
    with am.Ledger.open(path) as ledger:
        assert ids_of(ledger.entries(outcome="failure")) == ids[1::2]
        assert ids_of(ledger.entries(outcome=" Success ")) == ids[0::2]
        assert ids_of(ledger.entries(outcome=am.Outcome.SUCCESS)) == ids[0::2]
        assert ledger.entries(outcome="mitigated_success") == []
        with pytest.raises(ValueError, match="outcome: expected one of"):
            ledger.entries(outcome="won")


def test_since_and_until_take_iso_strings_and_datetimes_in_any_zone(mixed):
    path, ids = mixed
    at_3 = datetime.fromtimestamp(T0 + 180, UTC)
    with am.Ledger.open(path) as ledger:
        assert ids_of(ledger.entries(since="2026-01-01T12:03:00Z")) == ids[3:]
        assert ids_of(ledger.entries(since="2026-01-01T12:03:00")) == ids[3:]  # naive: UTC
        assert ids_of(ledger.entries(since="2026-01-01T13:03:00+01:00")) == ids[3:]
        assert ids_of(ledger.entries(since=at_3)) == ids[3:]
        plus_two = timezone(timedelta(hours=2))
        assert ids_of(ledger.entries(since=at_3.astimezone(plus_two))) == ids[3:]
        assert ids_of(ledger.entries(since=at_3 + timedelta(microseconds=1))) == ids[4:]
        assert ids_of(ledger.entries(until="2026-01-01T12:03:00Z")) == ids[:3]
        assert ids_of(ledger.entries(since="2026-01-01T12:02:30", until=at_3)) == ids[3:3]
        assert ids_of(ledger.entries(since="2026-01-01", until="2026-01-02")) == ids
        with pytest.raises(ValueError, match="since: not an ISO 8601 time"):
            ledger.entries(since="yesterday")


def test_provider_and_limit_filters_combine(mixed):
    path, ids = mixed
    with am.Ledger.open(path) as ledger:
        assert ids_of(ledger.entries(provider="b")) == ids[6:]
        assert ids_of(ledger.entries(provider="a", outcome="SUCCESS")) == ids[0:6:2]
        assert ids_of(ledger.entries(provider="a", limit=2)) == ids[4:6]
        assert ids_of(ledger.entries(outcome="failure", limit=2)) == [ids[7], ids[9]]
        assert ledger.entries(limit=0) == [] and ledger.entries(provider="zzz") == []
        with pytest.raises(ValueError, match="limit"):
            ledger.entries(limit=-1)


def test_stats_latency_per_outcome_and_tokens(mixed):
    path, _ = mixed
    with am.Ledger.open(path) as ledger:
        stats = ledger.stats()
        failures_only = ledger.stats(outcome="failure")
        b_only = ledger.stats(provider="b", since="2026-01-01T12:07:00Z")
    by = stats["latency_ms_by_outcome"]
    assert by["SUCCESS"] == {"count": 5, "p50": 140.0, "p95": 180.0, "p99": 180.0}
    assert by["FAILURE"] == {"count": 5, "p50": 1.0, "p95": 1.0, "p99": 1.0}
    assert "MITIGATED_SUCCESS" not in by
    assert stats["latency_ms"]["p50"] == 1.0  # the mixed figure fast failures drag down
    assert stats["tokens"] == {
        "entries_with_usage": 4,  # entry 8 did not report usage; failures have none
        "prompt": 100 + 102 + 104 + 106,
        "completion": 40,
        "total": 412 + 40,
    }
    assert failures_only["entries"] == 5 and failures_only["tokens"]["total"] == 0
    assert b_only["entries"] == 3 and b_only["outcomes"] == {"FAILURE": 2, "SUCCESS": 1}


def test_the_runtime_records_token_usage(start, tmp_path):
    path = tmp_path / "ledger.sqlite"
    system = start({"providers": {"a": scripted()}, "ledger": {"path": str(path)}})
    reply = system.complete(USER)
    system.stop()
    with am.Ledger.open(path) as ledger:
        entry = ledger.get(reply.request_id)
        tokens = ledger.stats()["tokens"]
    assert entry is not None and entry.prompt_tokens == reply.usage.prompt_tokens
    assert entry.completion_tokens == reply.usage.completion_tokens
    assert tokens["entries_with_usage"] == 1 and tokens["total"] == reply.usage.total_tokens


def test_old_entries_without_token_fields_still_read_and_verify(tmp_path):
    path = tmp_path / "ledger.sqlite"
    old = {k: v for k, v in fields(0).items() if not k.endswith("_tokens")}
    write(path, [old])
    with am.Ledger.open(path) as ledger:
        assert ledger.verify().ok and ledger.entries()[0].prompt_tokens is None
        assert ledger.stats()["tokens"]["entries_with_usage"] == 0


# -- the command line --------------------------------------------------------------------------


def cli(capsys, *argv):
    code = ledger_cli([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_filters(mixed, capsys):
    path, ids = mixed
    code, out, _ = cli(capsys, path, "--outcome", "failure", "--json")
    assert code == 0 and [e["request_id"] for e in json.loads(out)] == ids[1::2]
    code, out, _ = cli(
        capsys, path, "--since", "2026-01-01T12:03:00Z", "--until", "2026-01-01T12:05:00Z", "--json"
    )
    assert [e["request_id"] for e in json.loads(out)] == ids[3:5]
    code, out, _ = cli(capsys, path, "--provider", "b", "--limit", "2")
    assert code == 0 and ids[8] in out and ids[9] in out and ids[7] not in out
    code, out, _ = cli(capsys, path, "stats", "--outcome", "SUCCESS", "--json")
    stats = json.loads(out)
    assert stats["entries"] == 5 and set(stats["latency_ms_by_outcome"]) == {"SUCCESS"}
    code, out, _ = cli(capsys, path, "stats", "--limit", "3", "--json")
    assert json.loads(out)["entries"] == 3


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--outcome", "won"], "expected one of"),
        (["--since", "yesterday"], "not an ISO 8601 time"),
        (["--limit", "-2"], "must be >= 0"),
        (["verify", "--outcome", "failure"], "apply to the listing"),
        (["stats", "--checkpoint", "3:abc"], "applies to verify"),
        (["verify", "--checkpoint", "nonsense"], "not a ledger checkpoint"),
        (["verify", "--hash-key-env", "AM_NO_SUCH_VAR"], "is not set"),
    ],
)
def test_cli_usage_errors_exit_2(mixed, capsys, argv, words):
    path, _ = mixed
    with pytest.raises(SystemExit) as info:
        ledger_cli([str(path), *argv])
    assert info.value.code == 2 and words in capsys.readouterr().err


def test_cli_checkpoint_and_verify_against_it(mixed, capsys, tmp_path):
    path, _ = mixed
    code, out, _ = cli(capsys, path, "checkpoint")
    assert code == 0 and out.strip().startswith("10:")
    token = out.strip()
    code, out, _ = cli(capsys, path, "checkpoint", "--json")
    cp_file = tmp_path / "checkpoint.json"
    cp_file.write_text(out)
    assert json.loads(out)["count"] == 10
    assert cli(capsys, path, "verify", "--checkpoint", cp_file)[0] == 0
    assert cli(capsys, path, "verify", "--checkpoint", token)[0] == 0
    with sqlite3.connect(path) as conn:  # drop the newest entry and make the head agree
        conn.execute("DELETE FROM ledger WHERE seq = 10")
        doc = json.loads(conn.execute("SELECT doc FROM ledger WHERE seq = 9").fetchone()[0])
        conn.execute("UPDATE ledger_head SET entry_hash = ?, count = 9", (doc["entry_hash"],))
    conn.close()
    assert cli(capsys, path, "verify")[0] == 0
    code, out, _ = cli(capsys, path, "verify", "--checkpoint", cp_file)
    assert code == 1 and "<checkpoint>" in out and "truncated" in out
    code, out, _ = cli(capsys, path, "verify", "--checkpoint", cp_file, "--json")
    assert code == 1 and json.loads(out)["first_bad"] == "<checkpoint>"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE ledger SET outcome = 'FAILURE' WHERE seq = 1")
    conn.close()
    code, _, err = cli(capsys, path, "checkpoint")
    assert code == 1 and "outcome column" in err


def test_cli_keyed_ledger(start, tmp_path, capsys, monkeypatch):
    path = tmp_path / "ledger.sqlite"
    system = start({"providers": {"a": scripted()}, "ledger": {"path": str(path), "hash_key": KEY}})
    system.complete(USER)
    system.stop()
    code, out, _ = cli(capsys, path, "verify")
    assert code == 1 and "NOT VERIFIED" in out and "hash_key" in out
    monkeypatch.setenv("AM_LEDGER_KEY", KEY)
    code, out, _ = cli(capsys, path, "verify", "--hash-key-env", "AM_LEDGER_KEY")
    assert code == 0 and "chain intact" in out
    monkeypatch.setenv("AM_LEDGER_KEY", "wrong")
    assert cli(capsys, path, "verify", "--hash-key-env", "AM_LEDGER_KEY")[0] == 1


def test_cli_on_a_damaged_file(tmp_path, capsys):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"garbage " * 1000)
    code, out, _ = cli(capsys, path, "verify")
    assert code == 1 and "<file>" in out
    code, _, err = cli(capsys, path)
    assert code == 2 and "cannot read" in err
