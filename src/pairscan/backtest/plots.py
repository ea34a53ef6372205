"""Backtest plots: the account (equity, drawdown, gross exposure) and one pair (both legs'
prices, the hedge ratio traded on, the z-score with the machine's decisions). Builders return
a matplotlib `Figure` and write nothing; `save_png` writes one. No pyplot: no global figure
state, no GUI backend to select.

One module (~400 lines): the marks and views it computes are drawn only here; split, the
drawing helpers would need them as a public API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import NamedTuple

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from pairscan.backtest.metrics import Metrics
from pairscan.signals import REASON_NAMES, Action, Gate, Reason
from pairscan.text import plural

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


def pair_view(
    action: IntArray, reason: IntArray, gate: IntArray, min_context_bars: int = 48
) -> slice:
    """The rows worth drawing of one pair's n bars: from its first bar selected (`Gate.OK`) or
    with a decision (an action, a refusal) to its last, widened each side by half that extent
    (at least min_context_bars) for context, clipped to 0..n; all rows when there is none.
    A year of bars would squeeze a few weeks of trades into a sliver.
    action, reason, gate: int64 (n,), as for `pair_plot_marks`."""
    n = len(gate)
    busy = (gate == Gate.OK) | (action != Action.HOLD) | (reason != Reason.NONE)
    rows = np.flatnonzero(busy)
    if rows.size == 0:
        return slice(0, n)
    first, end = int(rows[0]), int(rows[-1]) + 1
    pad = max((end - first) // 2, min_context_bars)
    return slice(max(first - pad, 0), min(end + pad, n))


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


PNG_DPI = 110  # 12 x 8 in figures come out about 1300 x 900 px
# Fixed margins (fractions of the figure) for a two-line title and a time axis: a layout
# engine (constrained, tight) measures every label an extra time: twice the plotting time.
_MARGINS = {"left": 0.08, "bottom": 0.07, "top": 0.90, "hspace": 0.12}


def save_png(fig: Figure, path: Path) -> Path:
    """Write fig as a PNG at `PNG_DPI`."""
    fig.savefig(path, dpi=PNG_DPI, format="png")
    return path


def headline(metrics: Metrics, start: pd.Timestamp, end: pd.Timestamp) -> str:
    """One line of the run's headline figures: total return and max drawdown in %, annualised
    Sharpe, closed trades, and the period (UTC dates, days between the first and last bar)."""
    sharpe = f"{metrics.sharpe:.2f}" if math.isfinite(metrics.sharpe) else "n/a"
    days = (end - start) / pd.Timedelta(days=1)
    return (
        f"return {100 * metrics.total_return:+.2f} %  |  Sharpe {sharpe}  |  "
        f"max drawdown {100 * metrics.max_drawdown:.2f} %  |  "
        f"{plural(metrics.n_trades, 'closed trade')}  |  "
        f"{start:%Y-%m-%d} to {end:%Y-%m-%d} UTC ({days:.0f} days)"
    )


def equity_figure(equity: pd.DataFrame, metrics: Metrics, currency: str, title: str) -> Figure:
    """The account on one UTC time axis, three panels: equity in `currency` (the starting
    capital dotted), drawdown (% below the running peak) and gross exposure (sum of the legs'
    |notional| over equity, x). equity: `report.equity_frame` (columns equity, gross,
    drawdown; UTC index). The title is `title` over `headline`."""
    x = _utc_values(pd.DatetimeIndex(equity.index))
    eq = equity["equity"].to_numpy(dtype=np.float64)
    fig = Figure(figsize=(12, 8))
    fig.subplots_adjust(**_MARGINS, right=0.98)
    top, mid, bottom = fig.subplots(3, 1, sharex=True, height_ratios=[3.0, 1.2, 1.2])
    top.plot(x, eq, color="tab:blue", lw=1.1, label="equity")
    top.axhline(eq[0], color="0.4", ls=":", lw=0.9, label=f"start {eq[0]:,.0f} {currency}")
    top.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    top.set_ylabel(f"equity ({currency})")
    dd = 100.0 * equity["drawdown"].to_numpy(dtype=np.float64)
    mid.fill_between(x, dd, 0.0, color="tab:red", alpha=0.45, lw=0, label="drawdown")
    worst = int(np.argmin(dd))
    right = worst > dd.size // 2  # label on the side with room
    mid.annotate(
        f"max {dd[worst]:.2f} %",
        (x[worst], dd[worst]),
        xytext=(-6 if right else 6, 0),
        textcoords="offset points",
        ha="right" if right else "left",
        va="bottom",
    )
    mid.set_ylabel("drawdown (%)")
    # Gross over equity, not capital: the leverage the account really carried at each close.
    exposure = equity["gross"].to_numpy(dtype=np.float64) / eq
    bottom.fill_between(x, exposure, 0.0, color="tab:green", alpha=0.45, lw=0)
    bottom.set_ylabel("gross exposure\n(x equity)")
    bottom.set_xlabel("time (UTC)")
    for ax in (top, mid, bottom):
        ax.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"{title}\n{headline(metrics, equity.index[0], equity.index[-1])}")
    fig.align_ylabels()
    _utc_axis(bottom)
    return fig


@dataclass(frozen=True, eq=False)
class PairSeries:
    """One pair over the bars drawn: names (y, x), times (n,) UTC; close_y, close_x: float64
    (n,) closes, quote currency; beta: (n,) the hedge ratio the run traded on (log-price
    beta); z: (n,) the spread z-score."""

    names: tuple[str, str]
    times: pd.DatetimeIndex
    close_y: FloatArray
    close_x: FloatArray
    beta: FloatArray
    z: FloatArray


def rebased(close: FloatArray, base: float = 100.0) -> FloatArray:
    """close scaled so its first finite value is `base` (all NaN when none is)."""
    finite = np.flatnonzero(np.isfinite(close))
    if finite.size == 0:
        return np.full(close.shape, np.nan)
    out: FloatArray = base * close / close[finite[0]]
    return out


def pair_figure(
    series: PairSeries,
    marks: PairPlotMarks,
    bands: tuple[float, float, float],
    hedge_band: tuple[float, float],
    hedge_label: str,
    title: str,
) -> Figure:
    """One pair on one UTC time axis, the selected periods shaded on every panel: (1) both
    legs' closes rebased to 100 at the first bar drawn; (2) the hedge ratio with the edges of
    hedge_band (min, max accepted beta) that fall in view; (3) the z-score with +-entry, +-exit
    and +-stop lines (bands: entry_z, exit_z, stop_z) and `marks`: entries (triangles: up =
    long spread, down = short), closes (one marker per exit reason), refused entries (small
    grey), all at their decision bars."""
    x = _utc_values(series.times)
    fig = Figure(figsize=(12, 8.5))
    fig.subplots_adjust(**_MARGINS, right=0.80)  # the legends sit right of the axes
    prices, hedge, zax = fig.subplots(3, 1, sharex=True, height_ratios=[1.3, 1.0, 1.7])
    for ax in (prices, hedge, zax):
        _shade(ax, marks.selected, labelled=ax is zax)
    y_name, x_name = series.names
    prices.plot(x, rebased(series.close_y), color="tab:blue", lw=0.9, label=f"y {y_name}")
    prices.plot(x, rebased(series.close_x), color="tab:orange", lw=0.9, label=f"x {x_name}")
    prices.set_ylabel("close\n(first bar = 100)")
    hedge.plot(x, series.beta, color="tab:purple", lw=0.9, label=hedge_label)
    _draw_hedge_band(hedge, series.beta, hedge_band)
    hedge.set_ylabel("hedge ratio (beta)")
    zax.plot(x, series.z, color="0.3", lw=0.8, label="z")
    _draw_bands(zax, bands)
    _draw_entries(zax, marks.entries)
    _draw_by_label(zax, marks.closes, "close", size=50.0, grey=False)
    _draw_by_label(zax, marks.refused, "refused", size=14.0, grey=True)
    zax.set_ylabel("spread z-score")
    zax.set_xlabel("time (UTC)")
    for ax in (prices, hedge, zax):
        ax.grid(alpha=0.3)
        # Outside the axes: a legend inside would hide the trades it explains.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.align_ylabels()
    _utc_axis(zax)
    return fig


class RankedPair(NamedTuple):
    """A pair drawn for its P&L: kind "best" or "worst", place 1.. (best1 has the most P&L,
    worst1 the least), pair (y, x)."""

    kind: str
    place: int
    pair: tuple[str, str]

    @property
    def rank(self) -> str:
        """File-name prefix: best1, worst2, ..."""
        return f"{self.kind}{self.place}"


def best_and_worst(pairs: pd.DataFrame, n: int) -> list[RankedPair]:
    """The n pairs with the most P&L (best1 first), then the n with the least (worst1
    first); a pair among the best is not repeated among the worst, so fewer than 2n traded
    pairs give each pair once. pairs: columns y, x, pnl, one row per pair (e.g.
    `report.pair_breakdown`)."""
    order = pairs.sort_values("pnl", ascending=False, kind="stable")
    names = [(str(y), str(x)) for y, x in zip(order["y"], order["x"], strict=True)]
    best = names[: max(n, 0)]
    worst = [p for p in reversed(names) if p not in best][: max(n, 0)]
    return [RankedPair("best", i + 1, p) for i, p in enumerate(best)] + [
        RankedPair("worst", i + 1, p) for i, p in enumerate(worst)
    ]


def _utc_values(times: pd.DatetimeIndex) -> npt.NDArray[np.datetime64]:
    """Naive datetime64 in UTC (naive input is taken as UTC): matplotlib's fast path, no
    per-point Timestamp objects."""
    utc = times if times.tz is None else times.tz_convert(UTC).tz_localize(None)
    return utc.to_numpy()


def _utc_axis(ax: Axes) -> None:
    """UTC ticks whatever the user's matplotlibrc says; concise labels fit a year of bars.
    Shared x axes share the ticker, so the bottom axis sets it for all."""
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)


def _shade(
    ax: Axes, spans: tuple[tuple[pd.Timestamp, pd.Timestamp], ...], *, labelled: bool
) -> None:
    for i, (start, end) in enumerate(spans):
        a, b = _utc_values(pd.DatetimeIndex([start, end]))
        ax.axvspan(
            a,
            b,
            color="tab:blue",
            alpha=0.1,
            lw=0,
            label="selected" if labelled and i == 0 else None,
        )


def _draw_hedge_band(ax: Axes, beta: FloatArray, band: tuple[float, float]) -> None:
    """The band's edges, only those near the data: an edge far away (5 when beta stays near 1)
    would squash the line the reader came to see."""
    finite = beta[np.isfinite(beta)]
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.1 * max(hi - lo, 0.05)
    ax.set_ylim(lo - pad, hi + pad)
    shown = [edge for edge in band if lo - pad <= edge <= hi + pad]
    for i, edge in enumerate(shown):
        label = f"hedge band [{band[0]:g}, {band[1]:g}]" if i == 0 else None
        ax.axhline(edge, color="tab:red", ls="--", lw=0.8, label=label)


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
