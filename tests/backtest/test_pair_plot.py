"""`backtest.pair_plot`: what one ranked pair's figure shows, from a run's result."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pairscan.backtest.pair_plot import hedge_label, pair_plot_data, pair_title
from pairscan.backtest.plots import RankedPair, pair_view
from pairscan.config import StatsConfig
from tests.backtest.test_job import demo_dir  # noqa: F401  (module-scoped demo cache)
from tests.backtest.test_plots import Run, run  # noqa: F401  (the demo run, written once)


def test_hedge_label_names_the_method_and_its_parameter() -> None:
    stats = StatsConfig()
    assert hedge_label(dataclasses.replace(stats, hedge="ols", window_bars=336)) == (
        "rolling OLS beta (336 bars)"
    )
    kalman = dataclasses.replace(stats, hedge="kalman", kalman_delta=1e-4)
    assert hedge_label(kalman) == "Kalman beta (delta 0.0001)"


def test_title_counts_the_pairs_filled_trades_and_pnl() -> None:
    ledger = pd.DataFrame(
        {"y": ["A", "A", "B"], "x": ["B", "B", "A"], "pnl": [1200.5, -200.25, 99.0]}
    )
    times = pd.DatetimeIndex(["2025-01-02 03:00", "2025-02-03 04:00"], tz="UTC")
    title = pair_title(RankedPair("best", 1, ("A", "B")), ledger, "USDT", times)
    assert title == (
        "A on B (best #1 by P&L): P&L +1,000.25 USDT, 2 trades filled\n"
        "2025-01-02 03:00 to 2025-02-03 04:00 UTC"
    )


@pytest.mark.slow
def test_pair_plot_data_is_the_runs_view_of_the_pair(run: Run) -> None:  # noqa: F811
    report = run.report
    result, panel = report.result, report.panel
    pair = result.pairs[0]
    k = 0
    series, marks = pair_plot_data(result, panel, pair)
    traded = slice(result.first_row, None)
    view = pair_view(
        result.machine.action[traded, k],
        result.machine.reason[traded, k],
        result.walk.gate[traded, k],
    )
    rows = slice(result.first_row + view.start, result.first_row + view.stop)
    assert series.names == pair
    assert len(series.times) == view.stop - view.start
    assert series.times[0] == pd.Timestamp(int(result.timestamps[view.start]), unit="ms", tz="UTC")
    np.testing.assert_array_equal(series.close_y, panel.close[rows, panel.symbols.index(pair[0])])
    np.testing.assert_array_equal(series.close_x, panel.close[rows, panel.symbols.index(pair[1])])
    np.testing.assert_array_equal(series.beta, result.beta[rows, k])
    np.testing.assert_array_equal(series.z, result.z[rows, k])
    assert set(marks.entries.times) <= set(series.times)
    assert marks.selected
