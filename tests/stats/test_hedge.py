"""The hedge dispatcher the scan and the backtest share: the scan's last-bar figures are the
last row of the backtest's run, by OLS and by Kalman, and a short panel gives no z."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pairscan.config import StatsConfig
from pairscan.stats.hedge import hedge_and_z, hedge_stats
from pairscan.stats.meanrev import kalman_hedge
from tests.cache.test_liquidity import btc, eth_perp

STATS = StatsConfig(window_bars=240, z_window_bars=72)


def log_close(n_bars: int = 1200) -> np.ndarray:
    closes = np.column_stack([btc().close[:n_bars], eth_perp().close[:n_bars]])
    return np.log(closes)


PAIRS = (np.array([1, 0], dtype=np.int64), np.array([0, 1], dtype=np.int64))


@pytest.mark.parametrize("hedge", ["ols", "kalman"])
def test_the_scans_last_bar_is_the_backtests_last_row(hedge: str) -> None:
    stats = dataclasses.replace(STATS, hedge=hedge)
    lp = log_close()
    alpha, beta, z = hedge_stats(lp, *PAIRS, stats, last_bar=False)
    last = hedge_stats(lp, *PAIRS, stats, last_bar=True)
    tol = 1e-10 if hedge == "ols" else 0.0  # OLS's last row is computed alone
    for full, one in zip((alpha, beta, z), last, strict=True):
        assert full.shape == (lp.shape[0], 2)
        np.testing.assert_allclose(one, full[-1], rtol=tol, atol=tol)
    np.testing.assert_array_equal(hedge_and_z(lp, *PAIRS, stats)[0], beta)


def test_kalman_is_the_filter_with_the_configured_noise() -> None:
    stats = dataclasses.replace(STATS, hedge="kalman", kalman_delta=1e-5, kalman_obs_var=1e-4)
    lp = log_close(500)
    beta, z = hedge_and_z(lp, *PAIRS, stats)
    k = kalman_hedge(lp[:, 1], lp[:, 0], delta=1e-5, obs_var=1e-4)
    np.testing.assert_array_equal(beta[:, 0], k.beta)
    np.testing.assert_array_equal(z[:, 0], k.zscore)


def test_a_panel_shorter_than_both_windows_gives_no_z_at_the_last_bar() -> None:
    lp = log_close(STATS.window_bars + STATS.z_window_bars - 2)
    _, beta, z = hedge_stats(lp, *PAIRS, STATS, last_bar=True)
    assert np.isfinite(beta).all()
    assert np.isnan(z).all()
    empty = np.zeros(0, dtype=np.int64)
    assert [a.shape for a in hedge_stats(lp, empty, empty, STATS, last_bar=True)] == [(0,)] * 3
