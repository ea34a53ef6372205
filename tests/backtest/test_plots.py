"""The backtest plots: `pair_plot_marks` puts each decision at its decision bar with its
reason and shades the selected runs; `pair_view`, `best_and_worst` and `rebased` choose what
is drawn; the figure builders are checked through their Figure objects; and every PNG a real
demo run writes through `write_outputs` is opened and looked at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from pairscan.backtest.engine import pair_columns
from pairscan.backtest.plots import (
    PairSeries,
    best_and_worst,
    equity_figure,
    pair_figure,
    pair_plot_marks,
    pair_view,
    rebased,
)
from pairscan.backtest.report import equity_frame
from pairscan.config import Config, load_config
from pairscan.jobs.backtest import BacktestReport, run_backtest_job
from pairscan.jobs.backtest_outputs import account_currency, write_outputs
from pairscan.market import symbol_key
from pairscan.signals import REASON_NAMES, Action, Gate, Reason
from pairscan.stats.hedge import hedge_and_z
from tests.backtest.test_job import demo_dir  # noqa: F401  (module-scoped demo cache)

HOUR = pd.Timedelta(hours=1)
TIMES = pd.date_range("2025-01-01", periods=12, freq="h", tz="UTC")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _case() -> dict[str, np.ndarray]:
    """Open long at bar 2, close on mean reversion at 5, open short at 7, stop at 9 (z NaN
    there), a refused entry at 10; selected on bars 1..5 and 7..11 (the end)."""
    z = np.linspace(-3.0, 3.0, TIMES.size)
    z[9] = np.nan
    action = np.full(TIMES.size, Action.HOLD, dtype=np.int64)
    reason = np.full(TIMES.size, Reason.NONE, dtype=np.int64)
    action[2], action[5], action[7], action[9] = (
        Action.OPEN_LONG,
        Action.CLOSE,
        Action.OPEN_SHORT,
        Action.CLOSE,
    )
    reason[5], reason[9], reason[10] = Reason.MEAN_REVERSION, Reason.STOP, Reason.DATA_STALE
    gate = np.full(TIMES.size, Gate.DESELECTED, dtype=np.int64)
    gate[1:6] = Gate.OK
    gate[7:] = Gate.OK
    return {"z": z, "action": action, "reason": reason, "gate": gate}


def test_entries_sit_at_the_decision_bar() -> None:
    case = _case()
    marks = pair_plot_marks(TIMES, **case)
    assert list(marks.entries.times) == [TIMES[2], TIMES[7]]
    assert marks.entries.labels == ("long", "short")
    np.testing.assert_array_equal(marks.entries.z, case["z"][[2, 7]])


def test_closes_carry_their_reason_names() -> None:
    case = _case()
    marks = pair_plot_marks(TIMES, **case)
    assert list(marks.closes.times) == [TIMES[5], TIMES[9]]
    assert marks.closes.labels == (
        REASON_NAMES[Reason.MEAN_REVERSION],
        REASON_NAMES[Reason.STOP],
    )
    # z is NaN at the stop bar: the mark is drawn at the last finite z so it stays visible.
    np.testing.assert_array_equal(marks.closes.z, case["z"][[5, 8]])


def test_selected_spans_are_the_contiguous_ok_runs() -> None:
    marks = pair_plot_marks(TIMES, **_case())
    # Half-open: each span ends at the first bar after its run, one bar past the last bar.
    assert marks.selected == ((TIMES[1], TIMES[6]), (TIMES[7], TIMES[11] + HOUR))


def test_refused_only_where_hold_has_a_reason() -> None:
    case = _case()
    marks = pair_plot_marks(TIMES, **case)
    assert list(marks.refused.times) == [TIMES[10]]
    assert marks.refused.labels == (REASON_NAMES[Reason.DATA_STALE],)
    case["reason"][10] = Reason.NONE
    none = pair_plot_marks(TIMES, **case)
    assert len(none.refused.times) == 0
    assert none.refused.labels == ()


def test_no_gate_ok_no_spans_and_bad_shapes_are_named() -> None:
    case = _case()
    case["gate"][:] = Gate.DESELECTED
    assert pair_plot_marks(TIMES, **case).selected == ()
    case["reason"] = case["reason"][:-1]
    with pytest.raises(ValueError, match=r"reason: expected shape \(12,\)"):
        pair_plot_marks(TIMES, **case)


def test_pair_view_frames_the_busy_rows_with_context() -> None:
    n = 300
    action = np.full(n, Action.HOLD, dtype=np.int64)
    reason = np.full(n, Reason.NONE, dtype=np.int64)
    gate = np.full(n, Gate.DESELECTED, dtype=np.int64)
    gate[100:120] = Gate.OK
    # Half the busy extent (20 bars) each side, or the minimum context when that is larger.
    assert pair_view(action, reason, gate, min_context_bars=4) == slice(90, 130)
    assert pair_view(action, reason, gate) == slice(52, 168)
    # A decision outside the selection (a close after it) widens the view; clipped at 0..n.
    action[290] = Action.CLOSE
    assert pair_view(action, reason, gate) == slice(5, n)
    gate[:] = Gate.DESELECTED
    action[:] = Action.HOLD
    assert pair_view(action, reason, gate) == slice(0, n)


def test_best_and_worst_never_repeat_a_pair() -> None:
    pairs = pd.DataFrame(
        {"y": ["A", "B", "C", "D", "E"], "x": ["Z"] * 5, "pnl": [5.0, -9.0, 1.0, 7.0, -2.0]}
    )
    ranked = best_and_worst(pairs, 2)
    assert [(r.rank, r.pair[0]) for r in ranked] == [
        ("best1", "D"),
        ("best2", "A"),
        ("worst1", "B"),
        ("worst2", "E"),
    ]
    # Fewer than 2n pairs: each once, the best first.
    few = best_and_worst(pairs.head(3), 2)
    assert [(r.rank, r.pair[0]) for r in few] == [("best1", "A"), ("best2", "C"), ("worst1", "B")]
    assert [r.rank for r in best_and_worst(pairs.head(1), 3)] == ["best1"]
    assert best_and_worst(pairs, 0) == []


def test_rebased_starts_at_the_first_finite_close() -> None:
    out = rebased(np.array([np.nan, 50.0, 55.0, 45.0]))
    np.testing.assert_allclose(out, [np.nan, 100.0, 110.0, 90.0])
    assert np.isnan(rebased(np.full(3, np.nan))).all()


def test_account_currency_is_the_one_quote() -> None:
    assert account_currency(("ETH/USDT:USDT", "BTC/USDT:USDT")) == "USDT"
    assert account_currency(("ETH/BTC", "SOL/BTC")) == "BTC"
    assert account_currency(("ETH/BTC", "SOL/USDT")) == "mixed quote"


def test_pair_figure_panels_and_labels() -> None:
    case = _case()
    marks = pair_plot_marks(TIMES, **case)
    beta = np.linspace(0.1, 0.3, TIMES.size)
    series = PairSeries(
        ("Y/USDT", "X/USDT"),
        TIMES,
        np.linspace(50.0, 60.0, TIMES.size),
        np.full(TIMES.size, 2.0),
        beta,
        case["z"],
    )
    fig = pair_figure(series, marks, (2.0, 0.5, 4.0), (0.2, 5.0), "rolling OLS beta", "T")
    prices, hedge, zax = fig.axes
    assert fig.get_suptitle() == "T"
    assert prices.lines[0].get_ydata()[0] == pytest.approx(100.0)  # type: ignore[index]
    np.testing.assert_array_equal(np.asarray(hedge.lines[0].get_ydata()), beta)
    # Only the band edge in view is drawn: 5 would squash a beta that stays near 0.2.
    assert [line.get_ydata()[0] for line in hedge.lines[1:]] == [0.2]  # type: ignore[index]
    assert "UTC" in zax.get_xlabel()
    legend = zax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    for expected in ("selected", "open long", "open short", "close: stop", "refused: data_stale"):
        assert expected in labels


@dataclass(frozen=True)
class Run:
    config: Config
    report: BacktestReport
    out_dir: Path
    written: list[Path]


@pytest.fixture(scope="module")
def run(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:  # noqa: F811
    """The default demo backtest, its files written with --top 2."""
    config = load_config(demo_dir / "config.yaml", env={})
    report = run_backtest_job(config)
    out_dir = tmp_path_factory.mktemp("report")
    return Run(config, report, out_dir, write_outputs(report, config, out_dir, top_pairs=2))


def test_every_png_is_a_real_picture(run: Run) -> None:
    pngs = sorted(run.out_dir.glob("*.png"))
    assert pngs == sorted(p for p in run.written if p.suffix == ".png")
    assert len(pngs) == 5  # equity, best1, best2, worst1, worst2
    assert not list(run.out_dir.glob(".*"))  # no temporary file left
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_SIGNATURE, png.name
        image = mpimg.imread(png)
        height, width = image.shape[:2]
        assert 600 <= width <= 4000, png.name
        assert 600 <= height <= 4000, png.name
        assert float(image[..., :3].std()) > 0.05, f"{png.name} is nearly one flat colour"


def test_best_and_worst_files_name_different_pairs(run: Run) -> None:
    table = pd.read_csv(run.out_dir / "pairs.csv")
    keys = [f"{symbol_key(y)}_{symbol_key(x)}" for y, x in zip(table["y"], table["x"], strict=True)]
    names = {p.name for p in run.written}
    assert f"best1_{keys[0]}.png" in names
    assert f"best2_{keys[1]}.png" in names
    assert f"worst1_{keys[-1]}.png" in names
    assert f"worst2_{keys[-2]}.png" in names
    assert keys[0] != keys[-1]


def test_equity_figure_panels_currency_and_utc(run: Run) -> None:
    result = run.report.result
    currency = account_currency(run.report.symbols)
    assert currency == "USDT"
    fig = equity_figure(equity_frame(result), result.metrics, currency, "demo")
    top, drawdown, exposure = fig.axes
    assert "USDT" in top.get_ylabel()
    assert "%" in drawdown.get_ylabel()
    assert "exposure" in exposure.get_ylabel()
    assert "UTC" in exposure.get_xlabel()
    title = fig.get_suptitle()
    for expected in ("return +", "Sharpe", "max drawdown -", "50 closed trades", "UTC"):
        assert expected in title
    # The exposure panel is gross notional over equity (a ratio, not thousands of USDT),
    # and the demo book runs levered at times.
    peak = float((result.gross / result.equity).max())
    assert peak > 1.0
    assert peak <= exposure.get_ylim()[1] <= 1.1 * peak


def test_result_beta_is_the_hedge_the_run_traded_on(run: Run) -> None:
    report = run.report
    result = report.result
    iy, ix = pair_columns(report.panel, result.walk)
    beta, z = hedge_and_z(np.log(report.panel.close), iy, ix, run.config.stats)
    np.testing.assert_array_equal(result.beta, beta)
    np.testing.assert_array_equal(result.z, z)


def test_entry_marks_are_one_bar_before_the_fills(run: Run) -> None:
    """On the real run (next-open fills) every filled entry is one bar after an entry marker."""
    top = pd.read_csv(run.out_dir / "pairs.csv").iloc[0]
    pair = (str(top["y"]), str(top["x"]))
    result = run.report.result
    k = result.pairs.index(pair)
    rows = slice(result.first_row, None)
    marks = pair_plot_marks(
        pd.to_datetime(result.timestamps, unit="ms", utc=True),
        result.z[rows, k],
        result.machine.action[rows, k],
        result.machine.reason[rows, k],
        result.walk.gate[rows, k],
    )
    ledger = pd.read_csv(run.out_dir / "ledger.csv", parse_dates=["entry_time"])
    fills = ledger[(ledger["y"] == pair[0]) & (ledger["x"] == pair[1])]
    assert len(fills) > 0
    assert set(fills["entry_time"]) <= set(marks.entries.times + HOUR)
    assert marks.selected
