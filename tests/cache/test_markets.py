"""The exchange's market info in the cache (`markets.json`): written by `pairs cache update`
against real ccxt and the local Binance-protocol server, read back exactly, merged per symbol,
an unreadable file named, a delisting kept as an inactive market."""

from __future__ import annotations

from pathlib import Path

import pytest

from pairscan.cache.markets import CachedMarket, markets_path, read_markets, write_markets
from pairscan.config import Config, load_config
from pairscan.errors import CacheError
from pairscan.fetch.ccxt_source import CcxtSource
from pairscan.jobs.cache_update import run_cache_update
from pairscan.market import MS_PER_DAY, MarketInfo, parse_utc
from tests.fakes.binance import FakeBinance

CLOCK = parse_utc("2026-05-01")
SYMBOLS = ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]


def _config(fake: FakeBinance, tmp_path: Path, backend: str = "parquet") -> Config:
    settings = {
        "data_dir": str(tmp_path / "data"),
        "exchange.id": "binance",
        "exchange.ccxt_config": fake.ccxt_config(),
        "exchange.retry_base_delay_s": 0,
        "universe.symbols": SYMBOLS,
        "cache.history_days": 3,
        "cache.backend": backend,
    }
    return load_config(None, env={}, overrides=settings)


def test_round_trip_is_exact_and_merges_per_symbol(tmp_path: Path) -> None:
    eth = MarketInfo(
        "ETH/USDT:USDT", "ETH", "USDT", "swap", True, "USDT", 1.0, 0.001, 0.01, 0.001, 20.0, 5e-4
    )
    btc = MarketInfo("BTC/USDT", "BTC", "USDT", "spot", True, extra={"linear": "None"})
    write_markets(tmp_path, "binance", {eth.symbol: CachedMarket(eth, 1)})
    stored = read_markets(tmp_path, "binance")
    write_markets(tmp_path, "binance", {**stored, btc.symbol: CachedMarket(btc, 2)})
    again = read_markets(tmp_path, "binance")
    assert again == {eth.symbol: CachedMarket(eth, 1), btc.symbol: CachedMarket(btc, 2)}
    assert again[btc.symbol].info.extra == {"linear": "None"}
    assert [p.name for p in markets_path(tmp_path, "binance").parent.iterdir()] == [
        "markets.json"
    ]  # no temporary file left
    assert read_markets(tmp_path, "okx") == {}  # nothing stored: an older cache


@pytest.mark.parametrize("content", ["{not json", '{"markets": {"X/Y": {"type": "perp"}}}', "[]"])
def test_an_unreadable_file_is_named_with_the_fix(tmp_path: Path, content: str) -> None:
    path = markets_path(tmp_path, "binance")
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CacheError, match="pairs cache update") as caught:
        read_markets(tmp_path, "binance")
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("backend", ["parquet", "sqlite"])
def test_cache_update_stores_the_markets_it_used(
    fake_binance: FakeBinance, tmp_path: Path, backend: str
) -> None:
    fake_binance.state.now_ms = CLOCK
    config = _config(fake_binance, tmp_path, backend)
    assert run_cache_update(config, now_ms=CLOCK).failed == []
    stored = read_markets(tmp_path / "data" / "cache", "binance")
    source = CcxtSource(config.exchange)
    try:
        listed = source.load_markets()
    finally:
        source.close()
    assert stored == {s: CachedMarket(listed[s], CLOCK) for s in SYMBOLS}
    assert [stored[s].info.is_perpetual for s in SYMBOLS] == [False, True, True]
    assert stored["ETH/USDT:USDT"].info.amount_step  # the exchange's lot step, kept


def test_a_delisted_symbol_keeps_its_filters_marked_inactive(
    fake_binance: FakeBinance, tmp_path: Path
) -> None:
    fake_binance.state.now_ms = CLOCK
    config = _config(fake_binance, tmp_path)
    run_cache_update(config, now_ms=CLOCK)
    before = read_markets(tmp_path / "data" / "cache", "binance")
    fake_binance.state.delist("ETH/USDT:USDT")
    later = CLOCK + MS_PER_DAY
    fake_binance.state.now_ms = later
    report = run_cache_update(config, now_ms=later)
    assert [s.symbol for s in report.failed] == ["ETH/USDT:USDT"]
    after = read_markets(tmp_path / "data" / "cache", "binance")
    gone = after["ETH/USDT:USDT"]
    assert not gone.info.active
    assert gone.info.amount_step == before["ETH/USDT:USDT"].info.amount_step
    assert gone.fetched_ms == later
    assert after["BTC/USDT"] == CachedMarket(before["BTC/USDT"].info, later)
