"""The adapter protocol and the values an upstream call produces.

An adapter makes exactly one upstream call per :meth:`ProviderAdapter.complete` and translates
every outcome — success, refusal inside a success, SDK exception — into a :class:`CallResult` in
one place. It never retries; the runtime owns retry policy.

A failure that happens on this side before anything is sent (text that cannot be encoded, caught
by :func:`run_guarded` before the adapter runs, or an SDK's ``UnicodeEncodeError``) is a
``local`` :class:`CallFailure`: it says nothing about the key or the provider, so neither the
key pool nor the breaker hears of it.

A JSON request (``response_format`` ``json_object`` / ``json_schema``) answered with text that
does not decode to JSON is an ``invalid_output`` :class:`CallFailure` (checked by
:func:`run_guarded` after the adapter returns): the key and the provider's servers did their job,
so it is neutral for both, and the walk moves on to the next provider.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Protocol

import aiohttp
import jsonschema

from adaptive_mind.chat import (
    NO_PARAMS,
    ChatMessage,
    ErrorCategory,
    FinishReason,
    RequestParams,
    ToolCall,
    Usage,
    encodes_as_utf8,
)
from adaptive_mind.records import record
from adaptive_mind.streaming import StreamChunk


@record
class CallRequest:
    """One upstream call."""

    messages: tuple[ChatMessage, ...]
    model: str
    key_id: str
    timeout_s: float
    """This attempt's budget: min(provider timeout, time left before the request's deadline)."""
    params: RequestParams = NO_PARAMS
    """The request's generation parameters (shared with the request, never copied)."""


@record
class CallSuccess:
    """The provider answered with text."""

    text: str
    model: str
    usage: Usage
    finish_reason: FinishReason = "stop"
    """Normalised: ``stop``, ``length``, ``tool_calls`` or ``content_filter``."""
    upstream_finish_reason: str | None = None
    """The provider's own word for it."""
    parsed: Any = None
    """The decoded JSON answer of a JSON request (set by :func:`run_guarded`), else None."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the model called, OpenAI shape (ids as the provider gave them, or made up)."""


@record
class CallFailure:
    """The call failed (or was refused); ``category`` says what that means."""

    category: ErrorCategory
    error: str
    """Short, secret-free description."""
    status_code: int | None = None
    retry_after_s: float | None = None
    timed_out: bool = False
    """The attempt's timeout cut the call."""
    local: bool = False
    """It failed here, before any byte reached the upstream (text that cannot be encoded, an
    SDK refusing its arguments): no evidence about the key or the provider's servers."""
    invalid_output: bool = False
    """A 200 whose text is not the JSON the request asked for: no evidence about the key or the
    provider's servers either; another provider may do better."""
    mid_stream: bool = False
    """A stream broke after delivering part of the answer (see :mod:`.streams`)."""


CallResult = CallSuccess | CallFailure


def dropped_params(
    adapter: object, params: RequestParams, messages: tuple[ChatMessage, ...] = ()
) -> tuple[str, ...]:
    """The parameters ``params`` sets that ``adapter`` leaves out: its ``unsupported_params``,
    and what its ``dropped_for(params, messages)`` says it leaves out of this call.

    Best-effort parameters a provider lacks (Anthropic has no ``seed``) are dropped, not
    refused; the attempt records which. Some are dropped only for some requests (Anthropic
    cannot think while a tool is forced).
    """
    if params is NO_PARAMS:
        return ()
    unsupported: frozenset[str] = getattr(adapter, "unsupported_params", frozenset())
    out = tuple(name for name in params.present() if name in unsupported) if unsupported else ()
    dropped_for = getattr(adapter, "dropped_for", None)
    if dropped_for is not None:
        out += tuple(n for n in dropped_for(params, messages) if n not in out)
    return out


def translated_params(adapter: object, params: RequestParams) -> tuple[str, ...]:
    """The parameters ``adapter`` carries some other way than its own field (its
    ``translations(params)``, e.g. Anthropic's ``"response_format→system"``)."""
    translations = getattr(adapter, "translations", None)
    if translations is None or params is NO_PARAMS:
        return ()
    out: tuple[str, ...] = translations(params)
    return out


def decode_json(result: CallSuccess, params: RequestParams) -> CallResult:
    """``result`` with its decoded JSON answer when ``params`` asks for JSON, or an
    ``invalid_output`` failure when the text is not a JSON object (``json_object``), not a JSON
    object or array (``json_schema``), or, for a ``strict`` ``json_schema``, does not match the
    schema. A Markdown code fence around the JSON is tolerated. An answer that only calls tools
    is not checked (it has no text to decode)."""
    mode = params.json_mode
    if mode is None or (result.tool_calls and not result.text.strip()):
        return result
    text = result.text.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        text = text[3:-3]
        text = text[4:] if text[:4].lower() == "json" else text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = _NOT_JSON
    wanted = dict if mode == "json_object" else (dict, list)
    if not isinstance(value, wanted):
        what = "a JSON object" if mode == "json_object" else "a JSON object or array"
        return _invalid(f"invalid JSON: the {mode} answer is not {what}")
    problem = schema_mismatch(value, params)
    if problem is not None:
        return _invalid(f"invalid JSON: the answer does not match the strict schema ({problem})")
    return replace(result, parsed=value)


def _invalid(error: str) -> CallFailure:
    return CallFailure(ErrorCategory.TRANSIENT, error, 200, invalid_output=True)


_validators: dict[str, Any] = {}


def schema_mismatch(value: Any, params: RequestParams) -> str | None:
    """Where ``value`` breaks the request's ``strict`` JSON schema (None: it does not, or the
    schema is not strict). Validators are compiled once per schema."""
    fmt = params.response_format
    spec = fmt.get("json_schema") if fmt is not None else None
    if spec is None or spec.get("strict") is not True:
        return None
    key = json.dumps(spec["schema"], sort_keys=True, default=dict)
    validator = _validators.get(key)
    if validator is None:
        if len(_validators) >= 256:
            _validators.clear()
        validator = jsonschema.Draft202012Validator(json.loads(key))
        _validators[key] = validator
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the root"
    return f"at {where}: {error.validator} failed"


_NOT_JSON = object()


class ProviderAdapter(Protocol):
    """A provider behind one interface; runs on the system's I/O loop."""

    async def complete(self, call: CallRequest) -> CallResult:
        """Make one upstream call and classify its outcome. Never raises for upstream errors."""
        ...

    def stream(self, call: CallRequest) -> AsyncIterator[StreamChunk]:
        """Make one streamed upstream call: chunks, the last one with the finish reason.

        Raises:
            StreamFailed: nothing was delivered (classified as :meth:`complete` would).
            StreamInterrupted: the stream broke after delivering chunks.
        Closing the iterator (or cancelling a pending ``__anext__``) closes the upstream
        response. See :mod:`adaptive_mind.providers.streams`.
        """
        ...

    async def aclose(self) -> None:
        """Close clients; called once on stop."""
        ...


def category_for_status(status: int) -> ErrorCategory:
    """The generic status table shared by the scripted provider and adapters' fallbacks."""
    if status in (408, 409, 429) or status >= 500:
        return ErrorCategory.TRANSIENT
    if status in (401, 402, 403):
        return ErrorCategory.KEY_FATAL
    if status == 404:
        return ErrorCategory.MODEL
    if status in (400, 413, 422):
        return ErrorCategory.BAD_REQUEST
    return ErrorCategory.UNKNOWN


def failure_for_status(status: int, text: str, retry_after_s: float | None) -> CallFailure:
    """The generic classification of an HTTP error; Retry-After only matters when transient."""
    category = category_for_status(status)
    return CallFailure(
        category, text, status, retry_after_s if category is ErrorCategory.TRANSIENT else None
    )


def transport_failure(exc: BaseException, timeout: type, connection: type) -> CallFailure | None:
    """Timeouts and dropped connections, from an SDK's own exception types (None: neither).

    An SDK timeout whose cause chain is a dropped connection with no timeout in it is a dropped
    connection, not a timeout: OpenAI's aiohttp transport reports every aiohttp connection error,
    a TCP reset or a server closing before any header included, as ``httpx.ConnectTimeout``.
    """
    chain = _causes(exc)
    if isinstance(exc, timeout) and not _dropped_without_timeout(chain):
        return CallFailure(ErrorCategory.TRANSIENT, "request timed out", timed_out=True)
    if isinstance(exc, timeout | connection):
        return CallFailure(
            ErrorCategory.TRANSIENT, f"connection error ({type(chain[-1]).__name__})"
        )
    return None


def local_failure(exc: BaseException) -> CallFailure | None:
    """A failure raised on this side before the request was sent (None: not known to be).

    Encoding is the one step that only ever runs on outgoing data, so a ``UnicodeEncodeError``
    anywhere in the cause chain (the SDK encoding a body or a header) means nothing was sent.
    """
    for e in _causes(exc):
        if isinstance(e, UnicodeEncodeError):
            return CallFailure(
                ErrorCategory.UNKNOWN, f"local {type(e).__name__}: request not sent", local=True
            )
    return None


def unencodable(call: CallRequest) -> CallFailure | None:
    """A call whose text cannot be sent as UTF-8 (a lone surrogate): refused before any adapter
    runs, as a bad request that blames no key and no breaker."""
    for i, m in enumerate(call.messages):
        if not encodes_as_utf8(m.text) or not all(
            encodes_as_utf8(c.function.arguments) for c in m.tool_calls or ()
        ):
            return CallFailure(
                ErrorCategory.BAD_REQUEST,
                f"messages[{i}].content: text that cannot be encoded as UTF-8",
                local=True,
            )
    if not encodes_as_utf8(call.model):
        return CallFailure(
            ErrorCategory.BAD_REQUEST, "model: a name that cannot be encoded as UTF-8", local=True
        )
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its explicit causes (``raise … from``), outermost first."""
    chain = [exc]
    while (cause := chain[-1].__cause__) is not None and cause not in chain and len(chain) < 16:
        chain.append(cause)
    return chain


def _dropped_without_timeout(chain: list[BaseException]) -> bool:
    """Whether the chain holds a lost connection (reset, refused, closed) and no timeout.

    ``TimeoutError`` covers asyncio's and aiohttp's timeouts (``ServerTimeoutError`` and its
    ``SocketTimeoutError`` / ``ConnectionTimeoutError`` subclass it); ``OSError`` covers
    ``ConnectionResetError`` and aiohttp's ``ClientOSError``.
    """
    if any(isinstance(e, TimeoutError) for e in chain):
        return False
    return any(isinstance(e, OSError | aiohttp.ClientConnectionError) for e in chain)


async def run_guarded(adapter: ProviderAdapter, call: CallRequest) -> CallResult:
    """Run one call under its timeout; nothing an adapter raises escapes (it becomes UNKNOWN,
    or a local failure when it was raised before anything was sent).

    Raises:
        asyncio.CancelledError: only when the caller cancelled the call (not a failure).
    """
    refused = unencodable(call)
    if refused is not None:
        return refused
    try:
        async with asyncio.timeout(call.timeout_s):
            result = await adapter.complete(call)
        if isinstance(result, CallSuccess):
            return decode_json(result, call.params)
        return result
    except TimeoutError:
        return CallFailure(
            ErrorCategory.TRANSIENT, f"timed out after {call.timeout_s:.3g}s", timed_out=True
        )
    except Exception as exc:  # an adapter bug or an unexpected SDK error: never escapes
        local = local_failure(exc)
        if local is not None:
            return local
        return CallFailure(ErrorCategory.UNKNOWN, f"unexpected {type(exc).__name__}")
