"""Backtest kernel: the portfolio simulation of many two-legged pair positions on one capital.

One module (~480 lines): `simulate_nb` and the kernels it calls share the book's column
layout (`B_*`) and the ledger they fill, and compile together.

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

Prices that really traded: an order fills only at a bar where both legs have a real candle
(never at a forward-filled price); it waits for the first such bar. A leg whose data has ended
for good (no real bar after `last_real[s]`, which is before the panel's last row) never fills
again: a pending entry on it is cancelled and a pending exit closes at its last real close,
with exit reason `Reason.DELISTED`, so no position is carried to the end at a stale mark.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pairscan.signals.kernels import Action, Reason
from pairscan.sizing.kernels import LegCheck, book_cap_target_nb, leg_check_nb, pair_lots_nb

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


# Per-pair book rows (float64 (7, n_pairs)): the pending order and the position.
B_PEND = 0  # 0 none, 1 entry, 2 exit waiting to fill
B_QY = 1  # pending entry quantities, signed
B_QX = 2
B_REASON = 3  # reason of a pending exit
B_POS_Y = 4  # filled position, signed
B_POS_X = 5
B_ROW = 6  # ledger row of the open trade, -1 when flat
_PEND_ENTRY, _PEND_EXIT = 1.0, 2.0


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
    entry_order: np.ndarray,
    bar_window: np.ndarray,
    real: np.ndarray,
    last_real: np.ndarray,
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
    entry_order, bar_window: (n_windows, n_pairs) pair columns in entry priority per
        selection window and (n_bars,) the window in force (-1: column order); the book cap
        is applied to a bar's entries in that order, the scan's (selection rank).
    capital: starting cash, and the capital sizes and caps refer to (`sizing.capital_quote`,
        as in the scan: no compounding). max_leverage: book gross cap, x capital; an entry
        that does not fit next to the open book is scaled down to the room left, in pair
        order, and dropped if a leg then cannot be sent (`sizing.apply_book_caps`' rule).
    real: bool (n_bars, n_symbols), a real candle (not forward-filled); fills need both legs'.
    last_real: int64 (n_symbols,), row of each symbol's last real candle (-1: none); a symbol
        is dead after it only if it is below n_bars - 1, i.e. its data stopped before the
        panel's end (delisting, a recording that stops), not merely because the panel ends.

    Returns (equity (n_bars,), gross (n_bars,), net (n_bars,) at each close, ledger
    (n_trades_max, L_NCOLS), n_trades, n_dropped).
    """
    n_bars, n_sym = close_px.shape
    n_pairs = iy.shape[0]
    n_entries = 0
    for t in range(n_bars):
        for j in range(n_pairs):
            n_entries += action[t, j] == Action.OPEN_LONG or action[t, j] == Action.OPEN_SHORT
    ledger = np.full((n_entries, L_NCOLS), np.nan)
    books = np.empty((3, n_bars))  # equity, gross, net at each close
    book = np.zeros((7, n_pairs))
    book[B_ROW] = -1.0
    sym_pos = np.zeros(n_sym)
    last_close = np.full(n_sym, np.nan)
    cash = capital
    n_trades = 0
    n_dropped = 0
    costs = (fee_bps, slippage_bps)
    traded = (real, last_real, last_close)  # what a fill needs to know of real candles
    natural = np.arange(n_pairs)
    for t in range(n_bars):
        order = natural if bar_window[t] < 0 else entry_order[bar_window[t]]
        cash = _charge_funding(t, open_px, funding, iy, ix, lots, book, last_close, ledger, cash)
        if not fill_at_close:
            cash, n_trades = _fill_pending(
                t, open_px, iy, ix, lots, costs, book, sym_pos, ledger, cash, n_trades, traded
            )
        for s in range(n_sym):
            if close_px[t, s] > 0.0:
                last_close[s] = close_px[t, s]
        _decide_exits(action[t], reason[t], book)
        n_dropped += _decide_entries(
            t,
            order,
            close_px,
            iy,
            ix,
            action[t],
            beta[t],
            notional_y[t],
            lots,
            book,
            last_close,
            max_leverage * capital,
            min_order_quote,
        )
        if fill_at_close:
            cash, n_trades = _fill_pending(
                t, close_px, iy, ix, lots, costs, book, sym_pos, ledger, cash, n_trades, traded
            )
        _mark(t, cash, iy, ix, lots, book, sym_pos, last_close, books)
    _mark_open_trades(iy, ix, lots, book, last_close, ledger)
    return books[0], books[1], books[2], ledger[:n_trades], n_trades, n_dropped


@njit(cache=True)
def _charge_funding(
    t: int,
    open_px: np.ndarray,
    funding: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    lots: np.ndarray,
    book: np.ndarray,
    last_close: np.ndarray,
    ledger: np.ndarray,
    cash: float,
) -> float:
    """Funding events at the start of bar t on the positions held then (a long pays a
    positive rate, a short receives it), at the bar's open price as the mark."""
    for j in range(iy.shape[0]):
        r = int(book[B_ROW, j])
        if r < 0:
            continue
        for s, q in ((iy[j], book[B_POS_Y, j]), (ix[j], book[B_POS_X, j])):
            rate = funding[t, s]
            if rate != 0.0 and q != 0.0:
                px = open_px[t, s] if open_px[t, s] > 0.0 else last_close[s]
                pay = q * lots[0, s] * px * rate
                cash -= pay
                ledger[r, L_FUNDING] += pay
                ledger[r, L_PNL] -= pay
    return cash


@njit(cache=True)
def _decide_exits(action: np.ndarray, reason: np.ndarray, book: np.ndarray) -> None:
    """This close's CLOSE actions: an open position gets a pending exit; an entry that never
    filled is cancelled (nothing to close)."""
    for j in range(action.shape[0]):
        if action[j] != Action.CLOSE:
            continue
        if book[B_PEND, j] == _PEND_ENTRY:
            book[B_PEND, j] = 0.0
        elif book[B_ROW, j] >= 0.0:
            book[B_PEND, j] = _PEND_EXIT
            book[B_REASON, j] = reason[j]


@njit(cache=True)
def _decide_entries(
    t: int,
    order: np.ndarray,
    close_px: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    action: np.ndarray,
    beta: np.ndarray,
    notional_y: np.ndarray,
    lots: np.ndarray,
    book: np.ndarray,
    last_close: np.ndarray,
    cap: float,
    min_order_quote: float,
) -> int:
    """This close's OPEN actions become pending entries sized at the close, in pair order,
    within the book cap (quote gross; the rule is `sizing.kernels.book_cap_target_nb`, the
    scan's). Returns the number of entries dropped."""
    committed = -1.0
    dropped = 0
    for k in range(order.shape[0]):
        j = order[k]
        a = action[j]
        if a != Action.OPEN_LONG and a != Action.OPEN_SHORT:
            continue
        if book[B_PEND, j] == _PEND_EXIT:  # the last exit has not filled yet (a leg without a bar)
            dropped += 1
            continue
        if committed < 0.0:
            committed = _committed_gross(iy, ix, lots, book, last_close)
        direction = 1.0 if a == Action.OPEN_LONG else -1.0
        sy, sx = iy[j], ix[j]
        py, px = close_px[t, sy], close_px[t, sx]
        target = notional_y[j]
        qy, qx = _order_qty(direction, target, beta[j], py, px, sy, sx, lots, min_order_quote)
        gross = abs(qy) * lots[0, sy] * py + abs(qx) * lots[0, sx] * px
        scaled = book_cap_target_nb(gross, beta[j], cap - committed)
        if not math.isnan(scaled):
            qy, qx = _order_qty(direction, scaled, beta[j], py, px, sy, sx, lots, min_order_quote)
            gross = abs(qy) * lots[0, sy] * py + abs(qx) * lots[0, sx] * px
        if qy == 0.0:
            dropped += 1
            continue
        committed += gross
        book[B_PEND, j] = _PEND_ENTRY
        book[B_QY, j] = qy
        book[B_QX, j] = qx
    return dropped


@njit(cache=True)
def _mark(
    t: int,
    cash: float,
    iy: np.ndarray,
    ix: np.ndarray,
    lots: np.ndarray,
    book: np.ndarray,
    sym_pos: np.ndarray,
    last_close: np.ndarray,
    books: np.ndarray,
) -> None:
    """Equity, gross and net exposure at bar t's close into books[:, t]."""
    net = 0.0
    for s in range(sym_pos.shape[0]):
        if sym_pos[s] != 0.0:
            net += sym_pos[s] * lots[0, s] * last_close[s]
    gross = 0.0
    for j in range(iy.shape[0]):
        if book[B_ROW, j] >= 0.0:
            gross += abs(book[B_POS_Y, j]) * lots[0, iy[j]] * last_close[iy[j]]
            gross += abs(book[B_POS_X, j]) * lots[0, ix[j]] * last_close[ix[j]]
    books[0, t] = cash + net
    books[1, t] = gross
    books[2, t] = net


@njit(cache=True)
def _mark_open_trades(
    iy: np.ndarray,
    ix: np.ndarray,
    lots: np.ndarray,
    book: np.ndarray,
    last_close: np.ndarray,
    ledger: np.ndarray,
) -> None:
    """Trades still open at the end: P&L marked at the last close (no exit fill, no fee)."""
    for j in range(iy.shape[0]):
        r = int(book[B_ROW, j])
        if r < 0:
            continue
        for s, q, entry in (
            (iy[j], book[B_POS_Y, j], ledger[r, L_ENTRY_Y]),
            (ix[j], book[B_POS_X, j], ledger[r, L_ENTRY_X]),
        ):
            ledger[r, L_PNL] += q * lots[0, s] * (last_close[s] - entry)


@njit(cache=True)
def _committed_gross(
    iy: np.ndarray, ix: np.ndarray, lots: np.ndarray, book: np.ndarray, last_close: np.ndarray
) -> float:
    """Gross notional the book will hold once pending orders fill: open positions not being
    exited, plus pending entries, at the last closes."""
    total = 0.0
    for j in range(iy.shape[0]):
        pend = book[B_PEND, j]
        if pend == _PEND_EXIT:
            continue
        qy = book[B_QY, j] if pend == _PEND_ENTRY else book[B_POS_Y, j]
        qx = book[B_QX, j] if pend == _PEND_ENTRY else book[B_POS_X, j]
        if qy != 0.0:  # skip flat pairs: 0 * a never-seen symbol's NaN close is NaN
            total += abs(qy) * lots[0, iy[j]] * last_close[iy[j]]
            total += abs(qx) * lots[0, ix[j]] * last_close[ix[j]]
    return total


@njit(cache=True)
def _fill_pending(
    t: int,
    price: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    lots: np.ndarray,
    costs: tuple[np.ndarray, np.ndarray],
    book: np.ndarray,
    sym_pos: np.ndarray,
    ledger: np.ndarray,
    cash: float,
    n_trades: int,
    traded: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[float, int]:
    """Fill every pending order at bar t's prices, both legs of a pair together, only where
    both legs have a real candle at t; otherwise the order waits for the next bar that has
    both, unless a leg is dead (see the module docstring): then an entry is cancelled and an
    exit closes at the dead leg's last real close (`last_close`, which forward fill never
    changes), reason DELISTED. traded: (real, last_real, last_close)."""
    real, last_real, last_close = traded
    n_rows = real.shape[0]
    for j in range(iy.shape[0]):
        pend = book[B_PEND, j]
        if pend == 0.0:
            continue
        sy, sx = iy[j], ix[j]
        py, px = price[t, sy], price[t, sx]
        live_y = real[t, sy] and py > 0.0
        live_x = real[t, sx] and px > 0.0
        if not (live_y and live_x):
            # Each missing leg must be dead for good; one only missing for now means waiting.
            ok_y = live_y or _dead_nb(t, last_real[sy], n_rows)
            ok_x = live_x or _dead_nb(t, last_real[sx], n_rows)
            if not (ok_y and ok_x):
                continue
            if pend == _PEND_ENTRY:
                book[B_PEND, j] = 0.0
                continue
            book[B_REASON, j] = Reason.DELISTED
            py = py if live_y else last_close[sy]
            px = px if live_x else last_close[sx]
        if pend == _PEND_ENTRY:
            r = n_trades
            n_trades += 1
            _open_trade(t, j, r, book, ledger)
            qy, qx = book[B_QY, j], book[B_QX, j]
        else:
            r = int(book[B_ROW, j])
            qy, qx = -book[B_POS_Y, j], -book[B_POS_X, j]
        fy, cash_y, fee_y, slip_y = _fill_leg(qy, py, lots[0, sy], costs[0][sy], costs[1][t, sy])
        fx, cash_x, fee_x, slip_x = _fill_leg(qx, px, lots[0, sx], costs[0][sx], costs[1][t, sx])
        if pend == _PEND_ENTRY:
            ledger[r, L_ENTRY_Y] = fy
            ledger[r, L_ENTRY_X] = fx
        else:
            _close_trade(t, j, r, fy, fx, lots[0, sy], lots[0, sx], book, ledger)
        book[B_POS_Y, j] += qy
        book[B_POS_X, j] += qx
        sym_pos[sy] += qy
        sym_pos[sx] += qx
        ledger[r, L_FEES] += fee_y + fee_x
        ledger[r, L_SLIPPAGE] += slip_y + slip_x
        ledger[r, L_PNL] -= fee_y + fee_x
        book[B_PEND, j] = 0.0
        cash += cash_y + cash_x
    return cash, n_trades


@njit(cache=True, inline="always")
def _dead_nb(t: int, last_real_row: int, n_rows: int) -> bool:
    """The symbol's data ended before bar t for good, before the end of the panel."""
    return t > last_real_row and last_real_row < n_rows - 1


@njit(cache=True)
def _open_trade(t: int, j: int, r: int, book: np.ndarray, ledger: np.ndarray) -> None:
    qy = book[B_QY, j]
    book[B_ROW, j] = r
    ledger[r, L_PAIR] = j
    ledger[r, L_SIDE] = 1.0 if qy > 0.0 else -1.0
    ledger[r, L_ENTRY_BAR] = t
    ledger[r, L_EXIT_BAR] = -1.0
    ledger[r, L_QTY_Y] = qy
    ledger[r, L_QTY_X] = book[B_QX, j]
    for col in (L_FEES, L_SLIPPAGE, L_FUNDING, L_PNL, L_EXIT_REASON):
        ledger[r, col] = 0.0


@njit(cache=True)
def _close_trade(
    t: int,
    j: int,
    r: int,
    fy: float,
    fx: float,
    cs_y: float,
    cs_x: float,
    book: np.ndarray,
    ledger: np.ndarray,
) -> None:
    ledger[r, L_EXIT_BAR] = t
    ledger[r, L_EXIT_Y] = fy
    ledger[r, L_EXIT_X] = fx
    ledger[r, L_EXIT_REASON] = book[B_REASON, j]
    ledger[r, L_PNL] += book[B_POS_Y, j] * cs_y * (fy - ledger[r, L_ENTRY_Y])
    ledger[r, L_PNL] += book[B_POS_X, j] * cs_x * (fx - ledger[r, L_ENTRY_X])
    book[B_ROW, j] = -1.0
