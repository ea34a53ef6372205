"""Numba kernels for mean-reversion statistics of a spread: AR(1) half-life, Hurst exponent and
the Kalman-filter hedge ratio. Arrays in, arrays out: no pandas, validation or I/O here (the
wrappers in `pairscan.stats.meanrev` validate once).

One module (~470 lines): one kernel per wrapper of `pairscan.stats.meanrev`, and the
half-life and Hurst kernels share the resync and flatness rules (RESYNC_WINDOWS, FLAT_REL_TOL).

All inputs are float64 C-contiguous arrays shaped (n_bars, n_series), time along axis 0; NaN marks
a missing bar. Every rolling output at bar t depends on bars <= t only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from pairscan.market import FloatArray

LN2 = math.log(2.0)

# Running sums are rebuilt exactly from the window every RESYNC_WINDOWS * window_bars bars:
# rounding errors then stay bounded by that many updates instead of growing with the series
# length (performance-notes section 2: ~1e-13 with anchored sums, R = W..4W).
RESYNC_WINDOWS = 4

# A centred sum of squares below this fraction of the anchored (uncentred) one is rounding
# noise, i.e. the regressor is flat over the window (forward-filled outage, pegged market): the
# slope is undefined, so the kernels return NaN rather than a meaningless finite number.
FLAT_REL_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# Half-life of mean reversion
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def half_life_from_slope_nb(b: float) -> float:
    """Half-life in bars of the AR(1) fit  Δs_t = a + b s_{t-1} + e_t.

    The fit is s_t = a + (1 + b) s_{t-1} + e_t, so a deviation from the mean shrinks by the
    factor (1 + b) per bar and halves after h bars where (1 + b)^h = 1/2:
    h = -ln 2 / ln(1 + b). The common shortcut -ln 2 / b is the continuous-time (OU) limit
    ln(1 + b) ~ b, exact only for |b| << 1 (b = -0.5 gives 1.39 bars instead of 1).

    b >= 0: no mean reversion, +inf (the limit as b -> 0-, so a "half-life below N bars" filter
    rejects it without a special case). b <= -1: 1 + b <= 0 is an overshooting/alternating AR
    coefficient that no OU process produces; the half-life is undefined: NaN. NaN b: NaN.
    """
    if not math.isfinite(b) or b <= -1.0:
        return math.nan
    if b >= 0.0:
        return math.inf
    return -LN2 / math.log1p(b)


@njit(cache=True)
def _half_life_1d(s: FloatArray, min_nobs: int) -> float:
    """Two-pass centred OLS slope of Δs_t on [1, s_{t-1}] over all valid pairs of s."""
    n_bars = s.shape[0]
    n = 0
    anchor = 0.0
    sum_z = 0.0
    sum_d = 0.0
    for k in range(1, n_bars):
        if math.isfinite(s[k]) and math.isfinite(s[k - 1]):
            # Anchoring at a data point makes a flat regressor exactly zero, so the flatness
            # test below sees 0 instead of the rounding error of a mean of equal values.
            if n == 0:
                anchor = s[k - 1]
            n += 1
            sum_z += s[k - 1] - anchor
            sum_d += s[k] - s[k - 1]
    if n < min_nobs or n < 2:
        return math.nan
    mean_z = sum_z / n
    mean_d = sum_d / n
    czz = 0.0
    czd = 0.0
    raw_zz = 0.0
    for k in range(1, n_bars):
        if math.isfinite(s[k]) and math.isfinite(s[k - 1]):
            z = s[k - 1] - anchor
            czz += (z - mean_z) ** 2
            czd += (z - mean_z) * (s[k] - s[k - 1] - mean_d)
            raw_zz += z * z
    # Same flatness rule as the rolling kernel, so the two agree on degenerate windows too.
    if czz <= FLAT_REL_TOL * raw_zz or czz <= 0.0:
        return math.nan
    return half_life_from_slope_nb(czd / czz)


@njit(cache=True, parallel=True)
def half_life_nb(spread: FloatArray, min_nobs: int) -> FloatArray:
    """Full-window half-life in bars, one value per series: float64[n_series].

    Oracle: equals -ln 2 / ln(1 + b) with b the slope of statsmodels `OLS(Δs_t, [1, s_{t-1}])`
    fitted on the bar pairs (t-1, t) where both spread values are finite. NaN when fewer than
    `min_nobs` such pairs exist or the spread is flat; +inf when b >= 0 (see
    `half_life_from_slope_nb`).
    """
    n_series = spread.shape[1]
    out = np.empty(n_series, dtype=np.float64)
    for j in prange(n_series):
        out[j] = _half_life_1d(spread[:, j], min_nobs)
    return out


@njit(cache=True)
def _rolling_half_life_1d(s: FloatArray, window_bars: int, min_nobs: int, out: FloatArray) -> None:
    n_bars = s.shape[0]
    resync_every = RESYNC_WINDOWS * window_bars
    # Anchored sums over the window's valid pairs k (regressor z = s[k-1] - anchor, response
    # d = s[k] - s[k-1]). Shifting z by an anchor near the data removes the cancellation of
    # raw sums of spread levels; the slope is invariant to the shift.
    n = 0
    sum_z = 0.0
    sum_zz = 0.0
    sum_d = 0.0
    sum_zd = 0.0
    anchor = 0.0
    for t in range(n_bars):
        # The window at bar t covers bars t-window+1..t, i.e. pairs k = t-window+2..t.
        first_pair = max(1, t - window_bars + 2)
        if t % resync_every == 0:
            anchor = 0.0
            for k in range(t, first_pair - 1, -1):
                if math.isfinite(s[k]) and math.isfinite(s[k - 1]):
                    anchor = s[k - 1]
                    break
            n = 0
            sum_z = 0.0
            sum_zz = 0.0
            sum_d = 0.0
            sum_zd = 0.0
            for k in range(first_pair, t + 1):
                if math.isfinite(s[k]) and math.isfinite(s[k - 1]):
                    z = s[k - 1] - anchor
                    d = s[k] - s[k - 1]
                    n += 1
                    sum_z += z
                    sum_zz += z * z
                    sum_d += d
                    sum_zd += z * d
        else:
            if t >= 1 and math.isfinite(s[t]) and math.isfinite(s[t - 1]):
                z = s[t - 1] - anchor
                d = s[t] - s[t - 1]
                n += 1
                sum_z += z
                sum_zz += z * z
                sum_d += d
                sum_zd += z * d
            leaving = t - window_bars + 1
            if leaving >= 1 and math.isfinite(s[leaving]) and math.isfinite(s[leaving - 1]):
                z = s[leaving - 1] - anchor
                d = s[leaving] - s[leaving - 1]
                n -= 1
                sum_z -= z
                sum_zz -= z * z
                sum_d -= d
                sum_zd -= z * d
        if t < window_bars - 1 or n < min_nobs or n < 2:
            out[t] = math.nan
            continue
        czz = sum_zz - sum_z * sum_z / n
        czd = sum_zd - sum_z * sum_d / n
        if czz <= FLAT_REL_TOL * sum_zz or czz <= 0.0:
            out[t] = math.nan
            continue
        out[t] = half_life_from_slope_nb(czd / czz)


@njit(cache=True, parallel=True)
def rolling_half_life_nb(spread: FloatArray, window_bars: int, min_nobs: int) -> FloatArray:
    """Rolling half-life in bars: float64[n_bars, n_series].

    Alignment: the value at bar t uses spread bars t-window_bars+1..t, i.e. the window_bars-1
    pairs (t-1, t) inside it; a pair counts only if both bars are finite. Warm-up: the first
    window_bars-1 rows are NaN; later rows are NaN when fewer than `min_nobs` pairs are valid or
    the spread is flat over the window. O(1) per bar (anchored sums, exact rebuild every
    RESYNC_WINDOWS * window_bars bars).

    Oracle: equals `half_life_nb` applied to each window (itself the statsmodels OLS fit).
    """
    n_bars, n_series = spread.shape
    out = np.empty((n_bars, n_series), dtype=np.float64)
    for j in prange(n_series):
        _rolling_half_life_1d(spread[:, j], window_bars, min_nobs, out[:, j])
    return out


# --------------------------------------------------------------------------------------------
# Hurst exponent (variance of lagged differences)
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _hurst_slope(log_std: FloatArray, max_lag: int) -> float:
    """OLS slope of log std(τ) on log τ over τ = 2..max_lag."""
    n_lags = max_lag - 1
    mean_x = 0.0
    mean_y = 0.0
    for i in range(n_lags):
        mean_x += math.log(i + 2.0)
        mean_y += log_std[i]
    mean_x /= n_lags
    mean_y /= n_lags
    sxx = 0.0
    sxy = 0.0
    for i in range(n_lags):
        dx = math.log(i + 2.0) - mean_x
        sxx += dx * dx
        sxy += dx * (log_std[i] - mean_y)
    return sxy / sxx


@njit(cache=True)
def _hurst_1d(s: FloatArray, max_lag: int, min_nobs: int) -> float:
    """Two-pass population std of the finite τ-differences for each lag, then the slope."""
    n_bars = s.shape[0]
    log_std = np.empty(max_lag - 1, dtype=np.float64)
    for lag in range(2, max_lag + 1):
        n = 0
        total = 0.0
        for k in range(lag, n_bars):
            d = s[k] - s[k - lag]
            if math.isfinite(d):
                n += 1
                total += d
        if n < min_nobs or n < 2:
            return math.nan
        mean = total / n
        ss = 0.0
        raw = 0.0
        for k in range(lag, n_bars):
            d = s[k] - s[k - lag]
            if math.isfinite(d):
                ss += (d - mean) ** 2
                raw += d * d
        # Equal differences (flat or exactly linear series): the std is zero up to rounding and
        # its log meaningless.
        if ss <= FLAT_REL_TOL * raw or ss <= 0.0:
            return math.nan
        log_std[lag - 2] = 0.5 * math.log(ss / n)
    return _hurst_slope(log_std, max_lag)


@njit(cache=True, parallel=True)
def hurst_nb(spread: FloatArray, max_lag: int, min_nobs: int) -> FloatArray:
    """Full-window Hurst exponent, one value per series: float64[n_series].

    Estimator: std(s_{t+τ} - s_t) ∝ τ^H, H = OLS slope of log std on log τ, τ = 2..max_lag
    inclusive, std the population (ddof=0) std of the finite τ-differences. This is the scaling
    law of fractional Brownian motion increments (Mandelbrot & Van Ness 1968), i.e. the q = 2
    generalized Hurst exponent (Di Matteo, Aste & Dacorogna 2005), the estimator of Chan (2013),
    "Algorithmic Trading", ch. 2. H = 0.5 random walk, < 0.5 mean-reverting, > 0.5 trending.

    NaN when some lag has fewer than `min_nobs` finite differences or zero variance.
    Oracle: a plain numpy `np.std` per lag + `np.polyfit(log τ, log std, 1)`.
    """
    n_series = spread.shape[1]
    out = np.empty(n_series, dtype=np.float64)
    for j in prange(n_series):
        out[j] = _hurst_1d(spread[:, j], max_lag, min_nobs)
    return out


@njit(cache=True)
def _hurst_resync(
    s: FloatArray,
    t: int,
    window_bars: int,
    max_lag: int,
    count: np.ndarray,
    anchor: FloatArray,
    sum1: FloatArray,
    sum2: FloatArray,
) -> None:
    """Exact rebuild of every lag's sums over the window ending at bar t, anchored at the
    window's mean difference so the running variance needs no large cancellation."""
    start = max(0, t - window_bars + 1)
    for lag in range(2, max_lag + 1):
        i = lag - 2
        n = 0
        total = 0.0
        for k in range(start + lag, t + 1):
            d = s[k] - s[k - lag]
            if math.isfinite(d):
                n += 1
                total += d
        a = total / n if n > 0 else 0.0
        s1 = 0.0
        s2 = 0.0
        for k in range(start + lag, t + 1):
            d = s[k] - s[k - lag]
            if math.isfinite(d):
                s1 += d - a
                s2 += (d - a) ** 2
        count[i] = n
        anchor[i] = a
        sum1[i] = s1
        sum2[i] = s2


@njit(cache=True)
def _rolling_hurst_1d(
    s: FloatArray, window_bars: int, max_lag: int, min_nobs: int, out: FloatArray
) -> None:
    n_bars = s.shape[0]
    n_lags = max_lag - 1
    resync_every = RESYNC_WINDOWS * window_bars
    count = np.zeros(n_lags, dtype=np.int64)
    anchor = np.zeros(n_lags, dtype=np.float64)
    sum1 = np.zeros(n_lags, dtype=np.float64)
    sum2 = np.zeros(n_lags, dtype=np.float64)
    log_std = np.empty(n_lags, dtype=np.float64)
    for t in range(n_bars):
        if t % resync_every == 0:
            _hurst_resync(s, t, window_bars, max_lag, count, anchor, sum1, sum2)
        else:
            for lag in range(2, max_lag + 1):
                i = lag - 2
                # Difference entering: (t - lag, t); leaving: (t - window, t - window + lag),
                # the one whose older bar just dropped out of the window.
                if t - lag >= 0:
                    d = s[t] - s[t - lag]
                    if math.isfinite(d):
                        count[i] += 1
                        sum1[i] += d - anchor[i]
                        sum2[i] += (d - anchor[i]) ** 2
                old = t - window_bars
                if old >= 0:
                    d = s[old + lag] - s[old]
                    if math.isfinite(d):
                        count[i] -= 1
                        sum1[i] -= d - anchor[i]
                        sum2[i] -= (d - anchor[i]) ** 2
        if t < window_bars - 1:
            out[t] = math.nan
            continue
        value = 0.0
        for i in range(n_lags):
            n = count[i]
            if n < min_nobs or n < 2:
                value = math.nan
                break
            ss = sum2[i] - sum1[i] * sum1[i] / n
            # Same flatness rule as `_hurst_1d`: compare with the uncentred sum of d², rebuilt
            # from the anchored sums (Σd² = Σ(d-a)² + 2aΣ(d-a) + n a²).
            raw = sum2[i] + 2.0 * anchor[i] * sum1[i] + n * anchor[i] ** 2
            if ss <= FLAT_REL_TOL * raw or ss <= 0.0:
                value = math.nan
                break
            log_std[i] = 0.5 * math.log(ss / n)
        out[t] = value if math.isnan(value) else _hurst_slope(log_std, max_lag)


@njit(cache=True, parallel=True)
def rolling_hurst_nb(
    spread: FloatArray, window_bars: int, max_lag: int, min_nobs: int
) -> FloatArray:
    """Rolling Hurst exponent (estimator of `hurst_nb`): float64[n_bars, n_series].

    Alignment: the value at bar t uses bars t-window_bars+1..t (for lag τ, the differences
    s_k - s_{k-τ} with both bars inside). Warm-up: the first window_bars-1 rows are NaN.
    O(max_lag) per bar: per-lag anchored running sums, rebuilt exactly every
    RESYNC_WINDOWS * window_bars bars. Oracle: equals `hurst_nb` applied to each window.
    """
    n_bars, n_series = spread.shape
    out = np.empty((n_bars, n_series), dtype=np.float64)
    for j in prange(n_series):
        _rolling_hurst_1d(spread[:, j], window_bars, max_lag, min_nobs, out[:, j])
    return out


# --------------------------------------------------------------------------------------------
# Kalman-filter hedge ratio
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _kalman_1d(
    y: FloatArray,
    x: FloatArray,
    delta: float,
    obs_var: float,
    init_var: float,
    beta_out: FloatArray,
    alpha_out: FloatArray,
    err_out: FloatArray,
    err_var_out: FloatArray,
) -> None:
    q = delta / (1.0 - delta)
    beta = 0.0
    alpha = 0.0
    # Covariance of [beta, alpha], symmetric: p00 var(beta), p01 cov, p11 var(alpha).
    p00 = init_var
    p01 = 0.0
    p11 = init_var
    seen = False
    for t in range(y.shape[0]):
        # Predict: random-walk state, the covariance grows by Q every bar, observed or not.
        p00 += q
        p11 += q
        xt = x[t]
        yt = y[t]
        if math.isfinite(xt) and math.isfinite(yt):
            # One-step-ahead forecast of y_t from the state after bar t-1.
            err = yt - (beta * xt + alpha)
            g0 = p00 * xt + p01  # P F'
            g1 = p01 * xt + p11
            var = xt * g0 + g1 + obs_var  # F P F' + R
            k0 = g0 / var
            k1 = g1 / var
            beta += k0 * err
            alpha += k1 * err
            p00 -= k0 * g0
            p01 -= k0 * g1
            p11 -= k1 * g1
            err_out[t] = err
            err_var_out[t] = var
            seen = True
        else:
            err_out[t] = math.nan
            err_var_out[t] = math.nan
        if seen:
            beta_out[t] = beta
            alpha_out[t] = alpha
        else:
            # Before the first observation the state is only the arbitrary prior.
            beta_out[t] = math.nan
            alpha_out[t] = math.nan


@njit(cache=True, parallel=True)
def kalman_hedge_nb(
    y: FloatArray, x: FloatArray, delta: float, obs_var: float, init_var: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Kalman-filter hedge ratio (Chan 2013, "Algorithmic Trading", ch. 3, ex. 3.3).

    State θ_t = [beta_t, alpha_t], a random walk θ_t = θ_{t-1} + w_t, w ~ N(0, Q),
    Q = delta / (1 - delta) * I. Observation y_t = beta_t x_t + alpha_t + e_t, e ~ N(0, obs_var).
    Prior θ_0 ~ N(0, init_var * I). Causal: filtered, never smoothed; the outputs at bar t use
    bars <= t. A bar where x or y is NaN only predicts (no update; Q still accumulates).

    Returns (beta, alpha, err, err_var), each float64[n_bars, n_series]: the filtered state after
    bar t (NaN before the first observed bar, carried through later NaN bars), and the one-step
    forecast error err_t = y_t - (beta_{t-1} x_t + alpha_{t-1}) with its variance
    F P_{t|t-1} F' + obs_var (NaN on NaN bars). err / sqrt(err_var) is the "Kalman z".
    Oracle: a plain-Python matrix implementation of the same recursion.
    """
    n_bars, n_series = y.shape
    beta = np.empty((n_bars, n_series), dtype=np.float64)
    alpha = np.empty((n_bars, n_series), dtype=np.float64)
    err = np.empty((n_bars, n_series), dtype=np.float64)
    err_var = np.empty((n_bars, n_series), dtype=np.float64)
    for j in prange(n_series):
        _kalman_1d(
            y[:, j],
            x[:, j],
            delta,
            obs_var,
            init_var,
            beta[:, j],
            alpha[:, j],
            err[:, j],
            err_var[:, j],
        )
    return beta, alpha, err, err_var
