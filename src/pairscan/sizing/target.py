"""Stage 5 (sizing): the vectorised part, spread-return vol and vol-targeted leg notionals.

Thin wrappers around `pairscan.sizing.kernels`: validate once, call one Numba kernel. The scan
(one bar) and the backtest (every bar of every pair) size with this same code. No I/O here.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from pairscan.config import SizingConfig
from pairscan.market import MS_PER_DAY, FloatArray
from pairscan.sizing.kernels import spread_return_vol_nb, target_notional_nb
from pairscan.stats.ols import _as_2d, _check_int
from pairscan.stats.ols import _check_same_shape as _check_shape

__all__ = ["bars_per_year", "default_vol_nobs", "spread_vol", "target_notional"]

IntArray = npt.NDArray[np.int64]

DAYS_PER_YEAR = 365  # crypto trades every day of the year, around the clock
MIN_VOL_NOBS = 3


def bars_per_year(timeframe_ms: int) -> float:
    """Bars in a 365-day year: 365 * 86,400,000 / timeframe_ms (`1h` bars: 8760)."""
    return DAYS_PER_YEAR * MS_PER_DAY / _check_timeframe_ms(timeframe_ms)


def _check_timeframe_ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise ValueError(f"timeframe_ms: expected a positive bar length in ms, got {value!r}")
    return int(value)


def default_vol_nobs(window_bars: int) -> int:
    """Valid returns a vol window needs by default: half of it, at least MIN_VOL_NOBS, so a few
    missing bars do not blank the vol."""
    return max(MIN_VOL_NOBS, (window_bars + 1) // 2)


def spread_vol(
    log_y: Any, log_x: Any, beta: Any, window_bars: int, min_nobs: int | None = None
) -> FloatArray:
    """Per-bar volatility of the spread s = log y - alpha - beta log x, for every pair at once.

    log_y, log_x: float64 (n_bars, n_pairs) log prices (`pairscan.stats.log_prices`), NaN for
        missing bars; 1-D = one pair, returned 1-D.
    beta: the hedge ratio known at each bar (`pairscan.stats.rolling_pair_stats`), same shape.
    window_bars: returns in the window, 3..n_bars (the config's `sizing.vol_window_bars`).
    min_nobs: valid returns the window needs, 3..window_bars; default half the window (at
        least 3), so a few missing bars do not blank the vol.
    Returns float64 like log_y: the std (ddof=1) of d_t = dlog y_t - beta_t dlog x_t over the
    window, in log units per bar; alpha cancels in the differences.

    Alignment: the value at bar t uses prices of bars t-window_bars..t and beta_t only (causal).
    NaN where fewer than min_nobs returns are valid (a return needs both legs at t and t-1) or
    beta_t is NaN. Forward-filled bars give zero returns and lower the estimate slightly.
    """
    y2, one_d = _as_2d(log_y, "log_y")
    x2, _ = _as_2d(log_x, "log_x")
    b2, _ = _as_2d(beta, "beta")
    _check_shape(y2, "log_y", x2, "log_x")
    _check_shape(y2, "log_y", b2, "beta")
    n_bars = y2.shape[0]
    window = _check_int(window_bars, "window_bars", MIN_VOL_NOBS, max(n_bars, MIN_VOL_NOBS))
    default_nobs = default_vol_nobs(window)
    nobs = default_nobs if min_nobs is None else _check_int(min_nobs, "min_nobs", 3, window)
    vol = spread_return_vol_nb(y2, x2, b2, window, nobs, 2 * window)
    return vol[:, 0] if one_d else vol


def _broadcast(value: Any, ref: FloatArray, one_d: bool, name: str) -> FloatArray:
    """`value` (None, a number, or an array of the caller's spread_vol shape) as ref's 2-D shape."""
    if value is None:
        return np.full(ref.shape, np.nan)
    shape = (ref.shape[0],) if one_d else ref.shape
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a number or an array of shape {shape}") from exc
    return np.ascontiguousarray(arr.reshape(ref.shape))


def target_notional(
    spread_vol: Any,
    beta: Any,
    config: SizingConfig,
    timeframe_ms: int,
    *,
    edge_mean: Any = None,
    edge_var: Any = None,
) -> tuple[FloatArray, IntArray]:
    """Vol-targeted, pair- and Kelly-capped notional of the y leg for every (bar, pair).

    spread_vol: float64 (n_bars, n_pairs) per-bar spread-return vol (`spread_vol`); 1-D = one
        pair, returned 1-D.
    beta: hedge ratios, same shape. The x leg's notional is beta times the y leg's.
    config: capital_quote, target_vol, max_pair_gross, kelly_fraction are used.
    timeframe_ms: bar length (`pairscan.market.timeframe_ms("1h")` = 3,600,000).
    edge_mean, edge_var: per-bar mean and variance of the pair's return on gross notional
        (P&L of a bar in position / gross notional), a number or an array of spread_vol's shape;
        None or NaN = no estimate, no Kelly cap.
    Returns (notional_y, code): notional_y float64 quote currency >= 0 (0 where dropped),
        code int64 `SizeCode` (what set the size, or why there is none).

    notional_y = min(target_vol * capital / (spread_vol * sqrt(bars_per_year)),
                     max_pair_gross * capital / (1 + |beta|),
                     kelly_fraction * edge_mean / edge_var * capital / (1 + |beta|)).
    """
    s2, one_d = _as_2d(spread_vol, "spread_vol")
    b2, _ = _as_2d(beta, "beta")
    _check_shape(s2, "spread_vol", b2, "beta")
    if not isinstance(config, SizingConfig):
        raise ValueError(f"config: expected a SizingConfig, got {type(config).__name__}")
    if (edge_mean is None) != (edge_var is None):
        raise ValueError("edge_var: give edge_mean and edge_var together, or neither")
    mean = _broadcast(edge_mean, s2, one_d, "edge_mean")
    var = _broadcast(edge_var, s2, one_d, "edge_var")
    if np.any(var < 0.0):
        raise ValueError("edge_var: a variance must be >= 0 (NaN = no estimate)")
    if np.any(np.isinf(mean)):
        raise ValueError("edge_mean: must be finite (NaN = no estimate)")
    notional, code = target_notional_nb(
        s2,
        b2,
        mean,
        var,
        config.target_vol,
        config.capital_quote,
        bars_per_year(timeframe_ms),
        config.max_pair_gross,
        config.kelly_fraction,
    )
    if one_d:
        return notional[:, 0], code[:, 0]
    return notional, code
