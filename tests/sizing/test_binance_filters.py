"""Lot rounding and minimum-notional drops on real Binance market filters: the local fake
exchange serves exchangeInfo, real ccxt parses it, `CcxtSource.load_markets` makes MarketInfo."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal

import pytest

from pairscan.config import ExchangeConfig, SizingConfig
from pairscan.fetch.ccxt_source import CcxtSource
from pairscan.market import MS_PER_HOUR, MarketInfo
from pairscan.sizing import SIDE_LONG, SIDE_SHORT, PairSize, size_pair
from tests.fakes.binance import FakeBinance

SIGMA_20 = 0.20 / math.sqrt(8760)  # 20 % a year per hourly bar: N_y = target_vol x capital / 0.2


@pytest.fixture
def source(fake_binance: FakeBinance) -> Iterator[CcxtSource]:
    config = ExchangeConfig(id="binance", ccxt_config=fake_binance.ccxt_config(), max_retries=0)
    src = CcxtSource(config, sleep=lambda _: None)
    yield src
    src.close()


def last_close(source: CcxtSource, symbol: str, now_ms: int) -> float:
    rows = source.fetch_ohlcv_page(symbol, "1h", now_ms - 3 * MS_PER_HOUR, 10)
    return float(rows[-1, 4])


def is_whole_steps(qty: float, step: float | None) -> bool:
    assert step is not None
    return Decimal(repr(abs(qty))) % Decimal(repr(step)) == 0


def sized(
    source: CcxtSource,
    fake: FakeBinance,
    y: str,
    x: str,
    beta: float,
    capital: float,
    side: int = SIDE_LONG,
) -> tuple[PairSize, MarketInfo, MarketInfo]:
    markets = source.load_markets()
    now = fake.state.now_ms
    config = SizingConfig(capital_quote=capital, target_vol=0.10)
    got = size_pair(
        side,
        beta,
        SIGMA_20,
        last_close(source, y, now),
        last_close(source, x, now),
        markets[y],
        markets[x],
        config,
        MS_PER_HOUR,
    )
    return got, markets[y], markets[x]


@pytest.mark.parametrize("side", [SIDE_LONG, SIDE_SHORT])
def test_perpetual_legs_are_whole_lot_steps_above_the_minimums(
    source: CcxtSource, fake_binance: FakeBinance, side: int
) -> None:
    got, eth, btc = sized(
        source, fake_binance, "ETH/USDT:USDT", "BTC/USDT:USDT", 0.8, 10_000.0, side
    )
    # Binance USD-M filters as ccxt parsed them: LOT_SIZE stepSize and MIN_NOTIONAL.
    assert (eth.amount_step, eth.min_notional, eth.contract_size) == (0.001, 20.0, 1.0)
    assert (btc.amount_step, btc.min_notional, btc.contract_size) == (0.001, 100.0, 1.0)
    assert got.dropped is None
    assert is_whole_steps(got.qty_y, eth.amount_step)
    assert is_whole_steps(got.qty_x, btc.amount_step)
    assert (math.copysign(1, got.qty_y), math.copysign(1, got.qty_x)) == (side, -side)
    # N_y = 0.10 x 10,000 / 0.20 = 5,000, floored by less than one lot of ETH.
    assert 5000.0 - 0.001 * got.price_y < abs(got.notional_y) <= 5000.0
    # x hedges the rounded y: 0.8 x |N_y|, floored by less than one lot of BTC.
    want_x = 0.8 * abs(got.notional_y)
    assert want_x - 0.001 * got.price_x < abs(got.notional_x) <= want_x
    assert 0.8 - 0.001 * got.price_x / abs(got.notional_y) < got.achieved_hedge <= 0.8
    assert abs(got.notional_x) >= 100.0
    assert got.gross_quote == pytest.approx(abs(got.notional_y) + abs(got.notional_x))


def test_btc_leg_of_one_lot_below_min_notional_drops_the_whole_ticket(
    source: CcxtSource, fake_binance: FakeBinance
) -> None:
    # Capital 300: N_y = 0.1 x 300 / 0.2 = 150 USDT of ETH (above its 20 USDT minimum); the BTC
    # leg 0.8 x ~150 = ~120 USDT floors to one lot, 0.001 BTC, worth ~79 USDT < 100 USDT.
    got, eth, btc = sized(source, fake_binance, "ETH/USDT:USDT", "BTC/USDT:USDT", 0.8, 300.0)
    assert (eth.min_notional, btc.amount_step, btc.min_notional) == (20.0, 0.001, 100.0)
    assert 0.001 * got.price_x < 100.0 <= 0.002 * got.price_x  # the recording's BTC level
    assert got.dropped == (
        f"x leg BTC/USDT:USDT: notional {0.001 * got.price_x:.2f} USDT (0.001 contracts at "
        f"{got.price_x:g}) below the minimum 100 USDT (exchange min_notional)"
    )
    assert (got.qty_y, got.qty_x, got.gross_quote) == (0.0, 0.0, 0.0)


def test_spot_leg_below_five_usdt_drops_the_whole_ticket(
    source: CcxtSource, fake_binance: FakeBinance
) -> None:
    # Capital 40: N_y = 20 USDT of ETH (0.0001 lots); BTC leg 0.2 x ~20 = ~4 USDT, floored to
    # 0.00001 lots, is below spot's 5 USDT NOTIONAL filter.
    got, eth, btc = sized(source, fake_binance, "ETH/USDT", "BTC/USDT", 0.2, 40.0)
    assert (eth.amount_step, btc.amount_step, btc.min_notional) == (0.0001, 1e-05, 5.0)
    assert got.dropped is not None
    assert got.dropped.startswith("x leg BTC/USDT: notional 3.")
    assert got.dropped.endswith("BTC at 79113.2) below the minimum 5 USDT (exchange min_notional)")
    assert got.qty_y == got.qty_x == 0.0


def test_spot_pair_above_the_minimums_rounds_to_lot_steps(
    source: CcxtSource, fake_binance: FakeBinance
) -> None:
    got, eth, btc = sized(source, fake_binance, "ETH/USDT", "BTC/USDT", 0.2, 400.0)
    # N_y = 200 USDT: ~0.0899 ETH; BTC 0.2 x ~200 = ~40 USDT: ~0.0005 BTC.
    assert got.dropped is None
    assert is_whole_steps(got.qty_y, eth.amount_step)
    assert is_whole_steps(got.qty_x, btc.amount_step)
    assert abs(got.notional_x) >= 5.0
