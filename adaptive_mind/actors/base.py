"""The common shell of every actor: strict dispatch, crash reporting, chaos; on a named thread
(:class:`BaseActor`) or on the system's I/O loop (:class:`LoopBaseActor`)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

from adaptive_mind.actors.linger_inbox import LingerInbox
from adaptive_mind.actors.loop_actor import LoopActor, is_stop
from adaptive_mind.messages import ChildFailed, Crash, Ping
from adaptive_mind.messages.address import Address
from adaptive_mind.telemetry.events import Event

logger = logging.getLogger("adaptive_mind.actors")


CrashReporter = Callable[[ChildFailed], None]


@dataclass(frozen=True, slots=True)
class Wiring:
    """How an actor is supervised: its name, its stable address and whom to tell if it dies,
    and (for a loop actor) the event loop it runs on."""

    name: str
    address: Address | None = None
    on_crash: CrashReporter | None = None
    loop: asyncio.AbstractEventLoop | None = None


class ChaosCrash(RuntimeError):
    """Raised inside an actor on purpose by ``system.chaos.crash``."""


class Behaviour:
    """What every actor of the runtime does, whatever it runs on: it dispatches on message type
    and treats unknown messages as bugs.

    ``on_failure`` runs when a handler raised (the actor is stopping): it collects the mail
    still in the inbox (pykka would drop it) and reports a :class:`ChildFailed` with a
    :meth:`snapshot` of its state, so a replacement can take over. It never raises.
    """

    actor_ref: Any
    actor_inbox: Any

    def _behave(self, label: str, wiring: Wiring | None) -> None:
        self.label = label
        self.name = wiring.name if wiring is not None else label
        self._address = wiring.address if wiring is not None else None
        self._on_crash = wiring.on_crash if wiring is not None else None
        self._dispatch: dict[type, Callable[[Any], Any]] = self._handlers()
        self._dispatch[Crash] = self._crash
        self._dispatch[Ping] = lambda _m: None

    @property
    def address(self) -> Address:
        """Where others should answer this actor (its cell: stable across restarts)."""
        return self._address if self._address is not None else self.actor_ref

    def _handlers(self) -> dict[type, Callable[[Any], Any]]:
        raise NotImplementedError

    def _handle_receive(self, message: Any) -> Any:
        # The actor's own messages go straight to their handler; pykka's own (stop, proxy
        # calls) take pykka's path, which tests for each of them first.
        handler = self._dispatch.get(type(message))
        if handler is not None:
            return handler(message)
        return super()._handle_receive(message)  # type: ignore[misc]

    def on_receive(self, message: Any) -> Any:
        handler = self._dispatch.get(type(message))
        if handler is None:
            raise TypeError(f"{type(self).__name__}-{self.label}: unexpected message {message!r}")
        return handler(message)

    def _crash(self, _msg: Crash) -> None:
        raise ChaosCrash(f"chaos: {self.name} crashed on purpose")

    def snapshot(self) -> Any:
        """State a replacement should start from (None: start fresh)."""
        return None

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        leftovers: list[Any] = []
        while True:
            try:
                envelope = self.actor_inbox.get_nowait()
            except queue.Empty:
                break
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception(
                    (pykka.ActorDeadError, pykka.ActorDeadError(f"{self.name} crashed"), None)
                )
            elif not is_stop(envelope.message):
                leftovers.append(envelope.message)
        try:
            snapshot = self.snapshot()
        except Exception:  # a corrupt state: the replacement starts from defaults
            logger.exception("%s: snapshot failed", self.name)
            snapshot = None
        report = ChildFailed(
            self.name,
            f"{exception_type.__name__ if exception_type else '?'}: {exception_value}",
            tuple(leftovers),
            snapshot,
        )
        if self._on_crash is not None:
            try:
                self._on_crash(report)
            except Exception:
                logger.exception("%s: could not report its crash", self.name)

    def tell_safely(self, ref: Address, message: object) -> bool:
        """Tell ``ref`` unless it is down (or stopping); returns whether it was accepted."""
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False
        return True


class BaseActor(Behaviour, pykka.ThreadingActor):
    """An actor on a thread of its own, named for thread dumps (``LedgerActor-ledger``): for
    actors that do disk I/O or run user callbacks (the ledger, telemetry)."""

    def __init__(self, label: str, wiring: Wiring | None = None) -> None:
        self._linger_loop = wiring.loop if wiring is not None else None
        pykka.ThreadingActor.__init__(self)
        self._behave(label, wiring)

    def _create_actor_inbox(self) -> Any:  # type: ignore[override]
        """pykka's extension point (called from its ``__init__``): mail from the request
        path's loop wakes this thread once per batch (:class:`LingerInbox`)."""
        if self._linger_loop is not None:
            return LingerInbox(self._linger_loop)
        return pykka.ThreadingActor._create_actor_inbox()

    def on_start(self) -> None:
        threading.current_thread().name = f"{type(self).__name__}-{self.label}"


class LoopBaseActor(Behaviour, LoopActor):
    """An actor whose mailbox drains on the event loop its wiring names (the system's I/O loop):
    the request path's actors (Supervisor, providers, breakers, key pools), so a request does
    not cross a thread per hop. Its handlers must never block."""

    def __init__(self, label: str, wiring: Wiring | None = None) -> None:
        LoopActor.__init__(self, wiring.loop if wiring is not None else None)
        self._behave(label, wiring)


def from_peer(event: Event) -> Event:
    """``event`` marked as learned from another replica (payload ``origin: peer``)."""
    return event.model_copy(update={"payload": {**event.payload, "origin": "peer"}})
