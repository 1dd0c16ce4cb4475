"""The building blocks of the chaos server's responses: the response record, ids, usage and
each provider's error body (as the real APIs send them and the official SDKs parse them)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WireResponse:
    """What the server sends back."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> WireResponse:
    """A JSON response."""
    return WireResponse(status, json.dumps(obj).encode(), headers or {})


def rid(prefix: str) -> str:
    """A fresh id: ``prefix`` and 24 hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def tokens(text: str) -> int:
    """The server's token count: one word, one token (at least 1)."""
    return max(1, len(text.split()))


REASONING_TOKENS = 8
"""The thinking tokens an answer reports when the request asked for reasoning."""


def usage(provider: str, prompt: int, completion: int, reasoning: bool) -> dict[str, Any]:
    """The usage block of a successful answer in ``provider``'s format, with its cache and
    reasoning fields: OpenAI ``prompt_tokens_details.cached_tokens`` and
    ``completion_tokens_details.reasoning_tokens`` (counted in ``completion_tokens``),
    Anthropic ``cache_read_input_tokens``, Gemini ``cachedContentTokenCount`` and, with
    ``reasoning``, ``thoughtsTokenCount`` (counted in ``totalTokenCount``)."""
    thought = REASONING_TOKENS if reasoning else 0
    if provider == "openai":
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion + thought,
            "total_tokens": prompt + completion + thought,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": thought},
        }
    if provider == "anthropic":
        return {
            "input_tokens": prompt,
            "output_tokens": completion,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion + thought,
        "cachedContentTokenCount": 0,
    }
    if reasoning:
        meta["thoughtsTokenCount"] = thought
    return meta


def retry_headers(retry_after_s: float | None) -> dict[str, str]:
    """``Retry-After`` (seconds) and ``retry-after-ms``, or nothing."""
    if retry_after_s is None:
        return {}
    return {"retry-after": f"{retry_after_s:g}", "retry-after-ms": str(int(retry_after_s * 1000))}


def openai_error(
    status: int,
    message: str,
    etype: str,
    code: str | None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> WireResponse:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
    return json_response(status, body, {"x-request-id": rid("req_"), **(headers or {})})


def anthropic_error(
    status: int, etype: str, message: str, headers: dict[str, str] | None = None
) -> WireResponse:
    """Anthropic's error body: ``{"type": "error", "error": {"type", "message"},
    "request_id"}``."""
    request_id = rid("req_")
    body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}
    return json_response(status, body, {"request-id": request_id, **(headers or {})})


GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""The google.rpc status name of each HTTP code the server sends for Gemini."""


def gemini_error(
    code: int, message: str, status: str | None = None, details: list[dict[str, Any]] | None = None
) -> WireResponse:
    """Google's error body: ``{"error": {"code", "message", "status"[, "details"]}}``."""
    err: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or GOOGLE_STATUS.get(code, "UNKNOWN"),
    }
    if details:
        err["details"] = details
    return json_response(code, {"error": err})
