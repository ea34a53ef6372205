"""Backtest metrics against hand computations, plain loops and the published DSR example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pairscan.backtest.metrics import (
    compute_metrics,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    deflated_sharpes_of_trials,
    drawdown,
    expected_max_sharpe,
    sharpe_ratio,
    sortino_ratio,
)


def _drawdown_oracle(equity: list[float]) -> tuple[float, int, bool, int]:
    """Plain loop: walk the curve, one drawdown episode at a time (peak index, lowest
    fraction); returns (max drawdown, its duration, recovered, longest duration)."""
    episodes: list[tuple[int, int, float, bool]] = []  # start, end, depth, recovered
    peak_i, peak_v, depth = 0, equity[0], 0.0
    for i, v in enumerate(equity):
        if v >= peak_v:
            if depth < 0.0:
                episodes.append((peak_i, i, depth, True))
            peak_i, peak_v, depth = i, v, 0.0
        else:
            depth = min(depth, v / peak_v - 1.0)
    if depth < 0.0:
        episodes.append((peak_i, len(equity) - 1, depth, False))
    if not episodes:
        return 0.0, 0, True, 0
    worst = min(episodes, key=lambda e: e[2])  # the first of equal depths
    return worst[2], worst[1] - worst[0], worst[3], max(e[1] - e[0] for e in episodes)


DRAWDOWN_CURVES = {
    # A deep, short drawdown (110 -> 88, back in 3 bars), then a long shallow one (120 -> 118
    # for 6 bars): the deepest is not the longest.
    "deep_short_then_long_shallow": [100, 110, 88, 100, 111, 120, 119, 118, 119, 119, 119, 121],
    # The deepest never recovers: counted to the last bar.
    "never_recovered": [100, 105, 104, 106, 90, 95, 97],
    "flat": [100.0] * 6,
    "monotonic": [100, 101, 102, 105, 110],
    # Back to the peak exactly is a recovery; a later, deeper one from a new peak.
    "recover_at_equal_peak": [100, 95, 100, 99, 100, 80, 100, 101],
    "two_equal_depths": [100, 90, 100, 90, 95, 100],
}


@pytest.mark.parametrize("name", sorted(DRAWDOWN_CURVES))
def test_drawdown_durations_against_a_plain_loop(name: str) -> None:
    equity = np.array(DRAWDOWN_CURVES[name], dtype=np.float64)
    got = drawdown(equity)
    peak, per_bar = equity[0], []
    for v in equity:
        peak = max(peak, v)
        per_bar.append(v / peak - 1.0)
    assert got.per_bar.tolist() == pytest.approx(per_bar)
    worst, bars, recovered, longest = _drawdown_oracle(equity.tolist())
    assert got.max_drawdown == pytest.approx(worst)
    assert (got.max_drawdown_bars, got.max_drawdown_recovered) == (bars, recovered)
    assert got.longest_underwater_bars == longest


def test_the_deepest_drawdown_is_not_the_longest_underwater_stretch() -> None:
    got = drawdown(np.array(DRAWDOWN_CURVES["deep_short_then_long_shallow"], dtype=np.float64))
    assert got.max_drawdown == pytest.approx(88 / 110 - 1)
    assert (got.max_drawdown_bars, got.max_drawdown_recovered) == (3, True)  # bars 1 -> 4
    assert got.longest_underwater_bars == 6  # 120 at bar 5, back above at bar 11


def test_a_drawdown_never_recovered_runs_to_the_last_bar() -> None:
    got = drawdown(np.array(DRAWDOWN_CURVES["never_recovered"], dtype=np.float64))
    assert got.max_drawdown == pytest.approx(90 / 106 - 1)
    assert (got.max_drawdown_bars, got.max_drawdown_recovered) == (3, False)  # bars 3 -> 6
    assert got.longest_underwater_bars == 3


@pytest.mark.parametrize("name", ["flat", "monotonic"])
def test_no_drawdown_has_no_duration(name: str) -> None:
    got = drawdown(np.array(DRAWDOWN_CURVES[name], dtype=np.float64))
    assert (got.max_drawdown, got.max_drawdown_bars, got.longest_underwater_bars) == (0.0, 0, 0)
    assert got.max_drawdown_recovered


def test_drawdown_on_random_walks_against_the_plain_loop() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 60))
        # Rounded steps so that curves revisit their peaks exactly.
        equity = 100.0 + np.cumsum(rng.integers(-3, 4, n)).astype(np.float64)
        equity -= min(0.0, equity.min() - 1.0)
        got = drawdown(equity)
        worst, bars, recovered, longest = _drawdown_oracle(equity.tolist())
        assert got.max_drawdown == pytest.approx(worst)
        assert (got.max_drawdown_bars, got.max_drawdown_recovered) == (bars, recovered)
        assert got.longest_underwater_bars == longest


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


def test_deflated_sharpes_of_trials_count_every_trial() -> None:
    """n_trials is the number of series and the variance that of their per-bar Sharpe ratios
    (a flat series has none and is left out of it, but still counts as a trial)."""
    rng = np.random.default_rng(1)
    trials = [rng.normal(m, 0.01, 500) for m in (0.0002, 0.0005, 0.001)] + [np.zeros(500)]
    srs = [float(np.mean(r) / np.std(r, ddof=1)) for r in trials[:3]]
    variance = float(np.var(srs, ddof=1))
    got = deflated_sharpes_of_trials(trials)
    assert got[:3] == [deflated_sharpe_ratio(r, 4, variance) for r in trials[:3]]
    assert math.isnan(got[3])


def test_deflated_sharpes_of_one_trial_is_the_probabilistic_sharpe() -> None:
    r = np.random.default_rng(2).normal(0.0005, 0.01, 300)
    assert deflated_sharpes_of_trials([r]) == [deflated_sharpe_ratio(r, 1, 0.0)]
    assert deflated_sharpes_of_trials([]) == []


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
    assert (m.max_drawdown_bars, m.max_drawdown_recovered, m.longest_underwater_bars) == (
        2,
        True,
        2,
    )
    assert m.fee_bps == pytest.approx(3.0 / 6000.0 * 1e4)  # 5 bps of the filled notional
    assert m.slippage_bps == pytest.approx(1.5 / 6000.0 * 1e4)
    assert {"max_drawdown_recovered", "longest_underwater_bars", "fee_bps"} <= set(m.as_dict())
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
