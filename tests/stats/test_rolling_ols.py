"""Rolling OLS hedge ratio, spread and z-score against their oracles (pairscan.stats.ols)."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.regression.rolling import RollingOLS

from pairscan.stats import all_pairs
from pairscan.stats.ols import (
    log_prices,
    pair_stats_last,
    rolling_pair_stats,
    rolling_pair_stats_indexed,
)
from tests.stats.rolling_oracles import rolling_ols, rolling_ols_indexed, spread_zscore

RTOL = 1e-10


def _demo_log_closes(bases: list[str]) -> np.ndarray:
    data = files("pairscan.demo") / "data"
    cols = []
    for base in bases:
        with (data / f"BINANCE_{base}-USDT_1h.parquet").open("rb") as fh:
            cols.append(pd.read_parquet(fh)["close"].to_numpy())
    return np.asarray(log_prices(np.column_stack(cols)))


def _synthetic(n_bars: int, n_symbols: int, seed: int, nan_frac: float = 0.0) -> np.ndarray:
    """One-factor BTC-level hourly log prices (~11, vol 0.6 %/h) with NaNs sprinkled in."""
    rng = np.random.default_rng(seed)
    factor = np.cumsum(rng.normal(0.0, 0.005, n_bars))
    load = rng.uniform(0.5, 1.5, n_symbols)
    idio = np.cumsum(rng.normal(0.0, 0.003, (n_bars, n_symbols)), axis=0)
    lp = 11.0 + np.outer(factor, load) + idio
    lp[rng.random(lp.shape) < nan_frac] = np.nan
    return lp


def _lstsq_window(yw: np.ndarray, xw: np.ndarray, min_nobs: int) -> tuple[float, float]:
    ok = np.isfinite(yw) & np.isfinite(xw)
    if ok.sum() < min_nobs or np.ptp(xw[ok]) == 0.0:
        return np.nan, np.nan
    design = np.column_stack([np.ones(ok.sum()), xw[ok]])
    (a, b), *_ = np.linalg.lstsq(design, yw[ok], rcond=None)
    return float(a), float(b)


def _check_oracle(
    y: np.ndarray, x: np.ndarray, window: int, min_nobs: int, ends: np.ndarray
) -> None:
    alpha, beta = rolling_ols(y, x, window, min_nobs)
    assert np.isnan(alpha[: window - 1]).all()
    assert np.isnan(beta[: window - 1]).all()
    for p in range(y.shape[1]):
        expect = np.array(
            [
                _lstsq_window(y[t - window + 1 : t + 1, p], x[t - window + 1 : t + 1, p], min_nobs)
                for t in ends
            ]
        )
        np.testing.assert_allclose(alpha[ends, p], expect[:, 0], rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(beta[ends, p], expect[:, 1], rtol=RTOL, atol=RTOL)


def test_every_window_matches_lstsq_on_demo_candles() -> None:
    lp = _demo_log_closes(["BTC", "ETH", "SOL", "LTC", "BCH"])
    iy, ix = np.array([1, 2, 3, 2]), np.array([0, 1, 4, 0])
    y, x = lp[:, iy].copy(), lp[:, ix].copy()
    # Missing bars in the last pair, and a window rule that tolerates them.
    rng = np.random.default_rng(7)
    y[rng.random(len(y)) < 0.02, 3] = np.nan
    x[rng.random(len(x)) < 0.02, 3] = np.nan
    window = 720
    _check_oracle(y, x, window, 700, np.arange(window - 1, len(y)))


def test_five_years_btc_level_with_nans_matches_lstsq() -> None:
    # 43,800 bars: running sums without resync drift to ~1e-7 here (performance-notes.md, 2).
    lp = _synthetic(43_800, 4, seed=11, nan_frac=0.01)
    y, x = lp[:, [0, 2]].copy(), lp[:, [1, 3]].copy()
    window = 720
    ends = np.arange(window - 1, len(y), 37)
    ends = np.append(ends, len(y) - 1)
    _check_oracle(y, x, window, 690, ends)


def test_matches_statsmodels_rolling_ols_lstsq() -> None:
    lp = _synthetic(1_500, 2, seed=3, nan_frac=0.02)
    y, x = lp[:, 0], lp[:, 1]
    alpha, beta = rolling_ols(y, x, 100, min_nobs=90)
    exog = np.column_stack([np.ones(len(x)), x])
    ref = RollingOLS(y, exog, window=100, min_nobs=90, missing="drop").fit(
        method="lstsq", params_only=True
    )
    np.testing.assert_allclose(alpha, ref.params[:, 0], rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(beta, ref.params[:, 1], rtol=RTOL, atol=RTOL)


def test_flat_window_gives_nan_not_a_number() -> None:
    lp = _synthetic(3_000, 2, seed=5)
    window = 200
    x = lp[:, 1].copy()
    x[1_000:1_350] = x[999]  # forward-filled outage longer than the window
    alpha, beta = rolling_ols(lp[:, 0], x, window)
    flat_ends = np.arange(999 + window - 1, 1_350)
    assert np.isnan(beta[flat_ends]).all()
    assert np.isnan(alpha[flat_ends]).all()
    # Every other full window is defined, including ones that overlap the outage.
    defined = np.setdiff1d(np.arange(window - 1, len(x)), flat_ends)
    assert np.isfinite(beta[defined]).all()
    _, _, _, z = pair_stats_last(np.column_stack([lp[:, 0], x])[:1_300], [0], [1], window, 50)
    assert np.isnan(z).all()


def test_all_nan_column_gives_nan() -> None:
    lp = _synthetic(500, 3, seed=1)
    y = lp[:, :2].copy()
    y[:, 1] = np.nan
    alpha, beta = rolling_ols(y, lp[:, 1:], 50)
    assert np.isnan(beta[:, 1]).all()
    assert np.isnan(alpha[:, 1]).all()
    assert np.isfinite(beta[49:, 0]).all()


def test_spread_and_z_equal_plain_pandas() -> None:
    lp = _synthetic(6_000, 4, seed=2, nan_frac=0.01)
    y, x = lp[:, [0, 1]], lp[:, [2, 3]]
    alpha, beta = rolling_ols(y, x, 300, min_nobs=280)
    spread, z = spread_zscore(y, x, alpha, beta, 200, min_nobs=180)
    ref_spread = pd.DataFrame(y - alpha - beta * x)
    roll = ref_spread.rolling(200, min_periods=180)
    ref_z = ((ref_spread - roll.mean()) / roll.std(ddof=1)).to_numpy()
    np.testing.assert_allclose(spread, ref_spread.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(z, ref_z, rtol=1e-9, atol=1e-9)
    assert np.isfinite(z).sum() > 10_000


def test_scan_mode_equals_last_row_of_full_kernels() -> None:
    lp = _synthetic(3_000, 12, seed=9, nan_frac=0.005)
    iy, ix = np.triu_indices(12, 1)
    window, z_window = 400, 300
    alpha, beta = rolling_ols(lp[:, iy], lp[:, ix], window, min_nobs=380)
    spread, z = spread_zscore(lp[:, iy], lp[:, ix], alpha, beta, z_window, min_nobs=250)
    got = pair_stats_last(lp, iy, ix, window, z_window, min_nobs=380, z_min_nobs=250)
    for g, full in zip(got, (alpha, beta, spread, z), strict=True):
        np.testing.assert_allclose(g, full[-1], rtol=1e-10, atol=1e-10)
    assert np.isfinite(got[3]).sum() > 40


def test_scan_mode_short_history_follows_warm_up() -> None:
    lp = _synthetic(120, 3, seed=8)
    iy, ix = np.array([0, 1]), np.array([1, 2])
    alpha, beta = rolling_ols(lp[:, iy], lp[:, ix], 100)
    spread, z = spread_zscore(lp[:, iy], lp[:, ix], alpha, beta, 100, min_nobs=10)
    got = pair_stats_last(lp, iy, ix, 100, 100, z_min_nobs=10)
    for g, full in zip(got, (alpha, beta, spread, z), strict=True):
        np.testing.assert_allclose(g, full[-1], rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_bars=st.integers(12, 80),
    cut=st.integers(0, 79),
    window=st.integers(3, 12),
    z_window=st.integers(3, 12),
    append=st.booleans(),
)
def test_no_look_ahead(
    seed: int, n_bars: int, cut: int, window: int, z_window: int, append: bool
) -> None:
    t = cut % n_bars
    rng = np.random.default_rng(seed)
    lp = 11.0 + np.cumsum(rng.normal(0, 0.01, (n_bars, 3)), axis=0)
    lp[rng.random(lp.shape) < 0.1] = np.nan
    future = lp.copy()
    if append:
        future = np.vstack([future, 11.0 + rng.normal(0, 0.01, (7, 3))])
    future[t + 1 :] = np.where(
        rng.random(future[t + 1 :].shape) < 0.2, np.nan, future[t + 1 :] * 1.1
    )
    iy, ix = np.array([0, 2, 1]), np.array([1, 0, 2])

    def history(m: np.ndarray) -> list[np.ndarray]:
        alpha, beta = rolling_ols(m[:, iy], m[:, ix], window, min_nobs=3)
        spread, z = spread_zscore(m[:, iy], m[:, ix], alpha, beta, z_window, min_nobs=3)
        return [alpha[: t + 1], beta[: t + 1], spread[: t + 1], z[: t + 1]]

    before, after = history(lp), history(future)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda y, x: rolling_pair_stats(y, x[:, :2], 10, 10), "^x: shape"),
        (lambda y, x: rolling_pair_stats(y[:-1], x, 10, 10), "^x: shape"),
        (lambda y, x: rolling_pair_stats(y, x, 2, 10), "^window_bars: must be between 3 and 50"),
        (lambda y, x: rolling_pair_stats(y, x, 51, 10), "^window_bars: must be between 3 and 50"),
        (lambda y, x: rolling_pair_stats(y, x, 10.0, 10), "^window_bars: expected an integer"),
        (lambda y, x: rolling_pair_stats(y, x, 10, 10, 11), "^min_nobs: must be between 3 and 10"),
        (lambda y, x: rolling_pair_stats(y, x, 10, 10, 2), "^min_nobs: must be between 3 and 10"),
        (lambda y, x: rolling_pair_stats(y[None], x[None], 10, 10), "^y: expected a 1-D or 2-D"),
        (lambda y, x: rolling_pair_stats(y[:2], x[:2], 3, 3), "^window_bars: needs at least 3"),
        (lambda y, x: rolling_pair_stats(y, x, 10, 60), "^z_window_bars: must be between 3 and 50"),
        (lambda y, x: pair_stats_last(y, [0], [0], 10, 10), "^ix: pair 0 regresses"),
        (lambda y, x: pair_stats_last(y, [0], [3], 10, 10), "^ix: symbol columns"),
        (lambda y, x: pair_stats_last(y, [0.5], [1], 10, 10), "^iy: expected a 1-D integer"),
        (lambda y, x: pair_stats_last(y, [0, 1], [1], 10, 10), "^ix: length 1"),
        (lambda y, x: pair_stats_last(y, [0], [1], 10, 2), "^z_window_bars: must be between"),
        (lambda y, x: pair_stats_last(y[:, 0], [0], [1], 10, 10), "^log_prices: expected"),
        (lambda y, x: rolling_pair_stats_indexed(y, [3], [1], 10, 10), "^iy: symbol columns"),
        (lambda y, x: rolling_pair_stats_indexed(y, [0], [-1], 10, 10), "^ix: symbol columns"),
        (lambda y, x: rolling_pair_stats_indexed(y, [[0]], [1], 10, 10), "^iy: expected a 1-D int"),
        (lambda y, x: rolling_pair_stats_indexed(y[:, 0], [0], [1], 10, 10), "^log_prices: expect"),
        (
            lambda y, x: rolling_pair_stats_indexed(y, [0], [1], 10, 10, min_nobs=2),
            "^min_nobs: must be between 3 and 10",
        ),
        (lambda y, x: rolling_pair_stats_indexed(y, [1], [1], 10, 10), "^ix: pair 0 regresses"),
        (lambda y, x: rolling_pair_stats_indexed(y, [0], [9], 10, 10), "^ix: symbol columns"),
        (lambda y, x: rolling_pair_stats_indexed(y, [0], [1, 2], 10, 10), "^ix: length 2"),
        (lambda y, x: rolling_pair_stats_indexed(y, [0], [1], 2, 10), "^window_bars: must be"),
        (lambda y, x: rolling_pair_stats_indexed(y, [0], [1], 10, 60), "^z_window_bars: must be"),
        (
            lambda y, x: rolling_pair_stats_indexed(y, [0], [1], 10, 10, z_min_nobs=11),
            "^z_min_nobs: must be between 3 and 10",
        ),
        (lambda y, x: rolling_pair_stats_indexed(y[:2], [0], [1], 3, 3), "^window_bars: needs"),
        (lambda y, x: log_prices(np.array([1.0, 0.0, np.nan])), r"^prices: must be > 0.*\(1,\)"),
        (lambda y, x: log_prices(pd.Series([1.0, -2.0])), "^prices: must be > 0"),
        (lambda y, x: log_prices(np.array([1.0, np.inf])), "^prices: must be > 0"),
    ],
)
def test_bad_input_names_the_argument(call, message) -> None:  # type: ignore[no-untyped-def]
    lp = _synthetic(50, 3, seed=0)
    with pytest.raises(ValueError, match=message):
        call(lp, lp.copy())


def test_log_prices_keeps_nan_and_labels() -> None:
    prices = pd.DataFrame({"BTC": [60_000.0, np.nan, 61_000.0]})
    out = log_prices(prices)
    assert isinstance(out, pd.DataFrame)
    assert np.isnan(out["BTC"].iloc[1])
    assert out["BTC"].iloc[0] == pytest.approx(np.log(60_000.0))


@pytest.mark.parametrize(
    ("window", "z_window", "nobs", "z_nobs"), [(10, 10, None, None), (7, 12, 5, 6)]
)
def test_rolling_pair_stats_equals_two_step(window, z_window, nobs, z_nobs) -> None:  # type: ignore[no-untyped-def]
    lp = _synthetic(300, 42, seed=3)
    y, x = lp[:, :41].copy(), lp[:, 1:].copy()  # 41 pairs: several blocks, a ragged last one
    y[40:45, 0] = np.nan
    x[100, 1] = np.inf
    x[150:170, 2] = x[150, 2]  # flat x window
    y[:, 1][::37] = np.nan
    fused = rolling_pair_stats(y, x, window, z_window, nobs, z_nobs)
    alpha, beta = rolling_ols(y, x, window, nobs)
    spread, z = spread_zscore(y, x, alpha, beta, z_window, z_nobs)
    for got, want in zip(fused, (alpha, beta, spread, z), strict=True):
        np.testing.assert_array_equal(got, want)
    one = rolling_pair_stats(y[:, 0], x[:, 0], window, z_window, nobs, z_nobs)
    for got, want in zip(one, (alpha, beta, spread, z), strict=True):
        assert got.ndim == 1
        np.testing.assert_array_equal(got, want[:, 0])


def _assert_bit_identical(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert np.array_equal(g, w, equal_nan=True)


def _check_indexed_equals_gathered(
    lp: np.ndarray, iy: np.ndarray, ix: np.ndarray, window: int, z_window: int, nobs, z_nobs
) -> None:  # type: ignore[no-untyped-def]
    y, x = lp[:, iy], lp[:, ix]
    want = rolling_pair_stats(y, x, window, z_window, nobs, z_nobs)
    got = rolling_pair_stats_indexed(lp, iy, ix, window, z_window, min_nobs=nobs, z_min_nobs=z_nobs)
    _assert_bit_identical(got, want)
    _assert_bit_identical(rolling_ols_indexed(lp, iy, ix, window, min_nobs=nobs), want[:2])
    _assert_bit_identical(want[:2], rolling_ols(y, x, window, nobs))


def test_indexed_bit_identical_to_gathered_on_demo_market() -> None:
    bases = ["BTC", "ETH", "SOL", "LTC", "BCH", "XRP", "ADA", "DOGE", "LINK", "AVAX"]
    lp = _demo_log_closes(bases)
    iy, ix = all_pairs(len(bases))
    # Both orientations and a shuffled order: the kernel must not assume all_pairs order.
    iy, ix = np.concatenate([iy, ix]), np.concatenate([ix, iy])
    order = np.random.default_rng(4).permutation(iy.size)
    _check_indexed_equals_gathered(lp, iy[order], ix[order], 720, 720, None, None)
    lp = lp.copy()
    lp[np.random.default_rng(5).random(lp.shape) < 0.01] = np.nan
    _check_indexed_equals_gathered(lp, iy, ix, 500, 300, 450, 250)


@pytest.mark.parametrize(
    ("window", "z_window", "nobs", "z_nobs"), [(40, 30, None, None), (25, 60, 20, 45)]
)
def test_indexed_bit_identical_to_gathered_with_nans(window, z_window, nobs, z_nobs) -> None:  # type: ignore[no-untyped-def]
    lp = _synthetic(600, 9, seed=12, nan_frac=0.03)
    lp[:, 4] = np.nan  # an all-NaN symbol
    lp[200:260, 2] = lp[199, 2]  # a flat x segment longer than the window
    lp[300, 5] = np.inf
    lp[:50, 6] = np.nan  # a late listing
    iy, ix = all_pairs(9)
    iy, ix = np.concatenate([iy, ix]), np.concatenate([ix, iy])  # 72 pairs: several blocks
    _check_indexed_equals_gathered(lp, iy, ix, window, z_window, nobs, z_nobs)
    # Fewer bars than a window: all warm-up.
    _check_indexed_equals_gathered(lp[: window - 2], iy, ix, window - 5, 3, None, None)


def test_indexed_no_pairs_gives_empty_columns() -> None:
    lp = _synthetic(50, 3, seed=0)
    alpha, beta, spread, z = rolling_pair_stats_indexed(lp, [], [], 10, 10)
    assert alpha.shape == beta.shape == spread.shape == z.shape == (50, 0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_bars=st.integers(12, 80),
    cut=st.integers(0, 79),
    window=st.integers(3, 12),
    z_window=st.integers(3, 12),
    append=st.booleans(),
)
def test_indexed_no_look_ahead(
    seed: int, n_bars: int, cut: int, window: int, z_window: int, append: bool
) -> None:
    t = cut % n_bars
    rng = np.random.default_rng(seed)
    lp = 11.0 + np.cumsum(rng.normal(0, 0.01, (n_bars, 4)), axis=0)
    lp[rng.random(lp.shape) < 0.1] = np.nan
    future = lp.copy()
    if append:
        future = np.vstack([future, 11.0 + rng.normal(0, 0.01, (7, 4))])
    future[t + 1 :] = np.where(
        rng.random(future[t + 1 :].shape) < 0.2, np.nan, future[t + 1 :] * 1.1
    )
    iy, ix = np.array([0, 2, 1, 3]), np.array([1, 0, 2, 0])

    def history(m: np.ndarray) -> list[np.ndarray]:
        out = rolling_pair_stats_indexed(m, iy, ix, window, z_window, min_nobs=3, z_min_nobs=3)
        return [a[: t + 1] for a in out]

    for b, a in zip(history(lp), history(future), strict=True):
        np.testing.assert_array_equal(b, a)
