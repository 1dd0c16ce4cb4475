"""What a provider (or one of its models) can do: the ``capabilities`` config sections."""

from __future__ import annotations

from adaptive_mind.config._base import Frozen

CAPABILITIES: tuple[str, ...] = ("tools", "images", "json_object", "json_schema", "reasoning")
"""Every capability a request may need."""
SEMANTIC: frozenset[str] = frozenset({"tools", "images", "json_object", "json_schema"})
"""Capabilities a request cannot do without: a provider lacking one is skipped. The others
(``reasoning``) are best-effort: the parameter is dropped for that provider and the attempt
says so."""


class CapabilitiesConfig(Frozen):
    """Narrow or widen what a provider or model is declared to support; None keeps the default
    for its kind (every capability for openai, anthropic, gemini and scripted)."""

    tools: bool | None = None
    """Tool calling (``tools``, assistant ``tool_calls``, ``tool`` turns)."""
    images: bool | None = None
    """Image parts in user turns."""
    json_object: bool | None = None
    """``response_format: {"type": "json_object"}``."""
    json_schema: bool | None = None
    """``response_format: {"type": "json_schema", …}``."""
    reasoning: bool | None = None
    """``reasoning_effort`` (dropped, not skipped, where off: turn it off for models that reject
    it, such as non-reasoning OpenAI models)."""

    def apply(self, base: frozenset[str]) -> frozenset[str]:
        """``base`` with this section's explicit settings applied."""
        out = set(base)
        for name in CAPABILITIES:
            value = getattr(self, name)
            if value is True:
                out.add(name)
            elif value is False:
                out.discard(name)
        return frozenset(out)


KIND_CAPABILITIES: dict[str, frozenset[str]] = {
    "openai": frozenset(CAPABILITIES),
    "anthropic": frozenset(CAPABILITIES),
    "gemini": frozenset(CAPABILITIES),
    "scripted": frozenset(CAPABILITIES),
}
"""What each kind of provider supports by default (its current models do all of it)."""
