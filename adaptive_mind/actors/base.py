"""The common shell of every actor: a named thread and strict message dispatch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pykka


class BaseActor(pykka.ThreadingActor):
    """A pykka actor that dispatches on message type and treats unknown messages as bugs.

    Subclasses fill ``handlers`` via :meth:`_handlers`. ``on_start`` runs on the actor's own
    thread and names it (``KeyPoolActor-openai``) so thread dumps are readable.
    """

    kind: ClassVar[str] = "actor"

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self._dispatch: dict[type, Callable[[Any], Any]] = self._handlers()

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        raise NotImplementedError

    def on_start(self) -> None:
        threading.current_thread().name = f"{type(self).__name__}-{self.label}"

    def on_receive(self, message: Any) -> Any:
        handler = self._dispatch.get(type(message))
        if handler is None:
            raise TypeError(f"{type(self).__name__}-{self.label}: unexpected message {message!r}")
        return handler(message)

    def tell_safely(self, ref: pykka.ActorRef[Any], message: object) -> bool:
        """Tell ``ref`` unless it is dead (shutting down); returns whether it was delivered."""
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False
        return True
