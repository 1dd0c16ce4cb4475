"""Tool calls on the chaos server: when a request gets a tool call for an answer, and that answer
in each provider's wire format.

The rule (:func:`tool_call`): the request offers tools, its tool choice is not "none", and it
ends with a user prompt, not a tool result (for Anthropic and Gemini: the last block / part of
the last user turn is not a tool result). The answer is then ONE call, to the forced
tool when one is named (else the first tool), with arguments built from the tool's schema by
:func:`~adaptive_mind.providers.placeholder.placeholder`. When the last turn is a tool result,
:func:`tool_result` gives its text, which the server acknowledges in a text answer.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from adaptive_mind.providers.placeholder import placeholder
from adaptive_mind.simulation.wire_format import WireResponse, json_response, rid, tokens, usage
from adaptive_mind.simulation.wire_request import blocks, obj, objs, pick


@dataclass(frozen=True)
class ToolUse:
    """The one tool call the server answers with."""

    name: str
    arguments: dict[str, Any]
    """A value valid for the tool's parameter schema (``{}`` when it has none)."""


def _tools(provider: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The offered functions as ``(name, parameter schema)``."""
    if provider == "openai":
        fns = [obj(t.get("function")) for t in objs(body.get("tools"))]
        return [(str(f["name"]), f.get("parameters")) for f in fns if "name" in f]
    if provider == "anthropic":  # custom tools only: server tools have no input_schema
        return [
            (str(t["name"]), t.get("input_schema"))
            for t in objs(body.get("tools"))
            if "name" in t and "input_schema" in t
        ]
    out = []
    for tool in objs(body.get("tools")):
        for fn in objs(pick(tool, "functionDeclarations", "function_declarations")):
            schema = pick(fn, "parametersJsonSchema", "parameters_json_schema")
            out.append((str(fn.get("name", "")), schema or fn.get("parameters")))
    return out


def _choice(provider: str, body: dict[str, Any]) -> tuple[bool, str | None]:
    """``(tools may be called, the forced tool's name or None)``."""
    if provider == "openai":
        choice = body.get("tool_choice")
        if choice == "none":
            return False, None
        return True, obj(obj(choice).get("function")).get("name")
    if provider == "anthropic":
        choice = obj(body.get("tool_choice"))
        if choice.get("type") == "none":
            return False, None
        return True, choice.get("name") if choice.get("type") == "tool" else None
    tool_config = obj(pick(body, "toolConfig", "tool_config"))
    config = obj(pick(tool_config, "functionCallingConfig", "function_calling_config"))
    if str(config.get("mode", "")).upper() == "NONE":
        return False, None
    names = pick(config, "allowedFunctionNames", "allowed_function_names")
    return True, names[0] if isinstance(names, list) and names else None


def _last_is_user_prompt(provider: str, body: dict[str, Any]) -> bool:
    """Whether the request ends with a user prompt, not a tool result: OpenAI's last message
    has role ``user``; Anthropic's last turn is a user turn whose last block is not a
    ``tool_result``, Gemini's last content a user one whose last part is not a
    ``functionResponse`` (adapters merge tool results and the user prompt after them into one
    turn, results first)."""
    if provider == "openai":
        turns = objs(body.get("messages"))
        return bool(turns) and turns[-1].get("role") == "user"
    if provider == "anthropic":
        turns = objs(body.get("messages"))
        if not turns or turns[-1].get("role") != "user":
            return False
        content = blocks(turns[-1].get("content"))
        return bool(content) and content[-1].get("type") != "tool_result"
    contents = objs(body.get("contents"))
    if not contents or contents[-1].get("role", "user") != "user":
        return False
    parts = objs(contents[-1].get("parts"))
    return bool(parts) and pick(parts[-1], "functionResponse", "function_response") is None


def tool_call(provider: str, body: dict[str, Any]) -> ToolUse | None:
    """The tool call a request gets for an answer, or None (answer with text)."""
    tools = _tools(provider, body)
    allowed, forced = _choice(provider, body)
    if not tools or not allowed or not _last_is_user_prompt(provider, body):
        return None
    schemas = dict(reversed(tools))  # the first tool of a name wins
    name = forced if forced is not None else tools[0][0]
    schema = schemas.get(name)
    args = placeholder(schema) if isinstance(schema, dict) else {}
    return ToolUse(name, args if isinstance(args, dict) else {})


def _text(content: object) -> str:
    return "".join(str(b.get("text", "")) for b in blocks(content) if b.get("type") == "text")


def tool_result(provider: str, body: dict[str, Any]) -> str | None:
    """The text of the tool result the request ends with, or None when it ends otherwise
    (OpenAI a last ``tool`` message, Anthropic a last user turn whose last block is a
    ``tool_result``, Gemini a last content whose last part is a ``functionResponse``: its
    ``response.result``, or the response as JSON)."""
    if provider in ("openai", "anthropic"):
        turns = objs(body.get("messages"))
        last = turns[-1] if turns else {}
        if provider == "openai":
            return _text(last.get("content")) if last.get("role") == "tool" else None
        content = blocks(last.get("content"))
        if last.get("role") != "user" or not content or content[-1].get("type") != "tool_result":
            return None
        return _text(content[-1].get("content", ""))
    contents = objs(body.get("contents"))
    parts = objs(contents[-1].get("parts")) if contents else []
    response = pick(parts[-1], "functionResponse", "function_response") if parts else None
    if not isinstance(response, dict):
        return None
    answer = obj(response.get("response"))
    result = answer.get("result")
    return result if isinstance(result, str) else json.dumps(answer)


def tool_answer(
    provider: str,
    model: str,
    use: ToolUse,
    prompt: str,
    text: str = "",
    *,
    thinking: bool = False,
) -> WireResponse:
    """A successful answer that calls ``use`` (after ``text``, if any): OpenAI
    ``message.tool_calls`` with finish_reason ``tool_calls``, Anthropic a ``tool_use`` block
    with stop_reason ``tool_use``, Gemini a ``functionCall`` part with finishReason ``STOP``."""
    args = json.dumps(use.arguments)
    used = usage(provider, tokens(prompt), tokens(f"{text} {args}"), thinking)
    if provider == "openai":
        call = {
            "id": rid("call_"),
            "type": "function",
            "function": {"name": use.name, "arguments": args},
        }
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        message["tool_calls"] = [call]
        choice = {"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": message}
        return json_response(
            200,
            {
                "id": rid("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [choice],
                "usage": used,
            },
            {"x-request-id": rid("req_")},
        )
    if provider == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content.append(
            {"type": "tool_use", "id": rid("toolu_"), "name": use.name, "input": use.arguments}
        )
        return json_response(
            200,
            {
                "id": rid("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": used,
            },
            {"request-id": rid("req_")},
        )
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts.append(
        {"functionCall": {"id": uuid.uuid4().hex[:24], "name": use.name, "args": use.arguments}}
    )
    return json_response(
        200,
        {
            "candidates": [
                {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": used,
            "modelVersion": model,
            "responseId": rid(""),
        },
    )
