"""The pieces every config section shares: frozen models and rule errors naming the field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FieldRuleError(ValueError):
    """Raised by model validators: ``field`` (relative dotted path) breaks ``rule``."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class Frozen(BaseModel):
    """A frozen model that rejects unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
