"""Stage 3 (stats): Engle-Granger cointegration for every candidate pair, and BH q-values.

Thin wrappers over `pairscan.stats.kernels.coint`: validate once, run the Numba kernel,
add MacKinnon p-values and critical values. Pure numerics, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]
from statsmodels.tsa.adfvalues import (
    _tau_largeps,
    _tau_maxs,
    _tau_mins,
    _tau_smallps,
    _tau_stars,
    tau_2010s,
)

from pairscan.stats.kernels.coint import (
    AUTOLAG_AIC,
    AUTOLAG_BIC,
    AUTOLAG_NONE,
    engle_granger_nb,
)

__all__ = [
    "BothOrientations",
    "EGResult",
    "all_pairs",
    "bh_qvalues",
    "both_orientations",
    "engle_granger",
    "mackinnon_crit",
    "mackinnon_pvalue",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_AUTOLAG_CODES = {"aic": AUTOLAG_AIC, "bic": AUTOLAG_BIC}
# Engle-Granger with one regressor: MacKinnon's tables for N = 2 integrated series.
_N_SERIES = 2


@dataclass(frozen=True)
class EGResult:
    """Engle-Granger test of `log_prices[:, iy[k]]` (dependent) on `log_prices[:, ix[k]]`.

    All arrays have length n_pairs, in the order of the pairs given.

    - `tstat`: ADF t-statistic of the first-stage residuals (float64; NaN if not testable,
      -inf for collinear series as in statsmodels).
    - `pvalue`: MacKinnon (1994, 2010 tables) asymptotic p-value, regression "c", N = 2.
    - `lag`: lagged differences used in the ADF regression (int64; -1 if not tested).
    - `nobs`: bars in the pair's common valid span (int64; 0 if the span has gaps).
    - `first_bar`: row of log_prices where that span starts (int64).
    - `crit`: float64[n_pairs, 3] critical values at 1 %, 5 %, 10 % for the span length, as
      `coint` reports them (MacKinnon 2010 with nobs - 1; NaN where nobs < 2).
    - `iy`, `ix`: int64 column indices of the dependent and the regressor.
    """

    tstat: FloatArray
    pvalue: FloatArray
    lag: IntArray
    nobs: IntArray
    first_bar: IntArray
    crit: FloatArray
    iy: IntArray
    ix: IntArray


@dataclass(frozen=True)
class BothOrientations:
    """Both Engle-Granger regressions of each pair and the one kept.

    `y_on_x` tests iy on ix, `x_on_y` tests ix on iy, `kept` takes per pair the orientation
    chosen by `both_orientations` (its `iy`/`ix` say which), and `kept_y_on_x` is True where
    that is the y-on-x orientation.
    """

    y_on_x: EGResult
    x_on_y: EGResult
    kept: EGResult
    kept_y_on_x: npt.NDArray[np.bool_]


def mackinnon_pvalue(tstat: npt.ArrayLike) -> FloatArray:
    """statsmodels' `mackinnonp(t, regression="c", N=2)` for an array of t-statistics.

    Same tables and branches as statsmodels (1 above the table's maximum, 0 below its minimum,
    the small-p or large-p polynomial around tau*, then the normal CDF), evaluated at once: the
    scalar function costs ~35 us per call, as much as a fixed-lag test of a whole pair.
    NaN stays NaN.
    """
    t = np.asarray(tstat, dtype=np.float64)
    idx = _N_SERIES - 1
    small = np.asarray(_tau_smallps["c"][idx], dtype=np.float64)
    large = np.asarray(_tau_largeps["c"][idx], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        z = np.where(
            t <= _tau_stars["c"][idx], np.polyval(small[::-1], t), np.polyval(large[::-1], t)
        )
        p = np.asarray(ndtr(z), dtype=np.float64)
    p = np.where(t > _tau_maxs["c"][idx], 1.0, p)
    p = np.where(t < _tau_mins["c"][idx], 0.0, p)
    return np.asarray(p, dtype=np.float64)


def mackinnon_crit(nobs: npt.ArrayLike) -> FloatArray:
    """Critical values (1 %, 5 %, 10 %) of `coint(trend="c")` for series of nobs bars:
    statsmodels' `mackinnoncrit(N=2, regression="c", nobs=nobs - 1)` (the -1 follows Stata's
    egranger, as statsmodels does). float64[..., 3]; NaN where nobs < 2."""
    n = np.asarray(nobs, dtype=np.float64)
    coef = np.asarray(tau_2010s["c"][_N_SERIES - 1], dtype=np.float64)  # (3 levels, 4 coefs)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(n >= 2, 1.0 / (n - 1.0), np.nan)
    return np.stack([np.polyval(coef[j, ::-1], inv) for j in range(3)], axis=-1)


def all_pairs(n_symbols: int) -> tuple[IntArray, IntArray]:
    """Every unordered pair (i < j) of n_symbols columns as index arrays (iy, ix), in
    row-major order: n_symbols (n_symbols - 1) / 2 pairs."""
    if isinstance(n_symbols, bool) or not isinstance(n_symbols, int | np.integer):
        raise ValueError(f"n_symbols must be an integer >= 2, got {n_symbols!r}")
    if n_symbols < 2:
        raise ValueError(f"n_symbols must be >= 2, got {n_symbols}")
    iy, ix = np.triu_indices(int(n_symbols), k=1)
    return iy.astype(np.int64), ix.astype(np.int64)


def _validate_prices(log_prices: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(log_prices)
    if arr.ndim != 2:
        raise ValueError(
            f"log_prices must be 2-D (n_bars, n_symbols), got {arr.ndim}-D of shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"log_prices must hold real numbers, got dtype {arr.dtype}")
    if arr.shape[0] < 4 or arr.shape[1] < 2:
        raise ValueError(f"log_prices needs at least 4 bars and 2 symbols, got shape {arr.shape}")
    out = arr.astype(np.float64, copy=False)
    if np.isinf(out).any():
        raise ValueError(
            "log_prices contains infinite values (log of a zero price?); use NaN for missing bars"
        )
    # Column-major, so each pair reads two contiguous columns instead of strided rows.
    return np.asfortranarray(out)


def _validate_index(name: str, idx: npt.ArrayLike, n_symbols: int) -> IntArray:
    arr = np.asarray(idx)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of column indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer column indices, got dtype {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if out.size and (out.min() < 0 or out.max() >= n_symbols):
        raise ValueError(
            f"{name} must be column indices in [0, {n_symbols}), "
            f"got values in [{out.min()}, {out.max()}]"
        )
    return np.ascontiguousarray(out)


def _validate_options(
    maxlag: int | None, autolag: str | None, trend: str, n_bars: int
) -> tuple[int, int]:
    if trend != "c":
        raise ValueError(
            f'trend must be "c" (constant in the cointegrating regression), got {trend!r}'
        )
    if autolag is None:
        code = AUTOLAG_NONE
    elif isinstance(autolag, str) and autolag.lower() in _AUTOLAG_CODES:
        code = _AUTOLAG_CODES[autolag.lower()]
    else:
        raise ValueError(f'autolag must be "aic", "bic" or None, got {autolag!r}')
    if maxlag is None:
        # A fixed-lag test with statsmodels' default maxlag is what adfuller does too.
        return -1, code
    if isinstance(maxlag, bool) or not isinstance(maxlag, int | np.integer):
        raise ValueError(f"maxlag must be a non-negative integer or None, got {maxlag!r}")
    limit = n_bars // 2 - 1
    if not 0 <= maxlag <= limit:
        raise ValueError(
            f"maxlag must be in [0, n_bars // 2 - 1] = [0, {limit}] (as in statsmodels' "
            f"adfuller), got {maxlag}"
        )
    return int(maxlag), code


def _validate(
    log_prices: npt.ArrayLike,
    iy: npt.ArrayLike,
    ix: npt.ArrayLike,
    maxlag: int | None,
    autolag: str | None,
    trend: str,
) -> tuple[FloatArray, IntArray, IntArray, int, int]:
    prices = _validate_prices(log_prices)
    n_bars, n_symbols = prices.shape
    iy_arr = _validate_index("iy", iy, n_symbols)
    ix_arr = _validate_index("ix", ix, n_symbols)
    if iy_arr.shape != ix_arr.shape:
        raise ValueError(
            f"iy and ix must have the same length, got {iy_arr.size} and {ix_arr.size}"
        )
    same = np.flatnonzero(iy_arr == ix_arr)
    if same.size:
        raise ValueError(
            f"iy and ix must differ in every pair (a series is trivially cointegrated with "
            f"itself), got iy[{same[0]}] == ix[{same[0]}] == {iy_arr[same[0]]}"
        )
    lag_arg, code = _validate_options(maxlag, autolag, trend, n_bars)
    return prices, iy_arr, ix_arr, lag_arg, code


def engle_granger(
    log_prices: npt.ArrayLike,
    iy: npt.ArrayLike,
    ix: npt.ArrayLike,
    *,
    maxlag: int | None = None,
    autolag: str | None = "aic",
    trend: str = "c",
) -> EGResult:
    """Engle-Granger cointegration test of every pair (column iy[k] on column ix[k]).

    log_prices: float64[n_bars, n_symbols], usually log closes on one time grid (NaN for
    missing bars). iy, ix: int[n_pairs] column indices; iy[k] is the dependent variable.

    Equals `statsmodels.tsa.stattools.coint(y, x, trend="c", method="aeg", maxlag=maxlag,
    autolag=autolag)` for each pair (statistic to ~1e-12, same lag, p-value from the same
    MacKinnon function): OLS of y on [x, 1], then an ADF regression without deterministic
    terms on the residuals. autolag "aic" (default) or "bic" selects the lag among 0..maxlag on a
    common sample and refits on the longest one; None uses exactly maxlag lags. maxlag None is
    statsmodels' default, computed per pair from its span: min(nobs // 2 - 1,
    ceil(12 (nobs / 100)^(1/4))), 37 for 8,760 bars.

    Each pair is tested on its common valid span (first to last bar where both are finite);
    a pair with a NaN inside that span is not tested (NaN statistic and p-value, lag -1,
    nobs 0). See `engle_granger_nb` for the other NaN cases. The test depends on which series
    is the dependent one: see `both_orientations`.
    """
    prices, iy_arr, ix_arr, lag_arg, code = _validate(log_prices, iy, ix, maxlag, autolag, trend)
    return _run(prices, iy_arr, ix_arr, lag_arg, code)


def _run(prices: FloatArray, iy: IntArray, ix: IntArray, maxlag: int, autolag: int) -> EGResult:
    tstat, lag, nobs, first = engle_granger_nb(prices, iy, ix, maxlag, autolag)
    return EGResult(
        tstat=tstat,
        pvalue=mackinnon_pvalue(tstat),
        lag=lag,
        nobs=nobs,
        first_bar=first,
        crit=mackinnon_crit(np.where(nobs > 0, nobs, 0)),
        iy=iy,
        ix=ix,
    )


def _take(res: EGResult, sel: npt.NDArray[np.intp]) -> EGResult:
    return EGResult(
        tstat=res.tstat[sel],
        pvalue=res.pvalue[sel],
        lag=res.lag[sel],
        nobs=res.nobs[sel],
        first_bar=res.first_bar[sel],
        crit=res.crit[sel],
        iy=res.iy[sel],
        ix=res.ix[sel],
    )


def both_orientations(
    log_prices: npt.ArrayLike,
    iy: npt.ArrayLike,
    ix: npt.ArrayLike,
    *,
    maxlag: int | None = None,
    autolag: str | None = "aic",
    trend: str = "c",
    keep: Literal["min_pvalue", "max_pvalue"] = "min_pvalue",
) -> BothOrientations:
    """Engle-Granger in both orientations (iy on ix and ix on iy) of every pair, and the one kept.

    EG is not symmetric: the OLS hedge ratio of y on x is not the inverse of x on y, so the
    residuals and the statistic differ (a known limitation of the test, see
    https://github.com/bashtage/arch/issues/628; Johansen's test is invariant). Both are
    computed in one parallel run and returned, and per pair:

    - keep="min_pvalue" (default) keeps the orientation with the lower p-value, i.e. the more
      negative t-statistic (same MacKinnon distribution for both, so the two orders agree; the
      t-statistic also breaks ties where p-values saturate at 0 or 1). Taking the better of two
      tests makes the kept p-value somewhat liberal: under no cointegration its size lies
      between the nominal level and twice it (Bonferroni); the two statistics are strongly
      dependent, so in practice it is close to the nominal level.
    - keep="max_pvalue" keeps the weaker orientation: a pair passes only if both reject.

    NaN loses to a number; on ties (both NaN or equal) y on x is kept. Arguments as in
    `engle_granger`.
    """
    if keep not in ("min_pvalue", "max_pvalue"):
        raise ValueError(f'keep must be "min_pvalue" or "max_pvalue", got {keep!r}')
    prices, iy_arr, ix_arr, lag_arg, code = _validate(log_prices, iy, ix, maxlag, autolag, trend)
    n_pairs = iy_arr.size
    # One kernel call for both orientations keeps both cores busy on small pair lists.
    both = _run(
        prices,
        np.concatenate([iy_arr, ix_arr]),
        np.concatenate([ix_arr, iy_arr]),
        lag_arg,
        code,
    )
    first = np.arange(n_pairs, dtype=np.intp)
    y_on_x = _take(both, first)
    x_on_y = _take(both, first + n_pairs)
    # NaN compares false, so a number beats NaN; an orientation wins only strictly.
    t_yx = np.where(np.isnan(y_on_x.tstat), np.inf, y_on_x.tstat)
    t_xy = np.where(np.isnan(x_on_y.tstat), np.inf, x_on_y.tstat)
    if keep == "min_pvalue":
        take_xy = t_xy < t_yx
    else:
        t_yx = np.where(np.isnan(y_on_x.tstat), -np.inf, y_on_x.tstat)
        t_xy = np.where(np.isnan(x_on_y.tstat), -np.inf, x_on_y.tstat)
        take_xy = t_xy > t_yx
    kept = _take(both, np.where(take_xy, first + n_pairs, first))
    return BothOrientations(y_on_x=y_on_x, x_on_y=x_on_y, kept=kept, kept_y_on_x=~take_xy)


def bh_qvalues(pvalues: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg q-values (FDR-adjusted p-values) of all tests in a run.

    Equals `statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]` (same
    arithmetic: p_(i) m / i, running minimum from the largest p down, capped at 1). NaN
    p-values (pairs that could not be tested) are left out of the family: m counts finite
    p-values only, and their q-value is NaN. Any shape; the output has the input's shape.
    Rejecting q < alpha controls the false discovery rate at alpha for independent or
    positively dependent tests.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    finite = ~np.isnan(flat)
    vals = flat[finite]
    if vals.size and (vals.min() < 0.0 or vals.max() > 1.0):
        raise ValueError(
            f"pvalues must lie in [0, 1] (NaN allowed), got values in [{vals.min()}, {vals.max()}]"
        )
    q = np.full(flat.shape, np.nan)
    m = vals.size
    if m:
        order = np.argsort(vals)
        ecdf = np.arange(1, m + 1) / float(m)
        raw = vals[order] / ecdf
        adj = np.minimum.accumulate(raw[::-1])[::-1]
        adj[adj > 1] = 1.0
        out = np.empty(m)
        out[order] = adj
        q[finite] = out
    return q.reshape(p.shape)
