"""Stage 3 kernels: one bar of the rolling OLS and of the spread's z-score for a block of pairs,
and the every-bar rolling OLS.

Numba only: float64 arrays shaped (n_bars, n_pairs), time along axis 0. No pandas, logging or
I/O; the wrappers in `pairscan.stats.ols` validate inputs and document the public contract. The
running window itself (sums, anchors, resync, how rows are read) lives in `window`; the fused
and scan-mode kernels built from these steps in `pair_stats`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from pairscan.stats.kernels.window import (
    CNT,
    CX,
    CY,
    FLAT_REL,
    FLAT_RUN,
    FLAT_VAR_ABS,
    LAST_X,
    SX,
    SXX,
    SXY,
    SY,
    bar_rows_nb,
    block_buffers,
    finite,
    new_state,
    pair_block_size,
    resync_nb,
    slide,
    slide_series,
)


@njit(cache=True, error_model="numpy", inline="always")
def ols_from_sums(
    n: float,
    sx: float,
    sy: float,
    sxx: float,
    sxy: float,
    cx: float,
    cy: float,
    flat_run: float,
    min_nobs: int,
) -> tuple[float, float]:
    """alpha, beta of y on [1, x] from anchored window sums; NaN below min_nobs or when flat."""
    mx = sx / n
    my = sy / n
    cxx = sxx - sx * mx
    cxy = sxy - sx * my
    beta = cxy / cxx
    alpha = (cy - beta * cx) + (my - beta * mx)
    # flat_run >= n: every valid x of the window is the same value (forward-filled outage); this
    # test is exact, the two variance tests catch near-flat windows that rounding blurs.
    # Selects, not early returns, so the caller's loop over pairs stays vectorisable.
    bad = (n < min_nobs) | (flat_run >= n) | (cxx <= FLAT_REL * sxx) | (cxx <= n * FLAT_VAR_ABS)
    alpha = np.nan if bad else alpha
    beta = np.nan if bad else beta
    return alpha, beta


@njit(cache=True, error_model="numpy")
def _ols_row_nb(
    xr: np.ndarray,
    yr: np.ndarray,
    xo: np.ndarray,
    yo: np.ndarray,
    cnt: np.ndarray,
    sx: np.ndarray,
    sxx: np.ndarray,
    cx: np.ndarray,
    sy: np.ndarray,
    sxy: np.ndarray,
    cy: np.ndarray,
    flat_run: np.ndarray,
    last_x: np.ndarray,
    min_nobs: int,
    ar: np.ndarray,
    br: np.ndarray,
) -> None:
    """One bar of a block of pairs: bar (xr, yr) enters the window, bar (xo, yo) leaves it (all
    NaN while nothing leaves), then alpha and beta from the updated sums.

    One loop, so each pair's state is loaded and stored once per bar; 1-D rows with the state
    rows passed as separate arrays: LLVM needs both to vectorise across the block's pairs.
    """
    for j in range(xr.shape[0]):
        xv = xr[j]
        yv = yr[j]
        ok = finite(xv) & finite(yv)
        gone = finite(xo[j]) & finite(yo[j])
        run = flat_run[j] + 1.0 if xv == last_x[j] else 1.0
        flat_run[j] = run if ok else flat_run[j]
        last_x[j] = xv if ok else last_x[j]
        n, s_x, s_xx, dx, dxo = slide_series(cnt[j], sx[j], sxx[j], xv, ok, xo[j], gone, cx[j])
        _, s_y, _, dy, dyo = slide_series(cnt[j], sy[j], 0.0, yv, ok, yo[j], gone, cy[j])
        s_xy = slide(sxy[j], dx * dy, dxo * dyo)
        cnt[j] = n
        sx[j] = s_x
        sxx[j] = s_xx
        sy[j] = s_y
        sxy[j] = s_xy
        a, b = ols_from_sums(n, s_x, s_y, s_xx, s_xy, cx[j], cy[j], flat_run[j], min_nobs)
        ar[j] = a
        br[j] = b


@njit(cache=True, error_model="numpy")
def _ols_emit_row_nb(state: np.ndarray, min_nobs: int, ar: np.ndarray, br: np.ndarray) -> None:
    """alpha and beta rows from the state as it stands (after a resync)."""
    for j in range(ar.shape[0]):
        a, b = ols_from_sums(
            state[CNT, j],
            state[SX, j],
            state[SY, j],
            state[SXX, j],
            state[SXY, j],
            state[CX, j],
            state[CY, j],
            state[FLAT_RUN, j],
            min_nobs,
        )
        ar[j] = a
        br[j] = b


@njit(cache=True, error_model="numpy")
def ols_state_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    p0: int,
    m: int,
) -> np.ndarray:
    """`new_state` of pairs p0..p0+m-1 with the anchors (cx, cy) at each pair's first valid
    bar, so the first resync_bars updates are already centred to within the drift since then
    instead of ~11."""
    state = new_state(m)
    for j in range(m):
        if iy is None or ix is None:
            ycol = p0 + j
            xcol = p0 + j
        else:
            ycol = iy[p0 + j]
            xcol = ix[p0 + j]
        for t in range(ysrc.shape[0]):
            xv = xsrc[t, xcol]
            yv = ysrc[t, ycol]
            if finite(xv) and finite(yv):
                state[CX, j] = xv
                state[CY, j] = yv
                break
    return state


@njit(cache=True, error_model="numpy")
def ols_step_nb(
    t: int,
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    p0: int,
    p1: int,
    state: np.ndarray,
    bufs: np.ndarray,
    alpha_row: np.ndarray,
    beta_row: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance the rolling OLS of pairs p0..p1-1 to bar t and write its alpha and beta rows.

    Resyncs every resync_bars bars. bufs: (5, p1 - p0) scratch, row 4 all NaN (the leaving bar
    during warm-up). Returns the (y, x) rows of bar t, for the spread.
    """
    yr, xr, yo, xo = bar_rows_nb(ysrc, xsrc, iy, ix, t, t - window_bars, p0, p1, bufs)
    # Warm-up rows: a min_nobs no window reaches, so every value is NaN.
    nobs = min_nobs if t >= window_bars - 1 else window_bars + 1
    s = state
    _ols_row_nb(
        xr, yr, xo, yo, s[CNT], s[SX], s[SXX], s[CX], s[SY], s[SXY], s[CY], s[FLAT_RUN], s[LAST_X],
        nobs, alpha_row, beta_row,
    )  # fmt: skip
    if (t + 1) % resync_bars == 0:
        resync_nb(ysrc, xsrc, iy, ix, t, window_bars, p0, p1, state, bufs[2], bufs[3])
        _ols_emit_row_nb(state, nobs, alpha_row, beta_row)
    return yr, xr


@njit(cache=True, error_model="numpy")
def _ols_block_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    p0: int,
    p1: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
) -> None:
    """Rolling OLS for pairs p0..p1-1, time-major: each bar writes contiguous rows."""
    state = ols_state_nb(ysrc, xsrc, iy, ix, p0, p1 - p0)
    bufs = block_buffers(p1 - p0)
    for t in range(ysrc.shape[0]):
        ar = alpha_out[t, p0:p1]
        br = beta_out[t, p0:p1]
        ols_step_nb(
            t, ysrc, xsrc, iy, ix, window_bars, min_nobs, resync_bars, p0, p1, state, bufs, ar, br
        )


@njit(cache=True, error_model="numpy", parallel=True)
def _ols_par_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
) -> None:
    """`_ols_block_nb` over all blocks of pairs in parallel (see `rows_nb` for the two input
    layouts)."""
    n_pairs = alpha_out.shape[1]
    block = pair_block_size(n_pairs)
    n_blocks = (n_pairs + block - 1) // block
    for b in prange(n_blocks):
        p0 = b * block
        p1 = min(p0 + block, n_pairs)
        _ols_block_nb(
            ysrc, xsrc, iy, ix, window_bars, min_nobs, resync_bars, p0, p1, alpha_out, beta_out
        )


@njit(cache=True, error_model="numpy")
def rolling_ols_into_nb(
    y: np.ndarray,
    x: np.ndarray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
) -> None:
    """Rolling OLS of y on [1, x] for every pair into preallocated (n_bars, n_pairs) outputs.

    Oracle: equals a fresh least-squares fit (numpy lstsq) of the valid bars of each window.
    Alignment: the value at bar t uses bars t-window_bars+1..t. Warm-up: the first
    window_bars-1 rows are NaN. A bar with a non-finite x or y is skipped; the output is NaN when
    fewer than min_nobs valid bars remain, or when x is flat over the window. Parallel over
    blocks of pairs (`pair_block_size`).
    """
    _ols_par_nb(y, x, None, None, window_bars, min_nobs, resync_bars, alpha_out, beta_out)


@njit(cache=True, error_model="numpy")
def rolling_ols_indexed_into_nb(
    log_prices: np.ndarray,
    iy: np.ndarray,
    ix: np.ndarray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    alpha_out: np.ndarray,
    beta_out: np.ndarray,
) -> None:
    """`rolling_ols_into_nb` on log_prices[:, iy], log_prices[:, ix] without building them:
    log_prices (n_bars, n_symbols), iy, ix int64 (n_pairs,), pair p regresses column iy[p] on
    ix[p]; preallocated (n_bars, n_pairs) outputs.

    Oracle: bit-identical to `rolling_ols_into_nb` on the gathered columns. Alignment, warm-up
    and NaN rules as there. x and y are gathered from symbol rows (n_symbols * 8 bytes, in
    cache), so the memory traffic per pair-bar is the 16 bytes written.
    """
    _ols_par_nb(
        log_prices, log_prices, iy, ix, window_bars, min_nobs, resync_bars, alpha_out, beta_out
    )


@njit(cache=True, error_model="numpy")
def spread_row_nb(
    yr: np.ndarray, xr: np.ndarray, ar: np.ndarray, br: np.ndarray, sr: np.ndarray
) -> None:
    """spread = y - alpha - beta * x for one row of a block of pairs."""
    for j in range(sr.shape[0]):
        sr[j] = yr[j] - ar[j] - br[j] * xr[j]


@njit(cache=True, error_model="numpy", inline="always")
def z_from_sums(n: float, s1: float, s2: float, c: float, value: float, min_nobs: int) -> float:
    """(value - mean) / std (ddof=1) from anchored sums; NaN below min_nobs or at zero std.

    Selects, not early returns, so the caller's loop over pairs stays vectorisable.
    """
    m = s1 / n
    css = s2 - s1 * m
    z = (value - c - m) / math.sqrt(css / (n - 1.0))
    bad = (
        (n < min_nobs)
        | (n < 2.0)
        | (value - value != 0.0)
        | (css <= FLAT_REL * s2)
        | (css <= n * FLAT_VAR_ABS)
    )
    return np.nan if bad else z


@njit(cache=True, error_model="numpy")
def _z_row_nb(
    sr: np.ndarray,
    so: np.ndarray,
    cnt: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    c: np.ndarray,
    min_nobs: int,
    zr: np.ndarray,
) -> None:
    """One bar of the z windows of a block of pairs: the spreads sr enter, the spreads so leave
    (all NaN while nothing leaves), then z. One branch-free loop, like `_ols_row_nb`."""
    for j in range(sr.shape[0]):
        v = sr[j]
        w = so[j]
        n, t1, t2, _, _ = slide_series(cnt[j], s1[j], s2[j], v, finite(v), w, finite(w), c[j])
        cnt[j] = n
        s1[j] = t1
        s2[j] = t2
        zr[j] = z_from_sums(n, t1, t2, c[j], v, min_nobs)


@njit(cache=True, error_model="numpy")
def z_step_nb(
    t: int,
    z_window_bars: int,
    min_nobs: int,
    resync_bars: int,
    p0: int,
    p1: int,
    zstate: np.ndarray,
    nan_row: np.ndarray,
    spread_out: np.ndarray,
    z_out: np.ndarray,
) -> None:
    """Bar t of the rolling z of pairs p0..p1-1, once spread_out[t, p0:p1] is written.

    zstate: `new_state(p1 - p0)`, the spread as its x; nan_row: p1 - p0 NaNs. Past spreads are
    read back from spread_out.
    """
    sr = spread_out[t, p0:p1]
    old = t - z_window_bars
    so = spread_out[old, p0:p1] if old >= 0 else nan_row
    # Warm-up rows: a min_nobs no window reaches, so z is NaN.
    nobs = min_nobs if t >= z_window_bars - 1 else z_window_bars + 1
    zr = z_out[t, p0:p1]
    cnt, s1, s2, c = zstate[CNT], zstate[SX], zstate[SXX], zstate[CX]
    _z_row_nb(sr, so, cnt, s1, s2, c, nobs, zr)
    if (t + 1) % resync_bars == 0:
        resync_nb(spread_out, spread_out, None, None, t, z_window_bars, p0, p1, zstate, sr, sr)
        for j in range(sr.shape[0]):
            zr[j] = z_from_sums(cnt[j], s1[j], s2[j], c[j], sr[j], nobs)
