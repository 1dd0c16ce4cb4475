"""The pieces every config section shares: frozen models and rule errors naming the field."""

from __future__ import annotations

import functools
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class FieldRuleError(ValueError):
    """Raised by model validators: ``field`` (relative dotted path) breaks ``rule``."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class Frozen(BaseModel):
    """A frozen model that rejects unknown fields, non-finite numbers (``inf``, ``nan``) and
    ``true`` / ``false`` where a number is expected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v: object, info: ValidationInfo) -> object:
        # pydantic's lax mode reads True as 1; strict ints would refuse "5" from ${ENV} too.
        if isinstance(v, bool) and info.field_name in _numeric_fields(cls):
            raise ValueError("must be a number, not true or false")
        return v


@functools.cache
def _numeric_fields(cls: type[BaseModel]) -> frozenset[str]:
    """The fields typed int / float (optionally None), and not also bool or str."""
    return frozenset(name for name, f in cls.model_fields.items() if _is_number(f.annotation))


def _is_number(annotation: Any) -> bool:
    args = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    options = set(args or (annotation,))
    return bool(options & {int, float}) and not options & {bool, str}
