"""The three providers' wire formats: success bodies, 200 refusals and real error bodies.

Used by the local chaos server. Each fault produces the status, headers and JSON body the real
provider sends (shapes as documented and as the official SDKs parse them). This module is the
one place the server reads from; the parts live in ``wire_format`` (responses, usage, error
bodies), ``wire_faults`` (the faults), ``wire_request`` (reading bodies), ``wire_tools`` (tool
calls) and ``wire_validate`` (the real APIs' structural 400s).
"""

from __future__ import annotations

import time
from typing import Any

from adaptive_mind.simulation.wire_faults import FAULTS, fault, refusal
from adaptive_mind.simulation.wire_format import WireResponse, json_response, rid, tokens, usage
from adaptive_mind.simulation.wire_request import obj as _obj
from adaptive_mind.simulation.wire_request import prompt_text, reasoning, turns
from adaptive_mind.simulation.wire_tools import ToolUse, tool_answer, tool_call, tool_result
from adaptive_mind.simulation.wire_validate import validate

__all__ = [
    "ECHOES",
    "FAULTS",
    "JSON_INSTRUCTION",
    "PROVIDERS",
    "ToolUse",
    "WireResponse",
    "echo",
    "fault",
    "generate",
    "json_request",
    "limits",
    "prompt_text",
    "reasoning",
    "refusal",
    "success",
    "tool_answer",
    "tool_call",
    "tool_result",
    "turns",
    "validate",
]

PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "gemini")

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
    *,
    thinking: bool = False,
) -> WireResponse:
    """A successful answer in ``provider``'s format; ``finish`` (``stop``, ``stop_sequence`` or
    ``length``) becomes that provider's own finish reason. ``thinking``: the request asked for
    reasoning, so the usage reports reasoning tokens (see :func:`wire_format.usage`)."""
    p, c = tokens(prompt), tokens(text)
    reason = _FINISH[provider][finish]
    used = usage(provider, p, c, thinking)
    if provider == "openai":
        return json_response(
            200,
            {
                "id": rid("chatcmpl-"),
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
                "usage": used,
            },
            {"x-request-id": rid("req_")},
        )
    if provider == "anthropic":
        return json_response(
            200,
            {
                "id": rid("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": reason,
                "stop_sequence": stop_sequence,
                "usage": used,
            },
            {"request-id": rid("req_")},
        )
    return json_response(
        200,
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": reason,
                    "index": 0,
                }
            ],
            "usageMetadata": used,
            "modelVersion": model,
            "responseId": rid(""),
        },
    )
