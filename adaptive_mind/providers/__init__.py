"""Provider adapters: plain async classes that make one upstream call and classify its outcome."""

from adaptive_mind.providers.base import (
    CallFailure,
    CallRequest,
    CallResult,
    CallSuccess,
    ProviderAdapter,
)
from adaptive_mind.providers.factory import build_adapter

__all__ = [
    "CallFailure",
    "CallRequest",
    "CallResult",
    "CallSuccess",
    "ProviderAdapter",
    "build_adapter",
]
