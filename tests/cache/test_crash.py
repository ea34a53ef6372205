"""A writer killed with SIGKILL mid-write leaves the previous (or the new) version whole.

The child (`crash_writer.py`) rewrites a 50k-bar series in a loop; the parent kills it after
several delays and checks that the store reads back exactly one complete version each time.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pairscan.cache import BACKENDS, open_store
from pairscan.market import MS_PER_HOUR
from tests.scripts import load_script

WRITER = Path(__file__).with_name("crash_writer.py")


_writer = load_script(WRITER)
BASE_BARS: int = _writer.BASE_BARS
T0: int = _writer.T0
EXCHANGE, SYMBOL, TIMEFRAME = _writer.SERIES
STARTUP_TIMEOUT_S = 60.0
# Spread over one write's duration (parquet ~25 ms, sqlite ~150 ms for 50k bars) so the kills
# land in different phases: read, merge, temp file/transaction, rename/commit.
KILL_DELAYS_S = {
    "parquet": (0.004, 0.011, 0.019, 0.033, 0.052),
    "sqlite": (0.01, 0.045, 0.09, 0.14, 0.23),
}


def run_and_kill(backend: str, root: Path, first: int, delay_s: float) -> int:
    """Start a writer at version `first`, kill it `delay_s` after its first complete write.

    Returns the newest version the writer reported as fully written.
    """
    command = [sys.executable, str(WRITER), backend, str(root), str(first)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT_S)
        line = proc.stdout.readline().strip() if readable else ""
        if line != "ready":
            proc.kill()
            pytest.fail(f"crash writer did not start (said {line!r})")
        time.sleep(delay_s)
        proc.kill()
        proc.wait()
        reported = [int(word.split()[1]) for word in proc.stdout.read().splitlines()]
    return max(reported, default=first)


def read_version(backend: str, root: Path) -> int:
    """The version the store holds, after checking that every row belongs to it."""
    with open_store(backend, root) as store:
        got = store.read_candles(EXCHANGE, SYMBOL, TIMEFRAME)
    v = int(got.close[0])
    assert len(got) == BASE_BARS + v
    for name, column in got.columns().items():
        if name != "timestamp":
            assert bool(np.all(column == v)), f"{name} mixes versions"
    np.testing.assert_array_equal(got.timestamp, T0 + np.arange(len(got)) * MS_PER_HOUR)
    return v


@pytest.mark.slow  # 2-5 s: five writer processes per backend
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_writer_leaves_one_complete_version(backend: str, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    first = 0
    for delay_s in KILL_DELAYS_S[backend]:
        done = run_and_kill(backend, root, first, delay_s)
        held = read_version(backend, root)
        # Killed after its rename/commit but before saying so, the writer may be one ahead.
        assert held in (done, done + 1)
        first = held + 1
    with open_store(backend, root) as store:
        store.write_candles(
            EXCHANGE,
            SYMBOL,
            TIMEFRAME,
            store.read_candles(EXCHANGE, SYMBOL, TIMEFRAME).take(slice(-1, None)),
        )
    leftovers = [p.name for p in root.rglob(".*.tmp-*")]
    assert leftovers == []
