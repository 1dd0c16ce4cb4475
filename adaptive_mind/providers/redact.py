"""Redaction of the configured secrets from every text an adapter hands on.

A :class:`Redactor` is built once per adapter from the configured API keys. It replaces every
fragment of at least :data:`MIN_FRAGMENT` characters of a secret's *core* (the secret without a
well-known prefix such as ``sk-`` or ``AIza``, see :data:`KNOWN_PREFIXES`) with :data:`MARKER`:
case-insensitively, and also when markup (``<b>`` tags, HTML entities, ``*`` or backticks),
whitespace or invisible characters (zero-width spaces, soft hyphens, bidi controls) sit between
its characters. When the secret's own prefix precedes a fragment, the prefix goes with it.

Matching runs on the text's *skeleton*: the text with markup and invisible characters removed
(entities decoded) and ASCII letters folded to lower case. A secret fragment of 8 characters or
more is a contiguous run of the skeleton, and any such run holds a 4-gram that starts at a
multiple of 4; so the set of the cores' 4-grams, checked against the skeleton's consecutive
4-character chunks (``zip`` over one iterator, a C loop), rules out almost all text for a few
microseconds. Only text that passes that check pays for the exact scan, which maps the matches
back to the original characters.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

MARKER = "[redacted]"
"""What a secret fragment is replaced with."""
MIN_FRAGMENT = 8
"""The shortest run of a secret's core that is redacted (shorter runs are not told apart from
ordinary text)."""
KNOWN_PREFIXES: tuple[str, ...] = (
    "sk-ant-api03-",
    "sk-ant-admin01-",
    "sk-ant-",
    "sk-proj-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-or-v1-",
    "sk-",
    "AIza",
    "gsk_",
    "xai-",
)
"""Prefixes every key of a kind shares (longest first): no secret, so not redacted alone."""

_Q = 4
"""The pre-check's gram length; a window of ``2 * _Q - 1`` holds an aligned gram."""
assert MIN_FRAGMENT >= 2 * _Q - 1

_MARKUP = re.compile(
    r"</?[A-Za-z!?][^<>]{0,256}>"  # a tag or comment
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"  # an entity
)
_ASCII_SKIP = " \t\n\r\v\f\x1c\x1d\x1e\x1f*`~\\"
"""ASCII whitespace and the Markdown characters that can be slipped between a key's characters."""
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f\U000e0100-\U000e01ef"
)
"""Format characters (Unicode category Cf), variation selectors and blank fillers."""
_DROP_ASCII = str.maketrans("", "", _ASCII_SKIP)
_DROP_OTHER = re.compile(f"[\\s{_INVISIBLE}]+")
_PIECE = re.compile(f"{_MARKUP.pattern}|.", re.DOTALL)
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    """ASCII letters to lower case; never changes the length (``str.lower`` may, off ASCII)."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def _markup_char(m: re.Match[str]) -> str:
    """What a piece of markup stands for in the skeleton: an entity's character, else nothing."""
    piece = m.group()
    if piece[0] != "&":
        return ""
    char = html.unescape(piece)
    return char if len(char) == 1 else ""


def _skippable(char: str) -> bool:
    return char in _ASCII_SKIP or (not char.isascii() and _DROP_OTHER.match(char) is not None)


def skeleton(text: str) -> str:
    """``text`` as the matcher sees it: no markup or invisible characters, ASCII in lower case."""
    if "&" in text and ";" in text:
        text = _MARKUP.sub(_markup_char, text)
    elif "<" in text:  # tags only: a plain replacement, no Python call per match
        text = _MARKUP.sub("", text)
    text = text.translate(_DROP_ASCII)
    if not text.isascii():
        text = _DROP_OTHER.sub("", text)
    return _fold(text)


def _mapped_skeleton(text: str) -> tuple[str, list[int], list[int]]:
    """:func:`skeleton` with, per skeleton character, its start and end in ``text``."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _PIECE.finditer(text):
        piece = m.group()
        char = _markup_char(m) if len(piece) > 1 else piece
        if char and not _skippable(char):
            chars.append(char)
            starts.append(m.start())
            ends.append(m.end())
    return _fold("".join(chars)), starts, ends


def secret_core(secret: str) -> str:
    """The part of ``secret`` whose fragments are redacted: without its well-known prefix.

    A core shorter than :data:`MIN_FRAGMENT` falls back to the whole secret; "" when even that
    is too short to be told apart from ordinary text.
    """
    whole = skeleton(secret)
    for prefix in KNOWN_PREFIXES:
        if secret.startswith(prefix):
            core = skeleton(secret[len(prefix) :])
            if len(core) >= MIN_FRAGMENT:
                return core
            break
    return whole if len(whole) >= MIN_FRAGMENT else ""


class Redactor:
    """Replaces every long-enough fragment of the given secrets in a text; build it once.

    Args:
        secrets: the secrets to hide (API keys); empty strings and duplicates are ignored.
    """

    __slots__ = ("_grams", "_prefixes", "_quick")

    def __init__(self, secrets: Iterable[str]) -> None:
        grams: set[str] = set()
        quick: set[tuple[str, ...]] = set()
        prefixes: set[str] = set()
        for secret in secrets:
            core = secret_core(secret)
            if not core:
                continue
            grams.update(core[i : i + MIN_FRAGMENT] for i in range(len(core) - MIN_FRAGMENT + 1))
            quick.update(tuple(core[i : i + _Q]) for i in range(len(core) - _Q + 1))
            whole = skeleton(secret)
            if whole.endswith(core) and len(whole) > len(core):
                prefixes.add(whole[: -len(core)])
        self._grams = frozenset(grams)
        self._quick = frozenset(quick)
        self._prefixes = tuple(sorted(prefixes, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """``text`` with every secret fragment (and the prefix before it) replaced by MARKER."""
        if not self._grams or len(text) < MIN_FRAGMENT or not self._may_hold(skeleton(text)):
            return text
        sk, starts, ends = _mapped_skeleton(text)
        out = text
        for lo, hi in reversed(self._spans(sk)):
            out = out[: starts[lo]] + MARKER + out[ends[hi - 1] :]
        return out

    def holds_secret(self, text: str) -> bool:
        """Whether ``text`` holds a fragment that :meth:`__call__` would replace."""
        sk = skeleton(text)
        return bool(self._grams) and self._may_hold(sk) and bool(self._spans(sk))

    def _may_hold(self, sk: str) -> bool:
        """The cheap check: a 4-gram of a core at a position that is a multiple of 4."""
        chunks = zip(*[iter(sk)] * _Q, strict=False)  # consecutive 4-tuples; the tail is dropped
        return len(sk) >= MIN_FRAGMENT and not self._quick.isdisjoint(chunks)

    def _spans(self, sk: str) -> list[tuple[int, int]]:
        """Maximal runs of ``sk`` covered by secret fragments, each widened over its prefix."""
        spans: list[tuple[int, int]] = []
        n = MIN_FRAGMENT
        grams = self._grams
        for i in range(len(sk) - n + 1):
            if sk[i : i + n] in grams:
                if spans and i <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], i + n)
                else:
                    spans.append((i, i + n))
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:
            for prefix in self._prefixes:  # a prefix just before (or running into) the span
                at = sk.find(prefix, max(0, lo - len(prefix)), lo - 1 + len(prefix))
                if at >= 0:
                    lo = at
                    break
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return merged
