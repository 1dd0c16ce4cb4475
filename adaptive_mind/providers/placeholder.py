"""A placeholder JSON value valid for a simple JSON schema, for the fakes that answer JSON requests
(the scripted provider and the chaos server)."""

from __future__ import annotations

from typing import Any


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def placeholder(schema: dict[str, Any] | None, depth: int = 0) -> Any:
    """A value valid for a simple JSON schema: an object with its required properties (all of
    them when none is required), strings ``"x"``, numbers and integers 1, booleans true, arrays
    [], the first ``enum`` / ``const`` value, nested objects recursively (Gemini's upper-case
    types too). No schema: ``{"answer": "x"}``."""
    if schema is None:
        return {"answer": "x"}
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind).lower()
    if kind == "string":
        return "x"
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "null":
        return None
    props = _obj(schema.get("properties"))
    required = schema.get("required")
    names = [n for n in required if n in props] if isinstance(required, list) else list(props)
    if depth > 16:
        return {}
    return {n: placeholder(_obj(props[n]), depth + 1) for n in names}
