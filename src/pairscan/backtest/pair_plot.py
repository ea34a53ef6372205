"""One ranked pair of a finished run as a figure: what to draw (`pair_plot_data`: the rows
around its selected periods, its legs' closes, the hedge ratio and z traded on, the machine's
decisions), the title, and the hedge line's label. `backtest.plots` draws; nothing is written.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pairscan.backtest.engine import BacktestResult, MarketPanel
from pairscan.backtest.plots import (
    PairPlotMarks,
    PairSeries,
    RankedPair,
    pair_figure,
    pair_plot_marks,
    pair_view,
)
from pairscan.config import SignalsConfig, StatsConfig
from pairscan.text import plural


def pair_plot_data(
    result: BacktestResult, panel: MarketPanel, pair: tuple[str, str]
) -> tuple[PairSeries, PairPlotMarks]:
    """The series and marks of `pair` (y, x; one of `result.pairs`) over the rows worth drawing
    of the traded period (`plots.pair_view`): closes (quote currency) from the panel the run
    read, the hedge ratio and z the run traded on, and the machine's decisions at their
    decision bars with the selected periods (`plots.pair_plot_marks`)."""
    k = result.pairs.index(pair)
    traded = slice(result.first_row, None)
    decisions = (
        result.machine.action[traded, k],
        result.machine.reason[traded, k],
        result.walk.gate[traded, k],
    )
    view = pair_view(*decisions)
    rows = slice(result.first_row + view.start, result.first_row + view.stop)
    times = pd.to_datetime(result.timestamps[view], unit="ms", utc=True)
    series = PairSeries(
        names=pair,
        times=times,
        close_y=panel.close[rows, panel.symbols.index(pair[0])],
        close_x=panel.close[rows, panel.symbols.index(pair[1])],
        beta=result.beta[rows, k],
        z=result.z[rows, k],
    )
    marks = pair_plot_marks(times, series.z, *(d[view] for d in decisions))
    return series, marks


def pair_title(
    ranked: RankedPair, ledger: pd.DataFrame, currency: str, times: pd.DatetimeIndex
) -> str:
    """Two lines: the pair, its rank by P&L, the P&L (quote `currency`) and number of the trades
    the ledger filled for it (an entry the sizer dropped is drawn as a decision, not counted);
    then the drawn period (UTC). ledger: `report.ledger_frame` (columns y, x, pnl)."""
    y, x = ranked.pair
    trades = ledger[(ledger["y"] == y) & (ledger["x"] == x)]
    return (
        f"{y} on {x} ({ranked.kind} #{ranked.place} by P&L): "
        f"P&L {trades['pnl'].sum():+,.2f} {currency}, "
        f"{plural(len(trades), 'trade')} filled\n"
        f"{times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M} UTC"
    )


def hedge_label(stats: StatsConfig) -> str:
    """The hedge-ratio line's legend: the method and its one parameter."""
    if stats.hedge == "kalman":
        return f"Kalman beta (delta {stats.kalman_delta:g})"
    return f"rolling OLS beta ({stats.window_bars} bars)"


def ranked_pair_figure(
    result: BacktestResult,
    panel: MarketPanel,
    ledger: pd.DataFrame,
    ranked: RankedPair,
    config: tuple[SignalsConfig, StatsConfig],
    currency: str,
) -> Figure:
    """`plots.pair_figure` of one ranked pair of the run: `pair_plot_data`, `pair_title`, the
    signals' entry/exit/stop bands and the stats' hedge-ratio band."""
    sig, stats = config
    series, marks = pair_plot_data(result, panel, ranked.pair)
    return pair_figure(
        series,
        marks,
        (sig.entry_z, sig.exit_z, sig.stop_z),
        (stats.min_hedge_ratio, stats.max_hedge_ratio),
        hedge_label(stats),
        pair_title(ranked, ledger, currency, series.times),
    )
