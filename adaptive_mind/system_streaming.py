"""``ActorSystem.astream`` and ``ActorSystem.stream``: the same request as ``acomplete``, answered
chunk by chunk (see :mod:`adaptive_mind.system_stream` for what the caller gets back).

A streamed request is admitted, walked and recorded exactly like ``acomplete``'s: the same keys,
models, providers, breakers and budgets before the first chunk, one reply and one ledger entry at
its end. Its chunks travel through the request's
:class:`~adaptive_mind.stream_channel.StreamChannel`, bounded by ``streaming.buffer_chunks``; it
counts against ``request.max_in_flight`` until it ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from adaptive_mind.admission_gate import GatedStreamReply
from adaptive_mind.chat import PARAM_NAMES
from adaptive_mind.errors import BadRequestError
from adaptive_mind.messages.request import Result
from adaptive_mind.messages.supervision import AbandonRequest
from adaptive_mind.stream_channel import INTERRUPT_POLICIES, InterruptPolicy, StreamChannel
from adaptive_mind.system_admission import Admission
from adaptive_mind.system_stream import ChatStream, SyncChatStream

if TYPE_CHECKING:
    from adaptive_mind.messages import RequestSpec

_ACCEPTED = frozenset((*PARAM_NAMES, "extra"))


@dataclass(frozen=True, slots=True)
class StreamReply:
    """A streamed request's reply channel: its answer ends the stream."""

    channel: StreamChannel

    def deliver(self, result: Result) -> None:
        self.channel.finish(result)

    def is_open(self) -> bool:
        return self.channel.result is None and not self.channel.closed


class Streaming(Admission):
    """The streaming half of the facade (mixed into :class:`~adaptive_mind.ActorSystem`)."""

    if TYPE_CHECKING:

        def _not_from_subscriber(self, method: str) -> None: ...

        def _not_on_own_loop(self, method: str, instead: str) -> None: ...

    def astream(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        deadline_s: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        stream_policy: InterruptPolicy | None = None,
        **params: Any,
    ) -> ChatStream:
        """Answer a chat request as a stream of chunks: ``async with`` / ``async for`` it.

        Takes every argument :meth:`acomplete` takes (the generation parameters by the same
        names), plus ``stream_policy`` (``resume`` / ``restart`` / ``error``; default
        ``request.stream_policy``): what happens when a stream breaks after content has flowed.
        Invalid arguments raise :class:`BadRequestError` here, before any upstream call.
        """
        self._not_from_subscriber("astream")
        spec, channel = self._stream_request(
            messages, providers, models, deadline_s, metadata, stream_policy, params
        )
        admitted = self._admit(spec, StreamReply(channel), stream=True)
        assert isinstance(admitted, GatedStreamReply)
        return ChatStream(spec.request_id, channel, self._io.loop, self._close_stream, admitted)

    def stream(
        self,
        messages: Sequence[Any],
        *,
        providers: Sequence[str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        deadline_s: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        stream_policy: InterruptPolicy | None = None,
        **params: Any,
    ) -> SyncChatStream:
        """The blocking twin of :meth:`astream`: ``with`` / ``for`` it."""
        self._not_from_subscriber("stream")
        self._not_on_own_loop("stream", "astream")
        spec, channel = self._stream_request(
            messages, providers, models, deadline_s, metadata, stream_policy, params
        )
        admitted = self._admit(spec, StreamReply(channel), stream=True)
        assert isinstance(admitted, GatedStreamReply)
        return SyncChatStream(spec.request_id, channel, self._io.loop, self._close_stream, admitted)

    def _stream_request(
        self,
        messages: Sequence[Any],
        providers: Sequence[str] | None,
        models: Mapping[str, Sequence[str]] | None,
        deadline_s: float | None,
        metadata: Mapping[str, Any] | None,
        stream_policy: str | None,
        params: dict[str, Any],
    ) -> tuple[RequestSpec, StreamChannel]:
        unknown = sorted(set(params) - _ACCEPTED)
        if unknown:
            raise BadRequestError(f"{unknown[0]}: not a parameter of astream / stream")
        if stream_policy is not None and stream_policy not in INTERRUPT_POLICIES:
            raise BadRequestError(
                f"stream_policy: must be one of {', '.join(INTERRUPT_POLICIES)}, got "
                f"{stream_policy!r}"
            )
        cfg = self.config.streaming
        policy: InterruptPolicy = stream_policy or self.config.request.stream_policy
        given = {k: v for k, v in params.items() if v is not None}
        spec = self._build(messages, providers, models, deadline_s, metadata, params=given or None)
        channel = StreamChannel(policy, cfg.buffer_chunks, self.clock)
        return dataclasses.replace(spec, stream=channel), channel

    def _close_stream(self, request_id: str) -> None:
        """The caller left a stream before its end (never blocks: a tell)."""
        try:
            self._supervisor.tell(AbandonRequest(request_id, stream_closed=True))
        except pykka.ActorDeadError:
            pass
