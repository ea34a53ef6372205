"""Stage 3 (stats): rolling OLS hedge ratio, spread and z-score for all pairs at once.

One module (~440 lines): every public wrapper shares the same validation helpers and
label handling below; split, those would become a public API.

Thin wrappers around `pairscan.stats.kernels.rolling`: validate once, call one Numba kernel,
re-attach pandas labels. No I/O and no trading rule here.

Conventions shared by every function:

* Inputs are **log prices** by default (`log_prices` makes them): the hedge ratio beta is then
  the elasticity of y to x and the spread is a log-price residual. Plain prices work too, but
  then beta is a ratio of price units and is not comparable across pairs.
* Shapes: float64 `(n_bars, n_pairs)`, time along axis 0 (oldest first), column p of `y` is
  regressed on column p of `x`. A 1-D array is one pair and comes back 1-D. The `*_indexed`
  functions and `pair_stats_last` take one `(n_bars, n_symbols)` matrix and integer columns
  `iy`, `ix` instead (pair p regresses symbol iy[p] on ix[p]) and never build the pair columns.
* Units: windows are counted in bars (hourly candles: `window_bars=720` is 30 days).
* Missing bars: a bar where x or y is NaN (or infinite) is skipped. A window needs at least
  `min_nobs` valid bars (default: the whole window), else the output is NaN. All-NaN columns are
  allowed and give NaN.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pairscan.stats.kernels.rolling import (
    pair_stats_indexed_into_nb,
    pair_stats_last_nb,
    rolling_ols_indexed_into_nb,
    rolling_ols_nb,
    rolling_ols_spread_z_nb,
    spread_zscore_nb,
)

__all__ = [
    "log_prices",
    "pair_stats_last",
    "rolling_ols",
    "rolling_ols_frame",
    "rolling_ols_indexed",
    "rolling_pair_stats",
    "rolling_pair_stats_indexed",
    "spread_zscore",
    "spread_zscore_frame",
]

FloatArray = npt.NDArray[np.float64]
Labeled = pd.DataFrame | pd.Series

MIN_WINDOW_BARS = 3


def resync_bars_for(window_bars: int) -> int:
    """Bars between exact recomputes of the running sums: 2 windows.

    One window of extra work every two windows costs ~5-15 % and bounds the rounding to 2W
    updates; performance-notes.md section 2 measured 1e-13 in beta for R = W..4W.
    """
    return 2 * window_bars


def _as_2d(value: Any, name: str) -> tuple[FloatArray, bool]:
    """float64 C-contiguous (n_bars, n_pairs) view or copy of `value`, and whether it was 1-D."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__}") from exc
    if arr.ndim == 1:
        return np.ascontiguousarray(arr.reshape(-1, 1)), True
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 1-D or 2-D (n_bars, n_pairs) array, got {arr.ndim}-D")
    return np.ascontiguousarray(arr), False


def _check_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer number of bars, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name}: must be between {low} and {high} bars, got {int(value)}")
    return int(value)


def _check_same_shape(ref: FloatArray, ref_name: str, other: FloatArray, name: str) -> None:
    if other.shape != ref.shape:
        raise ValueError(f"{name}: shape {other.shape} does not match {ref_name} shape {ref.shape}")


def _check_windows(
    n_bars: int, window_bars: Any, min_nobs: Any, window_name: str, nobs_name: str
) -> tuple[int, int]:
    if n_bars < MIN_WINDOW_BARS:
        raise ValueError(
            f"{window_name}: needs at least {MIN_WINDOW_BARS} bars of data, got {n_bars}"
        )
    window = _check_int(window_bars, window_name, MIN_WINDOW_BARS, n_bars)
    nobs = window if min_nobs is None else _check_int(min_nobs, nobs_name, MIN_WINDOW_BARS, window)
    return window, nobs


def _check_pair_windows(
    n_bars: int, window_bars: Any, min_nobs: Any, z_window_bars: Any, z_min_nobs: Any
) -> tuple[int, int, int, int]:
    """The OLS window and the z window with their min_nobs, each checked by `_check_windows`."""
    window, nobs = _check_windows(n_bars, window_bars, min_nobs, "window_bars", "min_nobs")
    z_window, z_nobs = _check_windows(
        n_bars, z_window_bars, z_min_nobs, "z_window_bars", "z_min_nobs"
    )
    return window, nobs, z_window, z_nobs


def _out(arr: FloatArray, one_d: bool) -> FloatArray:
    return arr[:, 0] if one_d else arr


def log_prices(prices: Any) -> Any:
    """Natural log of prices: the input every function of this module expects by default.

    prices: array-like, DataFrame or Series of prices (any shape); NaN marks a missing bar and
    stays NaN. Returns the same kind of object (pandas labels kept), float64.
    Raises ValueError naming `prices` if a value is zero, negative or infinite.
    """
    values = prices.to_numpy(dtype=np.float64) if isinstance(prices, Labeled) else prices
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"prices: expected numeric prices, got {type(prices).__name__}") from exc
    bad = ~(np.isnan(arr) | (np.isfinite(arr) & (arr > 0.0)))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"prices: must be > 0 and finite (NaN marks a missing bar); {int(bad.sum())} values "
            f"are not, the first at position {where}: {arr[where]!r}"
        )
    logged = np.log(arr)
    if isinstance(prices, pd.DataFrame):
        return pd.DataFrame(logged, index=prices.index, columns=prices.columns)
    if isinstance(prices, pd.Series):
        return pd.Series(logged, index=prices.index, name=prices.name)
    return logged


def rolling_ols(
    y: Any, x: Any, window_bars: int, min_nobs: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """Rolling OLS hedge ratio of y on [1, x] for every pair at once: y_t = alpha + beta x_t + e.

    y, x: float64 (n_bars, n_pairs) log prices (1-D = one pair, returned 1-D).
    window_bars: window length in bars, 3..n_bars.
    min_nobs: valid bars (x and y both finite) a window needs, 3..window_bars; default
        window_bars (any missing bar in the window gives NaN).
    Returns (alpha, beta), each float64 shaped like y; alpha in log-price units, beta unitless.

    Alignment: the value at bar t uses bars t-window_bars+1..t only (causal). Warm-up: the first
    window_bars-1 rows are NaN. NaN also where fewer than min_nobs valid bars are in the window,
    and where x is flat over the window (a forward-filled outage: population std of x below 1e-9,
    or below the rounding level of the running sums), because beta is undefined there.
    Oracle: a fresh least-squares fit (numpy lstsq, or statsmodels
    RollingOLS(method="lstsq", missing="drop")) of the valid bars of each window, to ~1e-12.
    Cost: O(1) per bar and pair (anchored running sums, exact recompute every 2 windows).
    """
    y2, one_d = _as_2d(y, "y")
    x2, _ = _as_2d(x, "x")
    _check_same_shape(y2, "y", x2, "x")
    window, nobs = _check_windows(y2.shape[0], window_bars, min_nobs, "window_bars", "min_nobs")
    alpha, beta = rolling_ols_nb(y2, x2, window, nobs, resync_bars_for(window))
    return _out(alpha, one_d), _out(beta, one_d)


def spread_zscore(
    y: Any, x: Any, alpha: Any, beta: Any, z_window_bars: int, min_nobs: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """Spread y - alpha_t - beta_t x_t and its rolling z-score, for every pair at once.

    y, x: float64 (n_bars, n_pairs) log prices; alpha, beta: the hedge ratio known at each bar
    (from `rolling_ols`), same shape. 1-D inputs are one pair and come back 1-D.
    z_window_bars: z-score window in bars, 3..n_bars.
    min_nobs: finite spreads the z window needs, 3..z_window_bars; default z_window_bars.
    Returns (spread, z): spread in log-price units, z = (spread_t - mean) / std in std units.

    Alignment: the spread at bar t uses alpha_t, beta_t, y_t, x_t; z at bar t uses the spreads of
    bars t-z_window_bars+1..t (mean and std with ddof=1). Both causal. Warm-up: the first
    z_window_bars-1 rows of z are NaN, and the spread is NaN wherever alpha/beta are (the first
    window_bars-1 rows of `rolling_ols`). z is NaN with fewer than min_nobs finite spreads, or when
    they are all equal.
    Oracle: pandas `spread.rolling(z_window_bars, min_periods=min_nobs)` mean/std, to ~1e-9.
    """
    y2, one_d = _as_2d(y, "y")
    x2, _ = _as_2d(x, "x")
    a2, _ = _as_2d(alpha, "alpha")
    b2, _ = _as_2d(beta, "beta")
    _check_same_shape(y2, "y", x2, "x")
    _check_same_shape(y2, "y", a2, "alpha")
    _check_same_shape(y2, "y", b2, "beta")
    window, nobs = _check_windows(y2.shape[0], z_window_bars, min_nobs, "z_window_bars", "min_nobs")
    spread, z = spread_zscore_nb(y2, x2, a2, b2, window, nobs, resync_bars_for(window))
    return _out(spread, one_d), _out(z, one_d)


def rolling_pair_stats(
    y: Any,
    x: Any,
    window_bars: int,
    z_window_bars: int,
    min_nobs: int | None = None,
    z_min_nobs: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """`rolling_ols` then `spread_zscore` on its alpha/beta, fused into one pass over y and x.

    Same arguments, alignment, warm-up and NaN rules as those two functions (z_min_nobs is the
    `min_nobs` of `spread_zscore`); returns (alpha, beta, spread, z), each float64 shaped like y,
    bit-identical to the two-step path but without re-reading alpha and beta from memory.
    """
    y2, one_d = _as_2d(y, "y")
    x2, _ = _as_2d(x, "x")
    _check_same_shape(y2, "y", x2, "x")
    n_bars = y2.shape[0]
    window, nobs, z_window, z_nobs = _check_pair_windows(
        n_bars, window_bars, min_nobs, z_window_bars, z_min_nobs
    )
    alpha, beta, spread, z = rolling_ols_spread_z_nb(
        y2,
        x2,
        window,
        nobs,
        resync_bars_for(window),
        z_window,
        z_nobs,
        resync_bars_for(z_window),
    )
    return _out(alpha, one_d), _out(beta, one_d), _out(spread, one_d), _out(z, one_d)


def pair_stats_last(
    log_prices: Any,
    iy: Any,
    ix: Any,
    window_bars: int,
    z_window_bars: int,
    *,
    min_nobs: int | None = None,
    z_min_nobs: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Scan mode: the last bar's alpha, beta, spread and z of every pair, nothing else.

    log_prices: float64 (n_bars, n_symbols) log closes (log prices by default: see
        `log_prices`), NaN for missing bars.
    iy, ix: integer (n_pairs,) column indices; pair p regresses symbol iy[p] on symbol ix[p].
    window_bars, min_nobs: the OLS window and its rule, as in `rolling_ols`.
    z_window_bars, z_min_nobs: the z window and its rule, as in `spread_zscore`.
    Returns (alpha, beta, spread, z), each float64 (n_pairs,), for bar n_bars-1.

    Equals the last row of `rolling_ols` then `spread_zscore` on the columns
    log_prices[:, iy], log_prices[:, ix] (oracle, to ~1e-10) without building those
    (n_bars, n_pairs) matrices: only the last window_bars + z_window_bars - 1 bars are read, and
    memory is O(n_symbols x that + n_pairs).
    """
    lp, iy_arr, ix_arr = _check_indexed(log_prices, iy, ix)
    n_bars = lp.shape[0]
    window, nobs, z_window, z_nobs = _check_pair_windows(
        n_bars, window_bars, min_nobs, z_window_bars, z_min_nobs
    )
    alpha, beta, spread, z = pair_stats_last_nb(
        lp, iy_arr, ix_arr, window, z_window, nobs, z_nobs, resync_bars_for(window)
    )
    return alpha, beta, spread, z


def rolling_ols_indexed(
    log_prices: Any,
    iy: Any,
    ix: Any,
    window_bars: int,
    *,
    min_nobs: int | None = None,
) -> tuple[FloatArray, FloatArray]:
    """`rolling_ols` for pairs of columns of one price matrix, without building the pair columns.

    log_prices: float64 (n_bars, n_symbols) log closes (see `log_prices`), NaN for missing bars.
    iy, ix: integer (n_pairs,) column indices; pair p regresses symbol iy[p] on symbol ix[p]
        (`all_pairs` gives every unordered pair).
    window_bars, min_nobs: the OLS window and its rule, as in `rolling_ols`.
    Returns (alpha, beta), each float64 (n_bars, n_pairs): alpha in log-price units, beta
    unitless.

    Oracle: bit-identical (NaNs included) to `rolling_ols(log_prices[:, iy], log_prices[:, ix],
    window_bars, min_nobs)`, itself equal to lstsq on each window to ~1e-12. Alignment: the
    value at bar t uses bars t-window_bars+1..t only. Warm-up: the first window_bars-1 rows are
    NaN; NaN also below min_nobs valid bars and where x is flat, as in `rolling_ols`. Memory:
    the outputs only; the two (n_bars, n_pairs) input matrices of `rolling_ols` (2 x 347 MB for
    4,950 pairs x 8,760 bars) are never built, x and y are read from the symbol rows.
    """
    lp, iy_arr, ix_arr = _check_indexed(log_prices, iy, ix)
    window, nobs = _check_windows(lp.shape[0], window_bars, min_nobs, "window_bars", "min_nobs")
    shape = (lp.shape[0], iy_arr.shape[0])
    alpha, beta = np.empty(shape), np.empty(shape)
    rolling_ols_indexed_into_nb(
        lp, iy_arr, ix_arr, window, nobs, resync_bars_for(window), alpha, beta
    )
    return alpha, beta


def rolling_pair_stats_indexed(
    log_prices: Any,
    iy: Any,
    ix: Any,
    window_bars: int,
    z_window_bars: int,
    *,
    min_nobs: int | None = None,
    z_min_nobs: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """`rolling_pair_stats` (alpha, beta, spread and z at every bar) for pairs of columns of one
    price matrix, without building the pair columns.

    log_prices: float64 (n_bars, n_symbols) log closes (see `log_prices`), NaN for missing bars.
    iy, ix: integer (n_pairs,) column indices; pair p regresses symbol iy[p] on symbol ix[p].
    window_bars, min_nobs: the OLS window and its rule, as in `rolling_ols`.
    z_window_bars, z_min_nobs: the z window and its rule, as in `spread_zscore`.
    Returns (alpha, beta, spread, z), each float64 (n_bars, n_pairs): alpha and spread in
    log-price units, beta unitless, z in standard deviations.

    Oracle: bit-identical (NaNs included) to `rolling_pair_stats(log_prices[:, iy],
    log_prices[:, ix], ...)`, i.e. to `rolling_ols` then `spread_zscore`. Alignment: alpha and
    beta at bar t use bars t-window_bars+1..t; the spread at t uses them and the prices of bar t;
    z at t uses the spreads of bars t-z_window_bars+1..t; all causal. Warm-up: the first
    window_bars-1 rows of alpha, beta and spread and the first z_window_bars-1 rows of z are
    NaN. NaN rules (min_nobs, flat x, equal spreads) as in those functions. Its last row equals
    `pair_stats_last` (to ~1e-10), which computes only that row.
    """
    lp, iy_arr, ix_arr = _check_indexed(log_prices, iy, ix)
    n_bars = lp.shape[0]
    window, nobs, z_window, z_nobs = _check_pair_windows(
        n_bars, window_bars, min_nobs, z_window_bars, z_min_nobs
    )
    shape = (n_bars, iy_arr.shape[0])
    alpha, beta, spread, z = (np.empty(shape) for _ in range(4))
    pair_stats_indexed_into_nb(
        lp,
        iy_arr,
        ix_arr,
        window,
        nobs,
        resync_bars_for(window),
        z_window,
        z_nobs,
        resync_bars_for(z_window),
        alpha,
        beta,
        spread,
        z,
    )
    return alpha, beta, spread, z


def _check_index(value: Any, name: str, n_symbols: int) -> npt.NDArray[np.int64]:
    arr = np.asarray(value)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name}: expected a 1-D integer array of symbol columns")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_symbols):
        raise ValueError(f"{name}: symbol columns must be in 0..{n_symbols - 1}")
    return arr


def _check_indexed(
    log_prices: Any, iy: Any, ix: Any
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Validated (log_prices, iy, ix) of the indexed functions: a C-contiguous float64
    (n_bars, n_symbols) matrix and two int64 (n_pairs,) column arrays of distinct symbols."""
    lp = np.asarray(log_prices, dtype=np.float64)
    if lp.ndim != 2:
        raise ValueError(f"log_prices: expected (n_bars, n_symbols), got {lp.ndim}-D")
    lp = np.ascontiguousarray(lp)
    n_symbols = lp.shape[1]
    iy_arr = _check_index(iy, "iy", n_symbols)
    ix_arr = _check_index(ix, "ix", n_symbols)
    if iy_arr.shape != ix_arr.shape:
        raise ValueError(f"ix: length {ix_arr.shape[0]} does not match iy length {iy_arr.shape[0]}")
    same = np.flatnonzero(iy_arr == ix_arr)
    if same.size:
        raise ValueError(
            f"ix: pair {int(same[0])} regresses symbol {int(ix_arr[same[0]])} on itself"
        )
    return lp, iy_arr, ix_arr


def _labels(ref: Labeled, other: Labeled, name: str, ref_name: str) -> None:
    if not isinstance(other, Labeled):
        raise ValueError(f"{name}: expected a DataFrame or Series like {ref_name}")
    if other.shape != ref.shape:
        raise ValueError(f"{name}: shape {other.shape} does not match {ref_name} {ref.shape}")
    if not other.index.equals(ref.index):
        raise ValueError(f"{name}: index is not aligned with {ref_name}'s (reindex both first)")


def _like(ref: Labeled, values: FloatArray) -> Labeled:
    if isinstance(ref, pd.DataFrame):
        return pd.DataFrame(values, index=ref.index, columns=ref.columns)
    return pd.Series(values, index=ref.index, name=ref.name)


def rolling_ols_frame(
    y: Labeled, x: Labeled, window_bars: int, min_nobs: int | None = None
) -> tuple[Labeled, Labeled]:
    """`rolling_ols` on pandas: y, x are DataFrames (n_bars, n_pairs) or Series of log prices
    on the same index (column p of y on column p of x). Returns (alpha, beta) with y's index and
    columns (or name). Alignment, warm-up, min_nobs rule and oracle as in `rolling_ols`."""
    if not isinstance(y, Labeled):
        raise ValueError("y: expected a DataFrame or Series")
    _labels(y, x, "x", "y")
    alpha, beta = rolling_ols(y.to_numpy(np.float64), x.to_numpy(np.float64), window_bars, min_nobs)
    return _like(y, alpha), _like(y, beta)


def spread_zscore_frame(
    y: Labeled,
    x: Labeled,
    alpha: Labeled,
    beta: Labeled,
    z_window_bars: int,
    min_nobs: int | None = None,
) -> tuple[Labeled, Labeled]:
    """`spread_zscore` on pandas objects sharing y's index and shape. Returns (spread, z) with
    y's index and columns. Alignment, warm-up and oracle as in `spread_zscore`."""
    if not isinstance(y, Labeled):
        raise ValueError("y: expected a DataFrame or Series")
    for name, other in (("x", x), ("alpha", alpha), ("beta", beta)):
        _labels(y, other, name, "y")
    spread, z = spread_zscore(
        y.to_numpy(np.float64),
        x.to_numpy(np.float64),
        alpha.to_numpy(np.float64),
        beta.to_numpy(np.float64),
        z_window_bars,
        min_nobs,
    )
    return _like(y, spread), _like(y, z)
