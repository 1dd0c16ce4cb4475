"""Build the adapter for a configured provider."""

from __future__ import annotations

from collections.abc import Iterable

from adaptive_mind.config import ProviderConfig
from adaptive_mind.providers.base import ProviderAdapter
from adaptive_mind.providers.scripted import ScriptedAdapter


def build_adapter(
    name: str, config: ProviderConfig, *, other_secrets: Iterable[str] = ()
) -> ProviderAdapter:
    """Create the adapter for ``config.kind`` (clients are created here, once per key).

    SDKs are imported only when a provider of their kind is configured, so a scripted-only
    system starts fast. A real adapter redacts its own keys and ``other_secrets`` (give it
    every configured secret) from every text it hands on.
    """
    if config.kind == "scripted":
        return ScriptedAdapter(name, config)
    if config.kind == "openai":
        from adaptive_mind.providers.openai import OpenAIAdapter

        return OpenAIAdapter(name, config, other_secrets=other_secrets)
    if config.kind == "anthropic":
        from adaptive_mind.providers.anthropic import AnthropicAdapter

        return AnthropicAdapter(name, config, other_secrets=other_secrets)
    from adaptive_mind.providers.gemini import GeminiAdapter

    return GeminiAdapter(name, config, other_secrets=other_secrets)
