"""The three providers' wire formats: success bodies, 200 refusals and real error bodies.

Used by the local chaos server. Each fault produces the status, headers and JSON body the real
provider sends (shapes as documented and as the official SDKs parse them).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

_QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_requests"
PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "gemini")

FAULTS: dict[str, str] = {
    "rate_limit": "429 rate limited, with Retry-After (Gemini: RetryInfo.retryDelay)",
    "quota": "quota/credit exhausted (OpenAI 429 insufficient_quota, Anthropic 400 credit "
    "balance, Gemini 429 QuotaFailure)",
    "server_error": "500 internal error",
    "unavailable": "503 service unavailable",
    "overloaded": "overloaded (Anthropic 529, others 503)",
    "gateway_timeout": "504 upstream timeout",
    "invalid_key": "bad API key (Gemini: 400 API_KEY_INVALID)",
    "permission": "403 permission denied",
    "billing": "billing problem (Anthropic 402, Gemini 400 FAILED_PRECONDITION, OpenAI 429 quota)",
    "model_not_found": "404 model not found",
    "context_length": "400 prompt too long for the model",
    "content_policy": "400 content-policy error (Gemini: a blocked prompt in a 200)",
    "bad_request": "400 invalid request",
    "refusal": "200 refusal (OpenAI finish_reason content_filter, Anthropic stop_reason "
    "refusal, Gemini finishReason SAFETY)",
    "refusal_message": "200 refusal message (OpenAI message.refusal; others as refusal)",
    "prompt_blocked": "200 with promptFeedback.blockReason (Gemini; others as refusal)",
    "html_502": "502 with an HTML body, as a proxy answers",
    "bad_json": "200 whose body is not JSON",
    "bad_json_answer": "200 whose answer is plain prose where the request asked for JSON "
    "(response_format / responseMimeType / a JSON output format or instruction)",
    "truncated": "200 answer cut short by the token limit (OpenAI finish_reason length, "
    "Anthropic stop_reason max_tokens, Gemini finishReason MAX_TOKENS)",
    "hang": "never answers (until the client gives up)",
    "disconnect": "closes the connection (FIN) before any response header",
    "reset": "resets the connection (TCP RST) before any response header",
}

ECHOES: dict[str, str] = {
    "full": "the request's API key as sent",
    "core": "10 characters from inside the key (neither its prefix nor its last 2 characters)",
    "tags": "the key with <b> and </b> tags between every 4 characters",
    "zero_width": "the key with a zero-width space between every two characters",
    "entities": "the key with every third character written as an HTML entity (&#NN;)",
}
"""How a rule's ``echo`` writes the request's key into the error message, the refusal's text
or the answer (a careless upstream or proxy that repeats a credential)."""


def echo(key: str, mode: str) -> str:
    """The sentence a rule with ``echo=mode`` adds: the request's ``key`` written per ``mode``."""
    if mode == "full":
        shown = key
    elif mode == "core":
        shown = key[-12:-2]
    elif mode == "tags":
        chunks = [key[i : i + 4] for i in range(0, len(key), 4)]
        shown = "".join(c + ("<b>" if i % 2 == 0 else "</b>") for i, c in enumerate(chunks))
    elif mode == "zero_width":
        shown = "\u200b".join(key)
    elif mode == "entities":
        shown = "".join(f"&#{ord(c)};" if i % 3 == 2 else c for i, c in enumerate(key))
    else:
        raise ValueError(f"echo: must be one of {', '.join(ECHOES)}")
    return f"(request made with key {shown})"


@dataclass(frozen=True)
class WireResponse:
    """What the server sends back."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> WireResponse:
    return WireResponse(status, json.dumps(obj).encode(), headers or {})


def _rid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


_FINISH = {
    "openai": {"stop": "stop", "stop_sequence": "stop", "length": "length"},
    "anthropic": {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens"},
    "gemini": {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS"},
}


def limits(provider: str, body: dict[str, Any]) -> tuple[int | None, list[str]]:
    """The output-token cap and stop sequences a request body asks for, in ``provider``'s
    format (OpenAI ``max_completion_tokens`` / ``max_tokens`` / ``stop``, Anthropic
    ``max_tokens`` / ``stop_sequences``, Gemini ``generationConfig.maxOutputTokens`` /
    ``stopSequences``)."""
    if provider == "openai":
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        stop = body.get("stop")
    elif provider == "anthropic":
        cap, stop = body.get("max_tokens"), body.get("stop_sequences")
    else:
        gen = body.get("generationConfig")
        gen = gen if isinstance(gen, dict) else {}
        cap, stop = gen.get("maxOutputTokens"), gen.get("stopSequences")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    limit = cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None
    return limit, [s for s in stops if isinstance(s, str) and s]


JSON_INSTRUCTION = "JSON object"
"""The words in an Anthropic system prompt that ask for a JSON answer (the adapter's
``json_object`` instruction says "Answer with a single JSON object")."""


def json_request(provider: str, body: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """Whether a request body asks for a JSON answer, and the JSON schema it gives (or None):
    OpenAI ``response_format`` ``json_object`` / ``json_schema``, Anthropic
    ``output_config.format`` or a system prompt asking for a JSON object, Gemini
    ``generationConfig.responseMimeType == "application/json"`` (schema in
    ``responseJsonSchema`` or ``responseSchema``)."""
    schema: Any = None
    if provider == "openai":
        fmt = _obj(body.get("response_format"))
        wants = fmt.get("type") in ("json_object", "json_schema")
        schema = _obj(fmt.get("json_schema")).get("schema")
    elif provider == "anthropic":
        schema = _obj(_obj(body.get("output_config")).get("format")).get("schema")
        system = body.get("system")
        texts = (
            [system]
            if isinstance(system, str)
            else [str(b.get("text", "")) for b in system if isinstance(b, dict)]
            if isinstance(system, list)
            else []
        )
        wants = schema is not None or any(JSON_INSTRUCTION in t for t in texts)
    else:
        gen = _obj(body.get("generationConfig"))
        wants = gen.get("responseMimeType") == "application/json"
        schema = gen.get("responseJsonSchema", gen.get("responseSchema"))
    return wants, schema if isinstance(schema, dict) else None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def generate(text: str, limit: int | None, stops: list[str]) -> tuple[str, str, str | None]:
    """What a model "generates" under a token cap (one word, one token) and stop sequences:
    ``(text, finish, matched stop)``, ``finish`` being ``stop``, ``stop_sequence`` or
    ``length``."""
    hits = [(text.find(s), s) for s in stops if s in text]
    if hits:
        at, seq = min(hits)
        text, finish, matched = text[:at], "stop_sequence", seq
    else:
        finish, matched = "stop", None
    words = text.split()
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), "length", None
    return text, finish, matched


def success(
    provider: str,
    model: str,
    text: str,
    prompt: str,
    finish: str = "stop",
    stop_sequence: str | None = None,
) -> WireResponse:
    """A successful answer in ``provider``'s format; ``finish`` (``stop``, ``stop_sequence`` or
    ``length``) becomes that provider's own finish reason."""
    p, c = _tokens(prompt), _tokens(text)
    reason = _FINISH[provider][finish]
    if provider == "openai":
        return _json(
            200,
            {
                "id": _rid("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [
                    {
                        "index": 0,
                        "logprobs": None,
                        "finish_reason": reason,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                    }
                ],
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
            },
            {"x-request-id": _rid("req_")},
        )
    if provider == "anthropic":
        return _json(
            200,
            {
                "id": _rid("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": reason,
                "stop_sequence": stop_sequence,
                "usage": {"input_tokens": p, "output_tokens": c},
            },
            {"request-id": _rid("req_")},
        )
    return _json(
        200,
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": reason,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": p,
                "candidatesTokenCount": c,
                "totalTokenCount": p + c,
            },
            "modelVersion": model,
            "responseId": _rid(""),
        },
    )


def _retry_headers(retry_after_s: float | None) -> dict[str, str]:
    if retry_after_s is None:
        return {}
    return {"retry-after": f"{retry_after_s:g}", "retry-after-ms": str(int(retry_after_s * 1000))}


def _openai_error(
    status: int, message: str, etype: str, code: str | None, headers: dict[str, str] | None = None
) -> WireResponse:
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return _json(status, body, {"x-request-id": _rid("req_"), **(headers or {})})


def _anthropic_error(
    status: int, etype: str, message: str, headers: dict[str, str] | None = None
) -> WireResponse:
    rid = _rid("req_")
    body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": rid}
    return _json(status, body, {"request-id": rid, **(headers or {})})


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _gemini_error(
    code: int, message: str, status: str | None = None, details: list[dict[str, Any]] | None = None
) -> WireResponse:
    err: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or _GOOGLE_STATUS.get(code, "UNKNOWN"),
    }
    if details:
        err["details"] = details
    return _json(code, {"error": err})


def _html_502() -> WireResponse:
    html = (
        b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
        b"Gateway</h1></center><hr><center>nginx</center></body></html>"
    )
    return WireResponse(502, html, content_type="text/html")


def refusal(provider: str, model: str, kind: str) -> WireResponse:
    """A refusal inside a successful (200) response."""
    if provider == "openai":
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "content_filter"
        if kind == "refusal_message":
            message["refusal"] = "I'm sorry, I can't help with that."
            finish = "stop"
        return _json(
            200,
            {
                "id": _rid("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "logprobs": None, "finish_reason": finish, "message": message}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
            },
        )
    if provider == "anthropic":
        return _json(
            200,
            {
                "id": _rid("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": "refusal",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 0},
            },
        )
    ratings = [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
    ]
    if kind in ("prompt_blocked", "content_policy"):
        return _json(
            200,
            {
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings},
                "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
                "modelVersion": model,
            },
        )
    return _json(
        200,
        {
            "candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": ratings}],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
            "modelVersion": model,
        },
    )


def fault(
    provider: str,
    name: str,
    model: str,
    retry_after_s: float | None = None,
    detail: str | None = None,
) -> WireResponse:
    """The response for fault ``name`` (see :data:`FAULTS`) in ``provider``'s format.

    ``hang``, ``disconnect`` and ``reset`` are handled by the server itself. ``detail`` is added
    to the error's message or to the refusal's text (OpenAI ``message.refusal``, Anthropic
    ``stop_details.explanation``, Gemini ``blockReasonMessage`` / ``finishMessage``).
    """
    resp = _fault(provider, name, model, retry_after_s)
    if not detail or resp.content_type != "application/json" or name == "bad_json":
        return resp
    body = json.loads(resp.body)
    if "error" in body:  # the three providers' error bodies
        body["error"]["message"] = f"{body['error'].get('message', '')} {detail}"
    elif provider == "openai":
        message = body["choices"][0]["message"]
        message["refusal"] = f"{message.get('refusal') or 'I cannot help with that.'} {detail}"
    elif provider == "anthropic":
        body["stop_details"] = {"type": "refusal", "category": None, "explanation": detail}
    elif "promptFeedback" in body:
        body["promptFeedback"]["blockReasonMessage"] = detail
    else:
        body["candidates"][0]["finishMessage"] = detail
    return WireResponse(resp.status, json.dumps(body).encode(), resp.headers, resp.content_type)


def _fault(provider: str, name: str, model: str, retry_after_s: float | None) -> WireResponse:
    if name in ("refusal", "refusal_message", "prompt_blocked") or (
        name == "content_policy" and provider == "gemini"
    ):
        return refusal(provider, model, name)
    if name == "html_502":
        return _html_502()
    if name == "bad_json":
        return WireResponse(200, b'{"id": "chatcmpl-broken", "choices": [', {})
    if provider == "openai":
        return _openai_fault(name, model, retry_after_s)
    if provider == "anthropic":
        return _anthropic_fault(name, model, retry_after_s)
    return _gemini_fault(name, model, retry_after_s)


def _openai_fault(name: str, model: str, retry_after_s: float | None) -> WireResponse:
    ra = _retry_headers(retry_after_s)
    table: dict[str, tuple[int, str, str, str | None]] = {
        "rate_limit": (
            429,
            f"Rate limit reached for {model} on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1.",
            "requests",
            "rate_limit_exceeded",
        ),
        "quota": (
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        "billing": (
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        "server_error": (
            500,
            "The server had an error while processing your request.",
            "server_error",
            None,
        ),
        "unavailable": (503, "The server is overloaded or not ready yet.", "server_error", None),
        "overloaded": (
            503,
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        "gateway_timeout": (504, "Gateway timeout.", "server_error", None),
        "invalid_key": (
            401,
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        "permission": (
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        "model_not_found": (
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        "context_length": (
            400,
            "This model's maximum context length is 128000 tokens. "
            "However, your messages resulted in 250000 tokens.",
            "invalid_request_error",
            "context_length_exceeded",
        ),
        "content_policy": (
            400,
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        ),
        "bad_request": (
            400,
            "Invalid value for 'messages': expected an array.",
            "invalid_request_error",
            None,
        ),
    }
    status, message, etype, code = table[name]
    return _openai_error(status, message, etype, code, ra if status in (429, 503) else {})


def _anthropic_fault(name: str, model: str, retry_after_s: float | None) -> WireResponse:
    ra = _retry_headers(retry_after_s)
    table: dict[str, tuple[int, str, str]] = {
        "rate_limit": (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit.",
        ),
        "quota": (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the "
            "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        "billing": (402, "billing_error", "Your organization has an unpaid invoice."),
        "server_error": (500, "api_error", "Internal server error"),
        "unavailable": (503, "api_error", "Service unavailable"),
        "overloaded": (529, "overloaded_error", "Overloaded"),
        "gateway_timeout": (504, "timeout_error", "Request timeout"),
        "invalid_key": (401, "authentication_error", "invalid x-api-key"),
        "permission": (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        "model_not_found": (404, "not_found_error", f"model: {model}"),
        "context_length": (
            400,
            "invalid_request_error",
            "prompt is too long: 250000 tokens > 200000 maximum",
        ),
        "content_policy": (
            400,
            "invalid_request_error",
            "Output blocked by content filtering policy",
        ),
        "bad_request": (
            400,
            "invalid_request_error",
            'messages: roles must alternate between "user" and "assistant"',
        ),
    }
    status, etype, message = table[name]
    return _anthropic_error(status, etype, message, ra if status in (429, 529, 503) else {})


def _gemini_fault(name: str, model: str, retry_after_s: float | None) -> WireResponse:
    if name == "rate_limit":
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": _QUOTA_METRIC,
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
        ]
        if retry_after_s is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after_s:g}s",
                }
            )
        return _gemini_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            details=details,
        )
    if name == "quota":
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": _QUOTA_METRIC,
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if retry_after_s is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after_s:g}s",
                }
            )
        return _gemini_error(429, "You exceeded your current quota.", details=details)
    if name == "invalid_key":
        return _gemini_error(
            400,
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
            ],
        )
    if name == "billing":
        return _gemini_error(
            400,
            "User location is not supported for the API use without a billing account linked.",
            status="FAILED_PRECONDITION",
        )
    if name == "context_length":
        return _gemini_error(
            400,
            "The input token count (250000) exceeds the maximum number of tokens allowed (131072).",
        )
    table: dict[str, tuple[int, str]] = {
        "server_error": (500, "An internal error has occurred. Please retry."),
        "unavailable": (503, "The service is currently unavailable."),
        "overloaded": (503, "The model is overloaded. Please try again later."),
        "gateway_timeout": (504, "The request timed out. Please try again."),
        "permission": (403, "Your API key was reported as leaked. Please use another API key."),
        "model_not_found": (
            404,
            f"models/{model} is not found for API version v1, or is not "
            "supported for generateContent.",
        ),
        "bad_request": (400, 'Invalid JSON payload received. Unknown name "foo".'),
    }
    code, message = table[name]
    return _gemini_error(code, message)
