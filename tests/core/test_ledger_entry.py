import base64
import hashlib
import hmac
import json
import unicodedata

import pytest

import adaptive_mind as am
from adaptive_mind.chat import (
    Attempt,
    ChatMessage,
    Completion,
    FunctionCall,
    ImagePart,
    ImageURL,
    TextPart,
    ToolCall,
)
from adaptive_mind.chat import ErrorCategory as C
from adaptive_mind.core.ledger_entry import (
    GENESIS_HASH,
    build_entry,
    chain,
    digest,
    image_ref,
    last_user_message,
    message_text,
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


# -- multi-part and tool conversations ----------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
PNG_REF = f"[image:data:image/png;sha256={hashlib.sha256(PNG).hexdigest()}]"


def image(url, detail=None):
    return ImagePart(image_url=ImageURL(url=url, detail=detail))


def parts_entry(messages, previews=(512, 1024), final=None):
    fields = build_entry(
        request_id="r1",
        parent_request_id=None,
        started_wall=1.0,
        latency_s=0.1,
        messages=messages,
        final_messages=final,
        result=ok(),
        attempts=(),
        events=[],
        mitigation_attempted=final is not None,
        prompt_preview_chars=previews[0],
        response_preview_chars=previews[1],
        hash_key=None,
    )
    return dict(chain(fields, GENESIS_HASH).entry())


def user(content):
    return ChatMessage(role="user", content=content)


@pytest.mark.parametrize(
    "text", ["  Café  ", "Cafe\u0301", "", "   ", "line\nbreak", "\udfff lone surrogate"]
)
def test_string_content_hashes_exactly_as_before(text):
    # The formula every entry written before multi-part messages used.
    old = hashlib.sha256(
        unicodedata.normalize("NFC", text).strip().encode("utf-8", "surrogatepass")
    ).hexdigest()
    assert last_user_message([user(text)]) == text
    assert prompt_hash(last_user_message([user(text)])) == old


def test_text_only_parts_hash_like_the_joined_string():
    split = user((TextPart(text="  Ca"), TextPart(text="fé  ")))
    assert parts_entry([split])["prompt_hash"] == parts_entry([user("  Café  ")])["prompt_hash"]


def test_parts_have_a_canonical_text_with_images_by_reference():
    msg = user(
        (
            TextPart(text="What is in "),
            image("https://example.com/cat.png?size=2", detail="high"),
            TextPart(text=" and "),
            image(PNG_URL, detail="low"),
        )
    )
    expected = f"What is in [image:https://example.com/cat.png] and {PNG_REF}"
    assert message_text(msg) == last_user_message([msg]) == expected
    e = parts_entry([msg])
    assert e["prompt_preview"] == expected
    assert e["prompt_hash"] == hashlib.sha256(expected.strip().encode()).hexdigest()


def test_parts_hash_is_stable_and_follows_the_image_bytes_not_the_detail():
    def msg(url, detail=None):
        return [user((TextPart(text="describe"), image(url, detail)))]

    first = parts_entry(msg(PNG_URL))["prompt_hash"]
    assert parts_entry(msg(PNG_URL, "high"))["prompt_hash"] == first  # detail is not content
    rebuilt = ChatMessage.model_validate(msg(PNG_URL)[0].model_dump())  # same message, re-parsed
    assert parts_entry([rebuilt])["prompt_hash"] == first
    other = "data:image/png;base64," + base64.b64encode(PNG + b"x").decode()
    assert parts_entry(msg(other))["prompt_hash"] != first
    as_jpeg = PNG_URL.replace("image/png", "image/jpeg")
    assert parts_entry(msg(as_jpeg))["prompt_hash"] != first
    assert parts_entry(msg("https://example.com/a.png"))["prompt_hash"] != first
    # An image changes the hash: the same text without it is another prompt.
    assert parts_entry([user("describe")])["prompt_hash"] != first


def test_data_url_images_never_reach_the_entry():
    payload = base64.b64encode(PNG).decode()
    msg = user((image(PNG_URL), TextPart(text="look")))
    final = [user((image(PNG_URL), TextPart(text="please look")))]
    e = parts_entry([msg], previews=(10_000, 10_000), final=final)
    assert e["prompt_preview"] == PNG_REF + "look"
    assert e["final_prompt_preview"] == PNG_REF + "please look"
    stored = json.dumps(e, default=str)
    assert payload[:32] not in stored and "base64" not in stored
    # Truncated previews are prefixes of the canonical text, never of the data URL.
    short = parts_entry([msg], previews=(20, 0))["prompt_preview"]
    assert short == PNG_REF[:20]


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        ("DATA:Image/PNG;base64," + base64.b64encode(b"abc").decode(), "image/png"),
        ("data:image/svg+xml,%3Csvg%2F%3E", "image/svg+xml"),
        ("data:;base64,YWJj", "unknown"),
        ("data:image/png;base64,not base64!", "image/png"),
        ("data:" + "x" * 5000 + ";base64,YWJj", "unknown"),
    ],
)
def test_image_ref_of_odd_data_urls(url, ref):
    got = image_ref(url)
    assert got.startswith(f"[image:data:{ref};sha256=") and got.endswith("]")
    assert len(got) < 120


def test_image_ref_hashes_the_decoded_bytes():
    assert image_ref("data:image/png;base64,YWJj") == (
        f"[image:data:image/png;sha256={hashlib.sha256(b'abc').hexdigest()}]"
    )
    assert image_ref("data:image/svg+xml,%3Csvg%2F%3E") == (
        f"[image:data:image/svg+xml;sha256={hashlib.sha256(b'<svg/>').hexdigest()}]"
    )
    assert image_ref("https://x.test/a.png") == "[image:https://x.test/a.png]"


def tool_loop():
    call = ToolCall(id="call_1", function=FunctionCall(name="weather", arguments='{"city":"Oslo"}'))
    return [
        ChatMessage(role="system", content="sys"),
        user("Weather in Oslo?"),
        ChatMessage(role="assistant", content=None, tool_calls=(call,)),
        ChatMessage(role="tool", tool_call_id="call_1", content="12C, rain"),
    ]


def test_a_conversation_ending_in_tool_turns_hashes_its_last_user_turn():
    e = parts_entry(tool_loop())
    assert e["prompt_preview"] == "Weather in Oslo?"
    assert e["prompt_hash"] == parts_entry([user("Weather in Oslo?")])["prompt_hash"]
    # Every round of the same tool loop joins back to the same prompt.
    answered = [*tool_loop(), ChatMessage(role="assistant", content="Rainy.")]
    assert parts_entry(answered)["prompt_hash"] == e["prompt_hash"]


def test_a_last_user_turn_without_content_or_without_a_user_turn_is_well_defined():
    empty = hashlib.sha256(b"").hexdigest()
    assert parts_entry([user(None)])["prompt_hash"] == empty
    assert parts_entry([user(None)])["prompt_preview"] == ""
    assert last_user_message([]) == ""
    no_user = [ChatMessage(role="assistant", content=None, tool_calls=tool_loop()[2].tool_calls)]
    assert last_user_message(no_user) == ""
    assert last_user_message([ChatMessage(role="system", content="only")]) == "only"
