"""Backtest kernel: the portfolio simulation of many two-legged pair positions on one capital.

Numba only; no pandas, config objects or I/O. Decisions come in as the state machine's
actions (`pairscan.signals.run_machine`) and sizes as the sizer's target notionals
(`pairscan.sizing`), so the rule and the sizing are the scan's; this file only fills orders,
charges costs and keeps the books.

Accounting: every leg is booked like a cash position, cash -= qty * contract_size * fill
price on a buy, and equity = cash + sum(qty * contract_size * last close). For linear
perpetuals this is the same P&L as margin accounting; margin is reported, not simulated.
Timing within bar t (open time O_t): (1) funding events with time in (O_{t-1}, O_t] are
charged on the positions held then; (2) orders decided at the close of bar t-1 fill at O_t's
open (or, with fill_at_close, orders fill at the close of the bar that decided them);
(3) the book is marked at the close; (4) the close's decisions are turned into orders.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pairscan.signals.kernels import Action
from pairscan.sizing.kernels import LegCheck, leg_check_nb, pair_lots_nb

# Ledger columns (float64), one row per round trip.
(
    L_PAIR,
    L_SIDE,  # +1 long spread, -1 short spread
    L_ENTRY_BAR,  # bar whose fill opened the trade
    L_EXIT_BAR,  # bar whose fill closed it; -1 while open at the end
    L_QTY_Y,  # signed contracts/units
    L_QTY_X,
    L_ENTRY_Y,  # fill prices, slippage included
    L_ENTRY_X,
    L_EXIT_Y,  # NaN while open (marked at the last close in L_PNL)
    L_EXIT_X,
    L_FEES,
    L_SLIPPAGE,  # cost of slippage versus the unslipped price, included in the fills
    L_FUNDING,  # paid (+) or received (-)
    L_PNL,  # net of fees and funding (slippage is in the prices)
    L_EXIT_REASON,
    L_NCOLS,
) = range(16)


@njit(cache=True)
def _fill_leg(
    qty: float, price: float, cs: float, fee_bps: float, slip_bps: float
) -> tuple[float, float, float, float]:
    """(fill price, cash change, fee, slippage cost) of trading signed qty at price."""
    side = 1.0 if qty > 0.0 else -1.0
    fill = price * (1.0 + side * slip_bps * 1e-4)
    value = qty * cs * fill
    fee = abs(value) * fee_bps * 1e-4
    slip = abs(qty) * cs * price * slip_bps * 1e-4
    return fill, -value - fee, fee, slip


@njit(cache=True)
def _order_qty(
    direction: float,
    notional_y: float,
    beta: float,
    py: float,
    px: float,
    sy: int,
    sx: int,
    lots: np.ndarray,
    min_order_quote: float,
) -> tuple[float, float]:
    """Signed (qty_y, qty_x) of a pair entry sized at close prices py, px, with the scan's lot
    rounding and leg checks (`pairscan.sizing.kernels`); (0, 0) when a leg cannot be sent
    (never a one-legged trade). lots: (4, n_symbols) contract size, amount step, min amount,
    min notional. Long spread (direction +1): long y, short beta * x."""
    if not (py > 0.0 and px > 0.0 and notional_y > 0.0 and math.isfinite(beta)):
        return 0.0, 0.0
    unit_y, unit_x = py * lots[0, sy], px * lots[0, sx]
    qy, qx, _, _ = pair_lots_nb(notional_y, beta, unit_y, unit_x, lots[1, sy], lots[1, sx])
    ok_y = leg_check_nb(qy, unit_y, lots[2, sy], max(lots[3, sy], min_order_quote))
    ok_x = leg_check_nb(qx, unit_x, lots[2, sx], max(lots[3, sx], min_order_quote))
    if ok_y != LegCheck.OK or ok_x != LegCheck.OK:
        return 0.0, 0.0
    sign_x = -1.0 if beta > 0.0 else 1.0
    return direction * qy, direction * sign_x * qx


@njit(cache=True)
def simulate_nb(
    open_px: np.ndarray,
    close_px: np.ndarray,
    funding: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    action: np.ndarray,
    reason: np.ndarray,
    beta: np.ndarray,
    notional_y: np.ndarray,
    lots: np.ndarray,
    fee_bps: np.ndarray,
    slippage_bps: np.ndarray,
    capital: float,
    max_leverage: float,
    min_order_quote: float,
    fill_at_close: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Simulate the book bar by bar.

    open_px, close_px: float64 (n_bars, n_symbols), NaN where a symbol has no bar.
    funding: float64 (n_bars, n_symbols), summed funding rates of the events charged at the
        start of bar t (time in (O_{t-1}, O_t]); a long pays rate * notional when positive.
    iy, ix: int64 (n_pairs,) symbol columns of each pair's y and x legs.
    action, reason: int64 (n_bars, n_pairs) from the state machine, decided at bar t's close.
    beta, notional_y: float64 (n_bars, n_pairs): hedge ratio and the sizer's target y-leg
        notional (quote) at each bar; 0 notional: no entry.
    lots: float64 (4, n_symbols): contract size, amount step (0 = none), min amount, min
        notional. fee_bps: (n_symbols,) per fill on notional; slippage_bps: (n_bars,
        n_symbols), applied against us on each fill.
    capital: starting cash, and the capital sizes and caps refer to (`sizing.capital_quote`,
        as in the scan: no compounding). max_leverage: book gross cap, x capital; an entry
        that does not fit next to the open book is scaled down to the room left, in pair
        order, and dropped if a leg then cannot be sent (`sizing.apply_book_caps`' rule).

    Returns (equity (n_bars,), gross (n_bars,), net (n_bars,) at each close, ledger
    (n_trades_max, L_NCOLS), n_trades, n_dropped).
    """
    n_bars, n_sym = close_px.shape
    n_pairs = iy.shape[0]
    max_trades = 0
    for t in range(n_bars):
        for j in range(n_pairs):
            if action[t, j] == Action.OPEN_LONG or action[t, j] == Action.OPEN_SHORT:
                max_trades += 1
    ledger = np.full((max_trades, L_NCOLS), np.nan)
    equity = np.empty(n_bars)
    gross_out = np.empty(n_bars)
    net_out = np.empty(n_bars)
    pos_y = np.zeros(n_pairs)
    pos_x = np.zeros(n_pairs)
    pend = np.zeros(n_pairs, dtype=np.int64)  # 0 none, 1 entry, 2 exit
    pend_qy = np.zeros(n_pairs)
    pend_qx = np.zeros(n_pairs)
    pend_reason = np.zeros(n_pairs)
    row = np.full(n_pairs, -1, dtype=np.int64)
    sym_pos = np.zeros(n_sym)
    last_close = np.full(n_sym, np.nan)
    cash = capital
    n_trades = 0
    n_dropped = 0
    for t in range(n_bars):
        # (1) funding on the positions held at the event.
        for j in range(n_pairs):
            if row[j] < 0:
                continue
            for leg in range(2):
                s = iy[j] if leg == 0 else ix[j]
                q = pos_y[j] if leg == 0 else pos_x[j]
                rate = funding[t, s]
                if rate != 0.0 and q != 0.0:
                    px = open_px[t, s] if open_px[t, s] > 0.0 else last_close[s]
                    pay = q * lots[0, s] * px * rate
                    cash -= pay
                    ledger[row[j], L_FUNDING] += pay
                    ledger[row[j], L_PNL] -= pay
        # (2) orders decided at the last close fill at this open.
        if not fill_at_close:
            for j in range(n_pairs):
                if pend[j] != 0:
                    cash, n_trades = _fill_pair(
                        t,
                        j,
                        open_px,
                        iy,
                        ix,
                        lots,
                        fee_bps,
                        slippage_bps,
                        pend,
                        pend_qy,
                        pend_qx,
                        pend_reason,
                        pos_y,
                        pos_x,
                        row,
                        sym_pos,
                        ledger,
                        cash,
                        n_trades,
                    )
        for s in range(n_sym):
            if close_px[t, s] > 0.0:
                last_close[s] = close_px[t, s]
        # (4) this close's decisions: exits first, so their room is free for entries.
        committed = -1.0
        for j in range(n_pairs):
            if action[t, j] == Action.CLOSE:
                if pend[j] == 1:
                    pend[j] = 0  # the entry never filled: nothing to close
                elif row[j] >= 0:
                    pend[j] = 2
                    pend_reason[j] = reason[t, j]
        for j in range(n_pairs):
            a = action[t, j]
            if a != Action.OPEN_LONG and a != Action.OPEN_SHORT:
                continue
            if pend[j] == 2:  # the last exit has not filled yet (a leg without a bar)
                n_dropped += 1
                continue
            if committed < 0.0:
                committed = _committed_gross(
                    pos_y, pos_x, pend, pend_qy, pend_qx, iy, ix, lots, last_close
                )
            direction = 1.0 if a == Action.OPEN_LONG else -1.0
            py, px = close_px[t, iy[j]], close_px[t, ix[j]]
            qy, qx = _order_qty(
                direction, notional_y[t, j], beta[t, j], py, px, iy[j], ix[j], lots, min_order_quote
            )
            gross = abs(qy) * lots[0, iy[j]] * py + abs(qx) * lots[0, ix[j]] * px
            room = max_leverage * capital - committed
            if gross > room and gross > 0.0:
                # Scaled on the unrounded gross, which is >= the rounded one: flooring the
                # scaled legs then keeps the entry within the room.
                scale = max(room, 0.0) / (notional_y[t, j] * (1.0 + abs(beta[t, j])))
                qy, qx = _order_qty(
                    direction,
                    notional_y[t, j] * scale,
                    beta[t, j],
                    py,
                    px,
                    iy[j],
                    ix[j],
                    lots,
                    min_order_quote,
                )
                gross = abs(qy) * lots[0, iy[j]] * py + abs(qx) * lots[0, ix[j]] * px
            if qy == 0.0:
                n_dropped += 1
                continue
            committed += gross
            pend[j] = 1
            pend_qy[j] = qy
            pend_qx[j] = qx
        if fill_at_close:
            for j in range(n_pairs):
                if pend[j] != 0:
                    cash, n_trades = _fill_pair(
                        t,
                        j,
                        close_px,
                        iy,
                        ix,
                        lots,
                        fee_bps,
                        slippage_bps,
                        pend,
                        pend_qy,
                        pend_qx,
                        pend_reason,
                        pos_y,
                        pos_x,
                        row,
                        sym_pos,
                        ledger,
                        cash,
                        n_trades,
                    )
        # (3) the book at this close.
        equity[t] = _equity(cash, sym_pos, lots, last_close)
        g = 0.0
        nt = 0.0
        for s in range(n_sym):
            if sym_pos[s] != 0.0:
                v = sym_pos[s] * lots[0, s] * last_close[s]
                nt += v
        for j in range(n_pairs):
            if row[j] >= 0:
                g += abs(pos_y[j]) * lots[0, iy[j]] * last_close[iy[j]]
                g += abs(pos_x[j]) * lots[0, ix[j]] * last_close[ix[j]]
        gross_out[t] = g
        net_out[t] = nt
    # Trades still open: marked at the last close.
    for j in range(n_pairs):
        r = row[j]
        if r >= 0:
            ledger[r, L_PNL] += (
                pos_y[j] * lots[0, iy[j]] * (last_close[iy[j]] - ledger[r, L_ENTRY_Y])
            )
            ledger[r, L_PNL] += (
                pos_x[j] * lots[0, ix[j]] * (last_close[ix[j]] - ledger[r, L_ENTRY_X])
            )
    return equity, gross_out, net_out, ledger[:n_trades], n_trades, n_dropped


@njit(cache=True)
def _equity(cash: float, sym_pos: np.ndarray, lots: np.ndarray, last_close: np.ndarray) -> float:
    value = cash
    for s in range(sym_pos.shape[0]):
        if sym_pos[s] != 0.0:
            value += sym_pos[s] * lots[0, s] * last_close[s]
    return value


@njit(cache=True)
def _committed_gross(
    pos_y: np.ndarray,
    pos_x: np.ndarray,
    pend: np.ndarray,
    pend_qy: np.ndarray,
    pend_qx: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    lots: np.ndarray,
    last_close: np.ndarray,
) -> float:
    """Gross notional the book will hold once pending orders fill: open positions not being
    exited, plus pending entries, at the last closes."""
    total = 0.0
    for j in range(iy.shape[0]):
        if pend[j] == 2:
            continue
        qy = pend_qy[j] if pend[j] == 1 else pos_y[j]
        qx = pend_qx[j] if pend[j] == 1 else pos_x[j]
        if qy != 0.0:  # skip flat pairs: 0 * a never-seen symbol's NaN close is NaN
            total += abs(qy) * lots[0, iy[j]] * last_close[iy[j]]
            total += abs(qx) * lots[0, ix[j]] * last_close[ix[j]]
    return total


@njit(cache=True)
def _fill_pair(
    t: int,
    j: int,
    price: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    lots: np.ndarray,
    fee_bps: np.ndarray,
    slippage_bps: np.ndarray,
    pend: np.ndarray,
    pend_qy: np.ndarray,
    pend_qx: np.ndarray,
    pend_reason: np.ndarray,
    pos_y: np.ndarray,
    pos_x: np.ndarray,
    row: np.ndarray,
    sym_pos: np.ndarray,
    ledger: np.ndarray,
    cash: float,
    n_trades: int,
) -> tuple[float, int]:
    """Fill pair j's pending order at bar t's prices, both legs together; an order whose legs
    lack a price this bar waits for the next bar that has both."""
    sy, sx = iy[j], ix[j]
    py, px = price[t, sy], price[t, sx]
    if not (py > 0.0 and px > 0.0):
        return cash, n_trades
    if pend[j] == 1:
        qy, qx = pend_qy[j], pend_qx[j]
        r = n_trades
        n_trades += 1
        row[j] = r
        ledger[r, L_PAIR] = j
        ledger[r, L_SIDE] = 1.0 if qy > 0.0 else -1.0
        ledger[r, L_ENTRY_BAR] = t
        ledger[r, L_EXIT_BAR] = -1.0
        ledger[r, L_QTY_Y] = qy
        ledger[r, L_QTY_X] = qx
        ledger[r, L_FEES] = 0.0
        ledger[r, L_SLIPPAGE] = 0.0
        ledger[r, L_FUNDING] = 0.0
        ledger[r, L_PNL] = 0.0
        ledger[r, L_EXIT_REASON] = 0.0
        fy, dcy, fee_y, slip_y = _fill_leg(qy, py, lots[0, sy], fee_bps[sy], slippage_bps[t, sy])
        fx, dcx, fee_x, slip_x = _fill_leg(qx, px, lots[0, sx], fee_bps[sx], slippage_bps[t, sx])
        ledger[r, L_ENTRY_Y] = fy
        ledger[r, L_ENTRY_X] = fx
        pos_y[j] = qy
        pos_x[j] = qx
        sym_pos[sy] += qy
        sym_pos[sx] += qx
    else:
        r = row[j]
        qy, qx = pos_y[j], pos_x[j]
        fy, dcy, fee_y, slip_y = _fill_leg(-qy, py, lots[0, sy], fee_bps[sy], slippage_bps[t, sy])
        fx, dcx, fee_x, slip_x = _fill_leg(-qx, px, lots[0, sx], fee_bps[sx], slippage_bps[t, sx])
        ledger[r, L_EXIT_BAR] = t
        ledger[r, L_EXIT_Y] = fy
        ledger[r, L_EXIT_X] = fx
        ledger[r, L_EXIT_REASON] = pend_reason[j]
        ledger[r, L_PNL] += qy * lots[0, sy] * (fy - ledger[r, L_ENTRY_Y])
        ledger[r, L_PNL] += qx * lots[0, sx] * (fx - ledger[r, L_ENTRY_X])
        pos_y[j] = 0.0
        pos_x[j] = 0.0
        sym_pos[sy] -= qy
        sym_pos[sx] -= qx
        row[j] = -1
    ledger[r, L_FEES] += fee_y + fee_x
    ledger[r, L_SLIPPAGE] += slip_y + slip_x
    ledger[r, L_PNL] -= fee_y + fee_x
    pend[j] = 0
    return cash + dcy + dcx, n_trades
