"""Writing ledger files directly (no actors): entries with chosen times, outcomes and usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import adaptive_mind as am
from adaptive_mind.chat import Attempt, ChatMessage, Completion, ErrorCategory, Usage
from adaptive_mind.core.ledger_entry import build_entry, chain
from adaptive_mind.telemetry.ledger_store import SqliteLedgerStore

T0 = 1_767_268_800.0
"""2026-01-01T12:00:00Z."""


def fields(
    i: int,
    *,
    ok: bool = True,
    at: float | None = None,
    latency_s: float = 0.1,
    provider: str = "a",
    usage: tuple[int, int] | None = (10, 5),
    key: bytes | None = None,
) -> dict[str, Any]:
    """An entry's fields, as the LedgerActor builds them."""
    rid = f"req-{i:04d}"
    result: Completion | am.AdaptiveMindError
    attempts: tuple[Attempt, ...] = ()
    if ok:
        tokens = (
            Usage()
            if usage is None
            else Usage(prompt_tokens=usage[0], completion_tokens=usage[1], total_tokens=sum(usage))
        )
        result = Completion(
            request_id=rid,
            text="answer",
            provider=provider,
            model="m1",
            key_id=f"{provider}#1",
            latency_ms=latency_s * 1000,
            usage=tokens,
        )
    else:
        attempts = (
            Attempt(
                provider=provider,
                model="m1",
                key_id=f"{provider}#1",
                category=ErrorCategory.TRANSIENT,
                status_code=503,
            ),
        )
        result = am.AllProvidersFailedError(request_id=rid, attempts=list(attempts))
    return build_entry(
        request_id=rid,
        parent_request_id=None,
        started_wall=T0 + i if at is None else at,
        latency_s=latency_s,
        messages=(ChatMessage(role="user", content=f"prompt {i}"),),
        final_messages=None,
        result=result,
        attempts=attempts,
        events=[],
        mitigation_attempted=False,
        prompt_preview_chars=64,
        response_preview_chars=64,
        hash_key=key,
    )


def write(path: Path, entries: list[dict[str, Any]], key: bytes | None = None) -> list[str]:
    """Append ``entries`` to the ledger at ``path`` as one writer would; their request ids."""
    store = SqliteLedgerStore(str(path), key)
    try:
        store.append_chained(entries, lambda f, prev: chain(f, prev, key))
    finally:
        store.close()
    return [e["request_id"] for e in entries]


def write_n(path: Path, n: int, start: int = 0, key: bytes | None = None) -> list[str]:
    return write(path, [fields(i, key=key) for i in range(start, start + n)], key)
