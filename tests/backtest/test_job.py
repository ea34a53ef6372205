"""`pairs backtest` end to end on the shipped demo market: golden metrics, reconciliation,
look-ahead, sweeps, outputs and errors, through the real cache and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pairscan.backtest.engine import MarketPanel, run_backtest
from pairscan.backtest.kernels import L_EXIT_BAR, L_PNL
from pairscan.cli import pairs
from pairscan.config import Config, load_config
from pairscan.jobs.backtest import run_backtest_job
from pairscan.jobs.backtest_market import load_market
from pairscan.jobs.backtest_outputs import metrics_json
from pairscan.jobs.backtest_sweep import run_sweep
from pairscan.jobs.cache_update import run_cache_update
from pairscan.signals import Reason

PERPS = tuple(
    f"{b}/USDT:USDT"
    for b in ("ADA", "AVAX", "BCH", "BTC", "DOGE", "ETH", "LINK", "LTC", "SOL", "XRP")
)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config folder whose cache holds the ten demo perpetuals (1 year of 1h bars)."""
    root = tmp_path_factory.mktemp("bt")
    (root / "config.yaml").write_text("data_dir: data\nexchange: {id: demo}\n", encoding="utf-8")
    run_cache_update(load_config(root / "config.yaml", env={}), symbols=PERPS)
    return root


def _config(root: Path, **overrides: object) -> Config:
    return load_config(root / "config.yaml", env={}, overrides=overrides)


def test_golden_metrics_on_the_demo_market(demo_dir: Path) -> None:
    """Default config, ten recorded perpetuals, traded from 2025-08-14 (after 90 days of
    formation) to 2026-05-15. The run is deterministic; the tolerance (1e-6 relative) only
    absorbs floating-point differences between CPUs, and the trade count must match exactly."""
    progress: list[tuple[int, int]] = []
    report = run_backtest_job(_config(demo_dir), on_window=lambda d, n: progress.append((d, n)))
    m = report.result.metrics
    assert report.symbols == PERPS
    # The progress bar's feed: every walk-forward boundary counted once, up to the total.
    total = progress[-1][1]
    assert total > 1
    assert progress == [(done, total) for done in range(total + 1)]
    # Regenerated when BH started running over every candidate pair (Bonferroni over the two
    # orientations, p = 1 for prefiltered pairs) and the hedge band came in: 55 trades / 19
    # pairs / +3.23 % before.
    assert (m.n_trades, len(report.result.pairs)) == (50, 14)
    assert m.total_return == pytest.approx(0.050156449586, rel=1e-6)
    assert m.sharpe == pytest.approx(0.90088092227, rel=1e-6)
    assert m.max_drawdown == pytest.approx(-0.040310707253, rel=1e-6)
    assert m.fees_paid == pytest.approx(302.06112950, rel=1e-6)
    assert m.funding_paid == pytest.approx(-16.729791667, rel=1e-6)


def test_ledger_reconciles_with_equity(demo_dir: Path) -> None:
    result = run_backtest_job(_config(demo_dir)).result
    capital = _config(demo_dir).sizing.capital_quote
    assert result.equity[-1] - capital == pytest.approx(
        result.ledger[:, L_PNL].sum(), abs=1e-9 * capital
    )


def _truncated(panel: MarketPanel, rows: int) -> MarketPanel:
    fields = {f.name: getattr(panel, f.name) for f in dataclasses.fields(panel)}
    for name in ("timestamps", "open", "close", "real", "dollar_volume", "funding", "slippage_bps"):
        fields[name] = fields[name][:rows]
    return MarketPanel(**fields)


def test_no_look_ahead_across_the_whole_pipeline(demo_dir: Path) -> None:
    """Selection, hedge, signals, sizing and books up to bar t do not change when the bars
    after t are appended."""
    config = _config(demo_dir)
    market = load_market(config)
    full = run_backtest(market.panel, config, trade_from_row=market.first_row)
    cut = market.panel.timestamps.shape[0] - 600  # late April 2026, after several selections
    short = run_backtest(_truncated(market.panel, cut), config, trade_from_row=market.first_row)
    n = short.equity.shape[0]
    assert short.pairs  # pairs were selected and traded before the cut
    assert np.array_equal(short.equity, full.equity[:n])
    # Pairs selected only later add columns to the full run; every pair known at the cut has
    # the same decisions up to it.
    for k, pair in enumerate(short.pairs):
        j = full.pairs.index(pair)
        assert np.array_equal(short.machine.action[:, k], full.machine.action[:cut, j]), pair
    closed = short.ledger[:, L_EXIT_BAR] >= 0
    assert closed.sum() > 10
    assert np.array_equal(short.ledger[closed], full.ledger[: short.ledger.shape[0]][closed])


def test_sweep_shares_the_period_and_deflates(demo_dir: Path) -> None:
    base = _config(demo_dir)
    variants = [
        ("entry_z=2", base),
        ("entry_z=2.5", _config(demo_dir, **{"signals.entry_z": 2.5})),
        ("window=336", _config(demo_dir, **{"stats.window_bars": 336})),
    ]
    sweep = run_sweep(variants)
    single = run_backtest_job(base).result
    first = sweep.reports[0].result
    assert np.array_equal(first.equity, single.equity)  # shared work changes nothing
    assert {r.start_ms for r in sweep.reports} == {sweep.reports[0].start_ms}
    assert all(r.result.metrics.n_trials == 3 for r in sweep.reports)
    assert first.metrics.deflated_sharpe < single.metrics.deflated_sharpe


def test_sweep_refuses_to_vary_the_data(demo_dir: Path) -> None:
    from pairscan.errors import ConfigError

    other = _config(demo_dir, **{"cache.timeframe": "4h"})
    with pytest.raises(ConfigError, match="changes `cache`"):
        run_sweep([("a", _config(demo_dir)), ("b", other)])


def test_cli_backtest_json_and_outputs(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo_dir)
    runner = CliRunner()
    result = runner.invoke(pairs, ["backtest", "--json", "--out", "report", "--top", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["metrics"]["n_trades"] == 50
    assert data["start"] == "2025-08-14 00:00Z"
    files = sorted(p.name for p in (demo_dir / "report").iterdir())
    pair_plots = [f for f in files if f.startswith(("best", "worst"))]
    assert [f for f in files if f not in pair_plots] == [
        "equity.csv",
        "equity.png",
        "ledger.csv",
        "ledger.parquet",
        "metrics.json",
        "pairs.csv",
    ]
    assert len(pair_plots) == 4  # --top 2: the 2 best and the 2 worst pairs by P&L
    assert not [f for f in files if f.startswith(".")]  # no temporary files left
    ledger = pd.read_parquet(demo_dir / "report" / "ledger.parquet")
    assert len(ledger) == 51  # 50 closed trades and one still open at the end
    assert set(ledger["exit_reason"]) <= {
        "mean_reversion",
        "stop",
        "time_stop",
        "coint_broke",
        "deselected",
        "data_stale",
        "delisted",
        "open",
    }
    # Every trade is a hedge: the legs are on opposite sides.
    assert (np.sign(ledger["qty_y"]) == -np.sign(ledger["qty_x"])).all()
    assert data["entries_refused"].keys() == {"hedge_band", "short_spot"}
    equity = pd.read_csv(demo_dir / "report" / "equity.csv")
    assert equity["equity"].iloc[-1] == pytest.approx(10_000 + ledger["pnl"].sum())


def test_cli_backtest_table_and_sweep(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo_dir)
    runner = CliRunner()
    table = runner.invoke(pairs, ["backtest"])
    assert table.exit_code == 0, table.output
    assert "deflated Sharpe" in table.output
    assert "LTC/USDT:USDT ~ SOL/USDT:USDT" in table.output
    sweep = runner.invoke(pairs, ["backtest", "--sweep", "entry_z=2,2.5", "window=336"])
    assert sweep.exit_code == 0, sweep.output
    assert "entry_z=2 window=336" in sweep.output
    assert "entry_z=2.5 window=336" in sweep.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "bogus=1,2"], "--sweep bogus: not a sweepable key"),
        (["--sweep", "entry_z"], "expected KEY=V1,V2"),
        (["--sweep", "entry_z=1,9"], "signals needs stop_z > entry_z > exit_z"),
        (["--sweep", "window=2"], "stats.window_bars must be between 3"),
        (["--symbols", "BTC/USDT:USDT"], "one symbol only"),
        (["--symbols", "BTC/USDT:USDT,NOPE/USDT:USDT"], "nothing cached for NOPE/USDT:USDT"),
    ],
)
def test_cli_backtest_bad_input_is_one_line(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(demo_dir)
    result = CliRunner().invoke(pairs, ["backtest", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_backtest_on_an_empty_cache_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yaml").write_text(
        "data_dir: data\nexchange: {id: demo}\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(pairs, ["backtest"])
    assert result.exit_code == 2
    assert "run `pairs cache update` first" in result.output


def test_a_spot_universe_never_shorts_spot(tmp_path: Path) -> None:
    """On spot markets every pair trade would short one leg: each entry the rule makes is
    refused (short_spot) and counted, the run warns, and no trade is booked."""
    spot = tuple(s.split(":")[0] for s in PERPS[:6])
    (tmp_path / "config.yaml").write_text("data_dir: data\nexchange: {id: demo}\n", "utf-8")
    config = load_config(tmp_path / "config.yaml", env={}, overrides={"stats.max_qvalue": 0.5})
    run_cache_update(config, symbols=spot)
    report = run_backtest_job(config)
    assert report.symbols == spot
    assert report.result.metrics.n_trades == 0
    assert report.result.refused["short_spot"] > 0
    assert report.result.refused["short_spot"] == int(
        (report.result.machine.reason == Reason.SHORT_SPOT).sum()
    )
    assert any("spot markets" in w for w in report.selection.warnings)
    assert metrics_json(report)["entries_refused"]["short_spot"] > 0


def test_a_sweep_of_the_hedge_band_changes_the_selection(demo_dir: Path) -> None:
    variants = [
        ("band", _config(demo_dir)),
        ("no band", _config(demo_dir, **{"stats.min_hedge_ratio": 1e-6})),
    ]
    band, wide = run_sweep(variants).reports
    hedged = sum(w.selection.summary()["hedge_out_of_band"] for w in band.result.walk.windows)
    assert hedged > 0
    assert band.selection.reasons["hedge_out_of_band"] == hedged
    assert wide.selection.reasons["hedge_out_of_band"] < hedged
