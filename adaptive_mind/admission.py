"""Validating a request before it is accepted: messages, providers, models, deadline.

A request that fails here is not accepted: it gets :class:`BadRequestError` naming the field, no
request id and no ledger entry, and no provider is ever called.
"""

from __future__ import annotations

import itertools
import math
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
    if isinstance(messages, str | bytes | bytearray | Mapping) or not isinstance(
        messages, Sequence
    ):
        raise BadRequestError("messages: must be a list of {role, content} messages")
    if not messages:
        raise BadRequestError("messages: must not be empty")
    out: list[ChatMessage] = []
    for i, m in enumerate(messages):
        if isinstance(m, ChatMessage):
            _encodable(m.content, f"messages[{i}].content")
            out.append(m)
            continue
        if not isinstance(m, Mapping):
            raise BadRequestError(f"messages[{i}]: must be a dict or ChatMessage")
        extra = [k for k in m if k not in ("role", "content")]
        if extra:
            raise BadRequestError(f"messages[{i}].{_show(extra[0])}: unknown field")
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise BadRequestError(f"messages[{i}].role: must be one of {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise BadRequestError(f"messages[{i}].content: must be a string")
        _encodable(content, f"messages[{i}].content")
        out.append(ChatMessage(role=role, content=content))
    return tuple(out)


def _encodable(text: str, where: str) -> None:
    """Text every provider can be sent: valid UTF-8 (no lone surrogate such as ``"\\ud800"``,
    which ``json.loads`` produces happily and every SDK then fails to encode)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError(
            f"{where}: text that cannot be encoded as UTF-8 (a lone surrogate at {exc.start})"
        ) from None


def _show(value: object, limit: int = 40) -> str:
    """A short, printable rendering of a caller's value for an error message."""
    text = repr(value) if isinstance(value, str) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(value: object, where: str, what: str) -> tuple[str, ...]:
    """A non-empty list of distinct, non-empty names (a list or tuple, never a str or a dict)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence) or not value:
        raise BadRequestError(f"{where}: must be a non-empty list of {what} names")
    seen: set[str] = set()
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise BadRequestError(f"{where}[{i}]: must be a non-empty {what} name (a string)")
        _encodable(name, f"{where}[{i}]")
        if name in seen:
            raise BadRequestError(f"{where}[{i}]: {_show(name)} is listed twice")
        seen.add(name)
    return tuple(value)


def _deadline(config: RuntimeConfig, deadline_s: object) -> float:
    """The request's budget in seconds: a finite number > 0 (the config's when None)."""
    budget = config.request.deadline_s if deadline_s is None else deadline_s
    rule = "deadline_s: must be a number > 0 (finite, in seconds)"
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise BadRequestError(rule)
    try:
        seconds = float(budget)
    except OverflowError:  # an int too large for a float (10**400)
        raise BadRequestError(rule) from None
    if not math.isfinite(seconds) or not seconds > 0:
        raise BadRequestError(rule)
    return seconds


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
    """Validate every argument and build the immutable request, or raise BadRequestError.

    Every argument is checked before anything is accepted, and every failure names the
    argument: wrong types, duplicates, unknown providers and non-finite deadlines included.
    """
    msgs = validate_messages(messages)
    if providers is None:
        order = config.priority
    else:
        order = _names(providers, "providers", "provider")
        for i, p in enumerate(order):
            if p not in config.providers:
                raise BadRequestError(f"providers[{i}]: {_show(p)} is not a configured provider")
    model_map: dict[str, tuple[str, ...]] = {}
    if models is not None and not isinstance(models, Mapping):
        raise BadRequestError("models: must be a mapping of provider name to model names")
    for name, ms in (models or {}).items():
        if not isinstance(name, str) or name not in config.providers:
            shown = name if isinstance(name, str) and name.isprintable() else _show(name)
            raise BadRequestError(f"models.{shown[:40]}: not a configured provider")
        model_map[name] = _names(ms, f"models.{name}", "model")
    budget = _deadline(config, deadline_s)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise BadRequestError("metadata: must be a mapping")
    now = clock.now()
    return RequestSpec(
        request_id=new_request_id(),
        messages=msgs,
        providers=order,
        models=model_map,
        deadline=Deadline(now + budget),
        started_at=now,
        started_wall=time.time(),
        metadata=dict(metadata or {}),
        parent_request_id=parent_request_id,
        allow_mitigation=allow_mitigation,
    )
