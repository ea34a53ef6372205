"""The backtest's guards as invariants on recorded markets, and a leg whose data stops or skips
bars in the middle of a trade, through the real cache (cache update, parquet store, aligner).

Markets: the shipped demo market, and ten USDT-M perpetuals it does not ship
(`tests/data/unseen_perps`, served by the local Binance-protocol server to real ccxt). On every
run: each selected pair's static beta is in the hedge band, each trade has two legs on opposite
sides, and each fill is at a real (not forward-filled) bar's price, or at a dead leg's last real
close when the trade was closed because that leg's data ended (reason delisted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pairscan.backtest.engine import (
    BacktestResult,
    FloatArray,
    MarketPanel,
    last_real_rows,
    pair_columns,
    run_backtest,
)
from pairscan.backtest.kernels import (
    L_ENTRY_BAR,
    L_ENTRY_X,
    L_ENTRY_Y,
    L_EXIT_BAR,
    L_EXIT_REASON,
    L_EXIT_X,
    L_EXIT_Y,
    L_PAIR,
    L_PNL,
    L_QTY_X,
    L_QTY_Y,
)
from pairscan.backtest.report import ledger_frame
from pairscan.config import Config, load_config
from pairscan.jobs.backtest_market import load_market
from pairscan.jobs.cache_update import run_cache_update
from pairscan.signals import REASON_NAMES, Action, Reason
from pairscan.stats.hedge import hedge_and_z
from pairscan.stats.selection import Reason as SelectionReason
from pairscan.stats.selection import hedge_in_band
from tests.fakes.binance import ExchangeState, start_fake_binance

DEMO_PERPS = tuple(
    f"{b}/USDT:USDT"
    for b in ("ADA", "AVAX", "BCH", "BTC", "DOGE", "ETH", "LINK", "LTC", "SOL", "XRP")
)
UNSEEN_DIR = Path(__file__).resolve().parents[1] / "data" / "unseen_perps"
# Every recorded bar of the unseen perpetuals (the longest start 2025-02-01), not only the
# default year, so the walk-forward runs over the whole cached period.
UNSEEN_HISTORY_DAYS = 500
LOOSE_QVALUE = 0.2  # more pairs and trades than the default 0.05, and some hedge-band refusals


@dataclass(frozen=True)
class Run:
    """One walk-forward backtest over the whole cached period and the panel it ran on."""

    config: Config
    panel: MarketPanel
    result: BacktestResult


def _write_config(root: Path, settings: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump({"data_dir": "data", **settings}), encoding="utf-8")
    return path


def _backtest(config: Config) -> Run:
    market = load_market(config)
    result = run_backtest(market.panel, config, trade_from_row=market.first_row)
    return Run(config, market.panel, result)


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The ten demo perpetuals (one year of 1h bars) cached by `run_cache_update`."""
    path = _write_config(tmp_path_factory.mktemp("demo"), {"exchange": {"id": "demo"}})
    config = load_config(path, env={})
    run_cache_update(config, symbols=DEMO_PERPS)
    return config


@pytest.fixture(scope="module")
def demo_run(demo_config: Config) -> Run:
    return _backtest(demo_config)


@pytest.fixture(scope="module")
def unseen_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config file whose cache holds the unseen perpetuals and their market info (lot steps,
    fees), fetched by real ccxt from the local Binance-protocol server, which is stopped
    before any backtest: the backtest needs no network."""
    state = ExchangeState.from_folder(UNSEEN_DIR, extras=False)
    with start_fake_binance(state) as fake:
        settings = {
            "exchange": {
                "id": "binance",
                "ccxt_config": fake.ccxt_config(),
                "retry_base_delay_s": 0,
            },
            "cache": {"history_days": UNSEEN_HISTORY_DAYS},
        }
        path = _write_config(tmp_path_factory.mktemp("unseen"), settings)
        symbols = [m.symbol for m in state.listed("perp")]
        report = run_cache_update(load_config(path, env={}), now_ms=state.now_ms, symbols=symbols)
        assert report.failed == []
        assert len(report.symbols) == 10
    return path


@pytest.fixture(scope="module", params=["demo", "unseen", f"unseen-q{LOOSE_QVALUE}"])
def run(request: pytest.FixtureRequest) -> Run:
    if request.param == "demo":
        demo: Run = request.getfixturevalue("demo_run")
        return demo
    path: Path = request.getfixturevalue("unseen_path")
    overrides = {} if request.param == "unseen" else {"stats.max_qvalue": LOOSE_QVALUE}
    return _backtest(load_config(path, env={}, overrides=overrides))


def _trades(run: Run) -> FloatArray:
    """The ledger; a run without trades would make the invariants vacuous."""
    ledger = run.result.ledger
    assert ledger.shape[0] > 0, "no trade: the invariants below would check nothing"
    return ledger


def _slipped(price: float, qty: float, slip_bps: float) -> float:
    """Fill price of trading signed qty at price (`backtest.kernels._fill_leg`'s rule)."""
    side = 1.0 if qty > 0.0 else -1.0
    return float(price * (1.0 + side * slip_bps * 1e-4))


def _legs(run: Run, trade: FloatArray) -> tuple[tuple[int, float, float, float], ...]:
    """(symbol column, signed qty, entry fill, exit fill) of the y and x legs of a trade."""
    iy, ix = pair_columns(run.panel, run.result.walk)
    j = int(trade[L_PAIR])
    return (
        (int(iy[j]), float(trade[L_QTY_Y]), float(trade[L_ENTRY_Y]), float(trade[L_EXIT_Y])),
        (int(ix[j]), float(trade[L_QTY_X]), float(trade[L_ENTRY_X]), float(trade[L_EXIT_X])),
    )


# ---- invariants on the demo market and the unseen perpetuals ---------------------------------


def test_every_selected_pair_has_its_static_beta_in_the_hedge_band(run: Run) -> None:
    stats = run.config.stats
    selected = 0
    for window in run.result.walk.windows:
        sel = window.selection
        beta = sel.beta[sel.selected]
        assert ((beta >= stats.min_hedge_ratio) & (beta <= stats.max_hedge_ratio)).all(), (
            window.boundary_ms,
            beta,
        )
        rejected = sel.reason == SelectionReason.HEDGE_OUT_OF_BAND
        assert not hedge_in_band(sel.beta[rejected], stats).any(), window.boundary_ms
        selected += int(sel.selected.sum())
    assert selected > 0


def test_every_trade_has_two_legs_on_opposite_sides(run: Run) -> None:
    _assert_hedged(run)


def _assert_hedged(run: Run) -> None:
    ledger = _trades(run)
    assert (ledger[:, L_QTY_Y] != 0).all()
    assert (ledger[:, L_QTY_X] != 0).all()
    assert (np.sign(ledger[:, L_QTY_Y]) == -np.sign(ledger[:, L_QTY_X])).all()


def test_every_entry_was_decided_with_the_rolling_beta_in_the_band(run: Run) -> None:
    """The entry guard: the rolling hedge ratio at the bar that decided each filled entry."""
    ledger = _trades(run)
    iy, ix = pair_columns(run.panel, run.result.walk)
    beta, _ = hedge_and_z(np.log(run.panel.close), iy, ix, run.config.stats)
    action = run.result.machine.action
    for trade in ledger:
        j, entry = int(trade[L_PAIR]), int(trade[L_ENTRY_BAR])
        opens = np.flatnonzero(
            (action[:entry, j] == Action.OPEN_LONG) | (action[:entry, j] == Action.OPEN_SHORT)
        )
        assert opens.size, trade
        assert hedge_in_band(beta[opens[-1], j], run.config.stats), (trade, beta[opens[-1], j])


def test_every_fill_is_at_a_real_bar_or_a_dead_legs_last_real_close(run: Run) -> None:
    _assert_real_fills(run)


def _assert_real_fills(run: Run) -> None:
    """Each fill is the open of a bar where the leg has a real candle, slippage against us;
    a delisted exit fills a dead leg at the close of its last real bar instead."""
    ledger = _trades(run)
    panel = run.panel
    assert run.config.backtest.fill == "next_open"
    n_rows = panel.real.shape[0]
    last_real = last_real_rows(panel.real)
    slip = panel.slippage_bps
    for trade in ledger:
        entry, exit_ = int(trade[L_ENTRY_BAR]), int(trade[L_EXIT_BAR])
        for s, qty, fill_in, fill_out in _legs(run, trade):
            assert panel.real[entry, s], (trade, s)
            want = _slipped(panel.open[entry, s], qty, slip[entry, s])
            assert fill_in == pytest.approx(want, rel=1e-12)
            if exit_ < 0:
                continue
            if panel.real[exit_, s]:
                want = _slipped(panel.open[exit_, s], -qty, slip[exit_, s])
                assert fill_out == pytest.approx(want, rel=1e-12)
                continue
            # Only a leg whose data ended for good is filled off a real bar: at its last close.
            assert trade[L_EXIT_REASON] == Reason.DELISTED, trade
            assert last_real[s] < min(exit_, n_rows - 1), (trade, s)
            close = panel.close[last_real[s], s]
            assert fill_out == pytest.approx(_slipped(close, -qty, slip[exit_, s]), rel=1e-12)


def test_guard_counts(run: Run, request: pytest.FixtureRequest) -> None:
    """Trades, refused entries by reason and pairs rejected for their hedge ratio, printed
    (`pytest -s`) and checked against the machine's and the selections' own records."""
    result = run.result
    traded = slice(result.first_row, None)
    action, reason = result.machine.action[traded], result.machine.reason[traded]
    codes = {name: code for code, name in REASON_NAMES.items()}
    for name, count in result.refused.items():
        assert count == int(((action == Action.HOLD) & (reason == codes[name])).sum()), name
    hedge_out = sum(w.selection.summary()["hedge_out_of_band"] for w in result.walk.windows)
    exits = ledger_frame(result)["exit_reason"].value_counts().to_dict()
    print(
        f"\n[{request.node.callspec.id}] trades={result.ledger.shape[0]} "
        f"pairs={len(result.pairs)} windows={len(result.walk.windows)} "
        f"refused={result.refused} hedge_out_of_band={hedge_out} exits={exits}"
    )
    assert result.ledger.shape[0] > 0


# ---- a leg whose data stops, or skips bars, in the middle of a trade --------------------------


def _demo_cache_with_hole(
    root: Path, symbol: str, stop_ms: int, resume_ms: int | None, start_ms: int
) -> Config:
    """The demo cache where `symbol` has no bar from `stop_ms` on (its recording, funding
    included, stops there: the cache update ran with the clock at stop_ms), and, with
    `resume_ms`, bars again from resume_ms on (a later update from there)."""
    config = load_config(_write_config(root, {"exchange": {"id": "demo"}}), env={})
    others = [s for s in DEMO_PERPS if s != symbol]
    assert not run_cache_update(config, symbols=others).failed
    assert not run_cache_update(config, now_ms=stop_ms, symbols=[symbol], since_ms=start_ms).failed
    if resume_ms is not None:
        assert not run_cache_update(config, symbols=[symbol], since_ms=resume_ms).failed
    return config


def _long_trade(run: Run, min_bars: int = 12) -> FloatArray:
    """The first closed trade held at least `min_bars` bars."""
    ledger = run.result.ledger
    held = ledger[:, L_EXIT_BAR] - ledger[:, L_ENTRY_BAR]
    rows = np.flatnonzero((ledger[:, L_EXIT_BAR] >= 0) & (held >= min_bars))
    assert rows.size
    trade: FloatArray = ledger[rows[0]]
    return trade


def _row(result: BacktestResult, pair: tuple[str, str], entry_bar: int) -> int:
    """Ledger row of the pair's trade that entered at `entry_bar` (exactly one)."""
    j = result.pairs.index(pair)
    found = (result.ledger[:, L_PAIR] == j) & (result.ledger[:, L_ENTRY_BAR] == entry_bar)
    assert found.sum() == 1, (pair, entry_bar)
    return int(np.flatnonzero(found)[0])


def _assert_reconciles(run: Run) -> None:
    capital = run.config.sizing.capital_quote
    assert run.result.equity[-1] - capital == pytest.approx(
        run.result.ledger[:, L_PNL].sum(), abs=1e-9 * capital
    )


@pytest.mark.parametrize("leg", [0, 1], ids=["y-stops", "x-stops"])
def test_a_leg_that_stops_mid_trade_closes_it_as_delisted_at_its_last_real_close(
    demo_run: Run, tmp_path: Path, leg: int
) -> None:
    base = demo_run
    trade = _long_trade(base)
    pair = base.result.pairs[int(trade[L_PAIR])]
    dead = pair[leg]
    entry = int(trade[L_ENTRY_BAR])
    cut = entry + 6  # first row without a bar of the dead leg; the trade is open then
    assert cut < int(trade[L_EXIT_BAR])
    ts = base.panel.timestamps
    config = _demo_cache_with_hole(tmp_path, dead, int(ts[cut]), None, int(ts[0]))
    run = _backtest(config)
    panel, result = run.panel, run.result
    assert np.array_equal(panel.timestamps, ts)
    s = panel.symbols.index(dead)
    last_real = cut - 1
    assert last_real_rows(panel.real)[s] == last_real
    # The aligner's causal fill: max_ffill_bars rows at the last real close, then NaN.
    ffill = config.cache.max_ffill_bars
    assert not panel.real[cut:, s].any()
    assert (panel.close[cut : cut + ffill, s] == panel.close[last_real, s]).all()
    assert np.isnan(panel.close[cut + ffill :, s]).all()
    assert (panel.funding[cut:, s] == 0).all()

    k = _row(result, pair, entry)  # history before the cut is unchanged: the same trade
    got = result.ledger[k]
    assert (got[L_QTY_Y], got[L_QTY_X]) == (trade[L_QTY_Y], trade[L_QTY_X])
    exit_ = int(got[L_EXIT_BAR])
    assert last_real < exit_ <= last_real + config.signals.stale_bars + 1
    assert got[L_EXIT_REASON] == Reason.DELISTED
    assert ledger_frame(result)["exit_reason"].iloc[k] == "delisted"
    slip = panel.slippage_bps[exit_]
    for sym, qty, _, fill_out in _legs(run, got):
        if sym == s:  # the dead leg: its last real close, slippage against us
            want = _slipped(panel.close[last_real, s], -qty, slip[s])
        else:  # the live leg trades at the exit bar's real open
            assert panel.real[exit_, sym]
            want = _slipped(panel.open[exit_, sym], -qty, slip[sym])
        assert fill_out == pytest.approx(want, rel=1e-12)

    # Nothing is left open on the dead symbol, and nothing opens on it after its data ended.
    for t in result.ledger:
        if dead not in result.pairs[int(t[L_PAIR])]:
            continue
        assert t[L_EXIT_BAR] >= 0, t
        assert t[L_ENTRY_BAR] <= last_real, t
    _assert_hedged(run)
    _assert_real_fills(run)
    _assert_reconciles(run)


@pytest.mark.parametrize("order", ["entry", "exit"])
def test_an_order_waits_through_a_short_hole_and_fills_when_both_legs_trade_again(
    demo_run: Run, tmp_path: Path, order: str
) -> None:
    """One leg misses stale_bars - 1 bars from the bar an order would have filled at, then
    trades again: the order fills at the first bar where both legs are real, and the trade is
    not closed as delisted or stale."""
    base = demo_run
    trade = _long_trade(base)
    pair = base.result.pairs[int(trade[L_PAIR])]
    hole_bars = base.config.signals.stale_bars - 1
    fill = int(trade[L_ENTRY_BAR] if order == "entry" else trade[L_EXIT_BAR])
    ts = base.panel.timestamps
    config = _demo_cache_with_hole(
        tmp_path, pair[0], int(ts[fill]), int(ts[fill + hole_bars]), int(ts[0])
    )
    run = _backtest(config)
    panel, result = run.panel, run.result
    s = panel.symbols.index(pair[0])
    assert np.array_equal(panel.timestamps, ts)
    resumed = fill + hole_bars
    assert panel.real[fill - 1, s]
    assert panel.real[resumed, s]
    assert not panel.real[fill:resumed, s].any()
    assert panel.real[fill - 1 : resumed + 1, panel.symbols.index(pair[1])].all()
    if order == "entry":
        got = result.ledger[_row(result, pair, resumed)]
        # Sized at the decision's close, as in the run without the hole.
        assert (got[L_QTY_Y], got[L_QTY_X]) == (trade[L_QTY_Y], trade[L_QTY_X])
    else:
        got = result.ledger[_row(result, pair, int(trade[L_ENTRY_BAR]))]
        assert int(got[L_EXIT_BAR]) == resumed
        assert got[L_EXIT_REASON] == trade[L_EXIT_REASON]
    assert got[L_EXIT_REASON] not in (Reason.DELISTED, Reason.DATA_STALE)
    bar = int(got[L_ENTRY_BAR] if order == "entry" else got[L_EXIT_BAR])
    for sym, qty, fill_in, fill_out in _legs(run, got):
        assert panel.real[bar, sym]
        side_qty, price = (qty, fill_in) if order == "entry" else (-qty, fill_out)
        want = _slipped(panel.open[bar, sym], side_qty, panel.slippage_bps[bar, sym])
        assert price == pytest.approx(want, rel=1e-12)
    assert not (result.ledger[:, L_EXIT_REASON] == Reason.DELISTED).any()
    _assert_hedged(run)
    _assert_real_fills(run)
    _assert_reconciles(run)
