"""What one provider's calls look like: the request as a model takes it, the call to send, and
the record of an attempt. Plain functions of the provider's adapter and capabilities, kept out of
:class:`~adaptive_mind.actors.provider.ProviderActor` so the actor is only the interpreter of
its walk engine."""

from __future__ import annotations

from collections.abc import Callable

from adaptive_mind.chat import Attempt, RequestParams
from adaptive_mind.core import walk_actions as pw
from adaptive_mind.core.capabilities import params_for
from adaptive_mind.core.key_budget import estimate_tokens
from adaptive_mind.messages import RequestSpec, TryProvider
from adaptive_mind.providers.base import (
    CallRequest,
    ProviderAdapter,
    dropped_params,
    translated_params,
)


class ProviderCalls:
    """Builds calls and attempt records for one provider."""

    def __init__(
        self,
        provider: str,
        adapter: ProviderAdapter,
        capabilities_of: Callable[[str], frozenset[str]] | None,
    ) -> None:
        self._provider = provider
        self._adapter = adapter
        self._capabilities_of = capabilities_of

    def call(self, action: pw.StartCall[TryProvider]) -> CallRequest:
        """The upstream call an engine's ``StartCall`` asks for."""
        request = action.context.request
        return CallRequest(
            messages=request.messages,
            model=action.model,
            key_id=action.key_id,
            timeout_s=action.timeout_s,
            params=self.params_for(request.params, action.model),
        )

    def attempt(
        self,
        request: RequestSpec,
        action: pw.Succeeded[TryProvider] | pw.AttemptFailed[TryProvider],
        failure: pw.Failure | None,
    ) -> Attempt:
        """The attempt's record (``failure`` None: it answered)."""
        return Attempt(
            provider=self._provider,
            model=action.model,
            key_id=action.key_id,
            category=None if failure is None else failure.category,
            status_code=None if failure is None else failure.status_code,
            error="" if failure is None else failure.error,
            latency_ms=action.latency_ms,
            dropped=self.dropped(request, action.model),
            translated=translated_params(self._adapter, request.params),
        )

    @staticmethod
    def estimate(request: RequestSpec) -> int:
        """The request's token reservation for a key's tpm budget."""
        chars = sum(len(m.text) for m in request.messages)
        return estimate_tokens(chars, request.params.output_limit)

    def params_for(self, params: RequestParams, model: str) -> RequestParams:
        """The request's parameters as this model takes them (best-effort ones it lacks left
        out: ``reasoning_effort`` for a model that does not reason)."""
        if params.reasoning_effort is None or self._capabilities_of is None:
            return params
        return params_for(params, self._capabilities_of(model))

    def dropped(self, request: RequestSpec, model: str) -> tuple[str, ...]:
        """The parameters set on the request that this attempt left out."""
        params = request.params
        dropped = dropped_params(self._adapter, params, request.messages)
        if (
            params.reasoning_effort is not None
            and "reasoning_effort" not in dropped
            and self.params_for(params, model).reasoning_effort is None
        ):
            dropped = (*dropped, "reasoning_effort")
        return dropped
