"""Stage 3 (stats): rolling OLS hedge ratio, spread and z-score for all pairs at once.

Thin wrappers around `pairscan.stats.kernels.pair_stats`: validate once, call one Numba kernel.
No I/O and no trading rule here.

Conventions shared by every function:

* Inputs are **log prices** by default (`log_prices` makes them): the hedge ratio beta is then
  the elasticity of y to x and the spread is a log-price residual. Plain prices work too, but
  then beta is a ratio of price units and is not comparable across pairs.
* Shapes: float64 `(n_bars, n_pairs)`, time along axis 0 (oldest first), column p of `y` is
  regressed on column p of `x`. A 1-D array is one pair and comes back 1-D.
  `rolling_pair_stats_indexed` and `pair_stats_last` take one `(n_bars, n_symbols)` matrix
  and integer columns `iy`, `ix` instead (pair p regresses symbol iy[p] on ix[p]) and never
  build the pair columns.
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

from pairscan.stats.kernels.pair_stats import (
    pair_stats_indexed_into_nb,
    pair_stats_last_nb,
    rolling_ols_spread_z_into_nb,
)

__all__ = [
    "log_prices",
    "pair_stats_last",
    "rolling_pair_stats",
    "rolling_pair_stats_indexed",
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


def rolling_pair_stats(
    y: Any,
    x: Any,
    window_bars: int,
    z_window_bars: int,
    min_nobs: int | None = None,
    z_min_nobs: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Rolling hedge ratio y_t = alpha + beta x_t + e, its spread and the spread's rolling
    z-score, for every pair at once in one pass over y and x.

    y, x: float64 (n_bars, n_pairs) log prices (1-D = one pair, returned 1-D).
    window_bars: OLS window in bars, 3..n_bars; min_nobs: valid bars (x and y both finite) it
        needs, 3..window_bars, default window_bars (any missing bar in the window gives NaN).
    z_window_bars: z-score window in bars, 3..n_bars; z_min_nobs: finite spreads it needs,
        3..z_window_bars, default z_window_bars.
    Returns (alpha, beta, spread, z), each float64 shaped like y: alpha and spread in log-price
    units, beta unitless, z = (spread_t - mean) / std (ddof=1) in standard deviations.

    Alignment (all causal): alpha and beta at bar t use bars t-window_bars+1..t; the spread at t
    is y_t - alpha_t - beta_t x_t; z at t uses the spreads of bars t-z_window_bars+1..t.
    Warm-up: the first window_bars-1 rows of alpha, beta and spread and the first
    z_window_bars-1 rows of z are NaN. NaN also below min_nobs valid bars, where x is flat over
    the window (a forward-filled outage: population std of x below 1e-9, or below the rounding
    level of the running sums; beta is undefined there), below z_min_nobs finite spreads, and
    where the spreads are all equal.
    Oracles: alpha, beta equal a fresh least-squares fit (numpy lstsq, or statsmodels
    RollingOLS(method="lstsq", missing="drop")) of the valid bars of each window to ~1e-12; z
    equals pandas `spread.rolling(z_window_bars, min_periods=z_min_nobs)` mean/std to ~1e-9.
    Cost: O(1) per bar and pair (anchored running sums, exact recompute every 2 windows).
    """
    y2, one_d = _as_2d(y, "y")
    x2, _ = _as_2d(x, "x")
    _check_same_shape(y2, "y", x2, "x")
    n_bars = y2.shape[0]
    window, nobs, z_window, z_nobs = _check_pair_windows(
        n_bars, window_bars, min_nobs, z_window_bars, z_min_nobs
    )
    alpha, beta, spread, z = (np.empty(y2.shape) for _ in range(4))
    rolling_ols_spread_z_into_nb(
        y2,
        x2,
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
    window_bars, min_nobs, z_window_bars, z_min_nobs: the windows and their rules, as in
        `rolling_pair_stats`.
    Returns (alpha, beta, spread, z), each float64 (n_pairs,), for bar n_bars-1.

    Equals the last row of `rolling_pair_stats` on the columns log_prices[:, iy],
    log_prices[:, ix] (oracle, to ~1e-10) without building those (n_bars, n_pairs) matrices:
    only the last window_bars + z_window_bars - 1 bars are read, and memory is
    O(n_symbols x that + n_pairs).
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
    window_bars, min_nobs, z_window_bars, z_min_nobs: the windows and their rules, as in
        `rolling_pair_stats`.
    Returns (alpha, beta, spread, z), each float64 (n_bars, n_pairs): alpha and spread in
    log-price units, beta unitless, z in standard deviations.

    Oracle: bit-identical (NaNs included) to `rolling_pair_stats(log_prices[:, iy],
    log_prices[:, ix], ...)`; alignment, warm-up and NaN rules as there. Its last row equals
    `pair_stats_last` (to ~1e-10), which computes only that row. Memory: the outputs only; the
    two (n_bars, n_pairs) input matrices (2 x 347 MB for 4,950 pairs x 8,760 bars) are never
    built, x and y are read from the symbol rows.
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
