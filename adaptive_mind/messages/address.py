"""Where replies go: anything with ``tell`` (an ActorCell, or a pykka ActorRef)."""

from __future__ import annotations

from typing import Any, Protocol


class Address(Protocol):
    """Something messages can be told to."""

    def tell(self, message: Any) -> None: ...
