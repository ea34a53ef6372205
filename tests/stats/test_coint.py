"""Engle-Granger screen and BH q-values against their statsmodels oracles.

statsmodels is slow (AIC over 27 lags on 2,000 bars costs ~0.05-0.8 s a pair depending on
BLAS threading), so AIC comparisons use the last 2,000 bars of a handful of pairs; fixed-lag
comparisons are cheap and use the whole recorded year.
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import CollinearityWarning
from statsmodels.tsa.adfvalues import mackinnoncrit, mackinnonp
from statsmodels.tsa.stattools import adfuller, coint

from pairscan.stats.coint import (
    all_pairs,
    bh_qvalues,
    both_orientations,
    engle_granger,
    mackinnon_crit,
    mackinnon_pvalue,
)
from pairscan.stats.kernels.coint import AUTOLAG_AIC, adf_n_nb

STAT_TOL = 1e-9
PVALUE_TOL = 1e-6
AIC_BARS = 2_000

SYMBOLS = (
    "BINANCE:BTC",
    "BINANCE:ETH",
    "BINANCE:SOL",
    "BINANCE:DOGE",
    "BINANCE:LINK",
    "BINANCE:AVAX",
    "BINANCEUSDM:BTC",
    "BINANCEUSDM:ETH",
)
COL = {name: j for j, name in enumerate(SYMBOLS)}
ORDINARY_PAIRS = [
    ("BINANCE:BTC", "BINANCE:ETH"),
    ("BINANCE:SOL", "BINANCE:DOGE"),
    ("BINANCE:LINK", "BINANCE:AVAX"),
    ("BINANCE:ETH", "BINANCE:SOL"),
]


@functools.cache
def demo_log_closes() -> npt.NDArray[np.float64]:
    """Log closes of the recorded demo market, float64[8760, len(SYMBOLS)] on one hourly grid."""
    data = importlib.resources.files("pairscan.demo") / "data"
    closes = {}
    for name in SYMBOLS:
        exchange, base = name.split(":")
        with importlib.resources.as_file(data / f"{exchange}_{base}-USDT_1h.parquet") as path:
            frame = pd.read_parquet(path, columns=["timestamp", "close"])
        closes[name] = frame.set_index("timestamp")["close"]
    panel = pd.concat(closes, axis=1)
    assert not panel.isna().any().any(), "demo files should share one grid"
    logs: npt.NDArray[np.float64] = np.log(panel.to_numpy(dtype=np.float64))
    return logs


def cols(pairs: list[tuple[str, str]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    return (
        np.array([COL[a] for a, _ in pairs], dtype=np.int64),
        np.array([COL[b] for _, b in pairs], dtype=np.int64),
    )


def sm_residuals(y: npt.NDArray[np.float64], x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """coint's first stage: OLS of y on [x, 1]."""
    return np.asarray(OLS(y, np.column_stack([x, np.ones_like(x)])).fit().resid)


def sm_lag(y: npt.NDArray[np.float64], x: npt.NDArray[np.float64], **kwargs: object) -> int:
    """The lag adfuller picks on coint's residuals (coint itself does not report it)."""
    res = adfuller(sm_residuals(y, x), regression="n", result_object=True, **kwargs)
    return int(res.lags)


def synthetic(seed: int, n_bars: int = 1_000) -> npt.NDArray[np.float64]:
    """Columns: x (random walk), y cointegrated with x (AR(1) spread, phi 0.9), z and w
    independent random walks. Log-price-like scale around 5."""
    rng = np.random.default_rng(seed)
    x = 5.0 + np.cumsum(rng.normal(0.0, 0.01, n_bars))
    spread = np.zeros(n_bars)
    for t in range(1, n_bars):
        spread[t] = 0.9 * spread[t - 1] + rng.normal(0.0, 0.004)
    y = 1.0 + 0.8 * x + spread
    z = 3.0 + np.cumsum(rng.normal(0.0, 0.01, n_bars))
    w = 4.0 + np.cumsum(rng.normal(0.0, 0.01, n_bars))
    return np.column_stack([x, y, z, w])


# --- agreement with statsmodels coint -------------------------------------------------------


def test_aic_lag_selection_matches_coint_on_demo_candles() -> None:
    prices = demo_log_closes()[-AIC_BARS:]
    iy, ix = cols(ORDINARY_PAIRS)
    res = engle_granger(prices, iy, ix)
    for k, (a, b) in enumerate(ORDINARY_PAIRS):
        y, x = prices[:, COL[a]], prices[:, COL[b]]
        ref = coint(y, x, trend="c", method="aeg", maxlag=None, autolag="aic")
        assert res.tstat[k] == pytest.approx(ref.coint_t, abs=STAT_TOL), (a, b)
        assert res.pvalue[k] == pytest.approx(ref.pvalue, abs=PVALUE_TOL), (a, b)
        np.testing.assert_allclose(res.crit[k], ref.critical_values, rtol=0, atol=1e-12)
        assert res.nobs[k] == AIC_BARS
        assert res.first_bar[k] == 0
    # The chosen lag is the one adfuller picks on the residuals (checked on two pairs).
    for k in (0, 1):
        a, b = ORDINARY_PAIRS[k]
        assert res.lag[k] == sm_lag(prices[:, COL[a]], prices[:, COL[b]], autolag="aic")


def test_aic_with_given_maxlag_and_bic_match_coint() -> None:
    prices = demo_log_closes()[-AIC_BARS:]
    y, x = prices[:, COL["BINANCE:SOL"]], prices[:, COL["BINANCE:DOGE"]]
    for autolag, maxlag in (("aic", 6), ("bic", None)):
        res = engle_granger(
            prices, [COL["BINANCE:SOL"]], [COL["BINANCE:DOGE"]], maxlag=maxlag, autolag=autolag
        )
        ref = coint(y, x, maxlag=maxlag, autolag=autolag)
        assert res.tstat[0] == pytest.approx(ref.coint_t, abs=STAT_TOL), autolag
        assert res.pvalue[0] == pytest.approx(ref.pvalue, abs=PVALUE_TOL), autolag


@pytest.mark.parametrize("maxlag", [0, 1, 5])
def test_fixed_lag_matches_coint_on_a_year_of_candles(maxlag: int) -> None:
    prices = demo_log_closes()
    iy, ix = cols(ORDINARY_PAIRS)
    res = engle_granger(prices, iy, ix, maxlag=maxlag, autolag=None)
    assert (res.lag == maxlag).all()
    for k, (a, b) in enumerate(ORDINARY_PAIRS):
        ref = coint(prices[:, COL[a]], prices[:, COL[b]], maxlag=maxlag, autolag=None)
        assert res.tstat[k] == pytest.approx(ref.coint_t, abs=STAT_TOL), (a, b)
        assert res.pvalue[k] == pytest.approx(ref.pvalue, abs=PVALUE_TOL), (a, b)


def test_spot_vs_perp_near_collinear_agrees_with_an_accurate_first_stage() -> None:
    """Spot and perp of one coin are almost collinear (1 - R^2 ~ 2e-6 over 2,000 bars): the
    residuals are ~1e-4 while the prices are ~8, so coint's pinv first stage keeps only ~9
    digits of them and its statistic moves by ~1e-9. The oracle here is statsmodels'
    adfuller on residuals computed in extended precision; coint is checked more loosely."""
    prices = demo_log_closes()[-AIC_BARS:]
    pairs = [("BINANCE:ETH", "BINANCEUSDM:ETH"), ("BINANCE:BTC", "BINANCEUSDM:BTC")]
    iy, ix = cols(pairs)
    res = engle_granger(prices, iy, ix)
    for k, (a, b) in enumerate(pairs):
        y = prices[:, COL[a]].astype(np.longdouble)
        x = prices[:, COL[b]].astype(np.longdouble)
        xc, yc = x - x.mean(), y - y.mean()
        resid = (yc - (xc * yc).sum() / (xc * xc).sum() * xc).astype(np.float64)
        oracle = adfuller(resid, regression="n", autolag="aic", result_object=True)
        assert res.tstat[k] == pytest.approx(oracle.statistic, abs=1e-10), (a, b)
        assert res.lag[k] == oracle.lags
        ref = coint(prices[:, COL[a]], prices[:, COL[b]])
        assert res.tstat[k] == pytest.approx(ref.coint_t, abs=1e-8), (a, b)
        assert res.pvalue[k] == pytest.approx(ref.pvalue, abs=PVALUE_TOL), (a, b)
        assert res.pvalue[k] < 1e-10  # the same coin on two venues is cointegrated


def test_collinear_pair_gets_minus_inf_like_coint() -> None:
    """Over the whole year ETH spot/perp crosses statsmodels' collinearity threshold."""
    prices = demo_log_closes()
    res = engle_granger(prices, [COL["BINANCE:ETH"]], [COL["BINANCEUSDM:ETH"]])
    with pytest.warns(CollinearityWarning):
        ref = coint(prices[:, COL["BINANCE:ETH"]], prices[:, COL["BINANCEUSDM:ETH"]])
    assert ref.coint_t == -np.inf
    assert res.tstat[0] == -np.inf
    assert res.pvalue[0] == ref.pvalue == 0.0
    assert res.lag[0] == -1


def test_synthetic_cointegrated_and_independent_pairs() -> None:
    prices = synthetic(seed=7)
    # (y on x) cointegrated; (z on w) and (z on x) independent random walks.
    iy = np.array([1, 2, 2])
    ix = np.array([0, 3, 0])
    res = engle_granger(prices, iy, ix)
    for k in range(3):
        ref = coint(prices[:, iy[k]], prices[:, ix[k]])
        assert res.tstat[k] == pytest.approx(ref.coint_t, abs=STAT_TOL)
        assert res.pvalue[k] == pytest.approx(ref.pvalue, abs=PVALUE_TOL)
    assert res.pvalue[0] < 1e-6
    assert (res.pvalue[1:] > 0.05).all()


def test_adf_kernel_matches_adfuller_without_trend() -> None:
    prices = synthetic(seed=3)
    e = sm_residuals(prices[:, 1], prices[:, 0])
    tstat, lag = adf_n_nb(e, -1, AUTOLAG_AIC)
    ref = adfuller(e, regression="n", autolag="aic", result_object=True)
    assert tstat == pytest.approx(ref.statistic, abs=STAT_TOL)
    assert lag == ref.lags


def test_mackinnon_vectorised_equals_statsmodels() -> None:
    tstats = np.concatenate([np.linspace(-25.0, 4.0, 2_901), [-np.inf, np.inf]])
    expected = np.array([mackinnonp(t, regression="c", N=2) for t in tstats])
    np.testing.assert_allclose(mackinnon_pvalue(tstats), expected, rtol=1e-14, atol=0)
    assert np.isnan(mackinnon_pvalue([np.nan])).all()
    nobs = np.array([10, 100, 2_000, 8_760])
    expected_crit = np.array([mackinnoncrit(N=2, regression="c", nobs=n - 1) for n in nobs])
    np.testing.assert_allclose(mackinnon_crit(nobs), expected_crit, rtol=1e-14, atol=0)


# --- orientation ----------------------------------------------------------------------------


def test_both_orientations_reports_both_and_keeps_the_lower_pvalue() -> None:
    prices = demo_log_closes()[-AIC_BARS:]
    iy, ix = cols(ORDINARY_PAIRS)
    both = both_orientations(prices, iy, ix)
    forward = engle_granger(prices, iy, ix)
    backward = engle_granger(prices, ix, iy)
    np.testing.assert_array_equal(both.y_on_x.tstat, forward.tstat)
    np.testing.assert_array_equal(both.x_on_y.tstat, backward.tstat)
    np.testing.assert_array_equal(both.x_on_y.iy, ix)
    # EG is not symmetric: the statistics differ in every pair.
    assert (forward.tstat != backward.tstat).all()
    np.testing.assert_array_equal(both.kept.pvalue, np.minimum(forward.pvalue, backward.pvalue))
    np.testing.assert_array_equal(both.kept_y_on_x, forward.tstat <= backward.tstat)
    np.testing.assert_array_equal(both.kept.iy, np.where(both.kept_y_on_x, iy, ix))
    strict = both_orientations(prices, iy, ix, keep="max_pvalue")
    np.testing.assert_array_equal(strict.kept.pvalue, np.maximum(forward.pvalue, backward.pvalue))


def test_both_orientations_prefers_a_number_over_nan() -> None:
    prices = synthetic(seed=1, n_bars=200)
    prices[:, 3] = 1.0  # flat: y on a flat x has no hedge ratio; flat on anything: not a test
    both = both_orientations(prices, [1, 3], [0, 2])
    assert np.isfinite(both.kept.tstat[0])
    assert np.isnan(both.kept.tstat[1])
    assert both.kept_y_on_x[1]  # tie (both NaN) keeps y on x


# --- missing data and degenerate pairs --------------------------------------------------------


def test_pair_is_tested_on_its_common_valid_span() -> None:
    prices = synthetic(seed=11)
    prices[:50, 1] = np.nan  # y listed late
    prices[970:, 0] = np.nan  # x delisted early
    res = engle_granger(prices, [1], [0])
    ref = coint(prices[50:970, 1], prices[50:970, 0])
    assert res.nobs[0] == 920
    assert res.first_bar[0] == 50
    assert res.tstat[0] == pytest.approx(ref.coint_t, abs=STAT_TOL)
    assert res.pvalue[0] == pytest.approx(ref.pvalue, abs=PVALUE_TOL)
    np.testing.assert_allclose(res.crit[0], ref.critical_values, rtol=0, atol=1e-12)


def test_gap_inside_the_span_all_nan_constant_and_short_pairs_are_nan() -> None:
    prices = synthetic(seed=5, n_bars=300)
    prices[100, 1] = np.nan  # gap inside y's span
    prices[:, 2] = np.nan  # z never trades
    prices[:, 3] = 4.2  # w is flat
    res = engle_granger(prices, [1, 2, 3, 0], [0, 0, 0, 3], maxlag=5, autolag=None)
    assert np.isnan(res.tstat).all()
    assert np.isnan(res.pvalue).all()
    assert (res.lag == -1).all()
    np.testing.assert_array_equal(res.nobs, [0, 0, 300, 300])

    # A span too short for the requested maxlag (statsmodels raises) gives NaN, not an error.
    short = synthetic(seed=5, n_bars=300)
    short[:280, 1] = np.nan
    res = engle_granger(short, [1, 2], [0, 0], maxlag=12, autolag="aic")
    assert np.isnan(res.tstat[0])
    assert res.nobs[0] == 20
    assert np.isfinite(res.tstat[1])

    # With 20 bars the default maxlag is 20 // 2 - 1 = 9: AIC picks the saturated regression
    # (10 rows, 10 regressors). statsmodels reports t = 0 there; a perfect fit is no test.
    res = engle_granger(short, [1], [0])
    assert np.isnan(res.tstat[0])
    assert res.lag[0] == -1


# --- multiple testing -----------------------------------------------------------------------


def test_qvalues_equal_multipletests_fdr_bh() -> None:
    rng = np.random.default_rng(42)
    p = np.concatenate([rng.uniform(size=500), rng.uniform(0, 1e-4, 20), [0.0, 0.0, 1.0, 0.3]])
    p = np.concatenate([p, p[:30]])  # ties
    rng.shuffle(p)
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(bh_qvalues(p), expected, rtol=1e-15, atol=0)


def test_qvalues_leave_nan_out_of_the_family_and_keep_the_shape() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=(10, 12))
    p[rng.uniform(size=p.shape) < 0.2] = np.nan
    q = bh_qvalues(p)
    assert q.shape == p.shape
    finite = ~np.isnan(p)
    np.testing.assert_array_equal(np.isnan(q), ~finite)
    np.testing.assert_allclose(q[finite], multipletests(p[finite], method="fdr_bh")[1], rtol=1e-15)
    assert bh_qvalues(np.array([])).shape == (0,)
    assert np.isnan(bh_qvalues([np.nan, np.nan])).all()


@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_bh_keeps_false_discoveries_rare_among_independent_random_walks(seed: int) -> None:
    """1,000 disjoint pairs of independent random walks (500 bars, AIC): no pair is
    cointegrated, so raw p < 0.05 passes ~5 % of them (a little more: the MacKinnon p-value is
    asymptotic), while BH at q < 0.05 passes almost none."""
    rng = np.random.default_rng(seed)
    n_pairs = 1_000
    prices = np.cumsum(rng.normal(0.0, 0.01, (500, 2 * n_pairs)), axis=0)
    res = engle_granger(prices, np.arange(0, 2 * n_pairs, 2), np.arange(1, 2 * n_pairs, 2))
    raw_share = float(np.mean(res.pvalue < 0.05))
    bh_share = float(np.mean(bh_qvalues(res.pvalue) < 0.05))
    assert 0.025 < raw_share < 0.09
    assert bh_share < 0.01


# --- bad input --------------------------------------------------------------------------------

PRICES = synthetic(seed=0, n_bars=100)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"log_prices": PRICES[:, 0]}, "log_prices must be 2-D"),
        ({"log_prices": PRICES[:3]}, "log_prices needs at least 4 bars"),
        ({"log_prices": np.where(PRICES > 5.0, -np.inf, PRICES)}, "log_prices contains infinite"),
        ({"log_prices": PRICES.astype(str)}, "log_prices must hold real numbers"),
        ({"iy": [0, 9]}, r"iy must be column indices in \[0, 4\)"),
        ({"ix": [1.0, 2.0]}, "ix must hold integer"),
        ({"ix": [[1, 2]]}, "ix must be a 1-D array"),
        ({"iy": [0, 1, 2]}, "iy and ix must have the same length"),
        ({"iy": [0, 2]}, r"iy and ix must differ in every pair.*iy\[1\] == ix\[1\] == 2"),
        ({"maxlag": -1}, r"maxlag must be in \[0, n_bars // 2 - 1\] = \[0, 49\]"),
        ({"maxlag": 50}, "maxlag must be in"),
        ({"maxlag": 2.5}, "maxlag must be a non-negative integer or None"),
        ({"autolag": "t-stat"}, 'autolag must be "aic", "bic" or None'),
        ({"trend": "ct"}, 'trend must be "c"'),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"log_prices": PRICES, "iy": [0, 1], "ix": [1, 2]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        engle_granger(args.pop("log_prices"), args.pop("iy"), args.pop("ix"), **args)  # type: ignore[arg-type]


def test_bad_keep_pvalues_and_symbol_count_name_the_argument() -> None:
    with pytest.raises(ValueError, match="keep must be"):
        both_orientations(PRICES, [0], [1], keep="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"pvalues must lie in \[0, 1\]"):
        bh_qvalues([0.1, 1.5])
    with pytest.raises(ValueError, match="n_symbols must be >= 2"):
        all_pairs(1)


def test_all_pairs_lists_every_unordered_pair_once() -> None:
    iy, ix = all_pairs(5)
    assert len(iy) == 10
    assert (iy < ix).all()
    assert len(set(zip(iy.tolist(), ix.tolist(), strict=True))) == 10
