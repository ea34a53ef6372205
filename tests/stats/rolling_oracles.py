"""The two halves of `rolling_pair_stats` run alone: the OLS kernel and the spread/z kernel (the
ones the benchmark times), as the two-step oracle of the fused path and to check each half
against lstsq, statsmodels and pandas. Shapes as `rolling_pair_stats`: (n_bars, n_pairs), or
1-D for one pair; no validation (the public wrappers have it).
"""

from __future__ import annotations

import numpy as np

from pairscan.stats.kernels.pair_stats import spread_zscore_into_nb
from pairscan.stats.kernels.rolling import rolling_ols_indexed_into_nb, rolling_ols_into_nb
from pairscan.stats.ols import resync_bars_for


def _columns(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).reshape(len(a), -1))


def rolling_ols(
    y: np.ndarray, x: np.ndarray, window: int, min_nobs: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) of the OLS half alone, shaped like y."""
    y2, x2 = _columns(y), _columns(x)
    alpha, beta = np.empty(y2.shape), np.empty(y2.shape)
    nobs = window if min_nobs is None else min_nobs
    rolling_ols_into_nb(y2, x2, window, nobs, resync_bars_for(window), alpha, beta)
    return alpha.reshape(np.shape(y)), beta.reshape(np.shape(y))


def spread_zscore(
    y: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    z_window: int,
    min_nobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(spread, z) of the spread/z half alone from a given alpha and beta, shaped like y."""
    y2, x2, a2, b2 = (_columns(v) for v in (y, x, alpha, beta))
    spread, z = np.empty(y2.shape), np.empty(y2.shape)
    nobs = z_window if min_nobs is None else min_nobs
    spread_zscore_into_nb(y2, x2, a2, b2, z_window, nobs, resync_bars_for(z_window), spread, z)
    return spread.reshape(np.shape(y)), z.reshape(np.shape(y))


def rolling_ols_indexed(
    lp: np.ndarray, iy: np.ndarray, ix: np.ndarray, window: int, min_nobs: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) of the OLS half alone, reading pair p as columns iy[p], ix[p] of lp."""
    shape = (lp.shape[0], len(iy))
    alpha, beta = np.empty(shape), np.empty(shape)
    nobs = window if min_nobs is None else min_nobs
    iy64, ix64 = np.asarray(iy, dtype=np.int64), np.asarray(ix, dtype=np.int64)
    rolling_ols_indexed_into_nb(lp, iy64, ix64, window, nobs, resync_bars_for(window), alpha, beta)
    return alpha, beta
