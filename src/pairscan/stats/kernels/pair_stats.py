"""Stage 3 kernels: spread and z-score at every bar, the fused alpha+beta+spread+z pass (on pair
columns or indexed into the symbol matrix), and scan mode (the last bar of every pair).

Built from the per-bar steps of `rolling` over the running window of `window`, so the every-bar
paths are bit-identical to each other and scan mode runs the same OLS window. Numba only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from pairscan.stats.kernels.rolling import ols_state_nb, ols_step_nb, spread_row_nb, z_step_nb
from pairscan.stats.kernels.window import (
    FLAT_REL,
    FLAT_VAR_ABS,
    block_buffers,
    finite,
    new_state,
    pair_block_size,
)

# Scan mode's widest block. Each bar of a block costs a fixed ~0.2 us of calls and row set-up
# besides its pairs, so blocks are wide (blocks of 128 pairs took 30 % more CPU than the
# per-pair loop they replaced); the block keeps its last z window of spreads for the two-pass
# z, (z_window_bars, block): 720 bars x 1,024 pairs is 5.9 MB, written and read row by row.
MAX_LAST_BAR_BLOCK = 1024


@njit(cache=True, error_model="numpy")
def _spread_z_block_nb(
    y: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    z_window_bars: int,
    min_nobs: int,
    resync_bars: int,
    p0: int,
    p1: int,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """Spread and rolling z for pairs p0..p1-1, time-major and row by row like `_ols_block_nb`;
    reads past spreads back from spread_out."""
    zstate = new_state(p1 - p0)
    nan_row = np.full(p1 - p0, np.nan)
    for t in range(y.shape[0]):
        spread_row_nb(
            y[t, p0:p1], x[t, p0:p1], alpha[t, p0:p1], beta[t, p0:p1], spread_out[t, p0:p1]
        )
        z_step_nb(
            t, z_window_bars, min_nobs, resync_bars, p0, p1, zstate, nan_row, spread_out, z_out
        )


@njit(cache=True, error_model="numpy", parallel=True)
def spread_zscore_into_nb(
    y: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    z_window_bars: int,
    min_nobs: int,
    resync_bars: int,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """spread = y - alpha - beta * x at every bar, and its rolling z-score, into preallocated
    (n_bars, n_pairs) outputs.

    Oracle: pandas `spread.rolling(z_window_bars, min_periods=min_nobs)` mean and std (ddof=1).
    Alignment: the spread at bar t uses alpha, beta and prices of bar t only (the hedge ratio known
    at t); z at bar t uses spreads of bars t-z_window_bars+1..t. Warm-up: the first
    z_window_bars-1 rows of z are NaN (and the spread is NaN wherever alpha/beta are). z is NaN
    when fewer than min_nobs finite spreads are in the window, or when they are all equal.
    """
    n_pairs = y.shape[1]
    block = pair_block_size(n_pairs)
    n_blocks = (n_pairs + block - 1) // block
    for b in prange(n_blocks):
        p0 = b * block
        p1 = min(p0 + block, n_pairs)
        _spread_z_block_nb(
            y, x, alpha, beta, z_window_bars, min_nobs, resync_bars, p0, p1, spread_out, z_out
        )


@njit(cache=True, error_model="numpy")
def _pair_stats_block_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    z_window_bars: int,
    z_min_nobs: int,
    z_resync_bars: int,
    p0: int,
    p1: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """`_ols_block_nb` then `_spread_z_block_nb` fused bar by bar: each bar's rows of y, x, alpha
    and beta are still in L1 when the spread and z use them. Same operations, same results."""
    state = ols_state_nb(ysrc, xsrc, iy, ix, p0, p1 - p0)
    bufs = block_buffers(p1 - p0)
    zstate = new_state(p1 - p0)
    for t in range(ysrc.shape[0]):
        ar = alpha_out[t, p0:p1]
        br = beta_out[t, p0:p1]
        yr, xr = ols_step_nb(
            t, ysrc, xsrc, iy, ix, window_bars, min_nobs, resync_bars, resync_bars - 1, p0, p1,
            state, bufs, ar, br, True,
        )  # fmt: skip
        spread_row_nb(yr, xr, ar, br, spread_out[t, p0:p1])
        z_step_nb(
            t, z_window_bars, z_min_nobs, z_resync_bars, p0, p1, zstate, bufs[4], spread_out, z_out
        )


@njit(cache=True, error_model="numpy", parallel=True)
def _pair_stats_par_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    z_window_bars: int,
    z_min_nobs: int,
    z_resync_bars: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """`_pair_stats_block_nb` over all blocks of pairs in parallel (see `rows_nb` for the two
    input layouts)."""
    n_pairs = alpha_out.shape[1]
    block = pair_block_size(n_pairs)
    n_blocks = (n_pairs + block - 1) // block
    for b in prange(n_blocks):
        p0 = b * block
        p1 = min(p0 + block, n_pairs)
        _pair_stats_block_nb(
            ysrc,
            xsrc,
            iy,
            ix,
            window_bars,
            min_nobs,
            resync_bars,
            z_window_bars,
            z_min_nobs,
            z_resync_bars,
            p0,
            p1,
            alpha_out,
            beta_out,
            spread_out,
            z_out,
        )


@njit(cache=True, error_model="numpy")
def rolling_ols_spread_z_into_nb(
    y: np.ndarray,
    x: np.ndarray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    z_window_bars: int,
    z_min_nobs: int,
    z_resync_bars: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """`rolling_ols_into_nb` followed by `spread_zscore_into_nb` in one pass over the inputs,
    into four preallocated (n_bars, n_pairs) outputs; bit-identical to the two-step path."""
    _pair_stats_par_nb(
        y,
        x,
        None,
        None,
        window_bars,
        min_nobs,
        resync_bars,
        z_window_bars,
        z_min_nobs,
        z_resync_bars,
        alpha_out,
        beta_out,
        spread_out,
        z_out,
    )


@njit(cache=True, error_model="numpy")
def pair_stats_indexed_into_nb(
    log_prices: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    z_window_bars: int,
    z_min_nobs: int,
    z_resync_bars: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """`rolling_ols_spread_z_into_nb` on log_prices[:, iy], log_prices[:, ix] without building
    them: log_prices (n_bars, n_symbols), iy, ix int64 (n_pairs,), pair p regresses column iy[p]
    on ix[p]; four preallocated (n_bars, n_pairs) outputs.

    Oracle: bit-identical to `rolling_ols_spread_z_into_nb` on the gathered columns (same
    operations in the same order; only where x and y are read from differs). Alignment, warm-up
    and NaN rules as `rolling_ols_into_nb` and `spread_zscore_into_nb`. Per pair-bar it reads
    the old spread (8 bytes) and writes 32 bytes; the prices come from symbol rows that stay in
    cache.
    """
    _pair_stats_par_nb(
        log_prices,
        log_prices,
        iy,
        ix,
        window_bars,
        min_nobs,
        resync_bars,
        z_window_bars,
        z_min_nobs,
        z_resync_bars,
        alpha_out,
        beta_out,
        spread_out,
        z_out,
    )


@njit(cache=True, error_model="numpy")
def _z_last_nb(spreads: np.ndarray, z_min_nobs: int, z_out: np.ndarray) -> None:
    """z of the last row of spreads (z_window_bars, m): a two-pass mean and std (ddof=1) of each
    column, row by row so the reads stay contiguous. NaN for a NaN last spread, below z_min_nobs
    (or 2) finite spreads, and for equal spreads: the zero-variance rule of `z_from_sums`, here
    relative to the raw sum of squares (there to the anchored one, whose anchor is close to the
    window mean)."""
    m = spreads.shape[1]
    n = np.zeros(m)
    acc = np.zeros(m)
    for row in spreads:
        for j in range(m):
            ok = finite(row[j])
            n[j] += 1.0 if ok else 0.0
            acc[j] += row[j] if ok else 0.0
    mean = acc / n
    css = np.zeros(m)
    s2 = np.zeros(m)
    for row in spreads:
        for j in range(m):
            ok = finite(row[j])
            d = row[j] - mean[j] if ok else 0.0
            css[j] += d * d
            s2[j] += row[j] * row[j] if ok else 0.0
    last = spreads[-1]
    for j in range(m):
        flat = (css[j] <= FLAT_REL * s2[j]) | (css[j] <= n[j] * FLAT_VAR_ABS)
        if not finite(last[j]) or n[j] < z_min_nobs or n[j] < 2.0 or flat:
            z_out[j] = np.nan
        else:
            z_out[j] = (last[j] - mean[j]) / math.sqrt(css[j] / (n[j] - 1.0))


@njit(cache=True, error_model="numpy")
def _last_bar_block_nb(
    tail: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    z_window_bars: int,
    z_min_nobs: int,
    p0: int,
    p1: int,
    alpha: np.ndarray,
    beta: np.ndarray,
    spread: np.ndarray,
    z: np.ndarray,
) -> None:
    """Last-bar alpha, beta, spread and z of pairs p0..p1-1 from the tail (n_tail, n_symbols).

    The rolling OLS of the every-bar kernels (`ols_step_nb`) over the tail, with an exact
    resync at the tail's first full window; the spreads of the last z window are kept whole, so
    z is their two-pass mean and std (`_z_last_nb`).
    """
    m = p1 - p0
    n_tail = tail.shape[0]
    state = ols_state_nb(tail, tail, iy, ix, p0, m)
    bufs = block_buffers(m)
    ar = alpha[p0:p1]
    br = beta[p0:p1]
    first = n_tail - z_window_bars  # tail row of spreads[0]
    spreads = np.full((z_window_bars, m), np.nan)
    for k in range(n_tail):
        yr, xr = ols_step_nb(
            k, tail, tail, iy, ix, window_bars, min_nobs, resync_bars, window_bars - 1, p0, p1,
            state, bufs, ar, br, k >= first,
        )  # fmt: skip
        if k >= first:
            spread_row_nb(yr, xr, ar, br, spreads[k - first])
    spread[p0:p1] = spreads[-1]
    _z_last_nb(spreads, z_min_nobs, z[p0:p1])
    if first < 0:  # fewer bars than a z window: no z
        z[p0:p1] = np.nan


@njit(cache=True, error_model="numpy", parallel=True)
def pair_stats_last_nb(
    log_prices: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    window_bars: int,
    z_window_bars: int,
    min_nobs: int,
    z_min_nobs: int,
    resync_bars: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scan mode: the last bar's alpha, beta, spread and z of every pair (iy[p] on ix[p]).

    log_prices: (n_bars, n_symbols); iy, ix: int64 (n_pairs,) column indices. Returns four
    float64 (n_pairs,) arrays equal (to rounding, ~1e-12) to the last row of
    `rolling_ols_into_nb` followed by `spread_zscore_into_nb` on the gathered pair columns: the
    same running window, which starts here at the first bar read. The last z depends only on the
    last window_bars + z_window_bars - 1 bars, so only those are read, in blocks of
    pair_block_size(n_pairs, MAX_LAST_BAR_BLOCK) pairs, and no (n_bars, n_pairs) array is ever
    built.
    """
    n_bars = log_prices.shape[0]
    n_pairs = iy.shape[0]
    tail = log_prices[n_bars - min(n_bars, window_bars + z_window_bars - 1) :]
    alpha = np.empty(n_pairs)
    beta = np.empty(n_pairs)
    spread = np.empty(n_pairs)
    z = np.empty(n_pairs)
    block = pair_block_size(n_pairs, MAX_LAST_BAR_BLOCK)
    n_blocks = (n_pairs + block - 1) // block
    for b in prange(n_blocks):
        p0 = b * block
        p1 = min(p0 + block, n_pairs)
        _last_bar_block_nb(
            tail, iy, ix, window_bars, min_nobs, resync_bars, z_window_bars, z_min_nobs, p0, p1,
            alpha, beta, spread, z,
        )  # fmt: skip
    return alpha, beta, spread, z
