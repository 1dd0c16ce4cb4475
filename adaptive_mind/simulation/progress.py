"""Live progress for drills: a rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from adaptive_mind.simulation.drill import PhaseResult, Sample

_STYLE = {"closed": "green", "half_open": "yellow", "open": "red"}


def _line(phase: str, t: float, duration: float, result: PhaseResult, s: Sample | None) -> str:
    done = len(result.records)
    ok = sum(r.ok for r in result.records)
    rate = f"{ok / done:.1%}" if done else "-"
    parts = [f"[{phase}] t={t:5.1f}/{duration:g}s done={done} success={rate}"]
    if s is not None:
        parts += [f"{p}:{s.breakers[p]}({s.keys_available[p]} keys)" for p in s.breakers]
    return " ".join(parts)


class PlainProgress:
    """One line every ``every_s`` seconds (for logs and CI)."""

    def __init__(self, duration_s: float, every_s: float = 1.0) -> None:
        self._duration = duration_s
        self._every = every_s
        self._last = 0.0

    def __call__(self, phase: str, t: float, result: PhaseResult, s: Sample | None) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            print(_line(phase, t, self._duration, result, s), flush=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RichProgress:
    """A live panel: a progress bar, the success rate, and per provider breaker and keys."""

    def __init__(self, duration_s: float, total: int) -> None:
        from rich.console import Console
        from rich.live import Live

        self._duration = duration_s
        self._total = total
        self._console = Console()
        self._live = Live(console=self._console, refresh_per_second=8, transient=False)
        self._sample: Sample | None = None

    def _render(self, phase: str, t: float, result: PhaseResult) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        done = len(result.records)
        ok = sum(r.ok for r in result.records)
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"[bold]{'Adaptive Mind' if phase == 'runtime' else 'plain SDK baseline'}[/]",
            ProgressBar(total=self._total, completed=done, width=40),
            f"{done}/{self._total}",
            f"t={min(t, self._duration):4.1f}s",
            f"success [bold]{(ok / done if done else 1):.1%}[/]",
        )
        if self._sample is None or phase != "runtime":
            return head
        table = Table("provider", "breaker", "keys available", "served", box=None)
        served: dict[str | None, int] = {}
        for r in result.records:
            if r.ok:
                served[r.provider] = served.get(r.provider, 0) + 1
        for p, state in self._sample.breakers.items():
            table.add_row(
                p,
                f"[{_STYLE.get(state, 'white')}]{state}[/]",
                str(self._sample.keys_available[p]),
                str(served.get(p, 0)),
            )
        grid = Table.grid()
        grid.add_row(head)
        grid.add_row(table)
        return grid

    def __call__(self, phase: str, t: float, result: PhaseResult, s: Sample | None) -> None:
        if s is not None:
            self._sample = s
        self._live.update(self._render(phase, t, result))

    def __enter__(self) -> RichProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(t, e, tb)


def make_progress(duration_s: float, total: int, quiet: bool = False) -> Any:
    """Rich on a terminal (when rich is installed), plain lines otherwise, nothing when quiet."""
    if quiet:
        return None
    if sys.stdout.isatty():
        try:
            return RichProgress(duration_s, total)
        except ImportError:
            pass
    return PlainProgress(duration_s)
