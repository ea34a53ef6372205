"""Stage 3 (stats): mean-reversion statistics of a spread (AR(1) half-life, Hurst exponent) and
the Kalman-filter hedge ratio. Thin wrappers: validate once, then call the Numba kernels in
`pairscan.stats.kernels.meanrev`; no pandas, I/O or trading rules here.

Arrays are float64 shaped (n_bars, n_series), time along axis 0, NaN for a missing bar; a 1-D
array is one series and gives outputs without the series axis. Units of time are bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.market import FloatArray
from pairscan.stats.kernels import meanrev as _k

__all__ = [
    "DEFAULT_DELTA",
    "DEFAULT_INIT_VAR",
    "DEFAULT_MAX_LAG",
    "DEFAULT_OBS_VAR",
    "KalmanResult",
    "half_life",
    "hurst",
    "kalman_hedge",
]

DEFAULT_MAX_LAG = 20
# Kalman defaults are for hourly *log* prices. Chan's (2013) delta = 1e-4, Ve = 1e-3 were set for
# ETF prices; on hourly log prices (x ~ 8-11) they let beta random-walk by ~0.01 per bar, the
# filter absorbs almost every move and the Kalman z has a std of 0.04-0.10 (measured on the demo
# ETH/BTC, SOL/ETH, LTC/BCH pairs). delta = 1e-7, obs_var = 1e-5 (residual std ~0.3 %) gave a
# Kalman z std of 0.7-1.7 and a beta that moves over weeks, not hours.
DEFAULT_DELTA = 1e-7
DEFAULT_OBS_VAR = 1e-5
DEFAULT_INIT_VAR = 1.0


def _as_panel(values: npt.ArrayLike, name: str) -> tuple[FloatArray, bool]:
    """float64 C-contiguous (n_bars, n_series) copy-if-needed, and whether the input was 1-D.

    One memory layout keeps each kernel at a single compiled (cached) signature."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2):
        raise ValueError(
            f"{name}: expected a 1-D or 2-D (n_bars, n_series) array, got {array.ndim}-D"
        )
    was_1d = array.ndim == 1
    panel = np.ascontiguousarray(array[:, None] if was_1d else array)
    if panel.size == 0:
        raise ValueError(f"{name}: empty array of shape {array.shape}")
    if np.isinf(panel).any():
        raise ValueError(f"{name}: contains +/-inf; use NaN for missing bars")
    all_nan = np.isnan(panel).all(axis=0)
    if all_nan.any():
        raise ValueError(f"{name}: column {int(np.argmax(all_nan))} is all NaN")
    return panel, was_1d


def _check_int(value: object, name: str, low: int, high: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name}: must be in [{low}, {high}] ({why}), got {value}")
    return int(value)


def _check_positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    number = float(value)
    if not (np.isfinite(number) and number > 0.0):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
    return number


def half_life(
    spread: npt.ArrayLike, window_bars: int | None = None, min_nobs: int | None = None
) -> FloatArray:
    """Half-life of mean reversion in bars, from the AR(1)/OU fit Δs_t = a + b s_{t-1} + e_t.

    half_life = -ln 2 / ln(1 + b): a deviation shrinks by (1 + b) per bar. (-ln 2 / b is only
    its small-|b| approximation.) b >= 0 (no mean reversion) gives +inf; b <= -1 (overshooting,
    no OU equivalent) gives NaN. Flat spreads give NaN.

    spread: float64[n_bars, n_series] or float64[n_bars], e.g. y - beta x - alpha in log prices.
    window_bars: None for one full-sample fit per series, returning float64[n_series] (a 0-d
        array for 1-D input: use `float(...)`). Otherwise a rolling fit returning
        float64[n_bars, n_series] (or float64[n_bars]); the value at bar t uses bars
        t-window_bars+1..t, and the first window_bars-1 rows are NaN (warm-up).
        3 <= window_bars <= n_bars.
    min_nobs: minimum number of bar pairs (t-1, t) with both values finite in the window (the
        regression's observations); fewer gives NaN. Default: half of the window's pairs
        (at least 2), so isolated gaps are tolerated. Range [2, pairs in the window].

    Oracle: statsmodels `OLS(Δs, [1, s_{t-1}])` on the valid pairs (see the tests).
    """
    panel, was_1d = _as_panel(spread, "spread")
    n_bars = panel.shape[0]
    if window_bars is None:
        n_pairs = n_bars - 1
        if n_pairs < 2:
            raise ValueError(f"spread: need at least 3 bars for a half-life fit, got {n_bars}")
    else:
        window_bars = _check_int(
            window_bars, "window_bars", 3, n_bars, "at least 3 bars, at most n_bars"
        )
        n_pairs = window_bars - 1
    if min_nobs is None:
        min_nobs = max(2, n_pairs // 2)
    else:
        min_nobs = _check_int(min_nobs, "min_nobs", 2, n_pairs, "bar pairs in the window")
    if window_bars is None:
        result = _k.half_life_nb(panel, min_nobs)
        return result.reshape(()) if was_1d else result
    rolling = _k.rolling_half_life_nb(panel, window_bars, min_nobs)
    return rolling[:, 0] if was_1d else rolling


def hurst(
    spread: npt.ArrayLike,
    max_lag: int = DEFAULT_MAX_LAG,
    window_bars: int | None = None,
    min_nobs: int | None = None,
) -> FloatArray:
    """Hurst exponent H of a spread: 0.5 random walk, < 0.5 mean-reverting, > 0.5 trending.

    Estimator (variance of lagged differences): std(s_{t+τ} - s_t) ∝ τ^H, so H is the OLS slope
    of log std on log τ over τ = 2..max_lag (inclusive), std being the population std (ddof=0)
    of the finite τ-differences. This is the increment scaling of fractional Brownian motion
    (Mandelbrot & Van Ness 1968), the q = 2 generalized Hurst exponent (Di Matteo, Aste &
    Dacorogna 2005), as used for mean reversion by Chan (2013), "Algorithmic Trading", ch. 2.
    On a finite mean-reverting spread H falls as max_lag grows past the half-life (the variance
    saturates), so compare H values computed with the same max_lag.

    spread: float64[n_bars, n_series] or float64[n_bars].
    max_lag: largest lag τ in bars; 3 <= max_lag <= L // 2 where L is window_bars (or n_bars),
        so every lag has at least L/2 differences.
    window_bars: None for one value per series (float64[n_series], 0-d for 1-D input); else
        rolling, float64[n_bars, n_series] with the value at bar t using bars
        t-window_bars+1..t and the first window_bars-1 rows NaN (warm-up).
    min_nobs: minimum number of finite differences at every lag; fewer gives NaN. Default: half
        the count at the largest lag, (L - max_lag) // 2, at least 2.
    """
    panel, was_1d = _as_panel(spread, "spread")
    n_bars = panel.shape[0]
    if window_bars is None:
        length = n_bars
        if length < 6:
            raise ValueError(f"spread: need at least 6 bars for a Hurst exponent, got {n_bars}")
    else:
        length = _check_int(
            window_bars, "window_bars", 6, n_bars, "at least 2 * 3 bars, at most n_bars"
        )
    max_lag = _check_int(
        max_lag, "max_lag", 3, length // 2, "two or more lags from 2, at most half the window"
    )
    max_count = length - max_lag
    if min_nobs is None:
        min_nobs = max(2, max_count // 2)
    else:
        min_nobs = _check_int(
            min_nobs, "min_nobs", 2, max_count, "differences available at the largest lag"
        )
    if window_bars is None:
        result = _k.hurst_nb(panel, max_lag, min_nobs)
        return result.reshape(()) if was_1d else result
    rolling = _k.rolling_hurst_nb(panel, length, max_lag, min_nobs)
    return rolling[:, 0] if was_1d else rolling


@dataclass(frozen=True)
class KalmanResult:
    """Outputs of `kalman_hedge`, each float64[n_bars, n_pairs] (or [n_bars] for 1-D input).

    beta, alpha: filtered hedge ratio and intercept after bar t (uses bars <= t); NaN before the
        first bar with both prices finite, carried unchanged through later NaN bars.
    err: one-step forecast error y_t - (beta_{t-1} x_t + alpha_{t-1}); NaN on NaN bars.
    err_var: its variance F P_{t|t-1} F' + obs_var; NaN on NaN bars.
    """

    beta: FloatArray
    alpha: FloatArray
    err: FloatArray
    err_var: FloatArray

    @property
    def zscore(self) -> FloatArray:
        """Kalman z = err / sqrt(err_var): the standardised forecast error, a causal spread
        z-score (about N(0, 1) when the noise parameters fit the data)."""
        return np.asarray(self.err / np.sqrt(self.err_var), dtype=np.float64)


def kalman_hedge(
    y: npt.ArrayLike,
    x: npt.ArrayLike,
    delta: float = DEFAULT_DELTA,
    obs_var: float = DEFAULT_OBS_VAR,
    init_var: float = DEFAULT_INIT_VAR,
) -> KalmanResult:
    """Kalman-filter hedge ratio of y on x, a time-varying alternative to rolling OLS.

    Model (Chan 2013, "Algorithmic Trading", ch. 3, example 3.3): state [beta_t, alpha_t]
    follows a random walk with covariance Q = delta / (1 - delta) * I per bar; observation
    y_t = beta_t x_t + alpha_t + e_t with Var(e_t) = obs_var. Prior: [0, 0] with covariance
    init_var * I. Filtered (causal): outputs at bar t use bars <= t only. Bars where x or y is
    NaN are predict-only (no update). Expect a warm-up of a few hundred bars while the estimate
    leaves the prior.

    y, x: float64[n_bars, n_pairs] or float64[n_bars], same shape; log prices by convention.
    delta: process noise as a fraction, 0 < delta < 1. Larger tracks faster but noisier. Default
        1e-7, tuned for hourly log prices (Chan's 1e-4 was for ETF prices; see DEFAULT_DELTA).
    obs_var: observation noise variance R > 0 in squared log-price units; roughly the squared
        residual std of the spread. Default 1e-5 (a 0.3 % residual).
    init_var: prior variance of beta and alpha, > 0. Default 1.0.
    """
    y_panel, was_1d = _as_panel(y, "y")
    x_panel, x_was_1d = _as_panel(x, "x")
    if x_panel.shape != y_panel.shape or x_was_1d != was_1d:
        raise ValueError(f"x: shape {np.shape(x)} does not match y's {np.shape(y)}")
    delta = _check_positive(delta, "delta")
    if delta >= 1.0:
        raise ValueError(f"delta: must be in (0, 1), got {delta!r}")
    obs_var = _check_positive(obs_var, "obs_var")
    init_var = _check_positive(init_var, "init_var")
    beta, alpha, err, err_var = _k.kalman_hedge_nb(y_panel, x_panel, delta, obs_var, init_var)
    if was_1d:
        return KalmanResult(beta[:, 0], alpha[:, 0], err[:, 0], err_var[:, 0])
    return KalmanResult(beta, alpha, err, err_var)
