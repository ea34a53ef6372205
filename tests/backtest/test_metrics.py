"""Backtest metrics against hand computations, plain loops and the published DSR example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pairscan.backtest.metrics import (
    compute_metrics,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    drawdown,
    expected_max_sharpe,
    sharpe_ratio,
    sortino_ratio,
)


def test_drawdown_against_a_plain_loop() -> None:
    equity = np.array([100.0, 110.0, 99.0, 104.5, 121.0, 120.0, 121.0, 130.0])
    dd, worst, longest = drawdown(equity)
    peak, expected = equity[0], []
    for v in equity:
        peak = max(peak, v)
        expected.append(v / peak - 1.0)
    assert dd.tolist() == pytest.approx(expected)
    assert worst == pytest.approx(99.0 / 110.0 - 1.0)
    assert longest == 2  # 99 and 104.5 below the 110 peak; later only 120 below 121


def test_sharpe_and_sortino_by_hand() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.015])
    mean = sum(r) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
    assert sharpe_ratio(r, 8760) == pytest.approx(mean / sd * math.sqrt(8760))
    downside = math.sqrt((0.02**2) / 5)
    assert sortino_ratio(r, 8760) == pytest.approx(mean / downside * math.sqrt(8760))
    assert math.isnan(sharpe_ratio(np.zeros(10), 8760))


def test_deflated_sharpe_matches_the_paper_example() -> None:
    """Bailey and Lopez de Prado (2014), section 4: annual SR 2.5 over 1,250 daily returns,
    skew -3, kurtosis 10, 100 trials with annualised SR variance 0.5: DSR ~ 0.9004."""
    days = 250
    sr = 2.5 / math.sqrt(days)
    var = 0.5 / days
    dsr = deflated_sharpe_from_moments(sr, 1250, -3.0, 10.0, 100, var)
    assert dsr == pytest.approx(0.9004, abs=5e-4)
    # The expected maximum of 100 null Sharpe ratios, annualised: ~0.1132 per day.
    assert expected_max_sharpe(100, var) * math.sqrt(days) == pytest.approx(1.7894, abs=2e-3)


def test_deflated_sharpe_falls_with_more_trials() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.0005, 0.01, 2_000)
    one = deflated_sharpe_ratio(r, 1, 0.0)
    many = deflated_sharpe_ratio(r, 1_000, 0.02**2)
    assert 0.0 < many < one < 1.0


def test_compute_metrics_on_a_small_run() -> None:
    equity = np.array([1000.0, 1010.0, 1005.0, 1020.0, 1030.0])
    m = compute_metrics(
        equity,
        bars_per_year=4.0,  # one bar a quarter: the run is exactly one year
        trade_pnl=np.array([20.0, -5.0, 15.0]),
        holding_bars=np.array([1.0, 2.0, 4.0]),
        traded_notional=6000.0,
        in_market=np.array([False, True, True, False, True]),
        fees_paid=3.0,
        slippage_paid=1.5,
        funding_paid=-0.5,
    )
    assert m.total_return == pytest.approx(0.03)
    assert m.annual_return == pytest.approx(0.03)
    assert m.max_drawdown == pytest.approx(1005 / 1010 - 1)
    assert m.n_trades == 3
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx(35 / 5)
    assert (m.avg_holding_bars, m.median_holding_bars) == (pytest.approx(7 / 3), 2.0)
    assert m.turnover == pytest.approx(6000.0 / equity.mean())
    assert m.exposure == pytest.approx(0.6)
    assert m.calmar == pytest.approx(0.03 / (1 - 1005 / 1010))


def test_a_wiped_out_account_is_reported() -> None:
    with pytest.raises(ValueError, match="wiped out"):
        compute_metrics(
            np.array([100.0, 0.0]),
            bars_per_year=8760,
            trade_pnl=np.zeros(0),
            holding_bars=np.zeros(0),
            traded_notional=0.0,
            in_market=np.zeros(2, bool),
            fees_paid=0.0,
            slippage_paid=0.0,
            funding_paid=0.0,
        )
