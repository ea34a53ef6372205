"""Stage 3 kernels: the running window every rolling kernel shares, and how rows are read.

The rolling OLS, the spread's z-score and the scan's last-bar path (`rolling`, `pair_stats`)
share one window arithmetic: `slide_series` as one bar enters and one leaves, and the resync
(`centre_add`, `recentre`, `sums_add`) that recomputes it exactly from the window. The every-bar
kernels hold it for a block of pairs in one state array (`new_state`, rows CNT..LAST_X, one
column per pair) and resync it row by row (`resync_nb`); the last-bar path holds one pair's in
registers and resyncs its contiguous series (`resync_series_nb`): measured, a block of pairs
there compiled 4x slower (18 s vs 4 s cold) and ran ~15 % slower than one pair at a time. One
arithmetic, so the every-bar paths agree to the last bit and scan mode differs only by where
its window starts. Split from `rolling` so that the window is written once and each module
stays readable.

Numerics. Every window statistic is kept as running sums of deviations from a per-pair anchor
(x - cx, y - cy), added and removed in O(1) per bar. Raw sums of BTC-level log prices (~11) lose
digits to cancellation (var(x) ~ 4e-3 against mean(x)^2 ~ 121) and their rounding errors random-
walk with the series length. Every `resync_bars` bars the anchor moves to the window mean and the
sums are recomputed exactly from the window, so the error is bounded by `resync_bars` updates
(~1e-13 in beta, independent of the number of bars; performance-notes.md section 2).

Missing bars: a bar where x or y is not finite is skipped; a valid count is kept per window.
Numba only, no pandas, logging or I/O.
"""

from __future__ import annotations

import numpy as np
from numba import config, njit

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

# Rows of the running-window state (`new_state`), one column per pair. A z window uses the x
# rows only (its series is the spread); flat_run/last_x are the OLS's flat-x rule.
CNT, SX, SXX, CX, SY, SXY, CY, FLAT_RUN, LAST_X = range(9)


@njit(cache=True)
def pair_block_size(n_pairs: int) -> int:
    """Pairs per block: n_pairs split evenly over the threads (several blocks per thread only
    when a block would exceed MAX_PAIR_BLOCK), rounded up to a multiple of 8 (a cache line)."""
    threads = _BLOCK_THREADS
    per_thread = (n_pairs + threads - 1) // threads
    per_thread_blocks = max(1, (per_thread + MAX_PAIR_BLOCK - 1) // MAX_PAIR_BLOCK)
    size = (n_pairs + threads * per_thread_blocks - 1) // (threads * per_thread_blocks)
    return max(8, (size + 7) // 8 * 8)


@njit(cache=True, error_model="numpy", inline="always")
def finite(v: float) -> bool:
    """v is neither NaN nor infinite: v - v is 0.0 then and NaN otherwise, with no branch."""
    return v - v == 0.0


@njit(cache=True, error_model="numpy", inline="always")
def slide(total: float, entering: float, leaving: float) -> float:
    """total + entering - leaving, in this order on every path (the sums stay bit-identical)."""
    total += entering
    total -= leaving
    return total


@njit(cache=True, error_model="numpy", inline="always")
def slide_series(
    n: float,
    s1: float,
    s2: float,
    v_in: float,
    ok_in: bool,
    v_out: float,
    ok_out: bool,
    anchor: float,
) -> tuple[float, float, float, float, float]:
    """One pair's window of one series after bar v_in enters and bar v_out leaves it.

    n, s1, s2: valid count, sum and sum of squares of the deviations from `anchor`; ok_in,
    ok_out: whether each bar counts (a skipped bar, or no leaving bar during warm-up, adds an
    exact zero). Returns the new (n, s1, s2) and the two deviations, for cross sums. The leaving
    bar was added with the same anchor: anchors only move in `resync_nb`, which recomputes every
    bar still in the window. Selects, not branches, so the caller's loop over pairs vectorises.
    """
    # No bar entering adds -0.0, no bar leaving subtracts +0.0: both are exact for every value
    # (a sum of +0.0 may only turn -0.0 into +0.0), and both are identities LLVM removes where a
    # flag is a constant (the one-pair scan path), so the chain of dependent adds stays as short
    # as a hand-written add or remove.
    d_in = v_in - anchor if ok_in else -0.0
    d_out = v_out - anchor if ok_out else 0.0
    sq_in = d_in * d_in if ok_in else -0.0
    # `slide`'s order (entering added, then leaving removed), written out: an inlined helper
    # inside an inlined helper costs compile time at every call site.
    n = n + (1.0 if ok_in else -0.0) - (1.0 if ok_out else 0.0)
    return n, s1 + d_in - d_out, s2 + sq_in - d_out * d_out, d_in, d_out


@njit(cache=True, error_model="numpy", inline="always")
def centre_add(
    n: float, shift_x: float, shift_y: float, xv: float, yv: float, ok: bool, cx: float, cy: float
) -> tuple[float, float, float]:
    """Resync, first pass: count bar (xv, yv) if ok (both finite) and add its deviations from
    the old anchors (cx, cy); summed around the old anchor, the mean needs no cancellation."""
    n += 1.0 if ok else 0.0
    shift_x += xv - cx if ok else 0.0
    shift_y += yv - cy if ok else 0.0
    return n, shift_x, shift_y


@njit(cache=True, error_model="numpy", inline="always")
def recentre(anchor: float, shift: float, n: float) -> float:
    """Resync: the new anchor, the window mean (anchor + mean deviation); kept if n is 0."""
    return anchor + shift / n if n > 0.0 else anchor


@njit(cache=True, error_model="numpy", inline="always")
def sums_add(
    sx: float,
    sy: float,
    sxx: float,
    sxy: float,
    xv: float,
    yv: float,
    ok: bool,
    cx: float,
    cy: float,
) -> tuple[float, float, float, float]:
    """Resync, second pass: add bar (xv, yv) to window sums around the new anchors (cx, cy),
    an exact zero unless ok, as `slide_series` adds it."""
    dx = xv - cx if ok else 0.0
    dy = yv - cy if ok else 0.0
    return sx + dx, sy + dy, sxx + dx * dx, sxy + dx * dy


@njit(cache=True, error_model="numpy")
def new_state(m: int) -> np.ndarray:
    """Running-window state of m pairs, rows CNT..LAST_X: empty windows anchored at 0.

    0 suits a z window from the start (OLS residuals have mean ~0 in their own window) until
    the first resync moves it; `ols_state_nb` anchors the OLS at each pair's first bar.
    """
    state = np.zeros((9, m))
    state[LAST_X, :] = np.nan
    return state


@njit(cache=True, error_model="numpy")
def rows_nb(
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
def bar_rows_nb(
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
    when old < 0), like `rows_nb`. The indexed case gathers all four in one loop."""
    if old < 0:
        yr, xr = rows_nb(ysrc, xsrc, iy, ix, t, p0, p1, bufs[0], bufs[1])
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
def block_buffers(m: int) -> np.ndarray:
    """Scratch rows for `ols_step_nb`: four gather rows and one all-NaN row."""
    bufs = np.empty((5, m))
    bufs[4, :] = np.nan
    return bufs


@njit(cache=True, error_model="numpy")
def resync_nb(
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
    """Move each anchor to its window mean and recompute the window sums exactly (two passes
    over bars t-window_bars+1..t, rows as `rows_nb` reads them).

    A z window passes its spreads as both x and y and reads only the x rows of the state. Row by
    row over the window (not pair by pair) so the reads stay contiguous.
    """
    cnt, sx, sxx, cx = state[CNT], state[SX], state[SXX], state[CX]
    sy, sxy, cy = state[SY], state[SXY], state[CY]
    m = p1 - p0
    lo = max(0, t - window_bars + 1)
    shift_x = np.zeros(m)
    shift_y = np.zeros(m)
    cnt[:] = 0.0
    for r in range(lo, t + 1):
        yr, xr = rows_nb(ysrc, xsrc, iy, ix, r, p0, p1, yb, xb)
        for j in range(m):
            ok = finite(xr[j]) & finite(yr[j])
            n, shift_x[j], shift_y[j] = centre_add(
                cnt[j], shift_x[j], shift_y[j], xr[j], yr[j], ok, cx[j], cy[j]
            )
            cnt[j] = n
    for j in range(m):
        cx[j] = recentre(cx[j], shift_x[j], cnt[j])
        cy[j] = recentre(cy[j], shift_y[j], cnt[j])
    for row in (sx, sy, sxx, sxy):
        row[:] = 0.0
    for r in range(lo, t + 1):
        yr, xr = rows_nb(ysrc, xsrc, iy, ix, r, p0, p1, yb, xb)
        for j in range(m):
            ok = finite(xr[j]) & finite(yr[j])
            sx[j], sy[j], sxx[j], sxy[j] = sums_add(
                sx[j], sy[j], sxx[j], sxy[j], xr[j], yr[j], ok, cx[j], cy[j]
            )


@njit(cache=True, error_model="numpy")
def resync_series_nb(
    ys: np.ndarray, xs: np.ndarray, lo: int, hi: int, cx: float, cy: float
) -> tuple[float, float, float, float, float, float, float]:
    """`resync_nb` for one pair whose bars lo..hi-1 are the contiguous series ys, xs (the scan's
    last-bar path): the same two passes and the same arithmetic (`centre_add`, `recentre`,
    `sums_add`), one pair at a time. Returns (n, sx, sy, sxx, sxy, cx, cy)."""
    n = 0.0
    shift_x = 0.0
    shift_y = 0.0
    # Branches, not selects: one pair's bars are scalar code, where a well-predicted branch is
    # cheaper than computing both sides; ok=True folds the helpers' selects away.
    for r in range(lo, hi):
        if finite(xs[r]) and finite(ys[r]):
            n, shift_x, shift_y = centre_add(n, shift_x, shift_y, xs[r], ys[r], True, cx, cy)
    cx = recentre(cx, shift_x, n)
    cy = recentre(cy, shift_y, n)
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    sxy = 0.0
    for r in range(lo, hi):
        if finite(xs[r]) and finite(ys[r]):
            sx, sy, sxx, sxy = sums_add(sx, sy, sxx, sxy, xs[r], ys[r], True, cx, cy)
    return n, sx, sy, sxx, sxy, cx, cy
