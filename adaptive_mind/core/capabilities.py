"""Which providers and models can serve a request: its needs against their capabilities.

A request needs ``tools`` when it offers tools or its conversation holds tool calls or tool
turns, ``images`` when a turn has an image part, ``json_object`` / ``json_schema`` for its
``response_format``, and ``reasoning`` for ``reasoning_effort``. The first four are semantic: a
model without one cannot serve the request, so it is left out of the walk, and a provider with no
such model is skipped as ``unsupported``. ``reasoning`` is best-effort: the parameter is dropped
for a model without it (see :func:`params_for`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from adaptive_mind.chat import ChatMessage, RequestParams
from adaptive_mind.config import SEMANTIC, ProviderConfig

NEEDED_BY: dict[str, str] = {
    "tools": "tools",
    "images": "messages (an image part)",
    "json_object": "response_format",
    "json_schema": "response_format",
}
"""The request field that makes each semantic capability necessary (for error messages)."""


def required(messages: Sequence[ChatMessage], params: RequestParams) -> frozenset[str]:
    """The capabilities a request needs (empty for plain text: the common, free case)."""
    needs: set[str] = set()
    if params.tools is not None:
        needs.add("tools")
    mode = params.json_mode
    if mode is not None:
        needs.add(mode)
    if params.reasoning_effort is not None:
        needs.add("reasoning")
    for m in messages:
        if m.role == "tool" or m.tool_calls:
            needs.add("tools")
        elif m.role == "user" and not isinstance(m.content, str | None) and m.images:
            needs.add("images")
    return frozenset(needs)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a request may go: providers in order, model lists narrowed where some models
    cannot serve it, and the providers that cannot serve it at all (name → reason)."""

    providers: tuple[str, ...]
    models: Mapping[str, tuple[str, ...]]
    unsupported: Mapping[str, str]


def plan(
    providers: Mapping[str, ProviderConfig],
    order: tuple[str, ...],
    models: Mapping[str, tuple[str, ...]],
    needs: frozenset[str],
) -> Plan:
    """Narrow ``order`` and ``models`` (the request's per-provider overrides) to what can serve
    a request with ``needs``."""
    semantic = needs & SEMANTIC
    if not semantic:
        return Plan(order, models, {})
    keep: list[str] = []
    narrowed = dict(models)
    unsupported: dict[str, str] = {}
    for name in order:
        config = providers[name]
        candidates = models.get(name, config.models)
        able = tuple(m for m in candidates if semantic <= config.capabilities_of(m))
        if not able:
            missing = set().union(*(semantic - config.capabilities_of(m) for m in candidates))
            unsupported[name] = "does not support " + ", ".join(sorted(missing))
            continue
        keep.append(name)
        if len(able) < len(candidates):
            narrowed[name] = able
    return Plan(tuple(keep), narrowed, unsupported)


def params_for(params: RequestParams, capabilities: frozenset[str]) -> RequestParams:
    """``params`` as sent to a model with ``capabilities``: ``reasoning_effort`` dropped when
    the model does not reason."""
    if params.reasoning_effort is not None and "reasoning" not in capabilities:
        return replace(params, reasoning_effort=None)
    return params
