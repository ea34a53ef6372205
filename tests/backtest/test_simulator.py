"""The portfolio simulator against independent plain-Python loops on real recorded candles.

Oracles: each trade's P&L recomputed from the prices, quantities, fee and slippage rates and
funding events; the equity curve rebuilt bar by bar from the ledger's fills; the ledger
reconciling with the equity change; fills one bar after the decision; no look-ahead.
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import pandas as pd
import pytest

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
    L_SIDE,
    simulate_nb,
)
from pairscan.config import SignalsConfig
from pairscan.signals import Action, machine_params, run_machine
from pairscan.stats import rolling_pair_stats

BASES = ("BTC", "ETH", "LTC", "BCH", "SOL")
N_BARS = 2_500
CAPITAL = 10_000.0
FEE_BPS, SLIP_BPS = 5.0, 2.0


@functools.cache
def demo_perps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open and close (n_bars, 5) of five recorded Binance perpetuals, and their funding rates
    charged at each bar (events at a bar's open time belong to that bar)."""
    data = importlib.resources.files("pairscan.demo") / "data"
    opens, closes, funding = [], [], []
    for base in BASES:
        with (data / f"BINANCEUSDM_{base}-USDT_1h.parquet").open("rb") as fh:
            bars = pd.read_parquet(fh).iloc[-N_BARS:]
        with (data / f"BINANCEUSDM_{base}-USDT_funding.parquet").open("rb") as fh:
            events = pd.read_parquet(fh)
        opens.append(bars["open"].to_numpy())
        closes.append(bars["close"].to_numpy())
        ts = bars["timestamp"].to_numpy()
        idx = np.searchsorted(ts, events["timestamp"].to_numpy(), side="left")
        column = np.zeros(N_BARS)
        keep = (idx > 0) & (idx < N_BARS)
        np.add.at(column, idx[keep], events["funding_rate"].to_numpy()[keep])
        funding.append(column)
    return np.column_stack(opens), np.column_stack(closes), np.column_stack(funding)


def _inputs(n_bars: int = N_BARS, fill_at_close: bool = False) -> dict[str, object]:
    opens, closes, funding = (a[:n_bars] for a in demo_perps())
    iy, ix = (a.astype(np.int64) for a in np.triu_indices(len(BASES), 1))
    lp = np.log(closes)
    _, beta, _, z = rolling_pair_stats(lp[:, iy], lp[:, ix], 168, 72)
    params = machine_params(SignalsConfig(entry_z=1.5, exit_z=0.3, stop_z=3.5, cooldown_bars=6))
    run = run_machine(z, np.full(iy.size, 24.0), params)
    lots = np.zeros((4, len(BASES)))
    lots[0] = 1.0  # contract size
    lots[1] = 0.001  # amount step
    lots[3] = 5.0  # min notional, USDT
    return {
        "open_px": opens,
        "close_px": closes,
        "funding": funding,
        "iy": iy,
        "ix": ix,
        "action": run.action,
        "reason": run.reason,
        "beta": beta,
        "notional_y": np.full(z.shape, 1_500.0),
        "lots": lots,
        "fee_bps": np.full(len(BASES), FEE_BPS),
        "slippage_bps": np.full(opens.shape, SLIP_BPS),
        "capital": CAPITAL,
        "max_leverage": 3.0,
        "min_order_quote": 0.0,
        "fill_at_close": fill_at_close,
        "entry_order": np.zeros((0, iy.size), np.int64),  # column order on every bar
        "bar_window": np.full(n_bars, -1, np.int64),
        "real": np.isfinite(closes),
        "last_real": np.full(len(BASES), n_bars - 1, np.int64),
    }


def _simulate(inputs: dict[str, object]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    equity, gross, _, ledger, _, n_dropped = simulate_nb(*inputs.values())
    return equity, gross, ledger, n_dropped


def _trade_pnl_by_hand(trade: np.ndarray, inputs: dict[str, object]) -> tuple[float, float, float]:
    """(P&L, fees, funding) of one ledger row from the raw prices, with plain Python floats."""
    opens = inputs["open_px"]
    closes = inputs["close_px"]
    funding = inputs["funding"]
    assert isinstance(opens, np.ndarray)
    assert isinstance(closes, np.ndarray)
    assert isinstance(funding, np.ndarray)
    j = int(trade[L_PAIR])
    legs = (
        (int(inputs["iy"][j]), float(trade[L_QTY_Y])),
        (int(inputs["ix"][j]), float(trade[L_QTY_X])),
    )  # type: ignore[index]
    entry, exit_ = int(trade[L_ENTRY_BAR]), int(trade[L_EXIT_BAR])
    last = exit_ if exit_ >= 0 else opens.shape[0] - 1
    pnl = fees = paid = 0.0
    for s, q in legs:
        side = 1.0 if q > 0 else -1.0
        buy_in = float(opens[entry, s]) * (1 + side * SLIP_BPS / 1e4)
        fees += abs(q) * buy_in * FEE_BPS / 1e4
        if exit_ >= 0:
            sell_out = float(opens[exit_, s]) * (1 - side * SLIP_BPS / 1e4)
            fees += abs(q) * sell_out * FEE_BPS / 1e4
        else:
            sell_out = float(closes[-1, s])
        pnl += q * (sell_out - buy_in)
        for b in range(entry + 1, last + 1):  # funding before the exit fill of bar `exit_`
            paid += q * float(opens[b, s]) * float(funding[b, s])
    return pnl - fees - paid, fees, paid


def test_every_trade_pnl_matches_a_plain_loop_on_real_candles() -> None:
    inputs = _inputs()
    _, _, ledger, _ = _simulate(inputs)
    assert ledger.shape[0] > 20  # enough trades to mean something
    assert (ledger[:, L_FUNDING] != 0).any()
    for trade in ledger:
        pnl, fees, paid = _trade_pnl_by_hand(trade, inputs)
        assert trade[L_PNL] == pytest.approx(pnl, abs=1e-9 * CAPITAL)
        assert trade[L_FEES] == pytest.approx(fees, abs=1e-9 * CAPITAL)
        assert trade[L_FUNDING] == pytest.approx(paid, abs=1e-9 * CAPITAL)


def test_ledger_reconciles_with_the_equity_curve() -> None:
    equity, _, ledger, _ = _simulate(_inputs())
    assert equity[-1] - CAPITAL == pytest.approx(ledger[:, L_PNL].sum(), abs=1e-9 * CAPITAL)


def test_equity_curve_rebuilt_bar_by_bar_from_the_fills() -> None:
    inputs = _inputs()
    equity, _, ledger, _ = _simulate(inputs)
    opens, closes, funding = demo_perps()
    iy, ix = inputs["iy"], inputs["ix"]
    cash = CAPITAL
    held: dict[int, list[tuple[int, float]]] = {}
    for t in range(N_BARS):
        for legs in held.values():
            for s, q in legs:
                cash -= q * float(opens[t, s]) * float(funding[t, s])
        for trade in ledger:
            j = int(trade[L_PAIR])
            legs = [(int(iy[j]), float(trade[L_QTY_Y])), (int(ix[j]), float(trade[L_QTY_X]))]  # type: ignore[index]
            if int(trade[L_ENTRY_BAR]) == t:
                for (_, q), price in zip(legs, (trade[L_ENTRY_Y], trade[L_ENTRY_X]), strict=True):
                    cash -= q * float(price) + abs(q) * float(price) * FEE_BPS / 1e4
                held[int(trade[L_PAIR])] = legs
            if int(trade[L_EXIT_BAR]) == t:
                for (_, q), price in zip(legs, (trade[L_EXIT_Y], trade[L_EXIT_X]), strict=True):
                    cash += q * float(price) - abs(q) * float(price) * FEE_BPS / 1e4
                del held[int(trade[L_PAIR])]
        value = cash + sum(q * float(closes[t, s]) for legs in held.values() for s, q in legs)
        assert equity[t] == pytest.approx(value, abs=1e-9 * CAPITAL), t


def test_orders_fill_at_the_next_open_after_the_decision() -> None:
    inputs = _inputs()
    _, _, ledger, _ = _simulate(inputs)
    action = inputs["action"]
    assert isinstance(action, np.ndarray)
    for trade in ledger:
        j, entry = int(trade[L_PAIR]), int(trade[L_ENTRY_BAR])
        assert action[entry - 1, j] in (Action.OPEN_LONG, Action.OPEN_SHORT)
        if trade[L_EXIT_BAR] >= 0:
            assert action[int(trade[L_EXIT_BAR]) - 1, j] == Action.CLOSE


def test_quantities_are_whole_lots_and_hedged_by_beta() -> None:
    inputs = _inputs()
    _, _, ledger, _ = _simulate(inputs)
    for trade in ledger:
        for q in (trade[L_QTY_Y], trade[L_QTY_X]):
            assert abs(q / 0.001 - round(q / 0.001)) < 1e-6
        beta = inputs["beta"][int(trade[L_ENTRY_BAR]) - 1, int(trade[L_PAIR])]  # type: ignore[index]
        # Long spread: long y, short beta * x (a negative beta makes both legs long).
        assert np.sign(trade[L_QTY_X]) == -np.sign(trade[L_QTY_Y]) * np.sign(beta)
        if trade[L_SIDE] > 0:
            assert trade[L_QTY_Y] > 0


def test_book_leverage_cap_holds() -> None:
    inputs = _inputs()
    inputs["max_leverage"] = 0.5
    inputs["notional_y"] = np.full_like(inputs["beta"], 3_000.0)  # type: ignore[arg-type]
    _, gross, ledger, dropped = _simulate(inputs)
    # The cap binds when entries are decided (open positions are never resized): at each
    # decision close, the book it will hold (open trades not exiting at the next open, plus
    # the new entries) is within 0.5 x capital at that close's prices.
    closes = inputs["close_px"]
    assert isinstance(closes, np.ndarray)
    iy, ix = inputs["iy"], inputs["ix"]
    for e in np.unique(ledger[:, L_ENTRY_BAR].astype(int)):
        d = e - 1
        held = (ledger[:, L_ENTRY_BAR] <= e) & (
            (ledger[:, L_EXIT_BAR] < 0) | (ledger[:, L_EXIT_BAR] > e)
        )
        book = sum(
            abs(tr[L_QTY_Y]) * closes[d, iy[int(tr[L_PAIR])]]  # type: ignore[index]
            + abs(tr[L_QTY_X]) * closes[d, ix[int(tr[L_PAIR])]]  # type: ignore[index]
            for tr in ledger[held]
        )
        assert book <= 0.5 * CAPITAL + 1e-9
    assert gross.max() > 0.45 * CAPITAL  # the cap was reached
    assert dropped > 0


def test_no_look_ahead_in_the_books() -> None:
    """Equity and trades up to bar t do not change when later bars are appended."""
    cut = 1_700
    short_eq, short_gross, short_ledger, _ = _simulate(_inputs(cut))
    long_eq, long_gross, long_ledger, _ = _simulate(_inputs())
    assert np.array_equal(short_eq, long_eq[:cut])
    assert np.array_equal(short_gross, long_gross[:cut])
    # Rows are in entry order: the same trades, closed ones identical in every column.
    same_rows = long_ledger[: short_ledger.shape[0]]
    closed = short_ledger[:, L_EXIT_BAR] >= 0
    assert np.array_equal(short_ledger[closed], same_rows[closed])
    entry_cols = [L_PAIR, L_SIDE, L_ENTRY_BAR, L_QTY_Y, L_QTY_X, L_ENTRY_Y, L_ENTRY_X]
    assert np.array_equal(short_ledger[:, entry_cols], same_rows[:, entry_cols])


def test_fill_at_close_mode() -> None:
    inputs = _inputs(fill_at_close=True)
    equity, _, ledger, _ = _simulate(inputs)
    action = inputs["action"]
    assert isinstance(action, np.ndarray)
    for trade in ledger:
        assert action[int(trade[L_ENTRY_BAR]), int(trade[L_PAIR])] in (1, 2)
    assert equity[-1] - CAPITAL == pytest.approx(ledger[:, L_PNL].sum(), abs=1e-9 * CAPITAL)
