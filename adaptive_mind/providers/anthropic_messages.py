"""The canonical (OpenAI-shaped) request in Anthropic Messages API terms, and tool calls back.

Pure functions, no SDK: the adapter hands their plain dicts to ``messages.create()``.

Messages:

- ``system`` and ``developer`` turns → the top-level ``system`` text (joined with a blank line,
  text only; empty ones skipped).
- ``user`` turns → text blocks (blank text left out: Anthropic rejects text blocks that are empty
  or only whitespace) and image blocks (:func:`image_block`). ``name`` has no field in the
  Messages API: ignored.
- ``assistant`` turns → a text block (if any text), then one ``tool_use`` block per tool call
  (``input`` = the parsed arguments).
- ``tool`` turns → ``tool_result`` blocks (``content`` = the result's text, or text and image
  blocks when the result carries images) in a ``user`` turn.
- Anthropic needs user/assistant alternation: consecutive turns of the same role merge into one
  turn, and in a user turn every ``tool_result`` block comes first (so consecutive tool turns and
  the user turn right after them become ONE user turn). A turn with no block at all (a blank
  text) is left out. The first turn must be a user turn: when it is not (the conversation starts
  with an assistant turn, or has no turn left), a user turn ``"(continued)"``
  (:data:`CONTINUED`) is put in front.
- A turn that ends up as a single text block is sent as a plain string (the shortest body).
- Tool-call ids go through :func:`anthropic_tool_id`, so ``call_…`` ids from another provider
  become valid Anthropic ids, the same on the ``tool_use`` and on its ``tool_result``.

Parameters: :func:`tools_param`, :func:`tool_choice_param`, :func:`thinking_budget` (see each).
Answer: :func:`tool_calls_from` reads the ``tool_use`` blocks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from adaptive_mind.chat import (
    ChatMessage,
    FunctionCall,
    ImagePart,
    RequestParams,
    TextPart,
    ToolCall,
    ToolSpec,
)

Block = dict[str, Any]
"""One content block of an Anthropic message (a plain dict, as the SDK sends it)."""

CONTINUED = "(continued)"
"""The text of the user turn put in front of a conversation that does not start with one."""
SYSTEM_ROLES = frozenset({"system", "developer"})
"""Roles that go to the top-level ``system`` text."""
THINKING_BUDGETS: dict[str, int] = {"low": 1024, "medium": 4096, "high": 16384}
"""``reasoning_effort`` → ``thinking.budget_tokens`` (Anthropic's minimum is 1024)."""

_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_DATA_URL = re.compile(r"data:([^;,]+);base64,(.*)", re.DOTALL)


def anthropic_tool_id(tool_id: str) -> str:
    """``tool_id`` if Anthropic accepts it (``^[a-zA-Z0-9_-]+$``, at most 64 characters), else
    ``"toolu_" + sha256(tool_id)[:24]``: deterministic, so a call and its result agree."""
    if _TOOL_ID.fullmatch(tool_id):
        return tool_id
    return "toolu_" + hashlib.sha256(tool_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def system_text(messages: Iterable[ChatMessage]) -> str:
    """The text of the ``system`` and ``developer`` turns, joined with a blank line."""
    return "\n\n".join(m.text for m in messages if m.role in SYSTEM_ROLES and m.text.strip())


def image_block(part: ImagePart) -> Block:
    """An image block: a ``data:<mime>;base64,<data>`` URL → a ``base64`` source, any other URL
    → a ``url`` source. ``detail`` has no Anthropic field: ignored."""
    url = part.image_url.url
    found = _DATA_URL.fullmatch(url)
    if found is not None:
        source = {"type": "base64", "media_type": found.group(1), "data": found.group(2)}
    else:
        source = {"type": "url", "url": url}
    return {"type": "image", "source": source}


def content_blocks(m: ChatMessage) -> list[Block]:
    """The text and image blocks of a turn's ``content``, in order (blank texts left out)."""
    content = m.content
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    out: list[Block] = []
    for part in content:
        if isinstance(part, TextPart):
            if part.text.strip():
                out.append({"type": "text", "text": part.text})
        else:
            out.append(image_block(part))
    return out


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's ``arguments`` (JSON text of an object, checked at admission) as ``input``;
    anything else (never expected) is kept as ``{"arguments": <the text>}``."""
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


def _turn(m: ChatMessage) -> tuple[str, list[Block]]:
    """One canonical turn as (Anthropic role, blocks)."""
    if m.role == "tool":
        result: Block = {
            "type": "tool_result",
            "tool_use_id": anthropic_tool_id(m.tool_call_id or ""),
        }
        blocks = content_blocks(m)
        if m.images:
            result["content"] = blocks
        elif blocks:
            result["content"] = m.text
        return "user", [result]
    if m.role == "assistant":
        text = m.text
        out: list[Block] = [{"type": "text", "text": text}] if text.strip() else []
        for call in m.tool_calls or ():
            out.append(
                {
                    "type": "tool_use",
                    "id": anthropic_tool_id(call.id),
                    "name": call.function.name,
                    "input": tool_input(call.function.arguments),
                }
            )
        return "assistant", out
    return "user", content_blocks(m)


def to_messages(messages: Iterable[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation (system/developer turns aside) as Anthropic ``messages``: alternating,
    starting with a user turn, tool results first in their user turn (see the module doc)."""
    turns: list[tuple[str, list[Block]]] = []
    for m in messages:
        if m.role in SYSTEM_ROLES:
            continue
        role, blocks = _turn(m)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns or turns[0][0] != "user":
        turns.insert(0, ("user", [{"type": "text", "text": CONTINUED}]))
    out: list[dict[str, Any]] = []
    for role, blocks in turns:
        if role == "user":  # stable: tool results first, the rest in order
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            out.append({"role": role, "content": blocks[0]["text"]})
        else:
            out.append({"role": role, "content": blocks})
    return out


def used_tool_names(messages: Iterable[ChatMessage]) -> list[str]:
    """The names of the tools the conversation's assistant turns called, first use first."""
    names: dict[str, None] = {}
    for m in messages:
        for call in m.tool_calls or ():
            names[call.function.name] = None
    return list(names)


def tools_param(tools: Sequence[ToolSpec]) -> list[Block]:
    """``tools``: ``{"name", "description", "input_schema", "strict"}`` (``input_schema`` is the
    parameters' schema, ``{"type": "object", "properties": {}}`` when none; ``type`` defaults to
    ``object``; ``description`` and ``strict`` only when set)."""
    out: list[Block] = []
    for spec in tools:
        schema = spec.schema()
        schema.setdefault("type", "object")
        tool: Block = {"name": spec.name}
        if spec.description is not None:
            tool["description"] = spec.description
        tool["input_schema"] = schema
        if spec.strict is not None:
            tool["strict"] = spec.strict
        out.append(tool)
    return out


def history_tools(names: Iterable[str]) -> list[Block]:
    """Stand-in declarations for tools the conversation used but the request does not offer:
    Anthropic rejects ``tool_use`` / ``tool_result`` blocks when no ``tools`` are defined."""
    return [
        {
            "name": name,
            "description": "A tool called earlier in this conversation.",
            "input_schema": {"type": "object", "properties": {}},
        }
        for name in names
    ]


def tool_choice_param(p: RequestParams) -> Block | None:
    """``tool_choice``: auto → ``{"type": "auto"}``, required → ``{"type": "any"}``, none →
    ``{"type": "none"}``, a named function → ``{"type": "tool", "name": …}``;
    ``parallel_tool_calls`` False adds ``disable_parallel_tool_use: true`` (to ``auto`` when
    ``tool_choice`` is unset; ``none`` has no such field). None: nothing to send."""
    choice: Block
    if p.tool_choice_name is not None:
        choice = {"type": "tool", "name": p.tool_choice_name}
    elif p.tool_choice == "required":
        choice = {"type": "any"}
    elif p.tool_choice == "none":
        return {"type": "none"}
    elif p.tool_choice == "auto" or p.parallel_tool_calls is False:
        choice = {"type": "auto"}
    else:
        return None
    if p.parallel_tool_calls is False:
        choice["disable_parallel_tool_use"] = True
    return choice


def thinking_budget(p: RequestParams, messages: Sequence[ChatMessage]) -> int | None:
    """``thinking.budget_tokens`` for ``reasoning_effort`` (low 1024, medium 4096, high 16384), or
    None when there is none or the Messages API would refuse thinking for this request:

    - a forced tool choice (``required`` or a named function): "Thinking may not be enabled when
      tool_choice forces tool use";
    - the last assistant turn called tools (a tool loop in progress): with thinking on, that turn
      must start with the model's signed ``thinking`` block, which the canonical form does not
      keep.
    """
    if p.reasoning_effort is None:
        return None
    if p.tool_choice_name is not None or p.tool_choice == "required":
        return None
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if last is not None and last.tool_calls:
        return None
    return THINKING_BUDGETS[p.reasoning_effort]


def tool_calls_from(blocks: Iterable[Any]) -> tuple[ToolCall, ...]:
    """The ``tool_use`` blocks of an answer as :class:`ToolCall` (``arguments`` = the ``input``
    as JSON text)."""
    return tuple(
        ToolCall(
            id=str(b.id),
            function=FunctionCall(name=str(b.name), arguments=json.dumps(b.input)),
        )
        for b in blocks
        if getattr(b, "type", "") == "tool_use"
    )
