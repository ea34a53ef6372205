"""The first-compile notice: said once when Numba really compiles, never on a cache hit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from numba import njit

from pairscan.jit import NOTICE, first_compile_notice

KERNEL = textwrap.dedent(
    """
    from numba import njit

    @njit(cache=True)
    def twice(x):
        return 2.0 * x
    """
)
PROBE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from kernel_mod import twice
    from pairscan.jit import first_compile_notice
    said = []
    with first_compile_notice(said.append):
        assert twice(2.0) == 4.0
    print(len(said))
    """
)


def test_a_compile_is_announced_once_and_a_compiled_kernel_is_not() -> None:
    @njit
    def add(a: float, b: float) -> float:
        return a + b

    said: list[str] = []
    with first_compile_notice(said.append):
        add(1.0, 2.0)  # compiles (float64, float64)
        add(np.int64(1), np.int64(2))  # compiles a second signature: still one notice
    assert said == [NOTICE]
    again: list[str] = []
    with first_compile_notice(again.append):
        add(3.0, 4.0)  # already compiled in this process
    assert again == []


def test_nothing_is_said_without_a_writer() -> None:
    @njit
    def neg(a: float) -> float:
        return -a

    with first_compile_notice(None):
        assert neg(1.0) == -1.0


def test_a_kernel_loaded_from_the_disk_cache_is_not_announced(tmp_path: Path) -> None:
    """The first process compiles and writes the cache (notice); the second loads it (none),
    as the second `pairs backtest` after an install does."""
    (tmp_path / "kernel_mod.py").write_text(KERNEL, encoding="utf-8")
    runs = [
        subprocess.run(
            [sys.executable, "-c", PROBE, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["1", "0"]
