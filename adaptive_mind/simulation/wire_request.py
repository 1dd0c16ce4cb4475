"""Reading request bodies the way the chaos server needs: the prompt's text (images counted),
whether reasoning was asked for, and tolerant field access.

The Gemini SDK mixes key styles in one body (``inlineData`` holding ``mime_type``,
``parameters_json_schema``, ``thinking_budget``), so Gemini fields are read in both spellings.
"""

from __future__ import annotations

import json
from typing import Any

IMAGE_WORD = "[image]"
"""What an image part counts as in the prompt (one token)."""


def obj(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objs(value: object) -> list[dict[str, Any]]:
    """The JSON objects in ``value`` if it is a list (others left out), else none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def pick(d: dict[str, Any], camel: str, snake: str) -> Any:
    """``d[camel]``, else ``d[snake]``, else None (Gemini bodies use both spellings)."""
    return d[camel] if camel in d else d.get(snake)


def blocks(content: object) -> list[dict[str, Any]]:
    """A message's ``content`` as a list of blocks: a string is one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return objs(content)


def _openai_words(m: dict[str, Any]) -> list[str]:
    content = m.get("content")
    words = [content] if isinstance(content, str) else []
    for part in objs(content):
        if part.get("type") == "image_url":
            words.append(IMAGE_WORD)
        elif isinstance(part.get("text"), str):
            words.append(part["text"])
    words += [str(obj(c.get("function")).get("arguments", "")) for c in objs(m.get("tool_calls"))]
    return words


def _anthropic_words(content: object) -> list[str]:
    words: list[str] = []
    for block in blocks(content):
        kind = block.get("type")
        if kind == "image":
            words.append(IMAGE_WORD)
        elif kind == "tool_use":
            words.append(json.dumps(block.get("input", {})))
        elif kind == "tool_result":
            words += _anthropic_words(block.get("content", ""))
        elif isinstance(block.get("text"), str):
            words.append(block["text"])
    return words


def _gemini_words(part: dict[str, Any]) -> list[str]:
    if isinstance(part.get("text"), str):
        return [part["text"]]
    if pick(part, "inlineData", "inline_data") or pick(part, "fileData", "file_data"):
        return [IMAGE_WORD]
    call = pick(part, "functionCall", "function_call")
    if isinstance(call, dict):
        return [json.dumps(call.get("args", {}))]
    response = pick(part, "functionResponse", "function_response")
    if isinstance(response, dict):
        return [json.dumps(response.get("response", {}))]
    return []


def prompt_text(provider: str, body: dict[str, Any]) -> str:
    """The text of a request's turns, for its prompt token count: text parts, tool-call
    arguments and tool results as they are, each image part as :data:`IMAGE_WORD` (images are
    accepted and counted, never fetched)."""
    if provider == "openai":
        words = [w for m in objs(body.get("messages")) for w in _openai_words(m)]
    elif provider == "anthropic":
        words = [w for m in objs(body.get("messages")) for w in _anthropic_words(m.get("content"))]
    else:
        words = [
            w
            for c in objs(body.get("contents"))
            for p in objs(c.get("parts"))
            for w in _gemini_words(p)
        ]
    return " ".join(words)


def reasoning(provider: str, body: dict[str, Any]) -> bool:
    """Whether the request asks the model to think: OpenAI ``reasoning_effort``, Anthropic
    ``thinking.type == "enabled"``, Gemini ``generationConfig.thinkingConfig`` with a budget
    other than 0."""
    if provider == "openai":
        return body.get("reasoning_effort") not in (None, "none")
    if provider == "anthropic":
        return obj(body.get("thinking")).get("type") == "enabled"
    gen = obj(body.get("generationConfig"))
    config = pick(gen, "thinkingConfig", "thinking_config")
    if not isinstance(config, dict):
        return False
    budget: object = pick(config, "thinkingBudget", "thinking_budget")
    return budget != 0


def turns(provider: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """``(role, text)`` of each turn (roles as the provider writes them: Gemini's ``model``)."""
    if provider == "gemini":
        return [
            (
                str(c.get("role", "user")),
                "".join(w for p in objs(c.get("parts")) for w in _gemini_words(p)),
            )
            for c in objs(body.get("contents"))
        ]
    out: list[tuple[str, str]] = []
    for m in objs(body.get("messages")):
        words = _openai_words(m) if provider == "openai" else _anthropic_words(m.get("content"))
        out.append((str(m.get("role", "")), "".join(words)))
    return out


def _joined(parts: list[dict[str, Any]]) -> list[str]:
    return [w for p in parts for w in _gemini_words(p)]
