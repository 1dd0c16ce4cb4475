import hashlib
import hmac
import json

import pytest

import adaptive_mind as am
from adaptive_mind.chat import Attempt, ChatMessage, Completion
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.core.ledger_entry import (
    GENESIS_HASH,
    build_entry,
    chain,
    digest,
    prompt_hash,
    resilience_score,
)

MSGS = (
    ChatMessage(role="system", content="sys"),
    ChatMessage(role="user", content="first"),
    ChatMessage(role="assistant", content="a"),
    ChatMessage(role="user", content="  Café  "),
)


def entry(result, attempts=(), previews=(512, 1024), key=None, final=None, mitigation=False):
    """The entry as stored and read back (a LedgerEntry), as a dict of its fields."""
    fields = build_entry(
        request_id="r1",
        parent_request_id=None,
        started_wall=1_700_000_000.0,
        latency_s=0.25,
        messages=MSGS,
        final_messages=final,
        result=result,
        attempts=attempts,
        events=[],
        mitigation_attempted=mitigation,
        prompt_preview_chars=previews[0],
        response_preview_chars=previews[1],
        hash_key=key,
    )
    return dict(chain(fields, GENESIS_HASH).entry())


def ok(text="answer text", mitigated=False, attempts=()):
    return Completion(
        request_id="r1",
        text=text,
        provider="p",
        model="m",
        key_id="p#1",
        latency_ms=250,
        attempts=attempts,
        mitigated=mitigated,
    )


def test_prompt_hash_is_sha256_of_the_nfc_stripped_last_user_message():
    decomposed = "  Cafe\u0301  "  # NFC turns e + combining accent into é
    expected = hashlib.sha256("Café".encode()).hexdigest()
    assert prompt_hash(decomposed) == expected
    assert entry(ok())["prompt_hash"] == expected
    keyed = hmac.new(b"k", "Café".encode(), hashlib.sha256).hexdigest()
    assert entry(ok(), key=b"k")["prompt_hash"] == keyed


def test_previews_are_truncated_at_the_limit_and_zero_disables():
    e = entry(ok(text="0123456789"), previews=(3, 4))
    assert e["prompt_preview"] == "  C" and e["response_preview"] == "0123"
    e = entry(ok(), previews=(0, 0))
    assert e["prompt_preview"] == "" and e["response_preview"] == ""


def test_success_fields():
    failed = Attempt(provider="p", model="m", key_id="p#2", category=C.TRANSIENT)
    good = Attempt(provider="p", model="m", key_id="p#1")
    e = entry(ok(attempts=(failed, good)), attempts=(failed, good))
    assert e["outcome"] == am.Outcome.SUCCESS
    assert (e["provider"], e["model"], e["key_id"]) == ("p", "m", "p#1")
    assert e["attempt_count"] == 2 and e["error_category"] is None
    assert 0 < e["resilience_score"] < 1
    assert e["started_at"].tzinfo is not None and e["latency_ms"] == 250.0
    assert (e["finished_at"] - e["started_at"]).total_seconds() == pytest.approx(0.25)
    assert e["mitigation_attempted"] is False and e["mitigation_succeeded"] is None


def test_failure_fields():
    a = Attempt(provider="p", model="m", key_id="p#1", category=C.KEY_FATAL, status_code=401)
    err = am.AllProvidersFailedError(request_id="r1", attempts=[a])
    e = entry(err, attempts=(a,))
    assert e["outcome"] == am.Outcome.FAILURE and e["error_category"] == "KEY_FATAL"
    assert e["resilience_score"] == 0.0 and e["response_preview"] is None
    assert entry(am.DeadlineExceededError("late", request_id="r1"))["error_category"] == "DEADLINE"


def test_mitigated_success_and_final_prompt_preview():
    final = (*MSGS[:-1], ChatMessage(role="user", content="rewritten"))
    e = entry(ok(mitigated=True), final=final, mitigation=True)
    assert e["outcome"] == am.Outcome.MITIGATED_SUCCESS
    assert e["final_prompt_preview"] == "rewritten" and e["mitigation_succeeded"] is True
    assert 0 < e["resilience_score"] < 1


def test_score_formula():
    assert resilience_score(True, 0, False) == 1.0
    assert resilience_score(True, 1, False) > resilience_score(True, 3, False) > 0
    assert resilience_score(True, 0, True) < 1.0
    assert resilience_score(False, 0, False) == 0.0


def test_chain_links_and_detects_edits():
    fields = build_entry(
        request_id="r1",
        parent_request_id=None,
        started_wall=1.0,
        latency_s=0.1,
        messages=MSGS,
        final_messages=None,
        result=ok(),
        attempts=(),
        events=[],
        mitigation_attempted=False,
        prompt_preview_chars=5,
        response_preview_chars=5,
        hash_key=None,
    )
    s1 = chain(fields, GENESIS_HASH)
    s2 = chain({**fields, "request_id": "r2"}, s1.entry_hash)
    e1, e2 = s1.entry(), s2.entry()
    assert e2.prev_hash == e1.entry_hash and e1.prev_hash == GENESIS_HASH
    assert e2.entry_hash == s2.entry_hash
    d = json.loads(s2.doc)
    assert digest(d) == d["entry_hash"]
    d["outcome"] = "FAILURE"
    assert digest(d) != d["entry_hash"]
