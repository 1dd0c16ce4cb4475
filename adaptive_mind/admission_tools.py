"""Validating ``tools``, ``tool_choice``, ``parallel_tool_calls`` and JSON schemas at admission.

``tools`` is OpenAI's list of ``{"type": "function", "function": {"name", "description",
"parameters", "strict"}}``; each ``parameters`` must be a valid JSON schema of an object (checked
with ``jsonschema``'s meta-schema). Applications send the same tools with every request, so a
validated tool list is cached by its JSON text: the check costs one ``json.dumps`` after the
first time.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import jsonschema

from adaptive_mind.admission_messages import NAME_RE, show
from adaptive_mind.chat import ToolSpec
from adaptive_mind.errors import BadRequestError

MAX_TOOLS = 128
_TOOL_CHOICES = ("auto", "none", "required")
_CACHE_SIZE = 256
_tools_cache: OrderedDict[str, tuple[ToolSpec, ...]] = OrderedDict()
_last_tools: tuple[int, Any, tuple[ToolSpec, ...]] | None = None
"""The last tool list validated: its ``id``, a private copy, and its specs. An application that
sends one module-level tool list with every request is served by an identity and equality check
(no JSON encoding); a list that changed in place fails the equality check."""
_schema_cache: OrderedDict[str, None] = OrderedDict()


def _freeze(value: Any) -> Any:
    """A read-only copy of decoded JSON (mappings become MappingProxyType, lists tuples)."""
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def json_text(value: object, where: str) -> str:
    """``value`` as canonical JSON text, or BadRequestError (not JSON, NaN, lone surrogate)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        raise BadRequestError(f"{where}: must hold JSON values only (finite, UTF-8)") from None
    return text


def check_schema(schema: object, where: str, *, text: str | None = None) -> None:
    """A JSON schema that the JSON Schema meta-schema accepts (Draft 2020-12), or
    BadRequestError naming ``where`` and the first problem."""
    if not isinstance(schema, Mapping) or not all(isinstance(k, str) for k in schema):
        raise BadRequestError(f"{where}: must be a JSON schema (a JSON object)")
    key = text if text is not None else json_text(schema, where)
    if key in _schema_cache:
        _schema_cache.move_to_end(key)
        return
    try:
        jsonschema.Draft202012Validator.check_schema(json.loads(key))
    except jsonschema.SchemaError as exc:
        path = "".join(f".{p}" for p in exc.path)
        problem = exc.message[:80]
        raise BadRequestError(f"{where}{path}: not a valid JSON schema ({problem})") from None
    _remember(_schema_cache, key, None)


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    cache[key] = value
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def validate_tools(value: object) -> tuple[ToolSpec, ...] | None:
    """``tools``: up to 128 functions with distinct names and object schemas."""
    if value is None:
        return None
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Sequence):
        raise BadRequestError("tools: must be a list of {'type': 'function', 'function': …}")
    if not value:
        raise BadRequestError("tools: must not be empty (leave it out instead)")
    if len(value) > MAX_TOOLS:
        raise BadRequestError(f"tools: at most {MAX_TOOLS} tools")
    global _last_tools
    last = _last_tools
    if last is not None and last[0] == id(value) and last[1] == value:
        return last[2]
    key = json_text(value, "tools")
    cached = _tools_cache.get(key)
    if cached is not None:
        _tools_cache.move_to_end(key)
        _last_tools = (id(value), json.loads(key), cached)
        return cached
    specs: list[ToolSpec] = []
    names: set[str] = set()
    for i, tool in enumerate(json.loads(key)):
        specs.append(_tool(tool, f"tools[{i}]", names))
    out = tuple(specs)
    _remember(_tools_cache, key, out)
    _last_tools = (id(value), json.loads(key), out)
    return out


def _tool(tool: object, where: str, names: set[str]) -> ToolSpec:
    if not isinstance(tool, dict):
        raise BadRequestError(f"{where}: must be {{'type': 'function', 'function': …}}")
    for k in tool:
        if k not in ("type", "function"):
            raise BadRequestError(f"{where}.{show(k)}: unknown field")
    if tool.get("type") != "function":
        raise BadRequestError(f"{where}.type: must be function")
    fn = tool.get("function")
    if not isinstance(fn, dict):
        raise BadRequestError(f"{where}.function: must be {{'name', 'parameters', …}}")
    for k in fn:
        if k not in ("name", "description", "parameters", "strict"):
            raise BadRequestError(f"{where}.function.{show(k)}: unknown field")
    name = fn.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise BadRequestError(f"{where}.function.name: must be 1-64 letters, digits, '_' or '-'")
    if name in names:
        raise BadRequestError(f"{where}.function.name: {show(name)} is defined twice")
    names.add(name)
    description = fn.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequestError(f"{where}.function.description: must be a string")
    strict = fn.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise BadRequestError(f"{where}.function.strict: must be true or false")
    parameters = fn.get("parameters")
    if parameters is not None:
        at = f"{where}.function.parameters"
        check_schema(parameters, at)
        if parameters.get("type", "object") != "object":
            raise BadRequestError(f"{at}.type: the arguments must be an object (type: object)")
    return ToolSpec(
        name=name,
        description=description,
        parameters=None if parameters is None else _freeze(parameters),
        strict=strict,
    )


def validate_tool_choice(
    value: object, tools: tuple[ToolSpec, ...] | None
) -> tuple[str | None, str | None]:
    """``tool_choice`` as ``(mode, forced name)``: ``auto`` / ``none`` / ``required``, or
    ``{"type": "function", "function": {"name": …}}`` naming one of ``tools``."""
    if value is None:
        return None, None
    if tools is None:
        raise BadRequestError("tool_choice: only allowed when tools are given")
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            raise BadRequestError(
                f"tool_choice: must be one of {', '.join(_TOOL_CHOICES)} or a named function"
            )
        return value, None
    fn = value.get("function") if isinstance(value, Mapping) else None
    name = fn.get("name") if isinstance(fn, Mapping) else None
    if not isinstance(value, Mapping) or value.get("type") != "function" or name is None:
        raise BadRequestError(
            "tool_choice: must be auto, none, required or "
            "{'type': 'function', 'function': {'name': …}}"
        )
    if not any(t.name == name for t in tools):
        raise BadRequestError(f"tool_choice.function.name: {show(name)} is not one of the tools")
    return "required", str(name)


def validate_parallel(value: object, tools: tuple[ToolSpec, ...] | None) -> bool | None:
    """``parallel_tool_calls``: true or false, only with ``tools``."""
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadRequestError("parallel_tool_calls: must be true or false")
    if tools is None:
        raise BadRequestError("parallel_tool_calls: only allowed when tools are given")
    return value
