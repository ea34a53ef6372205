"""Stage 3 kernels: rolling OLS hedge ratio, spread and z-score for many pairs at once.

Numba only: float64 arrays shaped (n_bars, n_pairs), time along axis 0. No pandas, logging or
I/O; the wrappers in `pairscan.stats.ols` validate inputs and document the public contract.

Numerics. Every window statistic is kept as running sums of deviations from a per-pair anchor
(x - cx, y - cy), added and removed in O(1) per bar. Raw sums of BTC-level log prices (~11) lose
digits to cancellation (var(x) ~ 4e-3 against mean(x)^2 ~ 121) and their rounding errors random-
walk with the series length. Every `resync_bars` bars the anchor moves to the window mean and the
sums are recomputed exactly from the window, so the error is bounded by `resync_bars` updates
(~1e-13 in beta, independent of the number of bars; performance-notes.md section 2).

Missing bars: a bar where x or y is not finite is skipped; a valid count is kept per window.
"""

from __future__ import annotations

import math

import numpy as np
from numba import config, njit, prange

# Pairs processed together by one thread: as few blocks as possible, one per thread, each at most
# MAX_PAIR_BLOCK wide. Each bar of a block reads and writes one contiguous row segment per array,
# and the rows of consecutive bars are n_pairs * 8 bytes apart, so the per-row cost (a new page, a
# new prefetch stream) is paid once per bar and block: wider segments amortise it. Measured on
# 4,950 pairs x 8,760 bars, 2 threads, fused kernel: blocks of 256 0.31 s, 832 0.25 s, one block
# per thread (2,480) 0.22 s. The cap keeps a block's running state (~13 floats per pair) in L2.
MAX_PAIR_BLOCK = 4096
# Thread count the blocks are sized for, frozen into the compiled (and cached) kernels as a
# constant: calling numba.get_num_threads() inside a kernel would make it uncacheable. Only the
# speed depends on it (fewer threads at run time just share the blocks unevenly), never a value.
_BLOCK_THREADS = max(1, int(getattr(config, "NUMBA_NUM_THREADS", 1)))

# A window whose x is flat has no hedge ratio. The centred sum of squares of a flat window is
# zero only up to the rounding of the running sums, which is at most ~resync_bars * eps (~3e-13)
# of the anchored sum of squares; 1e-10 of it is therefore "zero", while any real market window
# (std of log x ~1e-2 against an anchor drift of ~1e-1) sits at 1e-3 or above.
FLAT_REL = 1e-10
# Population variance of log x below (1e-9)^2: prices that moved less than a part per billion.
FLAT_VAR_ABS = 1e-18


@njit(cache=True)
def _pair_block_size(n_pairs: int) -> int:
    """Pairs per block: n_pairs split evenly over the threads (several blocks per thread only
    when a block would exceed MAX_PAIR_BLOCK), rounded up to a multiple of 8 (a cache line)."""
    threads = _BLOCK_THREADS
    per_thread = (n_pairs + threads - 1) // threads
    per_thread_blocks = max(1, (per_thread + MAX_PAIR_BLOCK - 1) // MAX_PAIR_BLOCK)
    size = (n_pairs + threads * per_thread_blocks - 1) // (threads * per_thread_blocks)
    return max(8, (size + 7) // 8 * 8)


@njit(cache=True, error_model="numpy", inline="always")
def _ols_from_sums(
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
    sy: np.ndarray,
    sxx: np.ndarray,
    sxy: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    flat_run: np.ndarray,
    last_x: np.ndarray,
    min_nobs: int,
    ar: np.ndarray,
    br: np.ndarray,
) -> None:
    """One bar of a block of pairs: add the bar entering the window (rows xr, yr), remove the
    bar leaving it (rows xo, yo; all NaN while nothing leaves, which subtracts exact zeros), and
    write alpha and beta from the updated sums.

    The leaving bar was added with the same anchor (anchors only move at a resync, which
    recomputes every bar still in the window). One loop, so each pair's state is loaded and
    stored once per bar; branch-free selects instead of `if finite:`, and 1-D rows with state
    passed as separate arrays: both are needed for LLVM to vectorise across the block's pairs.
    """
    for j in range(xr.shape[0]):
        xv = xr[j]
        yv = yr[j]
        ok = (xv - xv == 0.0) & (yv - yv == 0.0)
        dx = xv - cx[j] if ok else 0.0
        dy = yv - cy[j] if ok else 0.0
        run = flat_run[j] + 1.0 if xv == last_x[j] else 1.0
        flat_run[j] = run if ok else flat_run[j]
        last_x[j] = xv if ok else last_x[j]
        xq = xo[j]
        yq = yo[j]
        gone = (xq - xq == 0.0) & (yq - yq == 0.0)
        dxo = xq - cx[j] if gone else 0.0
        dyo = yq - cy[j] if gone else 0.0
        n = cnt[j] + (1.0 if ok else 0.0)
        n -= 1.0 if gone else 0.0
        cnt[j] = n
        s_x = sx[j] + dx
        s_x -= dxo
        sx[j] = s_x
        s_y = sy[j] + dy
        s_y -= dyo
        sy[j] = s_y
        s_xx = sxx[j] + dx * dx
        s_xx -= dxo * dxo
        sxx[j] = s_xx
        s_xy = sxy[j] + dx * dy
        s_xy -= dxo * dyo
        sxy[j] = s_xy
        a, b = _ols_from_sums(n, s_x, s_y, s_xx, s_xy, cx[j], cy[j], flat_run[j], min_nobs)
        ar[j] = a
        br[j] = b


@njit(cache=True, error_model="numpy")
def _ols_emit_row_nb(
    cnt: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sxx: np.ndarray,
    sxy: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    flat_run: np.ndarray,
    min_nobs: int,
    ar: np.ndarray,
    br: np.ndarray,
) -> None:
    for j in range(cnt.shape[0]):
        a, b = _ols_from_sums(
            cnt[j], sx[j], sy[j], sxx[j], sxy[j], cx[j], cy[j], flat_run[j], min_nobs
        )
        ar[j] = a
        br[j] = b


@njit(cache=True, error_model="numpy")
def _rows_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    t: int,
    p0: int,
    p1: int,
    yb: np.ndarray,
    xb: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bar t of pairs p0..p1-1 as (y, x) rows.

    Two input layouts share every kernel below. Pair-expanded (iy, ix None): ysrc, xsrc are
    (n_bars, n_pairs) and the rows are views. Indexed: ysrc and xsrc are the same
    (n_bars, n_symbols) log prices, pair p regresses column iy[p] on ix[p], and the rows are
    gathered into the buffers yb, xb from the symbol row (n_symbols * 8 bytes, cache-resident)
    instead of reading 16 bytes per pair from memory. `iy is None` is decided at compile time:
    Numba prunes the other branch for each signature.
    """
    if iy is None or ix is None:
        return ysrc[t, p0:p1], xsrc[t, p0:p1]
    yrow = ysrc[t]
    xrow = xsrc[t]
    iyb = iy[p0:p1]
    ixb = ix[p0:p1]
    for j in range(iyb.shape[0]):
        yb[j] = yrow[iyb[j]]
        xb[j] = xrow[ixb[j]]
    return yb, xb


@njit(cache=True, error_model="numpy")
def _bar_rows_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    t: int,
    old: int,
    p0: int,
    p1: int,
    bufs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, x) rows of bar t and of bar old (the one leaving the window; the NaN row bufs[4]
    when old < 0), like `_rows_nb`. The indexed case gathers all four in one loop."""
    if old < 0:
        yr, xr = _rows_nb(ysrc, xsrc, iy, ix, t, p0, p1, bufs[0], bufs[1])
        return yr, xr, bufs[4], bufs[4]
    if iy is None or ix is None:
        return ysrc[t, p0:p1], xsrc[t, p0:p1], ysrc[old, p0:p1], xsrc[old, p0:p1]
    yrow, xrow, yold, xold = ysrc[t], xsrc[t], ysrc[old], xsrc[old]
    iyb = iy[p0:p1]
    ixb = ix[p0:p1]
    yb, xb, yob, xob = bufs[0], bufs[1], bufs[2], bufs[3]
    for j in range(iyb.shape[0]):
        a = iyb[j]
        b = ixb[j]
        yb[j] = yrow[a]
        xb[j] = xrow[b]
        yob[j] = yold[a]
        xob[j] = xold[b]
    return yb, xb, yob, xob


@njit(cache=True, error_model="numpy")
def _ols_state_nb(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    p0: int,
    m: int,
) -> np.ndarray:
    """Running-sum state of pairs p0..p0+m-1, one row each: cnt, sx, sy, sxx, sxy, cx, cy,
    flat_run, last_x. The anchors (cx, cy) start at each pair's first valid bar, so the first
    resync_bars updates are already centred to within the drift since then instead of ~11."""
    state = np.zeros((9, m))
    state[8, :] = np.nan
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
            if np.isfinite(xv) and np.isfinite(yv):
                state[5, j] = xv
                state[6, j] = yv
                break
    return state


@njit(cache=True, error_model="numpy")
def _ols_step_nb(
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

    bufs: (5, p1 - p0) scratch, row 4 all NaN (the leaving bar during warm-up). Returns the
    (y, x) rows of bar t, for the spread.
    """
    cnt, sx, sy, sxx, sxy = state[0], state[1], state[2], state[3], state[4]
    cx, cy, flat_run, last_x = state[5], state[6], state[7], state[8]
    yr, xr, yo, xo = _bar_rows_nb(ysrc, xsrc, iy, ix, t, t - window_bars, p0, p1, bufs)
    # Warm-up rows: a min_nobs no window reaches, so every value is NaN.
    nobs = min_nobs if t >= window_bars - 1 else window_bars + 1
    _ols_row_nb(
        xr, yr, xo, yo, cnt, sx, sy, sxx, sxy, cx, cy, flat_run, last_x, nobs, alpha_row, beta_row
    )
    if (t + 1) % resync_bars == 0:
        _ols_resync(ysrc, xsrc, iy, ix, t, window_bars, p0, p1, state, bufs[2], bufs[3])
        _ols_emit_row_nb(cnt, sx, sy, sxx, sxy, cx, cy, flat_run, nobs, alpha_row, beta_row)
    return yr, xr


@njit(cache=True, error_model="numpy")
def _block_buffers(m: int) -> np.ndarray:
    """Scratch rows for `_ols_step_nb`: four gather rows and one all-NaN row."""
    bufs = np.empty((5, m))
    bufs[4, :] = np.nan
    return bufs


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
    state = _ols_state_nb(ysrc, xsrc, iy, ix, p0, p1 - p0)
    bufs = _block_buffers(p1 - p0)
    for t in range(ysrc.shape[0]):
        _ols_step_nb(
            t,
            ysrc,
            xsrc,
            iy,
            ix,
            window_bars,
            min_nobs,
            resync_bars,
            p0,
            p1,
            state,
            bufs,
            alpha_out[t, p0:p1],
            beta_out[t, p0:p1],
        )


@njit(cache=True, error_model="numpy")
def _ols_resync(
    ysrc: np.ndarray,
    xsrc: np.ndarray,
    iy: np.ndarray | None,
    ix: np.ndarray | None,
    t: int,
    window_bars: int,
    p0: int,
    p1: int,
    state: np.ndarray,
    yb: np.ndarray,
    xb: np.ndarray,
) -> None:
    """Move each anchor to its window mean and recompute the window sums exactly (two passes).

    Row by row over the window (not pair by pair) so the reads stay contiguous.
    """
    cnt, sx, sy, sxx, sxy, cx, cy = (
        state[0],
        state[1],
        state[2],
        state[3],
        state[4],
        state[5],
        state[6],
    )
    m = p1 - p0
    lo = max(0, t - window_bars + 1)
    shift_x = np.zeros(m)
    shift_y = np.zeros(m)
    cnt[:] = 0.0
    for r in range(lo, t + 1):
        yr, xr = _rows_nb(ysrc, xsrc, iy, ix, r, p0, p1, yb, xb)
        for j in range(m):
            ok = (xr[j] - xr[j] == 0.0) & (yr[j] - yr[j] == 0.0)
            cnt[j] += 1.0 if ok else 0.0
            # Sum around the old anchor: exact enough for a new anchor, no cancellation.
            shift_x[j] += xr[j] - cx[j] if ok else 0.0
            shift_y[j] += yr[j] - cy[j] if ok else 0.0
    for j in range(m):
        if cnt[j] > 0.0:
            cx[j] += shift_x[j] / cnt[j]
            cy[j] += shift_y[j] / cnt[j]
    sx[:] = 0.0
    sy[:] = 0.0
    sxx[:] = 0.0
    sxy[:] = 0.0
    for r in range(lo, t + 1):
        yr, xr = _rows_nb(ysrc, xsrc, iy, ix, r, p0, p1, yb, xb)
        for j in range(m):
            ok = (xr[j] - xr[j] == 0.0) & (yr[j] - yr[j] == 0.0)
            dx = xr[j] - cx[j] if ok else 0.0
            dy = yr[j] - cy[j] if ok else 0.0
            sx[j] += dx
            sy[j] += dy
            sxx[j] += dx * dx
            sxy[j] += dx * dy


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
    """`_ols_block_nb` over all blocks of pairs in parallel (see `_rows_nb` for the two input
    layouts)."""
    n_pairs = alpha_out.shape[1]
    block = _pair_block_size(n_pairs)
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
    blocks of pairs (`_pair_block_size`).
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
def rolling_ols_nb(
    y: np.ndarray, x: np.ndarray, window_bars: int, min_nobs: int, resync_bars: int
) -> tuple[np.ndarray, np.ndarray]:
    """`rolling_ols_into_nb` with fresh outputs: returns (alpha, beta), each (n_bars, n_pairs)."""
    alpha = np.empty(y.shape)
    beta = np.empty(y.shape)
    rolling_ols_into_nb(y, x, window_bars, min_nobs, resync_bars, alpha, beta)
    return alpha, beta


@njit(cache=True, error_model="numpy")
def _spread_row_nb(
    yr: np.ndarray, xr: np.ndarray, ar: np.ndarray, br: np.ndarray, sr: np.ndarray
) -> None:
    """spread = y - alpha - beta * x for one row of a block of pairs."""
    for j in range(sr.shape[0]):
        sr[j] = yr[j] - ar[j] - br[j] * xr[j]


@njit(cache=True, error_model="numpy", inline="always")
def _z_from_sums(n: float, s1: float, s2: float, c: float, value: float, min_nobs: int) -> float:
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
    """One bar of the z windows of a block of pairs: add the spreads sr, remove the spreads so
    leaving the window (added with the same anchor; all NaN while nothing leaves), write z.
    One branch-free loop, like `_ols_row_nb`."""
    for j in range(sr.shape[0]):
        v = sr[j]
        ok = v - v == 0.0
        d = v - c[j] if ok else 0.0
        w = so[j]
        gone = w - w == 0.0
        e = w - c[j] if gone else 0.0
        n = cnt[j] + (1.0 if ok else 0.0)
        n -= 1.0 if gone else 0.0
        cnt[j] = n
        t1 = s1[j] + d
        t1 -= e
        s1[j] = t1
        t2 = s2[j] + d * d
        t2 -= e * e
        s2[j] = t2
        zr[j] = _z_from_sums(n, t1, t2, c[j], v, min_nobs)


@njit(cache=True, error_model="numpy")
def _z_emit_row_nb(
    cnt: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    c: np.ndarray,
    sr: np.ndarray,
    min_nobs: int,
    zr: np.ndarray,
) -> None:
    for j in range(sr.shape[0]):
        zr[j] = _z_from_sums(cnt[j], s1[j], s2[j], c[j], sr[j], min_nobs)


@njit(cache=True, error_model="numpy")
def _z_resync(
    spread: np.ndarray,
    t: int,
    z_window_bars: int,
    p0: int,
    m: int,
    cnt: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    c: np.ndarray,
) -> None:
    """Move each anchor to its window mean and recompute the z sums exactly, row by row."""
    lo = max(0, t - z_window_bars + 1)
    cnt[:] = 0.0
    s1[:] = 0.0
    for r in range(lo, t + 1):
        sr = spread[r, p0 : p0 + m]
        for j in range(m):
            ok = sr[j] - sr[j] == 0.0
            cnt[j] += 1.0 if ok else 0.0
            s1[j] += sr[j] - c[j] if ok else 0.0
    for j in range(m):
        if cnt[j] > 0.0:
            c[j] += s1[j] / cnt[j]
    s1[:] = 0.0
    s2[:] = 0.0
    for r in range(lo, t + 1):
        sr = spread[r, p0 : p0 + m]
        for j in range(m):
            d = sr[j] - c[j] if sr[j] - sr[j] == 0.0 else 0.0
            s1[j] += d
            s2[j] += d * d


@njit(cache=True, error_model="numpy")
def _z_step_nb(
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

    zstate: (4, p1 - p0) cnt, s1, s2, anchor; nan_row: p1 - p0 NaNs. Past spreads are read
    back from spread_out.
    """
    cnt, s1, s2, c = zstate[0], zstate[1], zstate[2], zstate[3]
    sr = spread_out[t, p0:p1]
    old = t - z_window_bars
    so = spread_out[old, p0:p1] if old >= 0 else nan_row
    # Warm-up rows: a min_nobs no window reaches, so z is NaN.
    nobs = min_nobs if t >= z_window_bars - 1 else z_window_bars + 1
    zr = z_out[t, p0:p1]
    _z_row_nb(sr, so, cnt, s1, s2, c, nobs, zr)
    if (t + 1) % resync_bars == 0:
        _z_resync(spread_out, t, z_window_bars, p0, p1 - p0, cnt, s1, s2, c)
        _z_emit_row_nb(cnt, s1, s2, c, sr, nobs, zr)


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
    zstate, nan_row = _z_state_nb(p1 - p0)
    for t in range(y.shape[0]):
        _spread_row_nb(
            y[t, p0:p1], x[t, p0:p1], alpha[t, p0:p1], beta[t, p0:p1], spread_out[t, p0:p1]
        )
        _z_step_nb(
            t, z_window_bars, min_nobs, resync_bars, p0, p1, zstate, nan_row, spread_out, z_out
        )


@njit(cache=True, error_model="numpy")
def _z_state_nb(m: int) -> tuple[np.ndarray, np.ndarray]:
    """z-window state of m pairs (cnt, s1, s2, anchor) and a row of m NaNs for `_z_step_nb`.

    OLS residuals have mean ~0 in their own window, so 0 is a good anchor until the first
    resync moves it to the window mean.
    """
    return np.zeros((4, m)), np.full(m, np.nan)


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
    block = _pair_block_size(n_pairs)
    n_blocks = (n_pairs + block - 1) // block
    for b in prange(n_blocks):
        p0 = b * block
        p1 = min(p0 + block, n_pairs)
        _spread_z_block_nb(
            y, x, alpha, beta, z_window_bars, min_nobs, resync_bars, p0, p1, spread_out, z_out
        )


@njit(cache=True, error_model="numpy")
def spread_zscore_nb(
    y: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    z_window_bars: int,
    min_nobs: int,
    resync_bars: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`spread_zscore_into_nb` with fresh outputs: returns (spread, z), each (n_bars, n_pairs)."""
    spread = np.empty(y.shape)
    z = np.empty(y.shape)
    spread_zscore_into_nb(y, x, alpha, beta, z_window_bars, min_nobs, resync_bars, spread, z)
    return spread, z


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
    state = _ols_state_nb(ysrc, xsrc, iy, ix, p0, p1 - p0)
    bufs = _block_buffers(p1 - p0)
    zstate, nan_row = _z_state_nb(p1 - p0)
    for t in range(ysrc.shape[0]):
        ar = alpha_out[t, p0:p1]
        br = beta_out[t, p0:p1]
        yr, xr = _ols_step_nb(
            t, ysrc, xsrc, iy, ix, window_bars, min_nobs, resync_bars, p0, p1, state, bufs, ar, br
        )
        _spread_row_nb(yr, xr, ar, br, spread_out[t, p0:p1])
        _z_step_nb(
            t, z_window_bars, z_min_nobs, z_resync_bars, p0, p1, zstate, nan_row, spread_out, z_out
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
    """`_pair_stats_block_nb` over all blocks of pairs in parallel (see `_rows_nb` for the two
    input layouts)."""
    n_pairs = alpha_out.shape[1]
    block = _pair_block_size(n_pairs)
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
def rolling_ols_spread_z_nb(
    y: np.ndarray,
    x: np.ndarray,
    window_bars: int,
    min_nobs: int,
    resync_bars: int,
    z_window_bars: int,
    z_min_nobs: int,
    z_resync_bars: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`rolling_ols_spread_z_into_nb` with fresh outputs: (alpha, beta, spread, z)."""
    alpha = np.empty(y.shape)
    beta = np.empty(y.shape)
    spread = np.empty(y.shape)
    z = np.empty(y.shape)
    rolling_ols_spread_z_into_nb(
        y,
        x,
        window_bars,
        min_nobs,
        resync_bars,
        z_window_bars,
        z_min_nobs,
        z_resync_bars,
        alpha,
        beta,
        spread,
        z,
    )
    return alpha, beta, spread, z


@njit(cache=True, error_model="numpy")
def _pair_last_nb(
    ys: np.ndarray,
    xs: np.ndarray,
    t0: int,
    n_bars: int,
    window_bars: int,
    z_window_bars: int,
    min_nobs: int,
    z_min_nobs: int,
    resync_bars: int,
    spreads: np.ndarray,
) -> tuple[float, float, float, float]:
    """Last-bar alpha, beta, spread, z of one pair from its rows of the symbol-major slice.

    ys, xs hold bars t0..n_bars-1. The same sums and flat rule as `_ols_block_nb`; the z window
    is held whole in `spreads`, so z is a two-pass mean/std of it.
    """
    length = n_bars - t0
    z_base = n_bars - z_window_bars  # global bar of spreads[0]
    spreads[:] = np.nan
    cnt = 0.0
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    sxy = 0.0
    cx = 0.0
    cy = 0.0
    for k in range(length):
        if np.isfinite(xs[k]) and np.isfinite(ys[k]):
            cx = xs[k]
            cy = ys[k]
            break
    last_x = np.nan
    flat_run = 0.0
    alpha = np.nan
    beta = np.nan
    for k in range(length):
        t = t0 + k
        xv = xs[k]
        yv = ys[k]
        if np.isfinite(xv) and np.isfinite(yv):
            dx = xv - cx
            dy = yv - cy
            cnt += 1.0
            sx += dx
            sy += dy
            sxx += dx * dx
            sxy += dx * dy
            flat_run = flat_run + 1.0 if xv == last_x else 1.0
            last_x = xv
        if k >= window_bars:
            xo = xs[k - window_bars]
            yo = ys[k - window_bars]
            if np.isfinite(xo) and np.isfinite(yo):
                dx = xo - cx
                dy = yo - cy
                cnt -= 1.0
                sx -= dx
                sy -= dy
                sxx -= dx * dx
                sxy -= dx * dy
        # Exact start at the first full window of the slice, then the usual resync cadence.
        if k == window_bars - 1 or (k >= window_bars and (k + 1 - window_bars) % resync_bars == 0):
            lo = max(0, k - window_bars + 1)
            kk = 0.0
            mx = 0.0
            my = 0.0
            for r in range(lo, k + 1):
                if np.isfinite(xs[r]) and np.isfinite(ys[r]):
                    kk += 1.0
                    mx += xs[r] - cx
                    my += ys[r] - cy
            if kk > 0.0:
                cx += mx / kk
                cy += my / kk
            cnt = kk
            sx = 0.0
            sy = 0.0
            sxx = 0.0
            sxy = 0.0
            for r in range(lo, k + 1):
                if np.isfinite(xs[r]) and np.isfinite(ys[r]):
                    dx = xs[r] - cx
                    dy = ys[r] - cy
                    sx += dx
                    sy += dy
                    sxx += dx * dx
                    sxy += dx * dy
        if t >= z_base and t >= window_bars - 1:
            alpha, beta = _ols_from_sums(cnt, sx, sy, sxx, sxy, cx, cy, flat_run, min_nobs)
            spreads[t - z_base] = yv - alpha - beta * xv
    spread = spreads[z_window_bars - 1]
    if n_bars < z_window_bars or not np.isfinite(spread):
        return alpha, beta, spread, np.nan
    n = 0.0
    acc = 0.0
    for i in range(z_window_bars):
        if np.isfinite(spreads[i]):
            n += 1.0
            acc += spreads[i]
    if n < z_min_nobs or n < 2.0:
        return alpha, beta, spread, np.nan
    mean = acc / n
    css = 0.0
    s2 = 0.0
    for i in range(z_window_bars):
        if np.isfinite(spreads[i]):
            d = spreads[i] - mean
            css += d * d
            s2 += spreads[i] * spreads[i]
    # Same zero-variance rule as the every-bar kernel (there relative to the anchored sum of
    # squares, whose anchor is close to the window mean; here relative to the raw one).
    if css <= FLAT_REL * s2 or css <= n * FLAT_VAR_ABS:
        return alpha, beta, spread, np.nan
    return alpha, beta, spread, (spread - mean) / math.sqrt(css / (n - 1.0))


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
    float64 (n_pairs,) arrays equal (to rounding, ~1e-12) to the last row of `rolling_ols_nb`
    followed by `spread_zscore_nb` on the gathered pair columns. The last z depends only on the
    last window_bars + z_window_bars - 1 bars, so only those are read: they are transposed once
    into a symbol-major slice (contiguous rows per symbol), and no (n_bars, n_pairs) array is
    ever built.
    """
    n_bars, n_symbols = log_prices.shape
    n_pairs = iy.shape[0]
    length = min(n_bars, window_bars + z_window_bars - 1)
    t0 = n_bars - length
    sym = np.empty((n_symbols, length))
    for col in prange(n_symbols):
        for k in range(length):
            sym[col, k] = log_prices[t0 + k, col]
    alpha = np.empty(n_pairs)
    beta = np.empty(n_pairs)
    spread = np.empty(n_pairs)
    z = np.empty(n_pairs)
    chunk = 64
    n_chunks = (n_pairs + chunk - 1) // chunk
    for c in prange(n_chunks):
        spreads = np.empty(z_window_bars)
        for p in range(c * chunk, min((c + 1) * chunk, n_pairs)):
            a, b, s, zz = _pair_last_nb(
                sym[iy[p]],
                sym[ix[p]],
                t0,
                n_bars,
                window_bars,
                z_window_bars,
                min_nobs,
                z_min_nobs,
                resync_bars,
                spreads,
            )
            alpha[p] = a
            beta[p] = b
            spread[p] = s
            z[p] = zz
    return alpha, beta, spread, z
