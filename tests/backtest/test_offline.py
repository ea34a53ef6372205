"""The backtest needs no network: its lots, minimum notionals and fees are the market info
`pairs cache update` stored beside the series, so it runs with the exchange gone; a cache
without that info (an older version's) is refused with the command that stores it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pairscan.cache.markets import markets_path, read_markets
from pairscan.config import load_config
from pairscan.errors import ConfigError
from pairscan.jobs.backtest import run_backtest_job
from pairscan.jobs.backtest_market import load_market
from pairscan.jobs.cache_update import run_cache_update
from pairscan.market import parse_utc
from tests.fakes.binance import FakeBinance

CLOCK = parse_utc("2026-05-01")
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "LTC/USDT:USDT", "SOL/USDT:USDT"]  # sorted
# Short windows: the point is where the market info comes from, not the strategy.
QUICK = {"stats.formation_days": 20, "stats.reselect_every_hours": 168, "cache.history_days": 30}


def test_a_backtest_after_cache_update_runs_with_the_exchange_stopped(
    fake_binance: FakeBinance, tmp_path: Path
) -> None:
    fake_binance.state.now_ms = CLOCK
    settings = {
        "data_dir": str(tmp_path / "data"),
        "exchange.id": "binance",
        "exchange.ccxt_config": fake_binance.ccxt_config(timeout_ms=500),
        "exchange.retry_base_delay_s": 0,
        "universe.symbols": PERPS,
        **QUICK,
    }
    config = load_config(None, env={}, overrides=settings)
    assert run_cache_update(config, now_ms=CLOCK).failed == []
    fake_binance.close()  # any request from here on would fail

    report = run_backtest_job(config)
    market = load_market(config)
    stored = read_markets(tmp_path / "data" / "cache", "binance")
    assert report.symbols == tuple(PERPS)
    # The exchange's own filters and fees, as cached (with no market info the lots would be
    # zeros, and the fees the defaults).
    lots = market.panel.lots
    assert np.array_equal(lots[1], [stored[s].info.amount_step for s in PERPS])
    assert np.array_equal(lots[3], [stored[s].info.min_notional or 0.0 for s in PERPS])
    assert (lots[1] > 0).all()
    assert np.array_equal(market.panel.fee_bps, [stored[s].info.taker_fee_bps for s in PERPS])


def test_the_demo_backtest_opens_no_market_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pairscan.demo.source import DemoSource

    (tmp_path / "config.yaml").write_text("data_dir: data\nexchange: {id: demo}\n", "utf-8")
    config = load_config(tmp_path / "config.yaml", env={}, overrides=QUICK)
    run_cache_update(config, symbols=[*PERPS, "BTC/USDT", "ETH/USDT"])

    def no_source(*args: object, **kwargs: object) -> None:
        raise AssertionError("the backtest opened a market source")

    monkeypatch.setattr("pairscan.jobs.common.open_source", no_source)
    market = load_market(config)
    demo = DemoSource().load_markets()
    # The default universe: the cached perpetuals (by their cached market type), not the spot.
    assert market.symbols == tuple(PERPS)
    assert np.array_equal(market.panel.lots[1], [demo[s].amount_step for s in PERPS])
    assert np.array_equal(market.panel.fee_bps, [demo[s].taker_fee * 1e4 for s in PERPS])


def test_a_cache_without_market_info_is_refused_naming_the_command(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("data_dir: data\nexchange: {id: demo}\n", "utf-8")
    config = load_config(tmp_path / "config.yaml", env={}, overrides=QUICK)
    run_cache_update(config, symbols=PERPS[:2])
    markets_path(tmp_path / "data" / "cache", "demo").unlink()  # a cache of an older version
    with pytest.raises(ConfigError) as caught:
        load_market(config, symbols=PERPS[:2])
    message = str(caught.value)
    assert message.startswith(f"no market info cached for {PERPS[0]}, {PERPS[1]}")
    assert f"run `pairs cache update --symbols {PERPS[0]},{PERPS[1]}`" in message
    assert "\n" not in message
    run_cache_update(config, symbols=PERPS[:2])  # what the message says to do
    assert load_market(config, symbols=PERPS[:2]).symbols == tuple(PERPS[:2])
