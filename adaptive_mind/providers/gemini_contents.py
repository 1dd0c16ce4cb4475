"""The canonical (OpenAI-shaped) request in Gemini's typed objects, and Gemini's answer parts back.

Pure functions over ``google.genai.types``; the adapter (:mod:`.gemini`) only calls them.

Turns: ``system`` and ``developer`` turns → ``system_instruction`` (their text joined "\\n\\n");
``user`` → role ``user``; ``assistant`` → role ``model`` with a text part (when it has text) and
a ``function_call`` part per tool call (our id as is, name, the parsed arguments); ``tool`` →
role ``user`` with a ``function_response`` part (our id, the function's NAME — found from the
earlier assistant tool call with that id — and ``{"result": <text>}``, or the parsed object when
the text is a JSON object). Consecutive turns of one role merge into one ``Content`` (tool
results and the user turn right after them travel together). A turn's ``name`` has no Gemini
field: ignored.

Images: a ``data:<mime>;base64,…`` URL → ``inline_data`` (the decoded bytes); an ``https`` URL →
``file_data`` with the MIME type guessed from the path's extension (``image/jpeg`` when unknown);
``detail`` has no field.

Tools → one ``Tool`` of ``FunctionDeclaration`` (the raw JSON schema as
``parameters_json_schema``; ``strict`` has no field). ``tool_choice`` → ``FunctionCallingConfig``
mode ``AUTO`` / ``NONE`` / ``ANY`` (``allowed_function_names`` = the forced function).
``reasoning_effort`` → ``ThinkingConfig(thinking_budget=…)``: low 1024, medium 8192, high 24576.

Answers: ``function_call`` parts → :class:`ToolCall` (the id, or ``call_<24 hex>`` made up when
Gemini gave none; the args as JSON text); text parts marked ``thought`` are not answer text.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from google.genai import types

from adaptive_mind.chat import (
    ChatMessage,
    FunctionCall,
    ImagePart,
    RequestParams,
    TextPart,
    ToolCall,
)

THINKING_BUDGET: dict[str, int] = {"low": 1024, "medium": 8192, "high": 24576}
"""``reasoning_effort`` → Gemini's ``thinking_budget`` (tokens)."""
DEFAULT_IMAGE_MIME = "image/jpeg"
_MODES: dict[str, types.FunctionCallingConfigMode] = {
    "auto": types.FunctionCallingConfigMode.AUTO,
    "none": types.FunctionCallingConfigMode.NONE,
    "required": types.FunctionCallingConfigMode.ANY,
}


def system_instruction(messages: Iterable[ChatMessage]) -> str | None:
    """The ``system`` and ``developer`` turns' text, joined by a blank line (None: none)."""
    text = "\n\n".join(m.text for m in messages if m.role in ("system", "developer"))
    return text or None


def contents(messages: Sequence[ChatMessage]) -> list[types.Content]:
    """Every turn but system / developer as Gemini ``Content``, same-role neighbours merged."""
    names = {call.id: call.function.name for m in messages if m.tool_calls for call in m.tool_calls}
    out: list[types.Content] = []
    for m in messages:
        if m.role in ("system", "developer"):
            continue
        role = "model" if m.role == "assistant" else "user"
        parts = _parts(m, names)
        last = out[-1] if out else None
        if last is not None and last.role == role and last.parts is not None:
            last.parts.extend(parts)
        else:
            out.append(types.Content(role=role, parts=parts))
    return out


def _parts(m: ChatMessage, names: dict[str, str]) -> list[types.Part]:
    if m.role == "tool":
        call_id = m.tool_call_id or ""
        return [
            types.Part(
                function_response=types.FunctionResponse(
                    id=call_id or None,
                    name=names.get(call_id) or m.name or "function",
                    response=tool_response(m.text),
                )
            )
        ]
    if m.role == "assistant":
        parts = [types.Part(text=m.text)] if m.text or not m.tool_calls else []
        parts.extend(types.Part(function_call=function_call(c)) for c in m.tool_calls or ())
        return parts
    if m.content is None or isinstance(m.content, str):
        return [types.Part(text=m.content or "")]
    parts = [_part(p) for p in m.content if not (isinstance(p, TextPart) and not p.text)]
    return parts or [types.Part(text="")]


def _part(p: TextPart | ImagePart) -> types.Part:
    if isinstance(p, TextPart):
        return types.Part(text=p.text)
    return image_part(p.image_url.url)


def function_call(call: ToolCall) -> types.FunctionCall:
    """One assistant tool call as Gemini's ``function_call`` (our id carried as is)."""
    try:
        args = json.loads(call.function.arguments)
    except ValueError:
        args = None
    if not isinstance(args, dict):  # admission guarantees an object; never send a non-object
        args = {}
    return types.FunctionCall(id=call.id, name=call.function.name, args=args)


def tool_response(text: str) -> dict[str, Any]:
    """A tool turn's text as ``function_response.response``: the object itself when the text is
    a JSON object, else ``{"result": text}``."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    return value if isinstance(value, dict) else {"result": text}


def image_part(url: str) -> types.Part:
    """A data: URL as ``inline_data`` bytes, any other URL as ``file_data`` by reference.

    Raises:
        ValueError: a data: URL whose payload is not base64 (standard or URL-safe alphabet).
    """
    if url.startswith("data:"):
        head, _, data = url[5:].partition(",")
        mime = head.split(";", 1)[0] or DEFAULT_IMAGE_MIME
        data = data.strip().replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
        except binascii.Error:
            raise ValueError("an image data: URL whose data is not base64") from None
        return types.Part(inline_data=types.Blob(mime_type=mime, data=raw))
    return types.Part(file_data=types.FileData(file_uri=url, mime_type=guess_image_mime(url)))


def guess_image_mime(url: str) -> str:
    """The image MIME type of a URL's path extension (``image/jpeg`` when it says nothing)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else DEFAULT_IMAGE_MIME


def tools(params: RequestParams) -> list[types.Tool] | None:
    """The request's functions as one Gemini ``Tool`` (None: no tools)."""
    if not params.tools:
        return None
    declarations = [
        types.FunctionDeclaration(
            name=spec.name, description=spec.description, parameters_json_schema=spec.schema()
        )
        for spec in params.tools
    ]
    return [types.Tool(function_declarations=declarations)]


def tool_config(params: RequestParams) -> types.ToolConfig | None:
    """``tool_choice`` as a ``ToolConfig`` (None: unset, Gemini's default AUTO applies)."""
    if params.tool_choice is None and params.tool_choice_name is None:
        return None
    forced = params.tool_choice_name
    mode = _MODES["required"] if forced is not None else _MODES[params.tool_choice or "auto"]
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=mode, allowed_function_names=[forced] if forced is not None else None
        )
    )


def thinking_config(params: RequestParams) -> types.ThinkingConfig | None:
    """``reasoning_effort`` as a thinking budget (None: unset)."""
    if params.reasoning_effort is None:
        return None
    return types.ThinkingConfig(thinking_budget=THINKING_BUDGET[params.reasoning_effort])


def answer_text(parts: Iterable[types.Part]) -> str:
    """The answer's text: every text part but the model's thoughts."""
    return "".join(p.text or "" for p in parts if not p.thought)


def answer_tool_calls(parts: Iterable[types.Part]) -> tuple[ToolCall, ...]:
    """The answer's ``function_call`` parts as tool calls (an id made up when there is none)."""
    calls = []
    for p in parts:
        fc = p.function_call
        if fc is None:
            continue
        calls.append(
            ToolCall(
                id=fc.id or new_call_id(),
                function=FunctionCall(name=fc.name or "", arguments=json.dumps(fc.args or {})),
            )
        )
    return tuple(calls)


def new_call_id() -> str:
    """A tool-call id for a Gemini function call that came without one."""
    return "call_" + uuid.uuid4().hex[:24]
