"""Streamed requests in a drill: which requests stream, and how each phase reads one.

A scenario's ``stream`` share of its requests is sent as streams (the same requests in both
phases, drawn from the seed): the runtime phase through ``system.astream``, the baseline through
the plain SDK's ``create(stream=True)``. Each streamed request ends with exactly one
:data:`STREAM_OUTCOMES` outcome, judged by the text the caller actually got against the chaos
server's canonical answer, so a truncated answer dressed as a success is counted, never hidden.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import openai

import adaptive_mind as am

STREAM_OUTCOMES = ("completed", "interrupted", "failed", "truncated")
"""``completed``: the whole answer, as a success; ``interrupted``: an error after content had
flowed (for the runtime, :class:`~adaptive_mind.StreamInterruptedError`); ``failed``: an error
before any content; ``truncated``: a success whose text is not the whole answer (or, for the
baseline, a stream that ended quietly without its finish) — what must never happen."""


def streamed(seed: int, i: int, share: float) -> bool:
    """Whether request ``i`` of a drill with ``seed`` is sent as a stream."""
    if share <= 0:
        return False
    return share >= 1 or random.Random(f"stream:{seed}:{i}").random() < share


@dataclass
class StreamRead:
    """How one streamed request ended, as its caller saw it."""

    outcome: str
    """One of :data:`STREAM_OUTCOMES`."""
    provider: str | None = None
    error: str | None = None
    request_id: str | None = None
    restarted: bool = False
    """A chunk said earlier deltas were void (policy ``restart``)."""

    @property
    def ok(self) -> bool:
        """Counted as answered (a truncated success is counted too: the checks catch it)."""
        return self.outcome in ("completed", "truncated")


async def runtime_stream(
    system: am.ActorSystem, messages: list[dict[str, str]], canonical: str
) -> StreamRead:
    """Read one ``astream`` to its end; the caller's text after the last restart is the answer."""
    stream = system.astream(messages)
    parts: list[str] = []
    got_content = restarted = False
    try:
        async with stream:
            async for chunk in stream:
                if chunk.restart:
                    parts, restarted = [], True
                parts.append(chunk.text)
                got_content = got_content or bool(chunk.text or chunk.tool_calls)
    except am.StreamInterruptedError as exc:
        return StreamRead("interrupted", error=type(exc).__name__, request_id=stream.request_id)
    except am.AdaptiveMindError as exc:
        outcome = "interrupted" if got_content else "failed"
        return StreamRead(outcome, error=type(exc).__name__, request_id=stream.request_id)
    completion = stream.completion
    text = "".join(parts)
    whole = completion is not None and text == canonical == completion.text
    return StreamRead(
        "completed" if whole else "truncated",
        provider=completion.provider if completion is not None else None,
        request_id=stream.request_id,
        restarted=restarted,
    )


async def baseline_stream(
    client: openai.AsyncOpenAI,
    model: str,
    messages: list[dict[str, str]],
    canonical: str,
    deadline_s: float,
    provider: str,
) -> StreamRead:
    """Read one plain-SDK stream as a caller without a resilience layer would: whatever it
    yields until it ends is the answer."""
    parts: list[str] = []
    finish: str | None = None

    async def read() -> None:
        nonlocal finish
        create: Any = client.chat.completions.create  # the stream=True overload
        stream = await create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
                    finish = chunk.choices[0].finish_reason or finish

    try:
        await asyncio.wait_for(read(), deadline_s)
    except Exception as exc:
        outcome = "interrupted" if "".join(parts) else "failed"
        return StreamRead(outcome, error=type(exc).__name__)
    if finish == "content_filter" or not "".join(parts):
        return StreamRead("failed", error="refused")
    if finish is None or "".join(parts) != canonical:
        return StreamRead("truncated", provider=provider, error="truncated")
    return StreamRead("completed", provider=provider)
