"""The chaos server's faults: each fault's status, headers and body in the provider's own
format (errors, 200 refusals, an HTML 502, a broken JSON body), as the official SDKs parse them."""

from __future__ import annotations

import json
import time
from typing import Any

from adaptive_mind.simulation.wire_format import (
    WireResponse,
    anthropic_error,
    gemini_error,
    json_response,
    openai_error,
    retry_headers,
    rid,
)

_QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_requests"

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
        return json_response(
            200,
            {
                "id": rid("chatcmpl-"),
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
        return json_response(
            200,
            {
                "id": rid("msg_"),
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
        return json_response(
            200,
            {
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings},
                "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
                "modelVersion": model,
            },
        )
    return json_response(
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
    ra = retry_headers(retry_after_s)
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
    return openai_error(status, message, etype, code, ra if status in (429, 503) else {})


def _anthropic_fault(name: str, model: str, retry_after_s: float | None) -> WireResponse:
    ra = retry_headers(retry_after_s)
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
    return anthropic_error(status, etype, message, ra if status in (429, 529, 503) else {})


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
        return gemini_error(
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
        return gemini_error(429, "You exceeded your current quota.", details=details)
    if name == "invalid_key":
        return gemini_error(
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
        return gemini_error(
            400,
            "User location is not supported for the API use without a billing account linked.",
            status="FAILED_PRECONDITION",
        )
    if name == "context_length":
        return gemini_error(
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
    return gemini_error(code, message)
