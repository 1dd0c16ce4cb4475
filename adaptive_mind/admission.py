"""Validating a request before it is accepted: messages, providers, models, deadline.

A request that fails here is not accepted: it gets :class:`BadRequestError` naming the field, no
request id and no ledger entry, and no provider is ever called.
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from adaptive_mind.admission_messages import encodable, show, validate_messages
from adaptive_mind.admission_tools import (
    check_schema,
    validate_parallel,
    validate_tool_choice,
    validate_tools,
)
from adaptive_mind.chat import NO_PARAMS, REASONING_EFFORTS, RequestParams
from adaptive_mind.clock import Clock, Deadline
from adaptive_mind.config import RuntimeConfig
from adaptive_mind.core import capabilities
from adaptive_mind.errors import BadRequestError
from adaptive_mind.messages import RequestSpec

MAX_METADATA_KEYS = 16
MAX_METADATA_BYTES = 4096
MAX_STOP = 4
_PROCESS_PREFIX = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


def new_request_id() -> str:
    """A unique request id: a random per-process prefix and a sequence (cheaper than uuid4)."""
    return f"{_PROCESS_PREFIX}{next(_SEQUENCE):010x}"


def _names(value: object, where: str, what: str) -> tuple[str, ...]:
    """A non-empty list of distinct, non-empty names (a list or tuple, never a str or a dict)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence) or not value:
        raise BadRequestError(f"{where}: must be a non-empty list of {what} names")
    seen: set[str] = set()
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise BadRequestError(f"{where}[{i}]: must be a non-empty {what} name (a string)")
        encodable(name, f"{where}[{i}]")
        if name in seen:
            raise BadRequestError(f"{where}[{i}]: {show(name)} is listed twice")
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
    params: Mapping[str, Any] | None = None,
) -> RequestSpec:
    """Validate every argument and build the immutable request, or raise BadRequestError.

    Every argument is checked before anything is accepted, and every failure names the
    argument: wrong types, duplicates, unknown providers and non-finite deadlines included.
    ``params`` holds the generation parameters the caller set (see :class:`RequestParams`).
    """
    msgs = validate_messages(messages)
    if providers is None:
        order = config.priority
    else:
        order = _names(providers, "providers", "provider")
        for i, p in enumerate(order):
            if p not in config.providers:
                raise BadRequestError(f"providers[{i}]: {show(p)} is not a configured provider")
    model_map: dict[str, tuple[str, ...]] = {}
    if models is not None and not isinstance(models, Mapping):
        raise BadRequestError("models: must be a mapping of provider name to model names")
    for name, ms in (models or {}).items():
        if not isinstance(name, str) or name not in config.providers:
            shown = name if isinstance(name, str) and name.isprintable() else show(name)
            raise BadRequestError(f"models.{shown[:40]}: not a configured provider")
        model_map[name] = _names(ms, f"models.{name}", "model")
    budget = _deadline(config, deadline_s)
    meta = _metadata(metadata)
    sampling = validate_params(config, params) if params else NO_PARAMS
    route = capabilities.plan(
        config.providers, order, model_map, capabilities.required(msgs, sampling)
    )
    if not route.providers:
        need = next(iter(route.unsupported.values())).removeprefix("does not support ")
        field = capabilities.NEEDED_BY.get(need.split(", ")[0], "messages")
        why = "; ".join(f"{p} {r}" for p, r in route.unsupported.items())
        raise BadRequestError(f"{field}: no provider it may go to can serve it ({why})")
    now = clock.now()
    return RequestSpec(
        request_id=new_request_id(),
        messages=msgs,
        providers=route.providers,
        models=route.models,
        unsupported=route.unsupported,
        deadline=Deadline(now + budget),
        started_at=now,
        started_wall=time.time(),
        metadata=meta,
        params=sampling,
        parent_request_id=parent_request_id,
        allow_mitigation=allow_mitigation,
    )


def _metadata(metadata: object) -> Mapping[str, Any] | None:
    """A private, read-only copy of a small JSON object (≤ 16 keys, ≤ 4 KiB as JSON)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise BadRequestError("metadata: must be a mapping (a JSON object)")
    if len(metadata) > MAX_METADATA_KEYS:
        raise BadRequestError(f"metadata: at most {MAX_METADATA_KEYS} keys")
    for k in metadata:
        if not isinstance(k, str):
            raise BadRequestError(f"metadata: keys must be strings, not {show(k)}")
        encodable(k, "metadata")
    try:
        text = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        raise BadRequestError("metadata: must hold JSON values only (finite, UTF-8)") from None
    if size > MAX_METADATA_BYTES:
        raise BadRequestError(f"metadata: {size} bytes as JSON; at most {MAX_METADATA_BYTES}")
    copy: dict[str, Any] = json.loads(text)  # the caller may mutate theirs afterwards
    return MappingProxyType(copy)


def _number(params: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise BadRequestError(f"{name}: must be a number from {low:g} to {high:g}")
    return float(value)


def _count(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequestError(f"{name}: must be an integer > 0")
    return value


def _stop(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if isinstance(stops, bytes | bytearray | Mapping) or not isinstance(stops, Sequence):
        raise BadRequestError(f"stop: must be a string or a list of up to {MAX_STOP} strings")
    if not 0 < len(stops) <= MAX_STOP:
        raise BadRequestError(f"stop: must be a string or a list of up to {MAX_STOP} strings")
    for i, s in enumerate(stops):
        if not isinstance(s, str) or not s:
            raise BadRequestError(f"stop[{i}]: must be a non-empty string")
        encodable(s, f"stop[{i}]")
    return tuple(stops)


def _extra(config: RuntimeConfig, value: object) -> Mapping[str, Mapping[str, Any]]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise BadRequestError("extra: must be a mapping of provider name to a JSON object")
    out: dict[str, Mapping[str, Any]] = {}
    for name, body in value.items():
        if not isinstance(name, str) or name not in config.providers:
            raise BadRequestError(f"extra.{show(name)}: not a configured provider")
        if not isinstance(body, Mapping) or not all(isinstance(k, str) for k in body):
            raise BadRequestError(f"extra.{name}: must be a JSON object (a mapping)")
        try:
            copy = json.loads(json.dumps(body, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            raise BadRequestError(f"extra.{name}: must hold JSON values only") from None
        out[name] = MappingProxyType(copy)
    return MappingProxyType(out)


_FORMAT_TYPES = ("text", "json_object", "json_schema")


def _response_format(value: object) -> Mapping[str, Any] | None:
    """OpenAI's ``response_format``: ``{"type": "text" | "json_object"}`` or ``{"type":
    "json_schema", "json_schema": {"name": str, "schema": {...}, "strict": bool}}``, returned as
    a private read-only copy."""
    if value is None:
        return None
    where = "response_format"
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{where}: must be a mapping with a type (a JSON object)")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _FORMAT_TYPES:
        raise BadRequestError(f"{where}.type: must be one of {', '.join(_FORMAT_TYPES)}")
    allowed = ("type", "json_schema") if kind == "json_schema" else ("type",)
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise BadRequestError(f"{where}.{show(unknown[0])}: unknown field for type {kind}")
    if kind == "json_schema":
        _json_schema_format(value.get("json_schema"))
    try:
        copy: dict[str, Any] = json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        raise BadRequestError(f"{where}: must hold JSON values only (finite, UTF-8)") from None
    return MappingProxyType(copy)


def _json_schema_format(spec: object) -> None:
    where = "response_format.json_schema"
    if not isinstance(spec, Mapping):
        raise BadRequestError(f"{where}: must be a mapping with name and schema")
    unknown = [k for k in spec if k not in ("name", "schema", "strict", "description")]
    if unknown:
        raise BadRequestError(f"{where}.{show(unknown[0])}: unknown field")
    name = spec.get("name")
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= 64
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    ):
        raise BadRequestError(f"{where}.name: must be 1-64 letters, digits, '_' or '-'")
    check_schema(spec.get("schema"), f"{where}.schema")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise BadRequestError(f"{where}.strict: must be true or false")
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequestError(f"{where}.description: must be a string")


def validate_params(config: RuntimeConfig, params: Mapping[str, Any]) -> RequestParams:
    """The generation parameters, checked against the ranges OpenAI documents; a failure
    names the argument. Unset (None) parameters stay None: the provider's default applies."""
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequestError("seed: must be an integer")
    if seed is not None and not -(2**63) <= seed < 2**63:
        raise BadRequestError("seed: must fit in 64 bits")
    user = params.get("user")
    if user is not None:
        if not isinstance(user, str) or not user:
            raise BadRequestError("user: must be a non-empty string")
        encodable(user, "user")
    tools = validate_tools(params.get("tools"))
    tool_choice, tool_choice_name = validate_tool_choice(params.get("tool_choice"), tools)
    effort = params.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise BadRequestError(f"reasoning_effort: must be one of {', '.join(REASONING_EFFORTS)}")
    return RequestParams(
        temperature=_number(params, "temperature", 0, 2),
        top_p=_number(params, "top_p", 0, 1),
        max_tokens=_count(params, "max_tokens"),
        max_completion_tokens=_count(params, "max_completion_tokens"),
        stop=_stop(params.get("stop")),
        seed=seed,
        presence_penalty=_number(params, "presence_penalty", -2, 2),
        frequency_penalty=_number(params, "frequency_penalty", -2, 2),
        user=user,
        response_format=_response_format(params.get("response_format")),
        tools=tools,
        tool_choice=tool_choice,
        tool_choice_name=tool_choice_name,
        parallel_tool_calls=validate_parallel(params.get("parallel_tool_calls"), tools),
        reasoning_effort=effort,
        extra=_extra(config, params.get("extra")),
    )
