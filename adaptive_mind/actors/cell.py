"""ActorCell: a stable address for an actor that may be restarted.

Every actor talks to every other through cells, never raw refs, so a restart only swaps the ref
inside the cell. While an actor is dead and not yet replaced, messages told to it wait in the
cell's backlog and are delivered to the replacement (after the mail the dead actor left unread).
Once an actor is marked down, telling it raises ``pykka.ActorDeadError``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import pykka

from adaptive_mind.actors.loop_actor import ask_inline


class CellState(StrEnum):
    """An actor's lifecycle as ``system.actors()`` reports it."""

    RUNNING = "running"  # alive and serving
    RESTARTING = "restarting"  # crashed; its replacement is being started
    DOWN = "down"  # restart limit reached (or stopped): messages are refused


class ActorCell:
    """A named, swappable reference to an actor; ``tell`` never loses mail during a restart."""

    def __init__(self, name: str, ref: pykka.ActorRef[Any] | None = None) -> None:
        self.name = name
        self._ref = ref
        self._lock = threading.Lock()
        self._backlog: list[Any] = []
        self._state = CellState.RUNNING

    @property
    def state(self) -> CellState:
        with self._lock:
            if self._state is CellState.RUNNING and (self._ref is None or not self._ref.is_alive()):
                return CellState.RESTARTING
            return self._state

    @property
    def ref(self) -> pykka.ActorRef[Any] | None:
        return self._ref

    def tell(self, message: Any) -> None:
        """Deliver ``message``, or keep it for the replacement if the actor is restarting.

        Raises:
            pykka.ActorDeadError: the actor is down (or stopped).
        """
        ref = self._ref
        if ref is not None:
            try:
                ref.tell(message)
                return
            except pykka.ActorDeadError:
                pass
        with self._lock:
            if self._state is CellState.DOWN:
                raise pykka.ActorDeadError(f"{self.name} is down")
            if self._ref is not ref and self._ref is not None:
                current = self._ref
            else:
                self._backlog.append(message)
                return
        current.tell(message)

    def ask(self, message: Any, timeout: float) -> Any:
        """Ask the current actor, waiting out a restart (facade and tests only: it blocks; on a
        loop actor's own loop thread it is answered inline).

        Raises:
            pykka.ActorDeadError: the actor is down.
            pykka.Timeout: no answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            ref = self._ref
            if self._state is CellState.DOWN:
                raise pykka.ActorDeadError(f"{self.name} is down")
            if ref is not None:
                try:
                    done, answer = ask_inline(ref, message)
                    if done:
                        return answer
                    return ref.ask(message, timeout=max(0.001, deadline - time.monotonic()))
                except pykka.ActorDeadError:
                    pass  # it crashed: wait for its replacement
            if time.monotonic() >= deadline:
                raise pykka.Timeout(f"{self.name} did not come back within {timeout}s")
            time.sleep(0.002)

    def mark_restarting(self) -> None:
        with self._lock:
            if self._state is not CellState.DOWN:
                self._state = CellState.RESTARTING

    def replace(
        self,
        ref: pykka.ActorRef[Any],
        leftovers: list[Any],
        keep: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """Point at ``ref`` and deliver the dead actor's unread mail, then the backlog.

        ``keep`` filters both (e.g. a restarted Supervisor wants only new requests). Returns
        every message delivered, so the caller can see what the new actor will handle.
        """
        with self._lock:
            self._ref = ref
            mail = [m for m in (*leftovers, *self._backlog) if keep is None or keep(m)]
            self._backlog.clear()
            self._state = CellState.RUNNING
            for m in mail:  # inside the lock: nothing new may overtake the old mail
                ref.tell(m)
        return mail

    def mark_down(self) -> list[Any]:
        """Refuse further mail; returns (and drops) what was waiting."""
        with self._lock:
            self._state = CellState.DOWN
            mail, self._backlog = self._backlog, []
        return mail

    def __repr__(self) -> str:
        return f"ActorCell({self.name!r}, {self.state.value})"
