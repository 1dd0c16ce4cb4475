"""``@record``: an immutable value type, enforced by the type checker, cheap to build at run time.

The request path builds about twenty small messages and actions per request. A
``@dataclass(frozen=True)`` sets each field in ``__init__`` through ``object.__setattr__``, which
made building them 14 % of the request path's samples (a 6-field frozen dataclass: 0.69 µs, the
same without ``frozen``: 0.17 µs). A ``@record`` class is a slotted dataclass that mypy treats as
frozen (PEP 681 ``frozen_default``: assigning a field is a type error, checked by ``mypy
--strict`` in CI) and hashes by value like a frozen one, without the per-field cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")

__all__ = ["field", "record"]


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a record: a slotted dataclass, value-equal and value-hashed, immutable to
    the type checker."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
