"""Chaos hooks for drills: crash any supervised actor from inside its own thread."""

from __future__ import annotations

from collections.abc import Callable

from adaptive_mind.actors.cell import ActorCell, CellState
from adaptive_mind.messages import Crash


class Chaos:
    """``system.chaos``: make actors fail on purpose."""

    def __init__(self, cells: Callable[[], dict[str, ActorCell]]) -> None:
        self._cells = cells

    def crash(self, name: str) -> bool:
        """Make actor ``name`` raise inside its own thread; it is then restarted (or marked down).

        Returns whether a crash was sent (False when the actor is restarting or down).

        Raises:
            ValueError: no actor has that name.
        """
        cells = self._cells()
        cell = cells.get(name)
        if cell is None:
            raise ValueError(f"name: unknown actor {name!r} (known: {', '.join(sorted(cells))})")
        if cell.state is not CellState.RUNNING:
            return False
        try:
            cell.tell(Crash())
        except Exception:
            return False
        return True
