"""Half-life, Hurst exponent and Kalman hedge ratio against independent oracles: statsmodels OLS,
plain numpy, a plain-Python filter loop; on recorded demo candles and seeded synthetic series."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from pairscan.stats.kernels.meanrev import (
    half_life_from_slope_nb,
    half_life_nb,
    hurst_nb,
)
from pairscan.stats.meanrev import KalmanResult, half_life, hurst, kalman_hedge

Array = np.ndarray[Any, np.dtype[np.float64]]


@cache
def log_close(name: str) -> Array:
    """Log closes of a recorded demo market, e.g. "BINANCE_ETH-USDT" (8760 hourly bars)."""
    path = files("pairscan.demo") / "data" / f"{name}_1h.parquet"
    with path.open("rb") as handle:
        closes: Array = pd.read_parquet(handle)["close"].to_numpy(dtype=np.float64)
    return np.log(closes)


def recorded_spread(kind: str) -> Array:
    if kind == "eth_btc":  # fixed hedge ratio, BTC-level log prices (x ~ 11.5)
        return log_close("BINANCE_ETH-USDT") - 0.9 * log_close("BINANCE_BTC-USDT")
    if kind == "eth_spot_perp":  # basis: strongly mean-reverting
        return log_close("BINANCE_ETH-USDT") - log_close("BINANCEUSDM_ETH-USDT")
    if kind == "sol_eth":
        return log_close("BINANCE_SOL-USDT") - 1.1 * log_close("BINANCE_ETH-USDT")
    raise KeyError(kind)


def with_holes(s: Array, seed: int, fraction: float = 0.02) -> Array:
    """A copy with isolated NaN bars and one 30-bar outage."""
    rng = np.random.default_rng(seed)
    out = s.copy()
    out[rng.random(out.size) < fraction] = np.nan
    start = out.size // 3
    out[start : start + 30] = np.nan
    return out


def ou(theta: float, n_bars: int, seed: int, level: float = 0.0) -> Array:
    """Discrete OU / AR(1): s_t = s_{t-1} - theta (s_{t-1} - level) + eps_t, eps ~ N(0, 1e-4)."""
    eps = np.random.default_rng(seed).normal(0.0, 0.01, n_bars)
    s = np.empty(n_bars)
    s[0] = level
    for t in range(1, n_bars):
        s[t] = s[t - 1] - theta * (s[t - 1] - level) + eps[t]
    return s


def fbm(h: float, n_bars: int, seed: int) -> Array:
    """Fractional Brownian motion with Hurst exponent h: cumulative fractional Gaussian noise,
    exact by circulant embedding (Davies & Harte 1987)."""
    rng = np.random.default_rng(seed)
    k = np.arange(n_bars + 1, dtype=np.float64)
    acov = 0.5 * (np.abs(k - 1) ** (2 * h) - 2 * k ** (2 * h) + (k + 1) ** (2 * h))
    circ = np.concatenate([acov, acov[-2:0:-1]])
    eig = np.fft.fft(circ).real
    m = circ.size
    noise = rng.normal(size=m) + 1j * rng.normal(size=m)
    fgn = np.fft.fft(np.sqrt(np.maximum(eig, 0.0) / m) * noise)[:n_bars].real
    return np.cumsum(fgn)


def windows(s: Array, window_bars: int) -> Array:
    """(window_bars, n_windows) matrix whose column i is bars i..i+window_bars-1."""
    return np.ascontiguousarray(sliding_window_view(s, window_bars).T)


# --- oracles -------------------------------------------------------------------------------


def statsmodels_half_life(s: Array) -> float:
    """-ln 2 / ln(1 + b), b from sm.OLS(Δs_t, [1, s_{t-1}]) on the pairs with both bars finite."""
    lagged, current = s[:-1], s[1:]
    valid = np.isfinite(lagged) & np.isfinite(current)
    fit = sm.OLS(current[valid] - lagged[valid], sm.add_constant(lagged[valid])).fit()
    b = float(fit.params[1])
    if b >= 0:
        return math.inf
    return -math.log(2.0) / math.log1p(b)


def numpy_hurst(s: Array, max_lag: int) -> float:
    """Variance-of-lagged-differences Hurst exponent in plain numpy."""
    lags = np.arange(2, max_lag + 1)
    stds = []
    for lag in lags:
        d = s[lag:] - s[:-lag]
        stds.append(np.std(d[np.isfinite(d)]))
    return float(np.polyfit(np.log(lags), np.log(stds), 1)[0])


def python_kalman(
    y: Array, x: Array, delta: float, obs_var: float, init_var: float
) -> tuple[Array, Array, Array, Array]:
    """The filter of Chan (2013) ex. 3.3 written with 2x2 matrices, one bar at a time."""
    theta = np.zeros(2)
    cov = init_var * np.eye(2)
    q = delta / (1.0 - delta) * np.eye(2)
    out = np.full((4, y.size), np.nan)
    seen = False
    for t in range(y.size):
        cov = cov + q
        if np.isfinite(x[t]) and np.isfinite(y[t]):
            f = np.array([x[t], 1.0])
            err = y[t] - f @ theta
            var = f @ cov @ f + obs_var
            gain = cov @ f / var
            theta = theta + gain * err
            cov = cov - np.outer(gain, f @ cov)
            out[2, t], out[3, t] = err, var
            seen = True
        if seen:
            out[0, t], out[1, t] = theta
    return out[0], out[1], out[2], out[3]


# --- half-life -----------------------------------------------------------------------------


def assert_half_lives_close(actual: Array | float, expected: Array | list[float] | float) -> None:
    """Compare decay rates ln 2 / half-life = -ln(1 + b) (0 for +inf) to rtol 1e-9, atol 1e-12.

    Half-lives themselves are ill-conditioned where b -> 0: on the recorded ETH/BTC spread one
    window has b = -5e-8 and a half-life of 1.4e7 bars, so a 2e-16 difference in b (rounding)
    is a 5e-9 relative difference in the half-life."""
    a = np.log(2.0) / np.asarray(actual, dtype=np.float64)
    e = np.log(2.0) / np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["eth_btc", "eth_spot_perp", "sol_eth"])
def test_half_life_equals_statsmodels_ols_on_recorded_spreads(kind: str) -> None:
    s = recorded_spread(kind)
    holed = with_holes(s, seed=1)
    got = half_life(np.column_stack([s, holed]))
    expected = [statsmodels_half_life(s), statsmodels_half_life(holed)]
    assert_half_lives_close(got, expected)
    assert np.isfinite(got).all()


@pytest.mark.parametrize(("theta", "rel_tol"), [(0.05, 0.10), (0.4, 0.03)])
def test_half_life_recovers_ou_theta(theta: float, rel_tol: float) -> None:
    """50,000 bars: the standard error of b is sqrt((1 - (1-θ)²) / n), i.e. 2.8 % (θ = 0.05)
    and 0.8 % (θ = 0.4) of the half-life; the tolerances are ~3.5 standard errors. At θ = 0.4
    the exact -ln2/ln(1-θ) = 1.357 bars and the shortcut ln2/θ = 1.733 are far apart."""
    exact = -math.log(2.0) / math.log(1.0 - theta)
    got = float(half_life(ou(theta, 50_000, seed=3, level=-2.0)))
    assert got == pytest.approx(exact, rel=rel_tol)
    if theta == 0.4:
        assert abs(got - math.log(2.0) / theta) > 0.3


def test_half_life_slope_mapping() -> None:
    assert half_life_from_slope_nb(-0.5) == pytest.approx(1.0, rel=1e-15)
    assert half_life_from_slope_nb(0.0) == math.inf
    assert half_life_from_slope_nb(0.01) == math.inf
    assert math.isnan(half_life_from_slope_nb(-1.0))
    assert math.isnan(half_life_from_slope_nb(-1.5))
    assert math.isnan(half_life_from_slope_nb(math.nan))


@pytest.mark.parametrize(
    ("kind", "window_bars", "n_bars", "holes"),
    [
        ("eth_btc", 720, 8760, False),  # full year: three exact resyncs (every 4W)
        ("eth_spot_perp", 240, 3000, True),
        ("sol_eth", 50, 3000, True),
    ],
)
def test_rolling_half_life_equals_full_fit_on_every_window(
    kind: str, window_bars: int, n_bars: int, holes: bool
) -> None:
    s = recorded_spread(kind)[:n_bars]
    if holes:
        s = with_holes(s, seed=2)
    min_nobs = (window_bars - 1) // 2
    rolling = half_life(s, window_bars=window_bars, min_nobs=min_nobs)
    per_window = half_life_nb(windows(s, window_bars), min_nobs)
    assert np.isnan(rolling[: window_bars - 1]).all()
    assert_half_lives_close(rolling[window_bars - 1 :], per_window)
    assert np.isfinite(rolling[window_bars - 1 :]).mean() > 0.9
    if window_bars < 60:  # the 30-bar outage leaves too few valid pairs in a short window
        assert np.isnan(rolling).sum() > window_bars - 1
    # and the full fit itself is the statsmodels one, checked on a sample of windows
    for end in range(window_bars - 1, n_bars, n_bars // 7):
        expected = statsmodels_half_life(s[end - window_bars + 1 : end + 1])
        assert_half_lives_close(rolling[end], expected)


def test_half_life_flat_and_trending_spreads() -> None:
    rng = np.random.default_rng(4)
    s = ou(0.1, 600, seed=4, level=3.0)
    s[200:400] = s[199]  # forward-filled outage: the regressor is constant
    rolling = half_life(s, window_bars=100)
    assert np.isnan(rolling[299:400]).all()
    assert np.isfinite(rolling[99:200]).all()
    assert np.isfinite(rolling[500:]).all()
    assert math.isnan(float(half_life(np.full(50, 11.2))))
    explosive = np.cumprod(np.full(200, 1.01)) + rng.normal(0, 1e-4, 200)
    assert float(half_life(explosive)) == math.inf


def test_half_life_min_nobs_rule() -> None:
    s = ou(0.1, 100, seed=5)
    s[::2] = np.nan  # every pair has a NaN end
    assert math.isnan(float(half_life(s)))
    s = ou(0.1, 100, seed=5)
    s[40:] = np.nan  # 39 valid pairs out of 99
    assert math.isnan(float(half_life(s)))  # default: half of the pairs
    assert math.isfinite(float(half_life(s, min_nobs=39)))
    assert math.isnan(float(half_life(s, min_nobs=40)))


# --- Hurst ---------------------------------------------------------------------------------


def test_hurst_random_walk_ou_and_persistent() -> None:
    """Seeded, max_lag 20. Measured over seeds 0..4: random walk 0.49-0.51, OU (θ = 0.05)
    0.40-0.41, fBm(0.75) 0.72-0.76, fBm(0.3) 0.29-0.30."""
    rng = np.random.default_rng(0)
    random_walk = np.cumsum(rng.normal(size=20_000))
    assert float(hurst(random_walk)) == pytest.approx(0.5, abs=0.03)
    assert float(hurst(ou(0.05, 20_000, seed=0))) < 0.45
    assert float(hurst(fbm(0.75, 2**14, seed=0))) == pytest.approx(0.75, abs=0.05)
    assert float(hurst(fbm(0.3, 2**14, seed=0))) == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("kind", ["eth_btc", "eth_spot_perp", "sol_eth"])
@pytest.mark.parametrize("max_lag", [3, 20, 100])
def test_hurst_equals_numpy_estimator(kind: str, max_lag: int) -> None:
    s = recorded_spread(kind)
    holed = with_holes(s, seed=6)
    got = hurst(np.column_stack([s, holed]), max_lag=max_lag)
    np.testing.assert_allclose(
        got, [numpy_hurst(s, max_lag), numpy_hurst(holed, max_lag)], atol=1e-12
    )


def test_recorded_basis_is_mean_reverting() -> None:
    assert float(hurst(recorded_spread("eth_spot_perp"))) < 0.3


@pytest.mark.parametrize(
    ("kind", "window_bars", "max_lag", "n_bars"),
    [("eth_btc", 720, 20, 8760), ("eth_spot_perp", 200, 30, 3000), ("sol_eth", 40, 5, 3000)],
)
def test_rolling_hurst_equals_full_estimate_on_every_window(
    kind: str, window_bars: int, max_lag: int, n_bars: int
) -> None:
    s = with_holes(recorded_spread(kind)[:n_bars], seed=7, fraction=0.01)
    min_nobs = (window_bars - max_lag) // 2
    rolling = hurst(s, max_lag=max_lag, window_bars=window_bars, min_nobs=min_nobs)
    per_window = hurst_nb(windows(s, window_bars), max_lag, min_nobs)
    assert np.isnan(rolling[: window_bars - 1]).all()
    np.testing.assert_allclose(rolling[window_bars - 1 :], per_window, rtol=0, atol=1e-9)
    assert np.isfinite(rolling[window_bars - 1 :]).mean() > 0.9
    for end in range(window_bars - 1, n_bars, n_bars // 5):
        window = s[end - window_bars + 1 : end + 1]
        if np.isfinite(rolling[end]):
            assert rolling[end] == pytest.approx(numpy_hurst(window, max_lag), abs=1e-9)


def test_hurst_nan_rules() -> None:
    assert math.isnan(float(hurst(np.full(100, 5.0))))
    assert math.isnan(float(hurst(0.3 + 1e-3 * np.arange(100.0))))  # equal differences
    s = np.cumsum(np.random.default_rng(8).normal(size=600))
    s[200:400] = s[199]  # forward-filled outage
    s[450:] = s[449] + 0.01 * np.arange(150.0)  # a straight line
    rolling = hurst(s, max_lag=10, window_bars=50)
    assert np.isfinite(rolling[49:200]).all()
    assert np.isnan(rolling[249:400]).all()
    assert np.isnan(rolling[499:]).all()
    s = np.cumsum(np.random.default_rng(8).normal(size=100))
    s[30:] = np.nan  # lag 20 has 10 differences; the default needs (100 - 20) // 2 = 40
    assert math.isnan(float(hurst(s)))
    assert math.isfinite(float(hurst(s, min_nobs=10)))


# --- Kalman --------------------------------------------------------------------------------


@pytest.mark.parametrize(("delta", "obs_var", "init_var"), [(1e-7, 1e-5, 1.0), (1e-4, 1e-3, 10.0)])
def test_kalman_equals_python_loop(delta: float, obs_var: float, init_var: float) -> None:
    n_bars = 3000
    y = with_holes(log_close("BINANCE_ETH-USDT")[:n_bars], seed=9)
    x = with_holes(log_close("BINANCE_BTC-USDT")[:n_bars], seed=10)
    y[:5] = np.nan  # the state is NaN until the first observed bar
    y2, x2 = log_close("BINANCE_SOL-USDT")[:n_bars], log_close("BINANCEUSDM_ETH-USDT")[:n_bars]
    result = kalman_hedge(
        np.column_stack([y, y2]), np.column_stack([x, x2]), delta, obs_var, init_var
    )
    for j, (yj, xj) in enumerate([(y, x), (y2, x2)]):
        expected = python_kalman(yj, xj, delta, obs_var, init_var)
        got = (result.beta[:, j], result.alpha[:, j], result.err[:, j], result.err_var[:, j])
        for name, g, e in zip(("beta", "alpha", "err", "err_var"), got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=name)
    assert np.isnan(result.beta[:5, 0]).all()
    assert np.isfinite(result.beta[5:, 0]).all()
    missing = np.isnan(y) | np.isnan(x)
    assert np.isnan(result.err[missing, 0]).all()
    assert np.isfinite(result.err[~missing, 0]).all()


def test_kalman_recovers_time_varying_beta() -> None:
    """y = beta_t x + 0.5 + N(0, 0.003²), beta_t = 1 + 0.3 sin(2πt / 3000), x a random walk
    from 2. With matched obs_var and delta = 1e-6, after 500 warm-up bars the mean absolute
    error was 0.035 and the max 0.093 (seed 0); the Kalman z has a std of 0.96."""
    rng = np.random.default_rng(0)
    n_bars = 6000
    x = 2.0 + np.cumsum(rng.normal(0.0, 0.02, n_bars))
    beta = 1.0 + 0.3 * np.sin(2.0 * np.pi * np.arange(n_bars) / 3000.0)
    y = beta * x + 0.5 + rng.normal(0.0, 0.003, n_bars)
    result = kalman_hedge(y, x, delta=1e-6, obs_var=0.003**2)
    error = np.abs(result.beta - beta)[500:]
    assert error.mean() < 0.06
    assert error.max() < 0.15
    assert np.corrcoef(result.beta[500:], beta[500:])[0, 1] > 0.95
    assert np.std(result.zscore[500:]) == pytest.approx(1.0, abs=0.15)


def test_kalman_nan_bar_predicts_only() -> None:
    x = log_close("BINANCE_BTC-USDT")[:50].copy()
    y = log_close("BINANCE_ETH-USDT")[:50].copy()
    y[20:23] = np.nan
    result = kalman_hedge(y, x)
    assert (result.beta[20:23] == result.beta[19]).all()
    assert (result.alpha[20:23] == result.alpha[19]).all()
    assert np.isnan(result.zscore[20:23]).all()
    # three bars of process noise accumulated before the next update widen its forecast
    reference = kalman_hedge(np.delete(y, [20, 21, 22]), np.delete(x, [20, 21, 22]))
    assert result.err_var[23] > reference.err_var[20]
    assert isinstance(result, KalmanResult)
    assert result.beta.shape == (50,)


# --- causality (look-ahead property) -------------------------------------------------------


def _future_variant(s: Array, cut: int, seed: int, mode: str) -> tuple[Array, Array]:
    """(history to compare, series whose bars after `cut` are appended or altered)."""
    rng = np.random.default_rng(seed)
    if mode == "append":
        extra = s[-1] + np.cumsum(rng.normal(0, 0.01, 25))
        return s[: cut + 1], np.concatenate([s[: cut + 1], extra])
    altered = s.copy()
    altered[cut + 1 :] = rng.normal(0, 1.0, s.size - cut - 1)
    altered[cut + 1 :: 3] = np.nan
    return s, altered


# cut >= 40 so that the history in "append" mode is at least one window long (validation).
causal_cases = st.tuples(
    st.integers(0, 2**31 - 1), st.integers(40, 239), st.sampled_from(["append", "alter"])
)


@settings(max_examples=40, deadline=None)
@given(case=causal_cases, window_bars=st.integers(3, 40))
def test_rolling_half_life_is_causal(case: tuple[int, int, str], window_bars: int) -> None:
    seed, cut, mode = case
    s = with_holes(ou(0.1, 240, seed=seed), seed=seed, fraction=0.05)
    base, variant = _future_variant(s, cut, seed, mode)
    a = half_life(base, window_bars=window_bars, min_nobs=2)
    b = half_life(variant, window_bars=window_bars, min_nobs=2)
    np.testing.assert_array_equal(a[: cut + 1], b[: cut + 1])


@settings(max_examples=40, deadline=None)
@given(case=causal_cases, window_bars=st.integers(6, 40))
def test_rolling_hurst_is_causal(case: tuple[int, int, str], window_bars: int) -> None:
    seed, cut, mode = case
    s = with_holes(ou(0.1, 240, seed=seed), seed=seed, fraction=0.05)
    base, variant = _future_variant(s, cut, seed, mode)
    max_lag = max(3, window_bars // 4)
    a = hurst(base, max_lag=max_lag, window_bars=window_bars, min_nobs=2)
    b = hurst(variant, max_lag=max_lag, window_bars=window_bars, min_nobs=2)
    np.testing.assert_array_equal(a[: cut + 1], b[: cut + 1])


@settings(max_examples=40, deadline=None)
@given(case=causal_cases)
def test_kalman_is_causal(case: tuple[int, int, str]) -> None:
    seed, cut, mode = case
    x = with_holes(2.0 + np.cumsum(np.random.default_rng(seed).normal(0, 0.02, 240)), seed + 1)
    y = with_holes(0.8 * x + ou(0.1, 240, seed=seed), seed=seed, fraction=0.05)
    x_base, x_variant = _future_variant(x, cut, seed + 2, mode)
    y_base, y_variant = _future_variant(y, cut, seed + 3, mode)
    a = kalman_hedge(y_base, x_base)
    b = kalman_hedge(y_variant, x_variant)
    for name in ("beta", "alpha", "err", "err_var"):
        np.testing.assert_array_equal(
            getattr(a, name)[: cut + 1], getattr(b, name)[: cut + 1], err_msg=name
        )


# --- shapes and bad input ------------------------------------------------------------------


def test_one_dimensional_input_is_one_series() -> None:
    s = recorded_spread("sol_eth")[:1000]
    panel = np.column_stack([s, 2.0 * s])
    assert half_life(s).shape == ()
    assert half_life(panel).shape == (2,)
    assert float(half_life(s)) == half_life(panel)[0]
    np.testing.assert_array_equal(half_life(s, 100), half_life(panel, 100)[:, 0])
    np.testing.assert_array_equal(hurst(s, 10, 100), hurst(panel, 10, 100)[:, 0])
    assert float(hurst(s)) == pytest.approx(hurst(panel)[1], abs=1e-12)  # scale-invariant


S = np.cumsum(np.random.default_rng(11).normal(size=100))
ALL_NAN_COLUMN = np.column_stack([S, np.full(100, np.nan)])

BAD_INPUTS: list[tuple[Callable[..., object], dict[str, Any], str]] = [
    (half_life, {"spread": S, "window_bars": 2}, "window_bars"),
    (half_life, {"spread": S, "window_bars": 101}, "window_bars"),
    (half_life, {"spread": S, "window_bars": 10.5}, "window_bars"),
    (half_life, {"spread": S, "window_bars": 10, "min_nobs": 10}, "min_nobs"),
    (half_life, {"spread": S, "min_nobs": 1}, "min_nobs"),
    (half_life, {"spread": S[:2]}, "spread"),
    (half_life, {"spread": np.zeros((3, 4, 5))}, "spread"),
    (half_life, {"spread": np.array([])}, "spread"),
    (half_life, {"spread": ALL_NAN_COLUMN}, "spread: column 1"),
    (half_life, {"spread": np.append(S, np.inf)}, "spread"),
    (hurst, {"spread": S, "max_lag": 2}, "max_lag"),
    (hurst, {"spread": S, "max_lag": 51}, "max_lag"),
    (hurst, {"spread": S, "max_lag": 20, "window_bars": 30}, "max_lag"),
    (hurst, {"spread": S, "window_bars": 5}, "window_bars"),
    (hurst, {"spread": S, "window_bars": 101}, "window_bars"),
    (hurst, {"spread": S, "min_nobs": 81}, "min_nobs"),
    (hurst, {"spread": ALL_NAN_COLUMN}, "spread"),
    (kalman_hedge, {"y": S, "x": S[:-1]}, "x"),
    (kalman_hedge, {"y": S, "x": np.column_stack([S, S])}, "x"),
    (kalman_hedge, {"y": S, "x": S, "delta": 0.0}, "delta"),
    (kalman_hedge, {"y": S, "x": S, "delta": 1.0}, "delta"),
    (kalman_hedge, {"y": S, "x": S, "delta": math.nan}, "delta"),
    (kalman_hedge, {"y": S, "x": S, "obs_var": 0.0}, "obs_var"),
    (kalman_hedge, {"y": S, "x": S, "obs_var": -1e-3}, "obs_var"),
    (kalman_hedge, {"y": S, "x": S, "init_var": 0.0}, "init_var"),
    (kalman_hedge, {"y": np.full(100, np.nan), "x": S}, "y"),
]


@pytest.mark.parametrize(("function", "kwargs", "argument"), BAD_INPUTS)
def test_bad_input_names_the_argument(
    function: Callable[..., object], kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(ValueError, match=f"^{argument}"):
        function(**kwargs)
