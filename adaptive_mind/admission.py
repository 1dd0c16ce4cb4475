"""Validating a request before it is accepted: messages, providers, models, deadline.

A request that fails here is not accepted: it gets :class:`BadRequestError` naming the field, no
request id and no ledger entry, and no provider is ever called.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_mind.chat import ROLES, ChatMessage
from adaptive_mind.clock import Clock, Deadline
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.errors import BadRequestError
from adaptive_mind.messages import RequestSpec

_PROCESS_PREFIX = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


def new_request_id() -> str:
    """A unique request id: a random per-process prefix and a sequence (cheaper than uuid4)."""
    return f"{_PROCESS_PREFIX}{next(_SEQUENCE):010x}"


def validate_messages(messages: object) -> tuple[ChatMessage, ...]:
    """Turn dicts / ChatMessages into validated ChatMessages, or raise BadRequestError."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise BadRequestError("messages: must be a list of {role, content} messages")
    if not messages:
        raise BadRequestError("messages: must not be empty")
    out: list[ChatMessage] = []
    for i, m in enumerate(messages):
        if isinstance(m, ChatMessage):
            out.append(m)
            continue
        if not isinstance(m, Mapping):
            raise BadRequestError(f"messages[{i}]: must be a dict or ChatMessage")
        extra = set(m) - {"role", "content"}
        if extra:
            raise BadRequestError(f"messages[{i}].{sorted(extra)[0]}: unknown field")
        role = m.get("role")
        if role not in ROLES:
            raise BadRequestError(f"messages[{i}].role: must be one of {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise BadRequestError(f"messages[{i}].content: must be a string")
        out.append(ChatMessage(role=role, content=content))
    return tuple(out)


def build_request(
    config: RuntimeConfig,
    clock: Clock,
    messages: object,
    *,
    providers: Sequence[str] | None = None,
    models: Mapping[str, Sequence[str]] | None = None,
    deadline_s: float | None = None,
    metadata: Mapping[str, Any] | None = None,
    parent_request_id: str | None = None,
    allow_mitigation: bool = True,
) -> RequestSpec:
    """Validate every argument and build the immutable request, or raise BadRequestError."""
    msgs = validate_messages(messages)
    if providers is None:
        order = config.priority
    else:
        if isinstance(providers, str) or not providers:
            raise BadRequestError("providers: must be a non-empty list of provider names")
        order = tuple(providers)
        for i, p in enumerate(order):
            if p not in config.providers:
                raise BadRequestError(f"providers[{i}]: '{p}' is not a configured provider")
            if p in order[:i]:
                raise BadRequestError(f"providers[{i}]: '{p}' is listed twice")
    model_map: dict[str, tuple[str, ...]] = {}
    for name, ms in (models or {}).items():
        if name not in config.providers:
            raise BadRequestError(f"models.{name}: not a configured provider")
        if isinstance(ms, str) or not ms or not all(isinstance(m, str) and m for m in ms):
            raise BadRequestError(f"models.{name}: must be a non-empty list of model names")
        model_map[name] = tuple(ms)
    budget = config.request.deadline_s if deadline_s is None else deadline_s
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0:
        raise BadRequestError("deadline_s: must be a number > 0")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise BadRequestError("metadata: must be a mapping")
    now = clock.now()
    return RequestSpec(
        request_id=new_request_id(),
        messages=msgs,
        providers=order,
        models=model_map,
        deadline=Deadline(now + float(budget)),
        started_at=now,
        started_wall=time.time(),
        metadata=dict(metadata or {}),
        parent_request_id=parent_request_id,
        allow_mitigation=allow_mitigation,
    )
