"""The ``scripted`` provider: an in-memory upstream for tests, drills and offline rehearsal.

It goes through exactly the same actors, classification and ledger as a real provider; only the
network call is simulated. Rules are matched in order and the first match wins; a rule with
``times`` is spent after that many matching calls. All state is touched only on the I/O loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from adaptive_mind.chat import ErrorCategory, FunctionCall, ToolCall, ToolSpec, Usage
from adaptive_mind.config import ProviderConfig, ScriptRule
from adaptive_mind.providers.base import CallFailure, CallRequest, CallResult, CallSuccess
from adaptive_mind.providers.base import category_for_status as _status_category
from adaptive_mind.providers.placeholder import placeholder
from adaptive_mind.providers.streams import StreamFailed
from adaptive_mind.streaming import StreamChunk, ToolCallDelta

_NAMED: dict[str, tuple[ErrorCategory, int | None, str]] = {
    "connection": (ErrorCategory.TRANSIENT, None, "connection error"),
    "refusal": (ErrorCategory.CONTENT_POLICY, 200, "refusal: the model declined to answer"),
    "content_policy": (ErrorCategory.CONTENT_POLICY, 400, "content_policy_violation"),
    "context_length": (ErrorCategory.MODEL, 400, "context_length_exceeded"),
}


def _last_user(call: CallRequest) -> str:
    for m in reversed(call.messages):
        if m.role == "user":
            return m.text
    return ""


def _tool_call(call: CallRequest, n: int) -> tuple[ToolCall, ...] | None:
    """The answer of a model that calls a tool when it is offered tools and the last turn is the
    user's (as the chaos server answers): one call to the forced tool, else the first, with
    schema-valid placeholder arguments."""
    p = call.params
    if not p.tools or p.tool_choice == "none" or call.messages[-1].role != "user":
        return None
    tool = next((t for t in p.tools if t.name == p.tool_choice_name), p.tools[0])
    cached = _arguments.get(id(tool))
    if cached is not None and cached[0] is tool:
        arguments = cached[1]
    else:
        if len(_arguments) > 256:
            _arguments.clear()
        arguments = json.dumps(placeholder(tool.schema()))
        _arguments[id(tool)] = (tool, arguments)
    function = FunctionCall.model_construct(name=tool.name, arguments=arguments)
    return (ToolCall.model_construct(id=f"call_{n}", type="function", function=function),)


_arguments: dict[int, tuple[ToolSpec, str]] = {}
"""Placeholder arguments per tool (validated tool specs are shared, so this is a cache hit)."""


@dataclass(slots=True)
class _Rule:
    spec: ScriptRule
    key_secret: str | None
    used: int = 0


class ScriptedAdapter:
    """Answers calls from configured rules."""

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self._name = name
        self._latency_s = config.latency_ms / 1000.0
        ids = config.key_ids(name)
        self._secret_of = {
            kid: k.secret.get_secret_value() for kid, k in zip(ids, config.api_keys, strict=True)
        }
        self._rules = [
            _Rule(r, r.key.get_secret_value() if r.key is not None else None)
            for r in config.responses
        ]
        self.calls = 0
        """Calls received (for tests and drills)."""
        self.calls_by_key: Counter[str] = Counter()
        """Calls received per key id."""
        self.last_call: CallRequest | None = None
        """The last call received (for tests)."""
        self.text = config.text
        """The text of a successful answer (None: a default naming provider and model)."""

    def _match(self, call: CallRequest) -> ScriptRule | None:
        secret = self._secret_of.get(call.key_id)
        for rule in self._rules:
            spec = rule.spec
            if spec.times is not None and rule.used >= spec.times:
                continue
            if rule.key_secret is not None and rule.key_secret not in (call.key_id, secret):
                continue
            if spec.model is not None and spec.model != call.model:
                continue
            if spec.prompt is not None and spec.prompt not in _last_user(call):
                continue
            rule.used += 1
            return spec
        return None

    async def complete(self, call: CallRequest) -> CallResult:
        self.calls += 1
        self.calls_by_key[call.key_id] += 1
        self.last_call = call
        rule = self._match(call)
        latency = self._latency_s
        if rule is not None and rule.latency_ms is not None:
            latency = rule.latency_ms / 1000.0
        if latency > 0:
            await asyncio.sleep(latency)
        if rule is None or rule.fail is None:
            text = (rule.text if rule is not None else None) or self.text
            called = _tool_call(call, self.calls) if text is None else None
            if called is not None:
                words = sum(len(m.text.split()) for m in call.messages)
                usage = Usage(prompt_tokens=words, completion_tokens=1, total_tokens=words + 1)
                return CallSuccess("", call.model, usage, "tool_calls", "tool_calls", None, called)
            if text is None and call.params.json_mode is not None:
                text = json.dumps(placeholder(call.params.json_schema))  # a JSON request
            text = text or f"ok from {self._name}/{call.model}"
            words = sum(len(m.text.split()) for m in call.messages)
            usage = Usage(
                prompt_tokens=words,
                completion_tokens=len(text.split()),
                total_tokens=words + len(text.split()),
            )
            return CallSuccess(text=text, model=call.model, usage=usage)
        fail = rule.fail
        if fail == "timeout":
            await asyncio.Event().wait()  # hang: the attempt timeout cuts it
            raise AssertionError("unreachable")
        if isinstance(fail, str):
            category, status, error = _NAMED[fail]
            return CallFailure(category, error, status, rule.retry_after_s)
        return CallFailure(_status_category(fail), f"HTTP {fail}", fail, rule.retry_after_s)

    async def stream(self, call: CallRequest) -> AsyncIterator[StreamChunk]:
        """The answer :meth:`complete` would give, word by word (tool calls whole), then the
        last chunk; a failure raises :class:`StreamFailed` before any chunk. (Mid-stream
        faults are the chaos server's: the scripted provider has none yet.)"""
        result = await self.complete(call)
        if isinstance(result, CallFailure):
            raise StreamFailed(result)
        for piece in re.findall(r"\s*\S+|\s+$", result.text):
            yield StreamChunk(text=piece)
        for i, c in enumerate(result.tool_calls):
            delta = ToolCallDelta(i, c.id, c.function.name, c.function.arguments)
            yield StreamChunk(tool_calls=(delta,))
        yield StreamChunk(
            finish_reason=result.finish_reason,
            usage=result.usage,
            upstream_finish_reason=result.upstream_finish_reason,
        )

    async def aclose(self) -> None:
        return None
