"""What `pairs` shows while long work runs: the rich progress bar on stderr (terminals only)
and the one-line "Numba is compiling" notice. Presentation only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pairscan.cli.options import Globals

# on_step(description, done, total): what the jobs' per-symbol / per-window callbacks feed.
Step = Callable[[str, int, int], None]


@contextmanager
def progress(enabled: bool) -> Iterator[Step | None]:
    """A transient progress bar on stderr, yielding its `on_step` callback; None (no bar) when
    not `enabled` or stderr is not a terminal (cron logs keep no bar frames)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("symbols", total=None)

        def advance(symbol: str, done: int, total: int) -> None:
            bar.update(task, description=symbol, completed=done, total=total)

        yield advance


def counter(on_step: Step | None, label: str) -> Callable[[int, int], None] | None:
    """A (done, total) callback feeding the progress bar under `label` (None: no bar)."""
    if on_step is None:
        return None
    step = on_step
    return lambda done, total: step(label, done, total)


def compile_notice(g: Globals) -> Callable[[str], None] | None:
    """Where the one-line "Numba is compiling" notice goes: stderr, unless -q."""
    if g.verbosity < 0:
        return None
    return lambda text: click.echo(f"note: {text}", err=True)
