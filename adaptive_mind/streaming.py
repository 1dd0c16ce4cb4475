"""Provider-neutral pieces of a streamed answer, and putting them back together.

An adapter's ``stream()`` yields :class:`StreamChunk` values: text deltas, tool-call deltas
(OpenAI's shape: an ``index`` per call, its ``id`` and ``name`` once, then pieces of its
``arguments``), and exactly one last chunk with ``finish_reason`` (normalised: ``stop``,
``length``, ``tool_calls``, ``content_filter``) and the usage when the provider reports it. A
stream that ends any other way is not an answer: the adapter raises instead (see
:mod:`adaptive_mind.providers.streams`).

:class:`StreamAssembler` folds chunks back into the text, tool calls, finish reason and usage a
non-streamed call would have returned; it is pure (no I/O), so the walk that resumes a broken
stream and the tests use the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adaptive_mind.chat import FinishReason, FunctionCall, ToolCall, Usage


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call."""

    index: int
    """Which call of the answer this piece belongs to (0, 1, … in the order they started)."""
    id: str | None = None
    """The call's id, on its first piece only."""
    name: str | None = None
    """The function's name, on its first piece only."""
    arguments: str = ""
    """The next piece of the arguments' JSON text (concatenate the pieces)."""


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One step of a streamed answer."""

    text: str = ""
    """The next piece of the answer's text (possibly "")."""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    """Pieces of tool calls."""
    finish_reason: FinishReason | None = None
    """None until the last chunk; then ``stop``, ``length``, ``tool_calls`` or
    ``content_filter``."""
    usage: Usage | None = None
    """On the last chunk, when the provider reports it."""
    upstream_finish_reason: str | None = None
    """The provider's own word for the finish (last chunk only)."""
    restart: bool = False
    """Set by the runtime (never by an adapter) when earlier deltas are void: the answer starts
    over from this chunk on another route."""


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamAssembler:
    """The answer so far, from the chunks seen (add them in order)."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, _Call] = {}
        self.chunks = 0
        """Chunks added."""
        self.finish_reason: FinishReason | None = None
        self.upstream_finish_reason: str | None = None
        self.usage: Usage | None = None

    def add(self, chunk: StreamChunk) -> None:
        """Fold in the next chunk."""
        self.chunks += 1
        if chunk.text:
            self._text.append(chunk.text)
        for d in chunk.tool_calls:
            call = self._calls.setdefault(d.index, _Call())
            if d.id:
                call.id = d.id
            if d.name:
                call.name = d.name
            if d.arguments:
                call.arguments.append(d.arguments)
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
            self.upstream_finish_reason = chunk.upstream_finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._text)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls received so far (arguments possibly incomplete), by index."""
        return tuple(
            ToolCall(
                id=c.id, function=FunctionCall(name=c.name, arguments="".join(c.arguments) or "{}")
            )
            for _, c in sorted(self._calls.items())
        )

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._calls)
