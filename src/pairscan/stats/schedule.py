"""Stage 3 (stats): when pairs are selected again, and on which bars, for scan and backtest.

Pure arithmetic on UTC milliseconds. Re-selection boundaries sit on one fixed grid (multiples
of `reselect_every_hours` from Monday 1970-01-05 00:00 UTC), so the hourly scan and the
backtest re-select at the same instants and on the same bars, whatever day either started.

A selection made at boundary B uses the bars whose open time is in [B - formation, B) (all
closed by B) and governs the decisions taken at the close of the bars whose open time is in
[B, B + every): no pair is traded on a bar it was selected on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.market import MS_PER_DAY, MS_PER_HOUR

IntArray = npt.NDArray[np.int64]

# Monday 1970-01-05 00:00 UTC: a weekly cadence (the default 168 h) re-selects on Mondays.
GRID_ORIGIN_MS = 4 * MS_PER_DAY


@dataclass(frozen=True)
class Schedule:
    """Formation length and re-selection cadence, in milliseconds (from `StatsConfig`:
    `formation_days`, `reselect_every_hours`)."""

    formation_ms: int
    every_ms: int

    @classmethod
    def of(cls, formation_days: int, reselect_every_hours: int) -> Schedule:
        if formation_days < 1:
            raise ValueError(f"formation_days: must be >= 1, got {formation_days}")
        if reselect_every_hours < 1:
            raise ValueError(f"reselect_every_hours: must be >= 1, got {reselect_every_hours}")
        return cls(formation_days * MS_PER_DAY, reselect_every_hours * MS_PER_HOUR)

    def boundary_of(self, bar_open_ms: int) -> int:
        """The boundary whose selection governs the decision at the close of this bar: the last
        grid point at or before its open time."""
        return bar_open_ms - (bar_open_ms - GRID_ORIGIN_MS) % self.every_ms

    def formation(self, boundary_ms: int) -> tuple[int, int]:
        """[start, end) open times of the bars the selection at `boundary_ms` is made on."""
        return boundary_ms - self.formation_ms, boundary_ms

    def boundaries(self, first_open_ms: int, last_open_ms: int) -> IntArray:
        """Every boundary governing a bar with open time in [first_open_ms, last_open_ms],
        ascending (the first may precede first_open_ms)."""
        if last_open_ms < first_open_ms:
            return np.empty(0, np.int64)
        start = self.boundary_of(first_open_ms)
        return np.arange(start, last_open_ms + 1, self.every_ms, dtype=np.int64)

    def segments(self, open_ms: IntArray) -> IntArray:
        """For bar open times (ascending int64 ms), the index of the boundary in
        `boundaries(open_ms[0], open_ms[-1])` that governs each bar."""
        if open_ms.size == 0:
            return np.empty(0, np.int64)
        first = self.boundary_of(int(open_ms[0]))
        seg: IntArray = ((open_ms - first) // self.every_ms).astype(np.int64)
        return seg
