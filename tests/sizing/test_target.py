"""Spread-return vol against a brute-force numpy oracle, and vol-targeted notionals against
hand-computed examples (pairscan.sizing.target and its kernels)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pairscan.config import SizingConfig
from pairscan.market import MS_PER_DAY, MS_PER_HOUR
from pairscan.sizing import SizeCode, bars_per_year, spread_vol, target_notional

Array = np.ndarray[Any, np.dtype[np.float64]]

# A spread vol of 20 % a year on hourly bars: sigma per bar = 0.20 / sqrt(8760).
SIGMA_20 = 0.20 / math.sqrt(8760)


def synthetic(n_bars: int, n_pairs: int, seed: int, nan_frac: float = 0.0) -> tuple[Array, ...]:
    """BTC-level log prices (~11) of correlated pairs with NaN holes, and a drifting beta."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.006, (n_bars, n_pairs))
    lx = 11.0 + np.cumsum(common + rng.normal(0.0, 0.002, (n_bars, n_pairs)), axis=0)
    ly = 8.0 + np.cumsum(0.9 * common + rng.normal(0.0, 0.003, (n_bars, n_pairs)), axis=0)
    ly[rng.random(ly.shape) < nan_frac] = np.nan
    lx[rng.random(lx.shape) < nan_frac] = np.nan
    beta = 0.9 + 0.2 * np.sin(np.arange(n_bars) / 50.0)[:, None] + np.zeros((1, n_pairs))
    beta[rng.random(beta.shape) < nan_frac] = np.nan
    return ly, lx, beta


def brute_force_vol(ly: Array, lx: Array, beta: Array, window: int, min_nobs: int) -> Array:
    out = np.full(ly.shape, np.nan)
    ry = np.vstack([np.full((1, ly.shape[1]), np.nan), np.diff(ly, axis=0)])
    rx = np.vstack([np.full((1, lx.shape[1]), np.nan), np.diff(lx, axis=0)])
    for t in range(ly.shape[0]):
        lo = max(0, t - window + 1)
        for p in range(ly.shape[1]):
            d = ry[lo : t + 1, p] - beta[t, p] * rx[lo : t + 1, p]
            ok = np.isfinite(ry[lo : t + 1, p]) & np.isfinite(rx[lo : t + 1, p])
            if ok.sum() >= min_nobs and np.isfinite(beta[t, p]):
                out[t, p] = np.std(d[ok], ddof=1)
    return out


@pytest.mark.parametrize(("nan_frac", "min_nobs"), [(0.0, None), (0.03, 30), (0.03, None)])
def test_spread_vol_matches_numpy_on_every_window(nan_frac: float, min_nobs: int | None) -> None:
    # 600 bars and a 60-bar window: the running sums are rebuilt every 120 bars, 4 times.
    ly, lx, beta = synthetic(600, 3, seed=11, nan_frac=nan_frac)
    got = spread_vol(ly, lx, beta, 60, min_nobs)
    want = brute_force_vol(ly, lx, beta, 60, 30 if min_nobs is None else min_nobs)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    if min_nobs is None and nan_frac == 0.0:
        # Default min_nobs: half the window; bar 0 has no return, so bars 0..29 are NaN.
        assert np.isnan(got[:30]).all()
        assert np.isfinite(got[30:]).all()


def test_spread_vol_of_one_pair_is_one_dimensional_and_equals_pandas_for_a_fixed_beta() -> None:
    import pandas as pd

    ly, lx, _ = synthetic(300, 1, seed=3)
    got = spread_vol(ly[:, 0], lx[:, 0], np.full(300, 0.8), 50, 50)
    want = pd.Series(np.diff(ly[:, 0]) - 0.8 * np.diff(lx[:, 0])).rolling(50).std()
    assert got.shape == (300,)
    np.testing.assert_allclose(got[1:], want.to_numpy(), rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(60, 299))
def test_spread_vol_is_causal(seed: int, cut: int) -> None:
    """Appending future bars never changes a past value."""
    ly, lx, beta = synthetic(300, 2, seed=seed, nan_frac=0.02)
    full = spread_vol(ly, lx, beta, 40)
    part = spread_vol(ly[:cut], lx[:cut], beta[:cut], 40)
    np.testing.assert_allclose(part, full[:cut], rtol=1e-10, atol=1e-15)


def test_bars_per_year() -> None:
    assert bars_per_year(MS_PER_HOUR) == 8760.0  # 365 x 24
    assert bars_per_year(MS_PER_DAY) == 365.0
    assert bars_per_year(4 * MS_PER_HOUR) == 2190.0


def test_target_notional_hand_computed_with_each_cap_binding() -> None:
    config = SizingConfig(capital_quote=10_000.0, target_vol=0.10, max_pair_gross=1.0)
    sigma = np.array([SIGMA_20, SIGMA_20, SIGMA_20, SIGMA_20, SIGMA_20])
    beta = np.array([0.5, 1.5, 0.5, -0.5, 0.5])
    # Edge per bar on gross: only the third pair has a binding one.
    mean = np.array([np.nan, np.nan, 1e-4, np.nan, 1e-2])
    var = np.array([np.nan, np.nan, 1e-4, np.nan, 1e-4])
    notional, code = target_notional(sigma, beta, config, MS_PER_HOUR, edge_mean=mean, edge_var=var)
    # Vol target: N_y = 0.10 x 10,000 / (0.20 / sqrt(8760) x sqrt(8760)) = 1,000 / 0.20 = 5,000;
    # gross 5,000 x (1 + 0.5) = 7,500 <= 10,000: no cap binds.
    # Pair gross: beta 1.5 gives gross 5,000 x 2.5 = 12,500 > 10,000, so N_y = 10,000 / 2.5 = 4,000.
    # Kelly: f* = 1e-4 / 1e-4 = 1x capital; half-Kelly gross 5,000 -> N_y = 5,000 / 1.5 = 3,333.33.
    # Negative beta: |beta| enters the gross, so the size equals the first pair's: 5,000.
    # Large edge: f* = 100, half-Kelly gross 500,000: the vol target (5,000) stays binding.
    np.testing.assert_allclose(notional, [5000.0, 4000.0, 10_000 / 3, 5000.0, 5000.0])
    assert code.tolist() == [
        SizeCode.VOL_TARGET,
        SizeCode.PAIR_GROSS,
        SizeCode.KELLY,
        SizeCode.VOL_TARGET,
        SizeCode.VOL_TARGET,
    ]


def test_target_notional_drops_with_a_code() -> None:
    config = SizingConfig()
    sigma = np.array([np.nan, 0.0, np.inf, SIGMA_20, SIGMA_20, SIGMA_20])
    beta = np.array([0.5, 0.5, 0.5, np.nan, 0.5, 0.5])
    mean = np.array([np.nan, np.nan, np.nan, np.nan, 0.0, -1e-5])
    var = np.full(6, 1e-4)
    notional, code = target_notional(sigma, beta, config, MS_PER_HOUR, edge_mean=mean, edge_var=var)
    assert notional.tolist() == [0.0] * 6
    assert code.tolist() == [
        SizeCode.DROP_NO_VOL,
        SizeCode.DROP_NO_VOL,
        SizeCode.DROP_NO_VOL,
        SizeCode.DROP_NO_BETA,
        SizeCode.DROP_NO_EDGE,
        SizeCode.DROP_NO_EDGE,
    ]


def test_zero_caps_drop_and_kelly_fraction_needs_an_edge_to_bind() -> None:
    sigma, beta = np.array([SIGMA_20]), np.array([0.5])
    _, code = target_notional(sigma, beta, SizingConfig(max_pair_gross=0.0), MS_PER_HOUR)
    assert code.tolist() == [SizeCode.DROP_ZERO_CAP]
    no_kelly = SizingConfig(kelly_fraction=0.0)
    notional, code = target_notional(sigma, beta, no_kelly, MS_PER_HOUR)
    assert (notional.tolist(), code.tolist()) == ([5000.0], [SizeCode.VOL_TARGET])
    _, code = target_notional(sigma, beta, no_kelly, MS_PER_HOUR, edge_mean=1e-4, edge_var=1e-4)
    assert code.tolist() == [SizeCode.DROP_ZERO_CAP]


def test_target_notional_over_bars_and_pairs_broadcasts_a_scalar_edge() -> None:
    sigma = np.full((4, 3), SIGMA_20)
    beta = np.full((4, 3), 0.5)
    notional, code = target_notional(
        sigma, beta, SizingConfig(), MS_PER_HOUR, edge_mean=1e-4, edge_var=1e-4
    )
    assert notional.shape == code.shape == (4, 3)
    np.testing.assert_allclose(notional, 10_000 / 3)
    assert (code == SizeCode.KELLY).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: spread_vol(np.zeros((5, 2)), np.zeros((5, 3)), np.zeros((5, 2)), 3), "log_x"),
        (lambda: spread_vol(np.zeros((5, 2)), np.zeros((5, 2)), np.zeros(5), 3), "beta"),
        (lambda: spread_vol(np.zeros(5), np.zeros(5), np.zeros(5), 6), "window_bars"),
        (lambda: spread_vol(np.zeros(5), np.zeros(5), np.zeros(5), 4, 5), "min_nobs"),
        (lambda: spread_vol(np.zeros((2, 2, 2)), np.zeros(2), np.zeros(2), 3), "log_y"),
        (lambda: spread_vol(["a"], [1.0], [1.0], 3), "log_y"),
        (lambda: bars_per_year(0), "timeframe_ms"),
        (lambda: bars_per_year("1h"), "timeframe_ms"),  # type: ignore[arg-type]
        (lambda: target_notional([0.1], [1.0, 2.0], SizingConfig(), MS_PER_HOUR), "beta"),
        (lambda: target_notional([0.1], [1.0], {}, MS_PER_HOUR), "config"),  # type: ignore[arg-type]
        (
            lambda: target_notional([0.1], [1.0], SizingConfig(), MS_PER_HOUR, edge_mean=1e-4),
            "edge_var",
        ),
        (
            lambda: target_notional(
                [0.1], [1.0], SizingConfig(), MS_PER_HOUR, edge_mean=1e-4, edge_var=-1.0
            ),
            "edge_var",
        ),
        (
            lambda: target_notional(
                [0.1], [1.0], SizingConfig(), MS_PER_HOUR, edge_mean=[1e-4, 1.0], edge_var=1.0
            ),
            "edge_mean",
        ),
    ],
)
def test_bad_arguments_name_the_argument(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
