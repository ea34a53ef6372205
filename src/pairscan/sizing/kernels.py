"""Stage 5 kernels: spread-return volatility and vol-targeted, capped leg notionals.

Numba only: float64 arrays shaped (n_bars, n_pairs), time along axis 0. No pandas, logging,
config objects or I/O; `pairscan.sizing.target` validates inputs and documents the contract.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from pairscan.market import FloatArray


class SizeCodeT(NamedTuple):
    """What set a pair's target size (>= 0) or why it has none (the DROP_* codes)."""

    VOL_TARGET: int = 0
    """Sized by the volatility target; no cap was binding."""
    PAIR_GROSS: int = 1
    """Capped by `max_pair_gross` x capital."""
    KELLY: int = 2
    """Capped by `kelly_fraction` x the full-Kelly leverage."""
    DROP_NO_BETA: int = 3
    """The hedge ratio is NaN or infinite."""
    DROP_NO_VOL: int = 4
    """The spread-return vol is NaN, zero or infinite: the vol target gives no finite size."""
    DROP_NO_EDGE: int = 5
    """The edge estimate's mean return is zero or negative: Kelly bets nothing."""
    DROP_ZERO_CAP: int = 6
    """A cap of zero (`max_pair_gross` or `kelly_fraction` is 0)."""


SizeCode = SizeCodeT()


@njit(cache=True)
def _window_sums_nb(
    log_y: FloatArray, log_x: FloatArray, p: int, first: int, last: int
) -> tuple[float, float, float, float, float, float]:
    """Exact sums (n, Sy, Sx, Syy, Sxx, Sxy) of the valid return pairs of bars first..last."""
    n = sy = sx = syy = sxx = sxy = 0.0
    for t in range(max(first, 1), last + 1):
        ry = log_y[t, p] - log_y[t - 1, p]
        rx = log_x[t, p] - log_x[t - 1, p]
        if math.isfinite(ry) and math.isfinite(rx):
            n += 1.0
            sy += ry
            sx += rx
            syy += ry * ry
            sxx += rx * rx
            sxy += ry * rx
    return n, sy, sx, syy, sxx, sxy


@njit(cache=True, parallel=True)
def spread_return_vol_nb(
    log_y: FloatArray,
    log_x: FloatArray,
    beta: FloatArray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
) -> FloatArray:
    """Rolling std (ddof=1) of the spread's bar returns d_t = r_y,t - beta_t r_x,t.

    log_y, log_x, beta: float64 (n_bars, n_pairs); r_t = log p_t - log p_{t-1}. beta_t (the hedge
    known at bar t) is applied to every return of the window: the vol of the position one would
    hold from bar t, not the vol of a spread whose hedge changed along the window.
    Alignment: the value at bar t uses the returns of bars t-window_bars+1..t (prices of bars
    t-window_bars..t) and beta_t: causal. A return is valid where both legs' log prices at t and
    t-1 are finite; NaN where fewer than min_nobs are valid (bar 0 has no return, so with
    min_nobs = window_bars the first window_bars rows are NaN) or beta_t is not finite.
    Oracle: numpy `np.std(ry - beta_t * rx, ddof=1)` over each window's valid returns, to ~1e-12.
    Numerics: running sums of the returns and their products (returns are ~1e-2 with mean ~1e-4,
    so raw sums do not cancel), recomputed exactly every resync_bars bars to bound their drift.
    """
    n_bars, n_pairs = log_y.shape
    out = np.full((n_bars, n_pairs), np.nan)
    for p in prange(n_pairs):
        n = sy = sx = syy = sxx = sxy = 0.0
        for t in range(n_bars):
            if t % resync_bars == 0:
                n, sy, sx, syy, sxx, sxy = _window_sums_nb(log_y, log_x, p, t - window_bars + 1, t)
            else:
                if t >= 1:
                    ry = log_y[t, p] - log_y[t - 1, p]
                    rx = log_x[t, p] - log_x[t - 1, p]
                    if math.isfinite(ry) and math.isfinite(rx):
                        n += 1.0
                        sy += ry
                        sx += rx
                        syy += ry * ry
                        sxx += rx * rx
                        sxy += ry * rx
                old = t - window_bars
                if old >= 1:
                    ry = log_y[old, p] - log_y[old - 1, p]
                    rx = log_x[old, p] - log_x[old - 1, p]
                    if math.isfinite(ry) and math.isfinite(rx):
                        n -= 1.0
                        sy -= ry
                        sx -= rx
                        syy -= ry * ry
                        sxx -= rx * rx
                        sxy -= ry * rx
            b = beta[t, p]
            if n < min_nobs or n < 2.0 or not math.isfinite(b):
                continue
            mean = (sy - b * sx) / n
            centred = (syy - 2.0 * b * sxy + b * b * sxx) - n * mean * mean
            out[t, p] = math.sqrt(max(centred, 0.0) / (n - 1.0))
    return out


@njit(cache=True, inline="always")
def _target_one_nb(
    sigma: float,
    b: float,
    mu: float,
    var: float,
    target_vol: float,
    capital: float,
    annual: float,
    max_pair_gross: float,
    kelly_fraction: float,
) -> tuple[float, int]:
    """(y-leg notional, SizeCode) of one pair at one bar; see `target_notional_nb`."""
    if not math.isfinite(b):
        return 0.0, SizeCode.DROP_NO_BETA
    if not (math.isfinite(sigma) and sigma > 0.0):
        return 0.0, SizeCode.DROP_NO_VOL
    if math.isfinite(mu) and mu <= 0.0:
        return 0.0, SizeCode.DROP_NO_EDGE
    gross_per_y = 1.0 + abs(b)
    size = target_vol * capital / (sigma * annual)
    why = SizeCode.VOL_TARGET
    pair_cap = max_pair_gross * capital / gross_per_y
    if pair_cap < size:
        size = pair_cap
        why = SizeCode.PAIR_GROSS
    if math.isfinite(mu) and math.isfinite(var) and var > 0.0:
        kelly_cap = kelly_fraction * (mu / var) * capital / gross_per_y
        if kelly_cap < size:
            size = kelly_cap
            why = SizeCode.KELLY
    if not size > 0.0:
        return 0.0, SizeCode.DROP_ZERO_CAP
    return size, why


@njit(cache=True)
def target_notional_nb(
    spread_vol: FloatArray,
    beta: FloatArray,
    edge_mean: FloatArray,
    edge_var: FloatArray,
    target_vol: float,
    capital: float,
    bars_per_year: float,
    max_pair_gross: float,
    kelly_fraction: float,
) -> tuple[FloatArray, np.ndarray]:
    """Quote notional of the y leg for every (bar, pair), and the `SizeCode` that set it.

    spread_vol: float64 (n_bars, n_pairs), per-bar std of the spread's returns (log units).
    beta: hedge ratios; the x leg's notional is beta times the y leg's (see `pairscan.sizing`).
    edge_mean, edge_var: per-bar return on gross notional and its variance; NaN mean = no
    estimate (no Kelly cap); a finite mean <= 0 drops the entry; a variance that is NaN or
    <= 0 with a positive mean gives no Kelly cap (the Kelly bet is unbounded).
    Returns (notional_y float64 >= 0, code int64), both (n_bars, n_pairs); notional_y is 0
    where code is a DROP_* code. Elementwise: the value at (t, p) uses only inputs at (t, p).
    Oracle: the hand-computed examples of tests/sizing/test_target.py.
    """
    n_bars, n_pairs = spread_vol.shape
    notional = np.zeros((n_bars, n_pairs))
    code = np.zeros((n_bars, n_pairs), dtype=np.int64)
    annual = math.sqrt(bars_per_year)
    for t in range(n_bars):
        for p in range(n_pairs):
            notional[t, p], code[t, p] = _target_one_nb(
                spread_vol[t, p],
                beta[t, p],
                edge_mean[t, p],
                edge_var[t, p],
                target_vol,
                capital,
                annual,
                max_pair_gross,
                kelly_fraction,
            )
    return notional, code


@njit(cache=True)
def spread_vol_at_nb(
    log_y: FloatArray, log_x: FloatArray, beta: float, t: int, window_bars: int, min_nobs: int
) -> float:
    """`spread_return_vol_nb` at one bar of one pair (1-D log prices), by an exact two-pass
    std (ddof=1) of d_s = dlog y_s - beta dlog x_s over s = t-window_bars+1..t; NaN below
    min_nobs valid returns or for a non-finite beta. Agrees with the rolling kernel to ~1e-15
    relative; the scan and the backtest both size entries with this one."""
    if not math.isfinite(beta):
        return np.nan
    n = 0.0
    total = 0.0
    for s in range(max(1, t - window_bars + 1), t + 1):
        d = (log_y[s] - log_y[s - 1]) - beta * (log_x[s] - log_x[s - 1])
        if math.isfinite(d):
            n += 1.0
            total += d
    if n < min_nobs or n < 2.0:
        return np.nan
    mean = total / n
    css = 0.0
    for s in range(max(1, t - window_bars + 1), t + 1):
        d = (log_y[s] - log_y[s - 1]) - beta * (log_x[s] - log_x[s - 1])
        if math.isfinite(d):
            css += (d - mean) * (d - mean)
    return math.sqrt(css / (n - 1.0))


@njit(cache=True)
def entry_notional_nb(
    log_close: FloatArray,
    iy: np.ndarray,
    ix: np.ndarray,
    entry: np.ndarray,
    beta: FloatArray,
    window_bars: int,
    min_nobs: int,
    target_vol: float,
    capital: float,
    bars_per_year: float,
    max_pair_gross: float,
    kelly_fraction: float,
    edge_mean: FloatArray,
    edge_var: FloatArray,
    bar_window: np.ndarray,
) -> FloatArray:
    """Target y-leg notional (quote) at the bars where `entry` (bool (n_bars, n_pairs)) is
    set, 0 elsewhere: the vol target with the pair-gross and Kelly caps, from
    `spread_vol_at_nb` on the symbol columns log_close[:, iy[p]], [:, ix[p]]. The edge of pair
    p at bar t is edge_mean/edge_var[bar_window[t], p] ((n_windows, n_pairs): the selection
    window in force; NaN or bar_window -1: no estimate, no Kelly cap).
    Sizing only the entries costs O(entries x window) instead of a full (n_bars, n_pairs)
    rolling vol."""
    n_bars, n_pairs = entry.shape
    out = np.zeros((n_bars, n_pairs))
    annual = math.sqrt(bars_per_year)
    ly_t = np.ascontiguousarray(log_close.T)  # symbol-major: each window read is contiguous
    for t in range(n_bars):
        for p in range(n_pairs):
            if not entry[t, p]:
                continue
            b = beta[t, p]
            sigma = spread_vol_at_nb(ly_t[iy[p]], ly_t[ix[p]], b, t, window_bars, min_nobs)
            w = bar_window[t]
            out[t, p], _ = _target_one_nb(
                sigma,
                b,
                edge_mean[w, p] if w >= 0 else np.nan,
                edge_var[w, p] if w >= 0 else np.nan,
                target_vol,
                capital,
                annual,
                max_pair_gross,
                kelly_fraction,
            )
    return out


class LegCheckT(NamedTuple):
    """Whether one rounded leg can be sent, or which exchange minimum it misses."""

    OK: int
    ROUNDS_TO_ZERO: int
    BELOW_MIN_AMOUNT: int
    BELOW_MIN_NOTIONAL: int


LegCheck = LegCheckT(OK=0, ROUNDS_TO_ZERO=1, BELOW_MIN_AMOUNT=2, BELOW_MIN_NOTIONAL=3)

# An exchange checks minimums in decimal; price * qty in binary floating point can land a few
# ulps under a minimum it meets exactly (0.29 * 100.0 = 28.999999999999996 < 29).
MIN_TOLERANCE = 1e-9


@njit(cache=True)
def floor_to_step_nb(qty: float, step: float) -> float:
    """qty (>= 0) rounded down to a whole number of lot steps; step <= 0: qty unrounded.

    Step counts in floating point carry a few ulps of error, so the count is nudged up by
    ~18 ulps (4e-15 of itself, at most half a step) before the floor (0.3 / 0.1 =
    2.9999999999999996 is 3 steps, as the exchange reads it) and the product is rounded to
    the step's decimals (3 * 0.1 = 0.30000000000000004 is 0.3); a nudge that overshoots qty
    falls back one step, so the result never exceeds qty. Equals decimal
    floor(qty / step) * step on the numbers' shortest reprs (tested against Decimal).
    """
    if not step > 0.0:
        return qty
    r = qty / step
    n = math.floor(r + min(r * 4e-15, 0.5))
    if n <= 0:
        return 0.0
    out = _round_to_step_digits(n * step, step)
    if out > qty:
        out = _round_to_step_digits((n - 1) * step, step)
    return out


@njit(cache=True)
def _round_to_step_digits(value: float, step: float) -> float:
    """value rounded to the step's decimals (plus 6 for steps like 0.0125), as far as a double
    holds them: 15 significant digits in all."""
    digits = 6 - math.floor(math.log10(step))
    if value >= 1.0:
        digits = min(digits, 15 - math.floor(math.log10(value)) - 1)
    if digits <= 0:
        return value
    return round(value, min(digits, 15))


@njit(cache=True)
def pair_lots_nb(
    notional_y: float, beta: float, unit_y: float, unit_x: float, step_y: float, step_x: float
) -> tuple[float, float, float, float]:
    """Unsigned (qty_y, qty_x, raw_y, raw_x) in lots for a y-leg notional: y rounded down
    first, then x hedged on the y actually traded (|beta| * qty_y * unit_y / unit_x, rounded
    down), so rounding never over-hedges. unit_*: price * contract_size, quote per lot."""
    raw_y = notional_y / unit_y
    qty_y = floor_to_step_nb(raw_y, step_y)
    raw_x = abs(beta) * qty_y * unit_y / unit_x
    return qty_y, floor_to_step_nb(raw_x, step_x), raw_y, raw_x


@njit(cache=True)
def leg_check_nb(qty: float, unit: float, min_amount: float, min_quote: float) -> int:
    """`LegCheck` of one rounded leg: qty > 0, >= min_amount (0 = none) and notional
    qty * unit >= min_quote (the larger of the exchange's min notional and ours), each within
    MIN_TOLERANCE."""
    if not qty > 0.0:
        return LegCheck.ROUNDS_TO_ZERO
    if qty < min_amount * (1.0 - MIN_TOLERANCE):
        return LegCheck.BELOW_MIN_AMOUNT
    if qty * unit < min_quote * (1.0 - MIN_TOLERANCE):
        return LegCheck.BELOW_MIN_NOTIONAL
    return LegCheck.OK


@njit(cache=True)
def book_cap_target_nb(gross: float, beta: float, room: float) -> float:
    """The book leverage cap's rule for one new entry, the scan's (`sizing.apply_book_caps`)
    and the backtest's (`backtest.kernels`) alike: NaN when its rounded gross (quote) fits in
    the `room` left under max_leverage x capital (keep it whole), else the y-leg notional
    (quote) to size it again at, max(room, 0) / (1 + |beta|) (0: no room, it is dropped).

    Entries are taken best-ranked first and each kept one's gross comes off the room; the one
    that does not fit is scaled to the room and the ones after it are judged on what is left.
    The scale uses the unrounded gross N_y (1 + |beta|), which is >= the rounded one, so the
    re-rounded entry stays within the room.
    """
    if gross <= room or not gross > 0.0:
        return np.nan
    return max(room, 0.0) / (1.0 + abs(beta))
