"""Backtest report tables: the trade ledger, the equity curve and the per-pair breakdown.

pandas frames built from a `BacktestResult`; nothing is written here (the job writes files).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pairscan.backtest.engine import BacktestResult
from pairscan.backtest.kernels import (
    L_ENTRY_BAR,
    L_ENTRY_X,
    L_ENTRY_Y,
    L_EXIT_BAR,
    L_EXIT_REASON,
    L_EXIT_X,
    L_EXIT_Y,
    L_FEES,
    L_FUNDING,
    L_PAIR,
    L_PNL,
    L_QTY_X,
    L_QTY_Y,
    L_SIDE,
    L_SLIPPAGE,
)
from pairscan.signals import REASON_NAMES

LEDGER_COLUMNS = (
    "y",
    "x",
    "side",
    "entry_time",
    "exit_time",
    "bars_held",
    "qty_y",
    "qty_x",
    "entry_price_y",
    "entry_price_x",
    "exit_price_y",
    "exit_price_x",
    "fees",
    "slippage",
    "funding",
    "pnl",
    "exit_reason",
)


def _utc(ms: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(ms, unit="ms", utc=True)


def ledger_frame(result: BacktestResult) -> pd.DataFrame:
    """One row per trade (round trip), in entry order. Times are fill bars' open times (UTC);
    prices are fills (slippage included); quantities signed (+ long); fees, slippage, funding
    and pnl in the quote currency (pnl net of fees and funding; an open trade is marked at the
    last close and has no exit)."""
    led = result.ledger
    pair = led[:, L_PAIR].astype(int)
    # Ledger bars are panel rows; the books' own timestamps start at row first_row.
    entry_bar = led[:, L_ENTRY_BAR].astype(int) - result.first_row
    exit_bar = led[:, L_EXIT_BAR].astype(int) - result.first_row
    is_open = led[:, L_EXIT_BAR] < 0
    last_bar = result.equity.shape[0] - 1
    exit_time = _utc(result.timestamps[np.where(is_open, 0, exit_bar)]).where(~is_open)
    return pd.DataFrame(
        {
            "y": [result.pairs[p][0] for p in pair],
            "x": [result.pairs[p][1] for p in pair],
            "side": np.where(led[:, L_SIDE] > 0, "long", "short"),
            "entry_time": _utc(result.timestamps[entry_bar]),
            "exit_time": exit_time,
            "bars_held": np.where(is_open, last_bar, exit_bar) - entry_bar,
            "qty_y": led[:, L_QTY_Y],
            "qty_x": led[:, L_QTY_X],
            "entry_price_y": led[:, L_ENTRY_Y],
            "entry_price_x": led[:, L_ENTRY_X],
            "exit_price_y": led[:, L_EXIT_Y],
            "exit_price_x": led[:, L_EXIT_X],
            "fees": led[:, L_FEES],
            "slippage": led[:, L_SLIPPAGE],
            "funding": led[:, L_FUNDING],
            "pnl": led[:, L_PNL],
            "exit_reason": [
                "open" if o else REASON_NAMES.get(int(r), str(r))
                for o, r in zip(is_open, led[:, L_EXIT_REASON], strict=True)
            ],
        },
        columns=list(LEDGER_COLUMNS),
    )


def equity_frame(result: BacktestResult) -> pd.DataFrame:
    """Per bar close: equity, cash (equity minus the positions' signed value), gross and net
    exposure (quote currency) and drawdown (fraction)."""
    equity = result.equity
    peak = np.maximum.accumulate(equity)
    return pd.DataFrame(
        {
            "equity": equity,
            "cash": equity - result.net,
            "gross": result.gross,
            "net": result.net,
            "drawdown": equity / peak - 1.0,
        },
        index=pd.Index(_utc(result.timestamps), name="time"),
    )


def pair_breakdown(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per pair: trades, net P&L, win rate (closed trades), fees, funding, mean bars held;
    best P&L first."""
    if ledger.empty:
        return pd.DataFrame(
            columns=["y", "x", "trades", "pnl", "win_rate", "fees", "funding", "avg_bars_held"]
        )
    closed = ledger["exit_reason"] != "open"
    grouped = ledger.assign(win=(ledger["pnl"] > 0) & closed, closed=closed).groupby(["y", "x"])
    table = pd.DataFrame(
        {
            "trades": grouped.size(),
            "pnl": grouped["pnl"].sum(),
            "win_rate": grouped["win"].sum() / grouped["closed"].sum().replace(0, np.nan),
            "fees": grouped["fees"].sum(),
            "funding": grouped["funding"].sum(),
            "avg_bars_held": grouped["bars_held"].mean(),
        }
    )
    return table.sort_values("pnl", ascending=False).reset_index()
