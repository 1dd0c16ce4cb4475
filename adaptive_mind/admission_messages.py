"""Validating a request's messages: the OpenAI Chat Completions shape, checked before admission.

Roles ``system``, ``developer``, ``user``, ``assistant`` and ``tool``; ``content`` a string or
a list of parts (``text``; ``image_url`` with an ``https://`` or ``data:image/…;base64,``
URL); ``name``; assistant ``tool_calls`` whose arguments are JSON objects; ``tool`` turns
answering a call of the assistant turn just before them. Every failure is a
:class:`BadRequestError` naming the field (``messages[3].tool_calls[0].function.arguments``),
raised before any upstream call, so a malformed conversation never reaches a provider (where
it would cost a call and a 400).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from adaptive_mind.chat import (
    ROLES,
    ChatMessage,
    ContentPart,
    FunctionCall,
    ImagePart,
    ImageURL,
    TextPart,
    ToolCall,
)
from adaptive_mind.errors import BadRequestError

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""A tool or participant name (OpenAI's rule, which the other providers accept too)."""
_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
_IGNORED_IF_EMPTY = frozenset({"refusal", "function_call", "audio", "annotations"})
"""Fields an OpenAI SDK message dump carries as None: accepted when empty, so a response
message can be sent back as the next turn."""
_DETAILS = ("auto", "low", "high")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,")
"""The image types every provider takes inline (Anthropic's list; OpenAI's too)."""


def show(value: object, limit: int = 40) -> str:
    """A short, printable rendering of a caller's value for an error message."""
    text = repr(value) if isinstance(value, str) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def encodable(text: str, where: str) -> None:
    """Text every provider can be sent: valid UTF-8 (no lone surrogate such as ``"\\ud800"``,
    which ``json.loads`` produces happily and every SDK then fails to encode)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError(
            f"{where}: text that cannot be encoded as UTF-8 (a lone surrogate at {exc.start})"
        ) from None


_ROLE_SET = frozenset(ROLES)
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_M = TypeVar("_M", bound=BaseModel)


def built(cls: type[_M], values: dict[str, Any]) -> _M:
    """A model from ``values`` that were validated here (every field given): what pydantic's
    ``model_construct`` does, without its per-field default handling (2.5x cheaper; requests
    carry several messages, and admission is on every request's path)."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def validate_messages(messages: object) -> tuple[ChatMessage, ...]:
    """Turn dicts / ChatMessages into validated ChatMessages, or raise BadRequestError."""
    if isinstance(messages, str | bytes | bytearray | Mapping) or not isinstance(
        messages, Sequence
    ):
        raise BadRequestError("messages: must be a list of {role, content} messages")
    if not messages:
        raise BadRequestError("messages: must not be empty")
    out: list[ChatMessage] = []
    tools = False
    for i, m in enumerate(messages):
        if type(m) is dict and len(m) == 2:  # the common {role, content} turn, fast
            role, content = m.get("role"), m.get("content")
            if type(role) is str and role in _PLAIN_ROLES and type(content) is str:
                if not content.isascii():
                    encodable(content, f"messages[{i}].content")
                out.append(
                    built(
                        ChatMessage,
                        {
                            "role": role,
                            "content": content,
                            "name": None,
                            "tool_calls": None,
                            "tool_call_id": None,
                        },
                    )
                )
                continue
        if isinstance(m, ChatMessage):
            out.append(_checked_model(m, f"messages[{i}]"))
        elif isinstance(m, Mapping):
            out.append(_from_dict(m, f"messages[{i}]"))
        else:
            raise BadRequestError(f"messages[{i}]: must be a dict or ChatMessage")
        tools = tools or out[-1].role == "tool" or out[-1].tool_calls is not None
    if tools:
        _check_tool_turns(out)
    return tuple(out)


def _from_dict(m: Mapping[Any, Any], where: str) -> ChatMessage:
    for k in m:
        if k not in _FIELDS and not (k in _IGNORED_IF_EMPTY and not m[k]):
            raise BadRequestError(f"{where}.{show(k)}: unknown field")
    role = m.get("role")
    if not isinstance(role, str) or role not in _ROLE_SET:
        raise BadRequestError(f"{where}.role: must be one of {', '.join(ROLES)}")
    content = _content(m.get("content"), role, f"{where}.content")
    name = m.get("name")
    if name is not None:
        _name(name, f"{where}.name")
    tool_calls = None
    raw_calls = m.get("tool_calls")
    if raw_calls is not None and not (role != "assistant" and not raw_calls):
        if role != "assistant":
            raise BadRequestError(f"{where}.tool_calls: only assistant turns call tools")
        tool_calls = _tool_calls(raw_calls, f"{where}.tool_calls")
    tool_call_id = m.get("tool_call_id")
    if role == "tool":
        if not isinstance(tool_call_id, str) or not tool_call_id:
            raise BadRequestError(
                f"{where}.tool_call_id: a tool turn must name the call it answers"
            )
        encodable(tool_call_id, f"{where}.tool_call_id")
    elif tool_call_id is not None:
        raise BadRequestError(f"{where}.tool_call_id: only tool turns answer a tool call")
    if content is None and not tool_calls:
        raise BadRequestError(
            f"{where}.content: must be a string or a list of parts"
            + (" (or tool_calls on an assistant turn)" if role == "assistant" else "")
        )
    # Every field is checked above: build without pydantic re-validating it all.
    return built(
        ChatMessage,
        {
            "role": role,
            "content": content,
            "name": name,
            "tool_calls": tool_calls,
            "tool_call_id": tool_call_id,
        },
    )


def _checked_model(m: ChatMessage, where: str) -> ChatMessage:
    """A ChatMessage the caller built: pydantic checked the types; check the rules."""
    if m.content is None and not m.tool_calls:
        raise BadRequestError(f"{where}.content: must be a string or a list of parts")
    if isinstance(m.content, str):
        encodable(m.content, f"{where}.content")
    elif m.content is not None:
        for j, part in enumerate(m.content):
            if isinstance(part, TextPart):
                encodable(part.text, f"{where}.content[{j}].text")
            elif m.role != "user":
                raise BadRequestError(f"{where}.content[{j}]: images only in user turns")
            else:
                _image_url(part.image_url.url, f"{where}.content[{j}].image_url.url")
    if m.name is not None:
        _name(m.name, f"{where}.name")
    if m.tool_calls and m.role != "assistant":
        raise BadRequestError(f"{where}.tool_calls: only assistant turns call tools")
    for j, call in enumerate(m.tool_calls or ()):
        _arguments(call.function.arguments, f"{where}.tool_calls[{j}].function.arguments")
        _name(call.function.name, f"{where}.tool_calls[{j}].function.name")
    if m.role == "tool" and not m.tool_call_id:
        raise BadRequestError(f"{where}.tool_call_id: a tool turn must name the call it answers")
    if m.role != "tool" and m.tool_call_id is not None:
        raise BadRequestError(f"{where}.tool_call_id: only tool turns answer a tool call")
    return m


def _content(value: object, role: str, where: str) -> str | tuple[ContentPart, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        encodable(value, where)
        return value
    if isinstance(value, bytes | bytearray | Mapping) or not isinstance(value, Sequence):
        raise BadRequestError(f"{where}: must be a string or a list of parts")
    if not value:
        raise BadRequestError(f"{where}: a list of parts must not be empty")
    parts: list[ContentPart] = []
    for j, part in enumerate(value):
        at = f"{where}[{j}]"
        if isinstance(part, TextPart | ImagePart):
            part = part.model_dump(exclude_none=True)
        if not isinstance(part, Mapping):
            raise BadRequestError(f"{at}: must be a part such as {{'type': 'text', 'text': …}}")
        kind = part.get("type")
        if kind == "text":
            _only(part, ("type", "text"), at)
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRequestError(f"{at}.text: must be a string")
            encodable(text, f"{at}.text")
            parts.append(built(TextPart, {"type": "text", "text": text}))
        elif kind == "image_url":
            if role != "user":
                raise BadRequestError(f"{at}: images only in user turns (this is {role})")
            _only(part, ("type", "image_url"), at)
            parts.append(_image_part(part.get("image_url"), f"{at}.image_url"))
        else:
            raise BadRequestError(f"{at}.type: must be text or image_url")
    return tuple(parts)


def _only(part: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    for k in part:
        if k not in allowed:
            raise BadRequestError(f"{where}.{show(k)}: unknown field")


def _image_part(value: object, where: str) -> ImagePart:
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{where}: must be {{'url': …, 'detail': …}}")
    _only(value, ("url", "detail"), where)
    url = value.get("url")
    if not isinstance(url, str):
        raise BadRequestError(f"{where}.url: must be an https:// or data: URL")
    _image_url(url, f"{where}.url")
    detail = value.get("detail")
    if detail is not None and detail not in _DETAILS:
        raise BadRequestError(f"{where}.detail: must be one of {', '.join(_DETAILS)}")
    return built(
        ImagePart,
        {"type": "image_url", "image_url": built(ImageURL, {"url": url, "detail": detail})},
    )


def _image_url(url: str, where: str) -> None:
    """An ``https://`` URL, or a ``data:image/<type>;base64,<data>`` URL with valid base64."""
    if url.startswith("https://") and len(url) > 8:
        if not url.isascii() or not url.isprintable() or " " in url:
            raise BadRequestError(f"{where}: an https URL must be printable ASCII (percent-encode)")
        return
    match = _DATA_URL.match(url)
    if match is None:
        raise BadRequestError(
            f"{where}: must be an https:// URL or a data:image/(png|jpeg|gif|webp);base64, URL"
        )
    data = url[match.end() :]
    try:
        if not data or not base64.b64decode(data, validate=True):
            raise ValueError
    except (ValueError, binascii.Error):
        raise BadRequestError(f"{where}: the data URL's payload is not valid base64") from None


def _name(value: object, where: str) -> None:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise BadRequestError(f"{where}: must be 1-64 letters, digits, '_' or '-'")


def _tool_calls(value: object, where: str) -> tuple[ToolCall, ...] | None:
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Sequence):
        raise BadRequestError(f"{where}: must be a list of tool calls")
    if not value:
        return None
    out: list[ToolCall] = []
    for j, call in enumerate(value):
        at = f"{where}[{j}]"
        if isinstance(call, ToolCall):
            call = call.model_dump()
        if not isinstance(call, Mapping):
            raise BadRequestError(f"{at}: must be {{'id', 'type': 'function', 'function'}}")
        _only(call, ("id", "type", "function"), at)
        cid = call.get("id")
        if not isinstance(cid, str) or not cid:
            raise BadRequestError(f"{at}.id: must be a non-empty string")
        encodable(cid, f"{at}.id")
        if call.get("type", "function") != "function":
            raise BadRequestError(f"{at}.type: must be function")
        fn = call.get("function")
        if not isinstance(fn, Mapping):
            raise BadRequestError(f"{at}.function: must be {{'name', 'arguments'}}")
        _only(fn, ("name", "arguments"), f"{at}.function")
        _name(fn.get("name"), f"{at}.function.name")
        arguments = fn.get("arguments")
        _arguments(arguments, f"{at}.function.arguments")
        assert isinstance(arguments, str)
        function = built(FunctionCall, {"name": fn["name"], "arguments": arguments})
        out.append(built(ToolCall, {"id": cid, "type": "function", "function": function}))
    return tuple(out)


def _arguments(value: object, where: str) -> None:
    """A tool call's arguments: a JSON object, as text."""
    if not isinstance(value, str):
        raise BadRequestError(f"{where}: must be a JSON object as a string")
    encodable(value, where)
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        decoded = None
    if not isinstance(decoded, dict):
        raise BadRequestError(f"{where}: must be a JSON object as a string")


def _check_tool_turns(messages: list[ChatMessage]) -> None:
    """Every tool turn answers a call of the assistant turn just before it (tool turns between
    are fine), and every call of an assistant turn is answered before the next other turn:
    the rule OpenAI enforces, and the one failover to another provider depends on."""
    pending: dict[str, int] = {}  # call id -> index of the assistant turn that made it
    calls_at = -1
    seen: set[str] = set()
    for i, m in enumerate(messages):
        if m.role == "tool":
            cid = m.tool_call_id or ""
            if cid not in pending:
                answered = " (already answered)" if cid in seen else ""
                raise BadRequestError(
                    f"messages[{i}].tool_call_id: {show(cid)} answers no tool call of the "
                    f"assistant turn before it{answered}"
                )
            del pending[cid]
            continue
        if pending:
            _unanswered(messages, calls_at, pending)
        if m.role == "assistant" and m.tool_calls:
            calls_at = i
            for j, call in enumerate(m.tool_calls):
                if call.id in pending or call.id in seen:
                    raise BadRequestError(
                        f"messages[{i}].tool_calls[{j}].id: {show(call.id)} is used twice"
                    )
                pending[call.id] = i
                seen.add(call.id)
    if pending:
        _unanswered(messages, calls_at, pending)


def _unanswered(messages: list[ChatMessage], at: int, pending: dict[str, int]) -> None:
    calls = messages[at].tool_calls or ()
    j = next(j for j, c in enumerate(calls) if c.id in pending)
    raise BadRequestError(
        f"messages[{at}].tool_calls[{j}].id: {show(calls[j].id)} has no tool turn answering it"
    )
