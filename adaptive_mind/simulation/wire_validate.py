"""Structural validation of request bodies, as the real APIs do it before anything else.

:func:`validate` returns the provider's real 400 for a body the real API would refuse (OpenAI and
Anthropic ``invalid_request_error``, Gemini ``INVALID_ARGUMENT``), the message naming the problem
in the provider's own words; the chaos server checks it before any fault rule applies.

OpenAI: every ``tool`` message answers a ``tool_calls`` id of the assistant message just before
its run of tool messages; an assistant message with ``tool_calls`` is followed by tool messages
answering each id; roles are known; ``image_url`` URLs are ``http(s)://`` or ``data:``.
Anthropic: no ``system`` role in ``messages``; the first message is ``user`` and roles
alternate; each ``tool_result`` answers a ``tool_use`` of the assistant turn just before and
comes before any other block of its turn; each ``tool_use`` is answered in the next user turn;
tool ids match ``^[a-zA-Z0-9_-]+$``; text blocks are not empty; tool blocks need ``tools``;
``thinking.budget_tokens`` is at least 1024 and below ``max_tokens``.
Gemini: roles are ``user`` or ``model`` (they need not alternate); each ``functionResponse``
answers by name a ``functionCall`` of the model turn just before; a model turn's
``functionCall`` parts are each answered in the next turn; every part holds data.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from adaptive_mind.simulation.wire_format import (
    WireResponse,
    anthropic_error,
    gemini_error,
    openai_error,
)
from adaptive_mind.simulation.wire_request import blocks, obj, objs, pick

OPENAI_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
TOOL_WITHOUT_CALL = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
    "with 'tool_calls'."
)
CALL_WITHOUT_TOOL = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
    "each 'tool_call_id'. The following tool_call_ids did not have response messages: {ids}"
)
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
MIN_THINKING_BUDGET = 1024
GEMINI_DATA = (
    ("text", "text"),
    ("inlineData", "inline_data"),
    ("fileData", "file_data"),
    ("functionCall", "function_call"),
    ("functionResponse", "function_response"),
    ("executableCode", "executable_code"),
    ("codeExecutionResult", "code_execution_result"),
)
"""The members of a Gemini ``Part``'s ``data`` oneof, in both key spellings."""


class _Invalid(Exception):
    """A body the provider refuses: its message (and OpenAI's ``param`` / ``code``)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def validate(provider: str, body: dict[str, Any]) -> WireResponse | None:
    """The provider's 400 for a structurally invalid ``body``, or None when it is valid."""
    check = {"openai": _openai, "anthropic": _anthropic}.get(provider, _gemini)
    try:
        check(body)
    except _Invalid as bad:
        if provider == "openai":
            return openai_error(
                400, bad.message, "invalid_request_error", bad.code, param=bad.param
            )
        if provider == "anthropic":
            return anthropic_error(400, "invalid_request_error", bad.message)
        return gemini_error(400, bad.message)
    return None


# -- OpenAI ---------------------------------------------------------------------------------


def _openai(body: dict[str, Any]) -> None:
    pending: dict[str, None] = {}  # ids of the last tool_calls not answered yet (ordered)
    calls: set[str] = set()  # ids the current run of tool messages may answer
    caller = 0
    for i, m in enumerate(objs(body.get("messages"))):
        role = m.get("role")
        if role not in OPENAI_ROLES:
            supported = ", ".join(f"'{r}'" for r in OPENAI_ROLES[:-1])
            raise _Invalid(
                f"Invalid value: '{role}'. Supported values are: {supported}, and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        if role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in calls or call_id not in pending:
                raise _Invalid(TOOL_WITHOUT_CALL, f"messages.[{i}].role")
            del pending[call_id]
            continue
        if pending:
            raise _Invalid(CALL_WITHOUT_TOOL.format(ids=", ".join(pending)), f"messages.[{caller}]")
        _openai_images(i, m)
        ids = [str(c.get("id")) for c in objs(m.get("tool_calls"))] if role == "assistant" else []
        pending, calls, caller = dict.fromkeys(ids), set(ids), i
    if pending:
        raise _Invalid(CALL_WITHOUT_TOOL.format(ids=", ".join(pending)), f"messages.[{caller}]")


def _openai_images(i: int, m: dict[str, Any]) -> None:
    content = m.get("content")
    for j, part in enumerate(content if isinstance(content, list) else []):
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = image if isinstance(image, str) else obj(image).get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
            where = f"messages[{i}].content[{j}].image_url.url"
            raise _Invalid(
                f"Invalid '{where}'. Expected a valid URL (http, https or a data: URL), but got "
                f"{url!r}.",
                where,
                "invalid_value",
            )


# -- Anthropic ------------------------------------------------------------------------------


def _anthropic(body: dict[str, Any]) -> None:
    _anthropic_thinking(body)
    prev_role: object = None
    uses: list[str] = []  # tool_use ids of the previous (assistant) turn
    uses_at = 0
    tool_blocks = False
    for i, m in enumerate(objs(body.get("messages"))):
        role = m.get("role")
        if role == "system":
            raise _Invalid(
                f'messages.{i}.role: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise _Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise _Invalid('messages: first message must use the "user" role')
        if role == prev_role:
            raise _Invalid(
                'messages: roles must alternate between "user" and "assistant", but found '
                f'multiple "{role}" roles in a row'
            )
        raw = m.get("content")
        content = blocks(raw)
        results = _anthropic_blocks(i, objs(raw), uses)
        tool_blocks = tool_blocks or any(
            b.get("type") in ("tool_use", "tool_result") for b in content
        )
        missing = [u for u in uses if u not in results]
        if missing:
            raise _Invalid(_unanswered(uses_at, missing))
        uses = [str(b.get("id")) for b in content if b.get("type") == "tool_use"]
        uses_at, prev_role = i, role
    if uses:
        raise _Invalid(_unanswered(uses_at, uses))
    if tool_blocks and not objs(body.get("tools")):
        raise _Invalid(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )


def _unanswered(i: int, ids: list[str]) -> str:
    return (
        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {', '.join(ids)}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )


def _anthropic_blocks(i: int, content: list[dict[str, Any]], uses: list[str]) -> set[str]:
    """Check one turn's content blocks (a string content has none) against the tool_use ids
    of the turn before; the ids its tool_result blocks answer."""
    results: set[str] = set()
    others = 0
    for j, block in enumerate(content):
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                raise _Invalid(
                    f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
                )
            if not text.strip():
                raise _Invalid("messages: text content blocks must contain non-whitespace text")
        if kind in ("tool_use", "tool_result"):
            field = "id" if kind == "tool_use" else "tool_use_id"
            value = block.get(field)
            if not isinstance(value, str) or not ANTHROPIC_ID.match(value):
                raise _Invalid(
                    f"messages.{i}.content.{j}.{kind}.{field}: String should match pattern "
                    f"'{ANTHROPIC_ID.pattern}'"
                )
        if kind != "tool_result":
            others += 1
            continue
        if others and uses:
            raise _Invalid(
                f"messages.{i}: Did not find {len(uses)} `tool_result` block(s) at the beginning "
                "of this message. Messages following `tool_use` blocks must begin with a "
                "matching number of `tool_result` blocks."
            )
        tool_use_id = str(block.get("tool_use_id"))
        if tool_use_id not in uses:
            raise _Invalid(
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {tool_use_id}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        results.add(tool_use_id)
    return results


def _anthropic_thinking(body: dict[str, Any]) -> None:
    thinking = obj(body.get("thinking"))
    if thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        raise _Invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to "
            f"{MIN_THINKING_BUDGET}"
        )
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and budget >= max_tokens:
        raise _Invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size"
        )


# -- Gemini ---------------------------------------------------------------------------------


def _gemini(body: dict[str, Any]) -> None:
    calls: Counter[str] = Counter()  # function names the previous model turn called
    for i, content in enumerate(objs(body.get("contents"))):
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise _Invalid("Please use a valid role: user, model.")
        parts = objs(content.get("parts"))
        for j, part in enumerate(parts):
            if not any(camel in part or snake in part for camel, snake in GEMINI_DATA):
                raise _Invalid(
                    f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof "
                    "field 'data' must have one initialized field\n"
                )
        answers = Counter(
            str(obj(pick(p, "functionResponse", "function_response")).get("name"))
            for p in parts
            if pick(p, "functionResponse", "function_response") is not None
        )
        for name in answers:
            if name not in calls:
                raise _Invalid(
                    "Please ensure that function response turn comes immediately after a "
                    f"function call turn. contents[{i}] has a function response for '{name}' "
                    "that matches no function call of the preceding model turn."
                )
        if calls and answers != calls:
            raise _Invalid(
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn. contents["
                f"{i - 1}] calls {', '.join(sorted(calls.elements()))}."
            )
        calls = Counter(
            str(obj(pick(p, "functionCall", "function_call")).get("name"))
            for p in parts
            if role == "model" and pick(p, "functionCall", "function_call") is not None
        )
    if calls:
        raise _Invalid(
            "Please ensure that the number of function response parts is equal to the number "
            "of function call parts of the function call turn. The last turn calls "
            f"{', '.join(sorted(calls.elements()))} and no function response follows."
        )
