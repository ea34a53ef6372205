"""Numba kernels of the Engle-Granger cointegration test (stats stage).

Pure float64/int64 arrays in and out, parallel over pairs; no pandas, logging or I/O. The
wrappers in `pairscan.stats.coint` validate inputs and add MacKinnon p-values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

AUTOLAG_NONE = 0
AUTOLAG_AIC = 1
AUTOLAG_BIC = 2

# statsmodels' coint declares the two series collinear when the first-stage R^2 reaches
# 1 - 100 * sqrt(eps) and returns a t-statistic of -inf instead of running the ADF test.
_COLLINEAR_RSQ = 1.0 - 100.0 * np.sqrt(np.finfo(np.float64).eps)
# A Cholesky pivot this small relative to its column's sum of squares means the ADF regressors
# are collinear to working precision (e.g. a long flat stretch of residuals); statsmodels'
# pinv would still return numbers there, but they carry no information, so the pair gets NaN.
_PIVOT_RTOL = 1e-12

_LOG_2PI = np.log(2.0 * np.pi)


@njit(cache=True)
def default_maxlag_nb(nobs: int) -> int:
    """statsmodels' `adfuller` default for trend "n": min(nobs // 2 - 1, ceil(12 (nobs/100)^(1/4))),
    where nobs is the length of the tested series (Schwert 1989). Negative means too short."""
    schwert = int(np.ceil(12.0 * np.power(nobs / 100.0, 1.0 / 4.0)))
    return min(nobs // 2 - 1, schwert)


@njit(cache=True)
def _first_row_sums_nb(
    e: npt.NDArray[np.float64],
    d: npt.NDArray[np.float64],
    p: int,
    lo: int,
    hi: int,
    dd0: npt.NDArray[np.float64],
    lev: npt.NDArray[np.float64],
) -> float:
    """Add rows i = lo..hi-1 of the ADF regression with p lags to the running sums
    dd0[b] += d[i] d[i-b] and lev[b] += e[i] d[i-b] (b = 0..p); return the sum of e[i]^2.

    The loop runs over rows outside and lags inside, so each of the 2 (p + 1) sums is its own
    accumulation chain in row order: the CPU overlaps the chains while every sum keeps the
    plain sequential rounding (no fastmath reassociation)."""
    ee = 0.0
    for i in range(lo, hi):
        di = d[i]
        ei = e[i]
        ee += ei * ei
        for b in range(p + 1):
            dib = d[i - b]
            dd0[b] += di * dib
            lev[b] += ei * dib
    return ee


@njit(cache=True)
def _fill_crossprod_nb(
    d: npt.NDArray[np.float64],
    dd0: npt.NDArray[np.float64],
    lev: npt.NDArray[np.float64],
    ee: float,
    p: int,
    start: int,
    last: int,
    a: npt.NDArray[np.float64],
) -> None:
    """Fill a[:p+2, :p+2] with the cross-products of the ADF regression over rows
    i = start..last, columns ordered [level e[i], d[i-1], ..., d[i-p], dependent d[i]].

    The lag columns are shifts of one series, so the d-block is Toeplitz up to end effects:
    D[a+1][b+1] = D[a][b] + d[start-1-a] d[start-1-b] - d[last-a] d[last-b]. Only the first
    row (dd0) and the level column (lev, ee) need a pass over the data: O(n p), not O(n p^2)."""
    dep = p + 1
    a[0, 0] = ee
    a[0, dep] = lev[0]
    a[dep, 0] = lev[0]
    a[dep, dep] = dd0[0]
    for b in range(1, p + 1):
        a[0, b] = lev[b]
        a[b, 0] = lev[b]
        a[b, dep] = dd0[b]
        a[dep, b] = dd0[b]
    # Diagonal by diagonal: lag columns r and c = r + off, r = 1..p, from D[0][off] = dd0[off].
    for off in range(p):
        val = dd0[off]
        for r in range(1, p + 1 - off):
            c = r + off
            val += d[start - r] * d[start - c] - d[last - r + 1] * d[last - c + 1]
            a[r, c] = val
            a[c, r] = val


@njit(cache=True)
def _cholesky_upper_nb(a: npt.NDArray[np.float64], k: int) -> bool:
    """In-place upper Cholesky factor R (a = R'R) of the leading k x k block; the strict lower
    triangle is left as is. The last column is the dependent variable, so R[j, k-1] are the
    coordinates of y on the orthonormalised regressors and R[k-1, k-1]^2 is the full SSR;
    its pivot may be zero (perfect fit). Returns False if a regressor pivot is not clearly
    positive (collinear regressors)."""
    for j in range(k):
        s = a[j, j]
        for m in range(j):
            s -= a[m, j] * a[m, j]
        if j == k - 1:
            a[j, j] = np.sqrt(s) if s > 0.0 else 0.0
            return True
        if not s > _PIVOT_RTOL * a[j, j]:
            return False
        rjj = np.sqrt(s)
        a[j, j] = rjj
        for c in range(j + 1, k):
            t = a[j, c]
            for m in range(j):
                t -= a[m, j] * a[m, c]
            a[j, c] = t / rjj
    return True


@njit(cache=True)
def adf_n_nb(e: npt.NDArray[np.float64], maxlag: int, autolag: int) -> tuple[float, int]:
    """ADF t-statistic with no deterministic terms on one finite series e (length n), and the
    lag used. Oracle: `statsmodels.tsa.stattools.adfuller(e, maxlag, regression="n",
    autolag=...)` statistic and used lag, which is what `coint` runs on its residuals.

    maxlag < 0 means statsmodels' default (`default_maxlag_nb(n)`). With autolag AIC/BIC every
    lag 0..maxlag is fitted on the same rows (the last n - 1 - maxlag differences) and the
    criterion is statsmodels OLS's: -2 llf + 2 k (BIC: + log(nobs) k) with the profile
    log-likelihood llf = -nobs/2 (log 2 pi + log(ssr / nobs) + 1) and k the number of
    regressors; the first minimum wins (ties go to the shorter lag). The chosen lag is then
    refitted on the longest sample it allows (the last n - 1 - lag differences). With
    autolag NONE the regression uses exactly maxlag lags.

    One Cholesky factor of the augmented cross-product matrix gives the SSR of every nested
    model (level first, then lags in order). For the final fit the level is ordered last, so its
    t-statistic is R[k-1, y] / sigma with no inverse. Returns (NaN, -1) where statsmodels
    raises (constant series, maxlag > n // 2 - 1), where the regressors are collinear, and
    where the chosen regression is saturated (no residual degrees of freedom: with maxlag =
    n // 2 - 1, the default for series under ~40 bars, AIC picks a perfect fit and statsmodels
    reports a meaningless t of 0). Agreement with statsmodels is ~1e-12 when the regression
    has a fair number of residual degrees of freedom; close to saturation (df_resid of 1 or
    2) both computations are ill-conditioned and differ by up to ~1e-8.
    """
    n = e.shape[0]
    if n < 4:
        return np.nan, -1
    if maxlag < 0:
        maxlag = default_maxlag_nb(n)
        if maxlag < 0:
            return np.nan, -1
    elif maxlag > n // 2 - 1:
        return np.nan, -1
    emin = e[0]
    emax = e[0]
    for i in range(n):
        emin = min(emin, e[i])
        emax = max(emax, e[i])
    if emax == emin:
        return np.nan, -1

    d = np.empty(n - 1)
    for i in range(n - 1):
        d[i] = e[i + 1] - e[i]
    last = n - 2  # rows of the ADF regression are i = start..last (dependent d[i])

    m = maxlag
    dd0 = np.zeros(m + 1)
    lev = np.zeros(m + 1)
    ee = _first_row_sums_nb(e, d, m, m, last + 1, dd0, lev)

    lag = m
    if autolag != AUTOLAG_NONE:
        a = np.empty((m + 2, m + 2))
        _fill_crossprod_nb(d, dd0, lev, ee, m, m, last, a)
        if not _cholesky_upper_nb(a, m + 2):
            return np.nan, -1
        nobs = float(last - m + 1)
        nobs2 = nobs / 2.0
        # SSR of the model with columns 0..q is the squared norm of y's coordinates beyond q.
        tail = a[m + 1, m + 1] * a[m + 1, m + 1]
        ssr = np.empty(m + 1)
        for q in range(m, -1, -1):
            ssr[q] = tail
            tail += a[q, m + 1] * a[q, m + 1]
        best = np.inf
        lag = 0
        for q in range(m + 1):
            llf = -nobs2 * _LOG_2PI - nobs2 * np.log(ssr[q] / nobs) - nobs2
            k = q + 1
            penalty = 2.0 * k if autolag == AUTOLAG_AIC else np.log(nobs) * k
            crit = -2.0 * llf + penalty
            if crit < best:
                best = crit
                lag = q
        # Refit on the longer sample: extend the sums over rows lag..m-1 instead of a new pass.
        if lag < m:
            ee += _first_row_sums_nb(e, d, lag, lag, m, dd0, lev)

    p = lag
    k = p + 2
    a = np.empty((k, k))
    _fill_crossprod_nb(d, dd0, lev, ee, p, p, last, a)
    # Reorder to [lags..., level, dependent] so the level's t-statistic comes straight from R.
    b = np.empty((k, k))
    perm = np.empty(k, dtype=np.int64)
    for j in range(p):
        perm[j] = j + 1
    perm[p] = 0
    perm[p + 1] = p + 1
    for r in range(k):
        for c in range(k):
            b[r, c] = a[perm[r], perm[c]]
    if not _cholesky_upper_nb(b, k):
        return np.nan, -1
    df_resid = (last - p + 1) - (p + 1)
    if df_resid <= 0:
        return np.nan, -1
    ssr_full = b[k - 1, k - 1] * b[k - 1, k - 1]
    sigma = np.sqrt(ssr_full / df_resid)
    return b[p, k - 1] / sigma, p


@njit(cache=True)
def _pair_span_nb(prices: npt.NDArray[np.float64], jy: int, jx: int) -> tuple[int, int, bool]:
    """First and one-past-last row where both columns are finite, and whether every row
    between them is finite too."""
    n_bars = prices.shape[0]
    first = -1
    stop = -1
    for t in range(n_bars):
        if np.isfinite(prices[t, jy]) and np.isfinite(prices[t, jx]):
            if first < 0:
                first = t
            stop = t + 1
    if first < 0:
        return 0, 0, False
    for t in range(first, stop):
        if not (np.isfinite(prices[t, jy]) and np.isfinite(prices[t, jx])):
            return first, stop, False
    return first, stop, True


@njit(cache=True, parallel=True)
def engle_granger_nb(
    prices: npt.NDArray[np.float64],
    iy: npt.NDArray[np.int64],
    ix: npt.NDArray[np.int64],
    maxlag: int,
    autolag: int,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """Engle-Granger (augmented, constant in the cointegrating regression) t-statistic of
    column iy[k] on column ix[k] of prices (float64[n_bars, n_symbols], usually log closes),
    for every pair k in parallel, without building (n_bars, n_pairs) copies.

    Oracle: `statsmodels.tsa.stattools.coint(y, x, trend="c", method="aeg", maxlag=...,
    autolag=...)[0]` on the pair's span: OLS of y on [x, 1], then `adf_n_nb` on the residuals
    (see there for the lag rules; maxlag < 0 is statsmodels' default from the span length).

    Missing data: a pair is tested on its common valid span, the rows from the first to the
    last bar where both series are finite (late listings and delistings just shorten it). A
    non-finite value inside that span would make the lag structure a lie, so such a pair is
    not tested: NaN statistic, lag -1, nobs 0. No look-ahead question arises: the whole span
    is one full-sample test.

    Returns (tstat float64[n_pairs], lag int64[n_pairs], nobs int64[n_pairs] bars in the span,
    first int64[n_pairs] first bar of the span). As in statsmodels, collinear pairs (R^2 of
    the first stage >= 1 - 100 sqrt(eps)) get tstat -inf and lag -1; a constant series, a span
    too short for maxlag, or collinear ADF regressors give NaN and lag -1.
    """
    n_pairs = iy.shape[0]
    tstat = np.full(n_pairs, np.nan)
    lag = np.full(n_pairs, -1, dtype=np.int64)
    nobs = np.zeros(n_pairs, dtype=np.int64)
    first = np.zeros(n_pairs, dtype=np.int64)
    for k in prange(n_pairs):
        jy = iy[k]
        jx = ix[k]
        lo, hi, contiguous = _pair_span_nb(prices, jy, jx)
        if not contiguous:
            continue
        n = hi - lo
        nobs[k] = n
        first[k] = lo
        if n < 4:
            continue
        y = np.empty(n)
        x = np.empty(n)
        sy = 0.0
        sx = 0.0
        flat_y = True
        flat_x = True
        for t in range(n):
            y[t] = prices[lo + t, jy]
            x[t] = prices[lo + t, jx]
            sy += y[t]
            sx += x[t]
            flat_y = flat_y and y[t] == y[0]
            flat_x = flat_x and x[t] == x[0]
        # Tested exactly: a flat column's centred sum of squares is rounding noise, not zero.
        if flat_y or flat_x:
            continue
        my = sy / n
        mx = sx / n
        # Centred sums: BTC-level log prices (~11) would lose digits in raw cross-products.
        sxx = 0.0
        sxy = 0.0
        syy = 0.0
        for t in range(n):
            cx = x[t] - mx
            cy = y[t] - my
            sxx += cx * cx
            sxy += cx * cy
            syy += cy * cy
        if not (sxx > 0.0 and syy > 0.0):
            continue
        beta = sxy / sxx
        e = np.empty(n)
        ssr = 0.0
        for t in range(n):
            r = (y[t] - my) - beta * (x[t] - mx)
            e[t] = r
            ssr += r * r
        if 1.0 - ssr / syy >= _COLLINEAR_RSQ:
            tstat[k] = -np.inf
            continue
        tk, lk = adf_n_nb(e, maxlag, autolag)
        tstat[k] = tk
        lag[k] = lk
    return tstat, lag, nobs, first
