"""The audit ledger's entry: its schema, how it is built from a finished request, and its hash.

Pure functions; the LedgerActor chains and stores what :func:`build_entry` returns.

Resilience score (documented contract): ``0.0`` for a failure; for a success
``1 / (1 + 0.25 * failed_attempts + 0.5 * mitigated)`` — exactly 1.0 only for a success on the
first attempt, strictly between 0 and 1 otherwise, lower the more it took.

Prompt hash and previews (documented contract) are of the *last user message* in its canonical
text (:func:`message_text`): a string ``content`` is itself (so entries written before
multi-part messages existed stay comparable); a tuple of parts is its parts in order, joined with
nothing, a text part as its text and an image part as a reference: ``[image:<url>]`` for an
``https://`` URL, ``[image:data:<mime>;sha256=<hex>]`` for a ``data:`` URL (the SHA-256 of the
decoded image bytes, what ``sha256sum`` of the file gives), so no image bytes ever reach the
ledger; ``content`` None is ``""``. A content of text parts only is the same as the joined string.
The last user message is the last turn with role ``user`` wherever it is: a conversation that ends
in assistant tool calls and ``tool`` turns keeps the hash of the user turn that started the tool
loop (tool results are not the user's prompt); with no user turn, the last turn; with no turn,
``""``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from adaptive_mind.chat import Attempt, ChatMessage, Completion, TextPart, encodes_as_utf8
from adaptive_mind.errors import (
    AdaptiveMindError,
    AllProvidersFailedError,
    BadRequestError,
    ContentPolicyError,
    DeadlineExceededError,
    InvalidOutputError,
    OverloadedError,
    StreamClosedError,
    StreamInterruptedError,
    SystemStoppedError,
)

GENESIS_HASH = "0" * 64


class Outcome(StrEnum):
    """How a request ended."""

    SUCCESS = "SUCCESS"  # answered with the caller's own prompt
    MITIGATED_SUCCESS = "MITIGATED_SUCCESS"  # answered after the prompt was rewritten
    FAILURE = "FAILURE"  # answered with an error


class LedgerEntry(BaseModel):
    """One request's durable audit record. Never holds an API key."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    parent_request_id: str | None = None
    started_at: datetime
    finished_at: datetime
    prompt_hash: str
    """Hex SHA-256 (HMAC with ``ledger.hash_key``) of the last user message's canonical text
    (see the module docstring), NFC, stripped."""
    prompt_preview: str
    final_prompt_preview: str | None = None
    response_preview: str | None = None
    outcome: Outcome
    error_category: str | None = None
    """The failure's category (or the error type when no attempt was made); None on success."""
    latency_ms: float
    attempt_count: int
    provider: str | None = None
    model: str | None = None
    key_id: str | None = None
    events: list[dict[str, Any]]
    mitigation_attempted: bool = False
    mitigation_succeeded: bool | None = None
    resilience_score: float
    prompt_tokens: int | None = None
    """Token usage of the successful call, as the provider reported it (None: unknown)."""
    completion_tokens: int | None = None
    total_tokens: int | None = None
    metadata: dict[str, Any] | None = None
    """The request's ``metadata`` object, as the caller gave it (None: none given)."""
    prev_hash: str
    entry_hash: str


def normalize_prompt(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")


def image_ref(url: str) -> str:
    """An image part as the ledger records it: ``[image:<url>]`` without the URL's query and
    fragment (a signed URL's signature is a credential), or for a ``data:`` URL
    ``[image:data:<mime>;sha256=<hex>]`` — never the image's bytes.

    The hex is the SHA-256 of the decoded data (base64, or percent-encoded without ``;base64``);
    data that is not valid base64 is hashed as its text. A media type that is not a plain
    ``type/subtype`` token is recorded as ``unknown``.
    """
    if url[:5].lower() != "data:":
        return f"[image:{url.split('?', 1)[0].split('#', 1)[0]}]"
    header, _, payload = url[5:].partition(",")
    mime, *params = header.split(";")
    mime = mime.strip().lower()
    if not _MIME.fullmatch(mime):
        mime = "unknown"
    data: bytes
    if any(p.strip().lower() == "base64" for p in params):
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            data = payload.encode("utf-8", "surrogatepass")
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    return f"[image:data:{mime};sha256={hashlib.sha256(data).hexdigest()}]"


def message_text(message: ChatMessage) -> str:
    """A turn's content in the ledger's canonical text: the string itself; parts joined in order,
    images as :func:`image_ref`; ``""`` for None."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        p.text if isinstance(p, TextPart) else image_ref(p.image_url.url) for p in content
    )


def last_user_message(messages: Sequence[ChatMessage]) -> str:
    """The canonical text (:func:`message_text`) of the last ``user`` turn, wherever it is (tool
    turns after it do not count); of the last turn when there is no user turn; ``""`` for none."""
    for m in reversed(messages):
        if m.role == "user":
            return message_text(m)
    return message_text(messages[-1]) if messages else ""


def prompt_hash(text: str, key: bytes | None = None) -> str:
    # surrogatepass: a lone surrogate (which json.loads produces) hashes, deterministically.
    data = normalize_prompt(text).encode("utf-8", "surrogatepass")
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def resilience_score(success: bool, failed_attempts: int, mitigated: bool) -> float:
    if not success:
        return 0.0
    return 1.0 / (1.0 + 0.25 * failed_attempts + (0.5 if mitigated else 0.0))


_ERROR_CATEGORY = {
    InvalidOutputError: "INVALID_OUTPUT",
    StreamInterruptedError: "STREAM_INTERRUPTED",
    StreamClosedError: "CALLER_CLOSED",
    ContentPolicyError: "CONTENT_POLICY",
    BadRequestError: "BAD_REQUEST",
    DeadlineExceededError: "DEADLINE",
    SystemStoppedError: "STOPPED",
    OverloadedError: "OVERLOADED",
}


def error_category(error: AdaptiveMindError) -> str:
    """The category recorded for a failed request."""
    for cls, name in _ERROR_CATEGORY.items():
        if isinstance(error, cls):
            return name
    if isinstance(error, AllProvidersFailedError):
        failed = [a.category for a in error.attempts if a.category is not None]
        if failed:
            return failed[-1].value
        # No call was made: the first provider's real reason (rate_limited, circuit_open, …).
        return error.skipped[0][1].upper() if error.skipped else "UNAVAILABLE"
    return type(error).__name__


def _preview(text: str | None, limit: int) -> str:
    return "" if limit <= 0 or text is None else text[:limit]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def build_entry(
    *,
    request_id: str,
    parent_request_id: str | None,
    started_wall: float,
    latency_s: float,
    messages: Sequence[ChatMessage],
    final_messages: Sequence[ChatMessage] | None,
    result: Completion | AdaptiveMindError,
    attempts: Sequence[Attempt],
    events: Sequence[dict[str, Any]],
    mitigation_attempted: bool,
    prompt_preview_chars: int,
    response_preview_chars: int,
    hash_key: bytes | None,
    metadata: Mapping[str, Any] | None = None,
    delivered_text: str | None = None,
) -> dict[str, Any]:
    """Every field of a :class:`LedgerEntry` except the chain hashes, as JSON primitives.

    ``delivered_text``: what a stream that did not end in an answer (closed by the caller,
    interrupted) gave the caller; its response preview is taken from that."""
    prompt = last_user_message(messages)
    ok = isinstance(result, Completion)
    completion = result if isinstance(result, Completion) else None
    mitigated = completion is not None and completion.mitigated
    final_preview = None
    if final_messages is not None:
        final_prompt = last_user_message(final_messages)
        if final_prompt != prompt:
            final_preview = _preview(final_prompt, prompt_preview_chars)
    failed = sum(1 for a in attempts if a.category is not None)
    last = attempts[-1] if attempts else None
    return {
        "request_id": request_id,
        "parent_request_id": parent_request_id,
        "started_at": _iso(started_wall),
        "finished_at": _iso(started_wall + latency_s),
        "prompt_hash": prompt_hash(prompt, hash_key),
        "prompt_preview": _preview(prompt, prompt_preview_chars),
        "final_prompt_preview": final_preview,
        "response_preview": (
            _preview(completion.text, response_preview_chars)
            if completion
            else _preview(delivered_text, response_preview_chars)
            if delivered_text
            else None
        ),
        "outcome": (
            Outcome.MITIGATED_SUCCESS if mitigated else Outcome.SUCCESS if ok else Outcome.FAILURE
        ).value,
        "error_category": (
            error_category(result) if isinstance(result, AdaptiveMindError) else None
        ),
        "latency_ms": round(latency_s * 1000.0, 3),
        "attempt_count": len(attempts),
        "provider": completion.provider if completion else (last.provider if last else None),
        "model": completion.model if completion else (last.model if last else None),
        "key_id": completion.key_id if completion else (last.key_id if last else None),
        "events": list(events),
        "mitigation_attempted": mitigation_attempted,
        "mitigation_succeeded": (mitigated if mitigation_attempted else None),
        "resilience_score": resilience_score(ok, failed, mitigated),
        "prompt_tokens": completion.usage.prompt_tokens if completion else None,
        "completion_tokens": completion.usage.completion_tokens if completion else None,
        "total_tokens": completion.usage.total_tokens if completion else None,
        "metadata": dict(metadata) if metadata is not None else None,
    }


@dataclass(frozen=True, slots=True)
class SealedEntry:
    """An entry on the chain, ready to store: its JSON and the columns the store indexes."""

    request_id: str
    started_at: str
    outcome: str
    entry_hash: str
    doc: str
    """The entry's JSON; the hash covers every field but ``entry_hash``."""

    def entry(self) -> LedgerEntry:
        return LedgerEntry.model_validate_json(self.doc)


def _canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 32


def _clean(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON primitives whose text is valid UTF-8: each lone surrogate becomes
    U+FFFD, anything else unknown its ``str``; deterministic, so the sealed text is stable."""
    if isinstance(value, str):
        return value if encodes_as_utf8(value) else _SURROGATE.sub("\ufffd", value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth < _MAX_DEPTH and isinstance(value, dict):
        return {_clean(str(k)): _clean(v, depth + 1) for k, v in value.items()}
    if depth < _MAX_DEPTH and isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    return _clean(str(value))


_CHAIN_LABEL = b"adaptive-mind ledger chain v1"


def chain_key(hash_key: bytes | None) -> bytes | None:
    """The key that seals the chain, derived from ``ledger.hash_key`` (None: plain SHA-256).

    Derived rather than used as is, so that a prompt hash (HMAC of text a user chooses) can
    never double as an entry hash.
    """
    return hmac.new(hash_key, _CHAIN_LABEL, hashlib.sha256).digest() if hash_key else None


def seal_scheme(hash_key: bytes | None) -> str:
    """How a chain is sealed: ``sha256``, or ``hmac-sha256:<key id>`` (the id reveals no key)."""
    key = chain_key(hash_key)
    if key is None:
        return "sha256"
    return "hmac-sha256:" + hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:16]


def _seal(body: str, hash_key: bytes | None) -> str:
    key = chain_key(hash_key)
    if key is None:
        return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    return hmac.new(key, body.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def digest(doc: dict[str, Any], hash_key: bytes | None = None) -> str:
    """The hash over the sorted-key JSON of every field but ``entry_hash``.

    SHA-256, or HMAC-SHA-256 under a key derived from ``hash_key`` when one is given.
    """
    body = {k: v for k, v in doc.items() if k != "entry_hash"}
    return _seal(_canonical(body), hash_key)


def chain(fields: dict[str, Any], prev_hash: str, hash_key: bytes | None = None) -> SealedEntry:
    """Seal an entry (as built by :func:`build_entry`) onto the chain after ``prev_hash``.

    Whatever the entry holds, what is sealed is valid UTF-8 JSON: text that is not (a lone
    surrogate in a prompt or in an upstream's answer) is cleaned first, so no store refuses it.
    """
    entry = {**fields, "prev_hash": prev_hash}
    try:
        body = _canonical(entry)
    except (TypeError, ValueError):  # keys that do not sort, a circular reference
        body = ""
    if not body or not encodes_as_utf8(body):
        entry = _clean(entry)
        body = _canonical(entry)
    entry_hash = _seal(body, hash_key)
    doc = f'{body[:-1]},"entry_hash":"{entry_hash}"}}'
    column = {k: str(entry.get(k, "")) for k in ("request_id", "started_at", "outcome")}
    return SealedEntry(
        column["request_id"], column["started_at"], column["outcome"], entry_hash, doc
    )
