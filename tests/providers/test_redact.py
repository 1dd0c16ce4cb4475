"""The secret redactor: any 8+ character fragment of a key's core, across markup and invisibles."""

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_mind.providers.redact import (
    MARKER,
    MIN_FRAGMENT,
    Redactor,
    _mapped_skeleton,
    secret_core,
    skeleton,
)
from adaptive_mind.providers.wire_errors import MAX_ERROR_CHARS, error_text

OPENAI = "sk-proj-Q7vR2mXk9LpT4wYz8NcB1dFh"
ANTHROPIC = "sk-ant-api03-Zx9Wv8Ut7Sr6Qp5On4Ml3Kj2Ih1Gf"
GEMINI = "AIzaSyD4kP9mQ2rT7vW1xZ5bN8cF3hJ6gL0sE"
KEYS = [OPENAI, ANTHROPIC, GEMINI]
R = Redactor(KEYS)


def leaked(text: str, secrets=KEYS) -> list[str]:
    """Independent check: every 8-character run of a key's core found in ``text``'s letters."""
    flat = re.sub(r"[^a-z0-9_-]", "", re.sub(r"<[^>]*>", "", html.unescape(text)).lower())
    found = []
    for secret in secrets:
        core = secret_core(secret)
        for i in range(len(core) - MIN_FRAGMENT + 1):
            if core[i : i + MIN_FRAGMENT] in flat:
                found.append(core[i : i + MIN_FRAGMENT])
    return found


def interleave(s: str, sep: str) -> str:
    return sep.join(s)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("whole key", f"Incorrect API key provided: {OPENAI}."),
        ("core without prefix", f"key {OPENAI[8:]} is revoked"),
        ("middle fragment", f"got ...{ANTHROPIC[20:29]}... from you"),
        ("upper case", f"KEY {GEMINI[4:16].upper()}"),
        ("tags", f"sk-<b>{OPENAI[3:7]}</b>{OPENAI[7:15]}<i>{OPENAI[15:]}</i>"),
        ("zero-width spaces", interleave(GEMINI, "\u200b")),
        ("soft hyphens and joiners", interleave(OPENAI[8:20], "\u00ad\u2060")),
        ("spaces and newlines", interleave(ANTHROPIC[13:30], " \n")),
        ("markdown", f"**{OPENAI[8:12]}**`{OPENAI[12:18]}`_x"),
        ("decimal entities", "".join(f"&#{ord(c)};" for c in GEMINI[4:14])),
        ("hex and named entities", f"{OPENAI[8:12]}&#x{ord(OPENAI[12]):x};&shy;{OPENAI[13:18]}"),
        ("bidi controls", interleave(ANTHROPIC[13:25], "\u202e")),
        ("html comment", f"{GEMINI[4:9]}<!-- x -->{GEMINI[9:15]}"),
    ],
)
def test_fragments_are_redacted(name, text):
    assert leaked(text), "the case must hold a fragment"
    out = R(text)
    assert MARKER in out
    assert not leaked(out), out


def test_text_around_a_fragment_is_kept_exactly():
    text = f"Bonjour İstanbul — the key\u00a0«{OPENAI}» expired.\nRetry later ✓"
    assert R(text) == f"Bonjour İstanbul — the key\u00a0«{MARKER}» expired.\nRetry later ✓"


def test_the_known_prefix_goes_with_the_fragment():
    assert R(f"x {ANTHROPIC} y") == f"x {MARKER} y"
    assert R(f"x sk-ant-api03-<b>{ANTHROPIC[13:25]}</b> y") == f"x {MARKER}</b> y"


def test_several_keys_and_adjacent_fragments():
    text = f"{OPENAI[8:18]}{GEMINI[4:14]} and {ANTHROPIC}"
    out = R(text)
    assert out == f"{MARKER} and {MARKER}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ok",
        "The capital of France is Paris.",
        "keys start with sk-ant-api03- and AIza",  # prefixes alone are no secret
        f"seven chars {OPENAI[8:15]} is below the limit",
        "<b>markup</b> &amp; entities &#8203; stay",
        "ünïcödé İ ß ﬁ text with\u200bzero width",
    ],
)
def test_text_without_a_fragment_is_returned_unchanged(text):
    assert R(text) is text


def test_short_and_empty_secrets_are_ignored():
    r = Redactor(["", "k1", "sk-abc", "AIzaXY"])
    assert r("k1 sk-abc AIzaXY") == "k1 sk-abc AIzaXY"


def test_a_short_core_falls_back_to_the_whole_secret():
    assert secret_core("AIzaTest0003") == "test0003"  # exactly 8: the core itself
    assert secret_core("sk-abc12345") == "abc12345"  # a core of 8 characters: the core
    assert secret_core("sk-abc1234") == "sk-abc1234"  # core of 7: the whole secret
    assert secret_core("sk-abc") == ""
    assert Redactor(["sk-abc1234"])("a sk-abc1234 b") == f"a {MARKER} b"


def test_no_secrets_means_no_work():
    text = f"{OPENAI}"
    assert Redactor([])(text) is text


@pytest.mark.parametrize(
    "text", ["a<b>c &amp; d\u200be", "x\u0130y  z &#x41;", "<<b>>&&lt;;", "\u00adİ&shy;*`"]
)
def test_the_fast_skeleton_equals_the_mapped_one(text):
    sk, starts, ends = _mapped_skeleton(text)
    assert sk == skeleton(text)
    assert len(starts) == len(ends) == len(sk)


def test_error_text_redacts_then_cleans_and_shortens():
    text = f"<h1>401</h1> key <b>{OPENAI[:10]}</b>{OPENAI[10:]} sk-other-provider-key " + "x" * 400
    out = error_text(text, R)
    assert not leaked(out) and "<" not in out and "sk-other" not in out
    assert len(out) == MAX_ERROR_CHARS and out.startswith(f"401 key {MARKER}")


def test_holds_secret():
    assert R.holds_secret(interleave(GEMINI[5:15], "<br>"))
    assert not R.holds_secret("nothing to see")


_SKIP = st.sampled_from(["", " ", "\n", "\u200b", "\u00ad", "<b>", "</i>", "*", "`", "&shy;"])
_KEY = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=12)


@settings(max_examples=300, deadline=None)
@given(
    key=_KEY,
    prefix=st.sampled_from(["", "sk-", "sk-ant-", "AIza"]),
    start=st.integers(0, 40),
    length=st.integers(MIN_FRAGMENT, 60),
    seps=st.lists(_SKIP, min_size=60, max_size=60),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_any_fragment_with_any_interleaving_is_redacted(
    key, prefix, start, length, seps, before, after
):
    secret = prefix + key
    core = secret_core(secret)
    start %= len(core) - MIN_FRAGMENT + 1
    fragment = core[start : start + length]
    assert len(fragment) >= MIN_FRAGMENT
    # Use the fragment's characters as written in the secret (the core is case-folded).
    at = secret.lower().index(fragment)
    raw = secret[at : at + len(fragment)]
    text = before + "".join(c + seps[i] for i, c in enumerate(raw)) + after
    out = Redactor([secret])(text)
    assert not leaked(out, [secret]), (text, out)
