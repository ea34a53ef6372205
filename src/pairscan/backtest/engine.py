"""Backtest: one run from a market panel to books and metrics, with the scan's own stages.

Walk-forward selection (`backtest.walkforward`), hedge ratio and z (`stats.hedge`), the state
machine (`signals`), vol-targeted sizes (`sizing`) and the simulator kernel
(`backtest.kernels`), in that order. Pure: the job reads the cache and passes arrays in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.backtest.kernels import (
    L_ENTRY_BAR,
    L_ENTRY_X,
    L_ENTRY_Y,
    L_EXIT_BAR,
    L_EXIT_X,
    L_EXIT_Y,
    L_FEES,
    L_FUNDING,
    L_PAIR,
    L_PNL,
    L_QTY_X,
    L_QTY_Y,
    L_SLIPPAGE,
    simulate_nb,
)
from pairscan.backtest.metrics import Metrics, compute_metrics
from pairscan.backtest.walkforward import WalkForward, walk_forward
from pairscan.config import Config, SizingConfig, StatsConfig
from pairscan.signals import (
    REASON_NAMES,
    REFUSAL_REASONS,
    Action,
    Gate,
    MachineRun,
    bars_stale,
    entry_gate,
    machine_params,
    run_machine,
)
from pairscan.sizing.edge import formation_edge
from pairscan.sizing.kernels import entry_notional_nb
from pairscan.sizing.target import bars_per_year, default_vol_nobs
from pairscan.stats.hedge import hedge_and_z
from pairscan.stats.schedule import Schedule

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MarketPanel:
    """Everything a backtest reads, on one bar grid (row t = bar opening at timestamps[t]).

    open, close: float64 (n_bars, n_symbols), quote currency, NaN where unknown.
    real: bool, a real candle (not forward-filled). dollar_volume: quote traded per bar.
    funding: float64, summed funding rates charged at the start of each bar (0 for spot).
    lots: float64 (4, n_symbols): contract size, amount step, min amount, min notional.
    fee_bps: (n_symbols,) taker fee per fill; slippage_bps: (n_bars, n_symbols) per fill.
    spot: bool (n_symbols,), a spot market (no short without a borrow: entries that would
    short it are refused, `signals.entry_gate`).
    """

    timestamps: IntArray
    symbols: tuple[str, ...]
    tf_ms: int
    open: FloatArray
    close: FloatArray
    real: BoolArray
    dollar_volume: FloatArray
    funding: FloatArray
    lots: FloatArray
    fee_bps: FloatArray
    slippage_bps: FloatArray
    spot: BoolArray


@dataclass(frozen=True)
class BacktestResult:
    """A run's books: equity/gross/net per bar (quote), the trade ledger (rows of
    `backtest.kernels` L_* columns) with `pairs` naming ledger[:, L_PAIR], the walk-forward
    selections, the machine's decisions, entries dropped by sizing, and the metrics. The books
    cover panel rows first_row.. (`timestamps`); machine, z and beta cover the whole panel."""

    timestamps: IntArray
    equity: FloatArray
    gross: FloatArray
    net: FloatArray
    ledger: FloatArray
    pairs: tuple[tuple[str, str], ...]
    walk: WalkForward
    machine: MachineRun
    z: FloatArray
    n_dropped: int
    metrics: Metrics
    first_row: int  # panel row of equity[0]; ledger bars are panel rows
    # Entries the guards refused in the traded period, by reason name (hedge_band,
    # short_spot); every reason present, 0 if none.
    refused: dict[str, int]
    # The hedge ratio the run traded on (log-price beta, `hedge_and_z`), (n_bars, n_pairs).
    beta: FloatArray


def select_walk_forward(
    panel: MarketPanel,
    stats: StatsConfig,
    trade_from_row: int,
    adv_days: int,
    on_window: Callable[[int, int], None] | None = None,
) -> WalkForward:
    """The walk-forward selections of the panel; no pair is traded before `trade_from_row`.
    `on_window(done, total)` reports the selections made (see `walk_forward`)."""
    walk = walk_forward(
        panel.timestamps,
        panel.symbols,
        panel.close,
        panel.real,
        panel.dollar_volume,
        panel.tf_ms,
        stats,
        adv_days,
        on_window,
    )
    walk.gate[:trade_from_row] = Gate.DESELECTED
    return walk


def pair_columns(panel: MarketPanel, walk: WalkForward) -> tuple[IntArray, IntArray]:
    col = {s: k for k, s in enumerate(panel.symbols)}
    iy = np.array([col[y] for y, _ in walk.pairs], dtype=np.int64)
    ix = np.array([col[x] for _, x in walk.pairs], dtype=np.int64)
    return iy, ix


def run_backtest(
    panel: MarketPanel,
    config: Config,
    *,
    trade_from_row: int = 0,
    walk: WalkForward | None = None,
    hedge: tuple[FloatArray, FloatArray] | None = None,
    n_trials: int = 1,
    trial_sharpe_variance: float = 0.0,
    on_window: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Walk-forward select, signal, size and simulate over the panel.

    Rows before `trade_from_row` are history only (formation, hedge and vol warm-up); the
    equity curve and metrics start there. `walk` and `hedge` (beta, z) may be passed in when a
    sweep already computed them for the same `stats` settings. `on_window(done, total)`
    reports the walk-forward selections as they are made.
    """
    if walk is None:
        walk = select_walk_forward(
            panel, config.stats, trade_from_row, config.cache.adv_days, on_window
        )
    iy, ix = pair_columns(panel, walk)
    n_bars = panel.timestamps.shape[0]
    log_close = np.log(panel.close)
    if hedge is None:
        hedge = (
            hedge_and_z(log_close, iy, ix, config.stats)
            if iy.size
            else (np.zeros((n_bars, 0)),) * 2
        )
    beta, z = hedge
    valid = panel.real[:, iy] & panel.real[:, ix]
    gate = entry_gate(walk.gate, beta, config.stats, spot_y=panel.spot[iy], spot_x=panel.spot[ix])
    machine = run_machine(
        z,
        walk.half_life,
        machine_params(config.signals),
        gate=gate,
        bars_stale=bars_stale(valid),
    )
    per_year = bars_per_year(panel.tf_ms)
    edges = window_edges(panel, walk, config)
    notional_y = _target_notional(
        log_close, iy, ix, machine.action, beta, edges, walk.bar_window, config.sizing, per_year
    )
    sizing = config.sizing
    sl = slice(trade_from_row, None)
    equity, gross, net, ledger, _, n_dropped = simulate_nb(
        panel.open[sl],
        panel.close[sl],
        panel.funding[sl],
        iy,
        ix,
        machine.action[sl],
        machine.reason[sl],
        np.ascontiguousarray(beta[sl]),
        notional_y[sl],
        panel.lots,
        panel.fee_bps,
        np.ascontiguousarray(panel.slippage_bps[sl]),
        sizing.capital_quote,
        sizing.max_leverage,
        sizing.min_order_quote,
        config.backtest.fill == "close",
        walk.entry_order,
        walk.bar_window[sl],
        np.ascontiguousarray(panel.real[sl]),
        last_real_rows(panel.real[sl]),
    )
    ledger[:, L_ENTRY_BAR] += trade_from_row
    ledger[:, L_EXIT_BAR] = np.where(
        ledger[:, L_EXIT_BAR] >= 0, ledger[:, L_EXIT_BAR] + trade_from_row, -1.0
    )
    metrics = _metrics(
        equity, gross, ledger, panel.lots, iy, ix, per_year, n_trials, trial_sharpe_variance
    )
    return BacktestResult(
        panel.timestamps[sl],
        equity,
        gross,
        net,
        ledger,
        walk.pairs,
        walk,
        machine,
        z,
        n_dropped,
        metrics,
        trade_from_row,
        refused_entries(machine, trade_from_row),
        beta,
    )


def last_real_rows(real: BoolArray) -> IntArray:
    """Row of each column's last True (-1 if none): where a symbol's real candles end."""
    n = real.shape[0]
    last = n - 1 - np.argmax(real[::-1], axis=0)
    return np.where(real.any(axis=0), last, -1).astype(np.int64)


def refused_entries(machine: MachineRun, first_row: int = 0) -> dict[str, int]:
    """Entries the entry guards refused from `first_row` on, per refusal reason name."""
    hold = machine.action[first_row:] == Action.HOLD
    reasons = machine.reason[first_row:]
    return {REASON_NAMES[code]: int((hold & (reasons == code)).sum()) for code in REFUSAL_REASONS}


def _target_notional(
    log_close: FloatArray,
    iy: IntArray,
    ix: IntArray,
    action: IntArray,
    beta: FloatArray,
    edges: tuple[FloatArray, FloatArray],
    bar_window: IntArray,
    sizing: SizingConfig,
    per_year: float,
) -> FloatArray:
    """The sizer's y-leg notional at every entry decision (0 elsewhere), with the Kelly cap
    from each window's formation edge."""
    entry = (action == Action.OPEN_LONG) | (action == Action.OPEN_SHORT)
    window = sizing.vol_window_bars
    result: FloatArray = entry_notional_nb(
        log_close,
        iy,
        ix,
        entry,
        beta,
        window,
        default_vol_nobs(window),
        sizing.target_vol,
        sizing.capital_quote,
        per_year,
        sizing.max_pair_gross,
        sizing.kelly_fraction,
        edges[0],
        edges[1],
        bar_window,
    )
    return result


def window_edges(
    panel: MarketPanel, walk: WalkForward, config: Config
) -> tuple[FloatArray, FloatArray]:
    """Each window's formation edge (mean, variance per bar) of each selected pair, (n_windows,
    n_pairs), NaN elsewhere: `sizing.formation_edge` on the window's formation closes, the
    matrix its selection was made on (the scan calls it on the same one)."""
    shape = (len(walk.windows), len(walk.pairs))
    mean, var = np.full(shape, np.nan), np.full(shape, np.nan)
    col = {s: k for k, s in enumerate(panel.symbols)}
    sched = Schedule.of(config.stats.formation_days, config.stats.reselect_every_hours)
    params = machine_params(config.signals)
    for w, window in enumerate(walk.windows):
        sel = window.selection
        chosen = np.flatnonzero(sel.selected)
        if chosen.size == 0:
            continue
        start, end = sched.formation(window.boundary_ms)
        f0, f1 = (int(v) for v in np.searchsorted(panel.timestamps, [start, end]))
        close = panel.close[f0:f1][:, [col[s] for s in window.eligible]]
        m, v = formation_edge(
            close, sel.iy[chosen], sel.ix[chosen], sel.half_life[chosen], config.stats, params
        )
        for k, j in enumerate(chosen):
            p = walk.pairs.index((str(sel.y[j]), str(sel.x[j])))
            mean[w, p], var[w, p] = m[k], v[k]
    return mean, var


def traded_notional(ledger: FloatArray, lots: FloatArray, iy: IntArray, ix: IntArray) -> float:
    """Quote notional of every fill (both legs, entries and exits), fill prices."""
    total = 0.0
    for trade in ledger:
        j = int(trade[L_PAIR])
        cs_y, cs_x = lots[0, iy[j]], lots[0, ix[j]]
        legs = (
            (trade[L_QTY_Y], cs_y, trade[L_ENTRY_Y], trade[L_EXIT_Y]),
            (trade[L_QTY_X], cs_x, trade[L_ENTRY_X], trade[L_EXIT_X]),
        )
        for qty, cs, entry, exit_ in legs:
            total += abs(qty) * cs * entry
            if trade[L_EXIT_BAR] >= 0:
                total += abs(qty) * cs * exit_
    return total


def _metrics(
    equity: FloatArray,
    gross: FloatArray,
    ledger: FloatArray,
    lots: FloatArray,
    iy: IntArray,
    ix: IntArray,
    per_year: float,
    n_trials: int,
    trial_sharpe_variance: float,
) -> Metrics:
    closed = ledger[ledger[:, L_EXIT_BAR] >= 0]
    return compute_metrics(
        equity,
        bars_per_year=per_year,
        trade_pnl=closed[:, L_PNL],
        holding_bars=closed[:, L_EXIT_BAR] - closed[:, L_ENTRY_BAR],
        traded_notional=traded_notional(ledger, lots, iy, ix),
        in_market=gross > 0,
        fees_paid=float(ledger[:, L_FEES].sum()),
        slippage_paid=float(ledger[:, L_SLIPPAGE].sum()),
        funding_paid=float(ledger[:, L_FUNDING].sum()),
        n_trials=n_trials,
        trial_sharpe_variance=trial_sharpe_variance,
    )
