"""Numba at run time: tell the person at the terminal when kernels compile.

pairscan's kernels are compiled on their first call and cached on disk (`cache=True`); the
first backtest or scan after an install (or an upgrade) compiles them: the demo backtest
took 58 s instead of 4 s on a quiet 2-core machine. Without a word that looks like a
hang. Numba broadcasts a `numba:compile` event only for a real compilation (a kernel found in
the disk cache loads silently), so the notice appears exactly when there is a wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

NOTICE = (
    "compiling pairscan's numeric kernels (Numba; first run after an install or upgrade: "
    "about a minute, two on a busy machine); later runs load them from the cache"
)


@contextmanager
def first_compile_notice(write: Callable[[str], None] | None) -> Iterator[None]:
    """While the block runs, call `write(NOTICE)` once, when the first kernel compiles.

    `write=None` does nothing (and imports nothing). Numba is imported here, so enter this
    only on a path that computes anyway.
    """
    if write is None:
        yield
        return
    from numba.core import event

    say = write

    class _Once(event.Listener):
        said = False

        def on_start(self, _event: event.Event) -> None:
            if not self.said:
                self.said = True
                say(NOTICE)

        def on_end(self, _event: event.Event) -> None:
            pass

    with event.install_listener("numba:compile", _Once()):
        yield
