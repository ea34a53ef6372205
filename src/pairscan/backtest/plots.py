"""Backtest plots (matplotlib, headless Agg backend): equity and drawdown; a pair's z-score
with its entry/exit/stop bands, selected periods and the machine's decisions on it. Each
drawing function writes one PNG; `pair_plot_marks` (pure) decides what the pair plot shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # no display on a server or in cron; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes

from pairscan.signals import REASON_NAMES, Action, Gate, Reason

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Close and refusal reasons get a marker and colour from their code, so one reason looks the
# same on every plot; the cycles differ in length, so codes 0..55 all get distinct pairs, and
# reasons added to `Reason` later are styled without touching this file.
_REASON_CODES = {name: code for code, name in REASON_NAMES.items()}
_REASON_MARKERS = ("X", "s", "D", "P", "o", "*", "h", "p")
_REASON_COLOURS = (
    "k",
    "tab:blue",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
)


@dataclass(frozen=True, eq=False)  # array fields: == would have no single truth value
class Marks:
    """Points at decision bars: the bar's time (UTC), the z drawn there, and a label each.

    z is the bar's z-score; where that is not finite (e.g. a data_stale close), the last finite
    z before the bar (0.0 if none), so the mark stays visible."""

    times: pd.DatetimeIndex
    z: FloatArray
    labels: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class PairPlotMarks:
    """What the pair plot draws besides the z line and the bands.

    entries: OPEN_LONG / OPEN_SHORT decisions, labels "long" / "short".
    closes: CLOSE decisions, labels the exit reason's name (`REASON_NAMES`).
    refused: HOLD with a reason (an entry a guard refused), labels the reason's name.
    selected: (start, end) UTC times of each run of consecutive bars with `Gate.OK`,
        half-open: end is the first bar after the run (one bar step past the last bar when the
        run reaches the end of the period).
    """

    entries: Marks
    closes: Marks
    refused: Marks
    selected: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]


def pair_plot_marks(
    times: pd.DatetimeIndex,
    z: FloatArray,
    action: IntArray,
    reason: IntArray,
    gate: IntArray,
) -> PairPlotMarks:
    """The marks for one pair over n bars, from the machine's per-bar decisions.

    times: (n,) bar times (UTC); z: float64 (n,) spread z-score; action, reason, gate: int64
    (n,) this pair's columns of `MachineRun.action`, `MachineRun.reason` and
    `WalkForward.gate`. Each decision is marked at the bar whose close made it, not at its
    fill (one bar later with next-open fills).
    """
    n = len(times)
    for name, arr in (("z", z), ("action", action), ("reason", reason), ("gate", gate)):
        if np.ndim(arr) != 1 or len(arr) != n:
            raise ValueError(f"{name}: expected shape ({n},) like times, got {np.shape(arr)}")
    shown = _last_finite(np.asarray(z, dtype=np.float64))
    entry = (action == Action.OPEN_LONG) | (action == Action.OPEN_SHORT)
    sides = np.where(action == Action.OPEN_LONG, "long", "short")
    names = np.array([_reason_name(int(r)) for r in reason], dtype=object)
    return PairPlotMarks(
        entries=_marks(times, shown, entry, sides),
        closes=_marks(times, shown, action == Action.CLOSE, names),
        refused=_marks(times, shown, (action == Action.HOLD) & (reason != Reason.NONE), names),
        selected=_spans(times, np.asarray(gate) == Gate.OK),
    )


def _last_finite(z: FloatArray) -> FloatArray:
    """z with each non-finite value replaced by the last finite one before it (0.0 if none)."""
    filled = np.where(np.isfinite(z), np.arange(z.size), -1)
    last = np.maximum.accumulate(filled)
    out: FloatArray = np.where(last >= 0, z[np.maximum(last, 0)], 0.0)
    return out


def _reason_name(code: int) -> str:
    return REASON_NAMES.get(code, f"reason_{code}")


def _marks(
    times: pd.DatetimeIndex, z: FloatArray, where: BoolArray, labels: npt.NDArray[np.object_]
) -> Marks:
    idx = np.flatnonzero(where)
    return Marks(times[idx], z[idx], tuple(str(s) for s in labels[idx]))


def _spans(
    times: pd.DatetimeIndex, mask: BoolArray
) -> tuple[tuple[pd.Timestamp, pd.Timestamp], ...]:
    """Half-open (start, end) times of the runs of True in mask."""
    n = len(times)
    step = times[-1] - times[-2] if n > 1 else pd.Timedelta(0)
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))  # run starts and (exclusive) ends, alternating
    return tuple(
        (times[a], times[b] if b < n else times[-1] + step)
        for a, b in zip(edges[0::2], edges[1::2], strict=True)
    )


def plot_equity(equity: pd.DataFrame, path: Path, title: str) -> Path:
    """Equity (quote currency) above, drawdown (%) below, shared time axis."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(equity.index, equity["equity"], color="tab:blue", lw=1.2)
    top.set_ylabel("equity")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(equity.index, 100.0 * equity["drawdown"], 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pair_z(
    times: pd.DatetimeIndex,
    z: FloatArray,
    marks: PairPlotMarks,
    bands: tuple[float, float, float],
    path: Path,
    title: str,
) -> Path:
    """z-score of one pair's spread (times UTC, z float64 (n,)) with +-entry, +-exit and +-stop
    lines (bands: entry_z, exit_z, stop_z), the selected periods shaded, and `marks`: entries
    (triangles: up = long spread, down = short), closes (one marker per exit reason) and
    refused entries (small grey), all at their decision bars."""
    # UTC ticks whatever the user's matplotlibrc says; concise labels fit a year of bars.
    with plt.rc_context({"timezone": "UTC", "date.converter": "concise"}):
        fig, ax = plt.subplots(figsize=(12, 4.5))
        for i, (start, end) in enumerate(marks.selected):
            ax.axvspan(
                start,  # type: ignore[arg-type]
                end,  # type: ignore[arg-type]
                color="tab:blue",
                alpha=0.1,
                lw=0,
                label="selected" if i == 0 else None,
            )
        ax.plot(times, z, color="0.3", lw=0.8, label="z")
        _draw_bands(ax, bands)
        _draw_entries(ax, marks.entries)
        _draw_by_label(ax, marks.closes, "close", size=50.0, grey=False)
        _draw_by_label(ax, marks.refused, "refused", size=14.0, grey=True)
        ax.set_title(title)
        ax.set_ylabel("z")
        ax.set_xlabel("time (UTC)")
        ax.grid(alpha=0.3)
        # Outside the axes: a legend inside would hide the trades it explains.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def _draw_bands(ax: Axes, bands: tuple[float, float, float]) -> None:
    entry_z, exit_z, stop_z = bands
    for level, style, name in (
        (entry_z, "--", "entry"),
        (exit_z, ":", "exit"),
        (stop_z, "-", "stop"),
    ):
        ax.axhline(level, color="tab:orange", ls=style, lw=0.8, label=f"+-{name} {level:g}")
        ax.axhline(-level, color="tab:orange", ls=style, lw=0.8)


def _draw_entries(ax: Axes, entries: Marks) -> None:
    labels = np.array(entries.labels, dtype=object)
    for side, marker, colour in (("long", "^", "tab:green"), ("short", "v", "tab:red")):
        idx = np.flatnonzero(labels == side)
        if idx.size:
            ax.scatter(
                entries.times[idx],
                entries.z[idx],
                marker=marker,
                color=colour,
                s=45.0,
                zorder=4,
                label=f"open {side}",
            )


def _draw_by_label(ax: Axes, marks: Marks, kind: str, size: float, grey: bool) -> None:
    """One scatter per reason, in reason-code order so legends list them alike."""
    labels = np.array(marks.labels, dtype=object)
    for name in sorted(set(marks.labels), key=lambda s: _REASON_CODES.get(s, len(REASON_NAMES))):
        code = _REASON_CODES.get(name, len(REASON_NAMES))
        idx = np.flatnonzero(labels == name)
        ax.scatter(
            marks.times[idx],
            marks.z[idx],
            marker=_REASON_MARKERS[code % len(_REASON_MARKERS)],
            color="0.55" if grey else _REASON_COLOURS[code % len(_REASON_COLOURS)],
            s=size,
            zorder=3,
            label=f"{kind}: {name}",
        )
