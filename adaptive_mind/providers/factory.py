"""Build the adapter for a configured provider."""

from __future__ import annotations

from adaptive_mind.config import ProviderConfig
from adaptive_mind.providers.base import ProviderAdapter
from adaptive_mind.providers.scripted import ScriptedAdapter


def build_adapter(name: str, config: ProviderConfig) -> ProviderAdapter:
    """Create the adapter for ``config.kind`` (clients are created here, once per key)."""
    if config.kind == "scripted":
        return ScriptedAdapter(name, config)
    raise NotImplementedError(f"providers.{name}.kind: {config.kind} adapter not available yet")
