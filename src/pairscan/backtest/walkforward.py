"""Backtest: walk-forward pair selection on a point-in-time universe.

At every re-selection boundary of `stats.schedule` (the grid the hourly scan uses), pairs are
selected with `stats.select_pairs` on the formation bars before the boundary only, among the
symbols that had data and met the liquidity floor then, and traded on the bars up to the next
boundary. Pure numpy: the panel comes in as arrays, nothing is read here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.config import StatsConfig
from pairscan.signals import Gate, gate_from_selection
from pairscan.stats.eligibility import eligible_symbols
from pairscan.stats.schedule import Schedule
from pairscan.stats.selection import PairSelection, select_pairs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Window:
    """One walk-forward step: the selection made at `boundary_ms` and the bar rows it governs."""

    boundary_ms: int
    first_row: int  # first traded bar (row of the panel), inclusive
    end_row: int  # exclusive
    eligible: tuple[str, ...]  # symbols that entered the selection (point in time)
    selection: PairSelection


@dataclass(frozen=True)
class WalkForward:
    """Pairs ever selected (in first-selected order), and for each bar and pair: the gate
    (`Gate.OK` only while the pair is selected) and the half-life (bars) of the selection in
    force; NaN where not selected."""

    pairs: tuple[tuple[str, str], ...]
    gate: IntArray  # (n_bars, n_pairs)
    half_life: FloatArray  # (n_bars, n_pairs)
    windows: tuple[Window, ...]
    # Entry priority, as the scan applies it: row w lists pair columns by their rank in window
    # w's selection (selected first, best first; then the rest in column order); bar_window[t]
    # is the window in force at bar t (-1 before the first).
    entry_order: IntArray  # (n_windows, n_pairs)
    bar_window: IntArray  # (n_bars,)

    @property
    def iy_ix(self) -> tuple[list[str], list[str]]:
        return [p[0] for p in self.pairs], [p[1] for p in self.pairs]


def walk_forward(
    timestamps: IntArray,
    symbols: Sequence[str],
    close: FloatArray,
    real: BoolArray,
    dollar_volume: FloatArray,
    tf_ms: int,
    config: StatsConfig,
    adv_days: int,
    on_window: Callable[[int, int], None] | None = None,
) -> WalkForward:
    """Select pairs at every boundary whose full formation window lies inside the panel.

    timestamps: int64 (n_bars,) bar open times, ms, regular step tf_ms. close: float64
    (n_bars, n_symbols), NaN where unknown; real: bool, True where the bar is a real candle
    (not forward-filled); dollar_volume: float64 quote traded per bar. Eligibility and ADV
    (over `adv_days`, `cache.adv_days`) follow `stats.eligibility`. Bars before the first
    complete formation are never traded (gate DESELECTED). `on_window(done, total)` is called
    after each boundary (the selections are most of a backtest's time: a progress bar).
    """
    n_bars = timestamps.shape[0]
    sched = Schedule.of(config.formation_days, config.reselect_every_hours)
    windows: list[Window] = []
    pairs: dict[tuple[str, str], int] = {}
    if n_bars == 0:
        empty = np.zeros((0, 0), np.int64)
        return WalkForward((), empty, np.zeros((0, 0)), (), empty, np.zeros(0, np.int64))
    boundaries = sched.boundaries(int(timestamps[0]), int(timestamps[-1]))
    for done, boundary in enumerate(boundaries, start=1):
        if on_window is not None:
            on_window(done - 1, len(boundaries))
        start, end = sched.formation(int(boundary))
        if start < timestamps[0]:
            continue  # not enough history before this boundary
        f0, f1 = np.searchsorted(timestamps, [start, end])
        t1 = int(np.searchsorted(timestamps, end + sched.every_ms))
        rows = slice(int(f0), int(f1))
        ok, adv = eligible_symbols(timestamps, close, real, dollar_volume, rows, tf_ms, adv_days)
        names = [s for s, keep in zip(symbols, ok, strict=True) if keep]
        if len(names) < 2:
            continue
        sel = select_pairs(close[rows][:, ok], names, adv[ok], config)
        for y, x, chosen in zip(sel.y, sel.x, sel.selected, strict=True):
            if chosen:
                pairs.setdefault((str(y), str(x)), len(pairs))
        windows.append(Window(int(boundary), int(f1), t1, tuple(names), sel))
    if on_window is not None:
        on_window(len(boundaries), len(boundaries))
    keys = tuple(pairs)
    gate = np.full((n_bars, len(keys)), Gate.DESELECTED, np.int64)
    half_life = np.full((n_bars, len(keys)), np.nan)
    entry_order = np.empty((len(windows), len(keys)), np.int64)
    bar_window = np.full(n_bars, -1, np.int64)
    for w, window in enumerate(windows):
        rows = slice(window.first_row, window.end_row)
        gate[rows] = gate_from_selection(window.selection, keys)
        half_life[rows] = [_selected_value(window.selection, k, "half_life") for k in keys]
        ranks = [_selected_value(window.selection, k, "rank") for k in keys]
        entry_order[w] = sorted(range(len(keys)), key=lambda j: (np.isnan(ranks[j]), ranks[j], j))
        bar_window[rows] = w
    return WalkForward(keys, gate, half_life, tuple(windows), entry_order, bar_window)


def _selected_value(sel: PairSelection, pair: tuple[str, str], field: str) -> float:
    """A statistic of `pair` if the selection chose it this way round, else NaN."""
    for y, x, chosen, value in zip(sel.y, sel.x, sel.selected, getattr(sel, field), strict=True):
        if chosen and (str(y), str(x)) == pair:
            return float(value)
    return float("nan")
