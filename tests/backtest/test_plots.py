"""The pair z-score plot: `pair_plot_marks` puts each decision at its decision bar with its
reason, shades the selected runs; a real PNG is written through `write_outputs`."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from pairscan.backtest.plots import pair_plot_marks
from pairscan.config import load_config
from pairscan.jobs.backtest import run_backtest_job, write_outputs
from pairscan.market import symbol_key
from pairscan.signals import REASON_NAMES, Action, Gate, Reason
from tests.backtest.test_job import demo_dir  # noqa: F401  (module-scoped demo cache)

HOUR = pd.Timedelta(hours=1)
TIMES = pd.date_range("2025-01-01", periods=12, freq="h", tz="UTC")


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


def test_write_outputs_renders_a_readable_pair_png(
    demo_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = load_config(demo_dir / "config.yaml", env={})
    report = run_backtest_job(config)
    written = write_outputs(report, config, tmp_path, top_pairs=1)
    (png,) = (p for p in written if p.name.startswith("z_"))
    top = pd.read_csv(tmp_path / "pairs.csv").iloc[0]
    pair = (str(top["y"]), str(top["x"]))
    assert png.name == f"z_{symbol_key(pair[0])}_{symbol_key(pair[1])}.png"
    image = mpimg.imread(png)
    assert image.shape[0] > 200
    assert image.shape[1] > 200
    # On the real run (next-open fills) every filled entry is one bar after an entry marker.
    result = report.result
    k = result.pairs.index(pair)
    rows = slice(result.first_row, None)
    marks = pair_plot_marks(
        pd.to_datetime(result.timestamps, unit="ms", utc=True),
        result.z[rows, k],
        result.machine.action[rows, k],
        result.machine.reason[rows, k],
        result.walk.gate[rows, k],
    )
    ledger = pd.read_csv(tmp_path / "ledger.csv", parse_dates=["entry_time"])
    fills = ledger[(ledger["y"] == pair[0]) & (ledger["x"] == pair[1])]
    assert len(fills) > 0
    assert set(fills["entry_time"]) <= set(marks.entries.times + HOUR)
    assert marks.selected
