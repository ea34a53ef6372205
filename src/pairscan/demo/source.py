"""The built-in `demo` exchange: recorded Binance candles and funding shipped in the package.

Implements `MarketSource` page by page, with a settable clock, so the same pagination,
validation and cache code runs on it as on ccxt. It never touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pairscan.config import DEMO_EXCHANGE_ID
from pairscan.demo.manifest import demo_end_ms, manifest
from pairscan.errors import ConfigError, ExchangeError
from pairscan.market import (
    MS_PER_HOUR,
    Candles,
    FloatArray,
    FundingRates,
    MarketInfo,
    Ticker24h,
    timeframe_ms,
)

PAGE_LIMIT = 1000
_BASE_TF_MS = MS_PER_HOUR  # the recording is hourly; longer timeframes are aggregated


@dataclass(frozen=True)
class _DemoMarket:
    info: MarketInfo
    file_stem: str


def _data_dir() -> Any:
    return resources.files("pairscan.demo") / "data"


@cache
def _markets() -> dict[str, _DemoMarket]:
    out = {}
    for row in manifest()["markets"]:
        info = MarketInfo(
            symbol=row["symbol"],
            base=row["base"],
            quote=row["quote"],
            type=row["type"],
            active=True,
            settle=row["settle"],
            amount_step=row["amount_step"],
            price_step=row["price_step"],
            min_amount=row["min_amount"],
            min_notional=row["min_notional"],
            taker_fee=row["taker"],
        )
        out[row["symbol"]] = _DemoMarket(info, row["file"])
    return out


@cache
def _hourly(file_stem: str) -> Candles:
    with (_data_dir() / f"{file_stem}_1h.parquet").open("rb") as handle:
        table = pq.read_table(handle)
    cols = {name: table.column(name).to_numpy() for name in table.column_names}
    return Candles(
        timestamp=cols["timestamp"].astype(np.int64),
        open=cols["open"].astype(np.float64),
        high=cols["high"].astype(np.float64),
        low=cols["low"].astype(np.float64),
        close=cols["close"].astype(np.float64),
        volume=cols["volume"].astype(np.float64),
    )


@cache
def _funding(file_stem: str) -> FundingRates:
    with (_data_dir() / f"{file_stem}_funding.parquet").open("rb") as handle:
        table = pq.read_table(handle)
    return FundingRates(
        table.column("timestamp").to_numpy().astype(np.int64),
        table.column("funding_rate").to_numpy().astype(np.float64),
    )


def demo_symbols() -> list[str]:
    """Every symbol of the demo market: spot `BASE/USDT` and perpetual `BASE/USDT:USDT`."""
    return list(_markets())


def recorded_end_ms() -> int:
    """Close time of the last bar in the recorded files (what the manifest's
    `recorded_until_ms`, the demo clock, must say)."""
    return max(int(_hourly(m.file_stem).timestamp[-1]) for m in _markets().values()) + _BASE_TF_MS


def aggregate(hourly: Candles, tf_ms: int) -> Candles:
    """Hourly bars rolled up to `tf_ms` bars aligned to the epoch (as Binance aligns 4h, 1d).

    A bucket takes open of its first bar, close of its last, max high, min low, summed volume.
    """
    if tf_ms == _BASE_TF_MS or len(hourly) == 0:
        return hourly
    bucket = (hourly.timestamp // tf_ms) * tf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(hourly)] - 1
    return Candles(
        timestamp=bucket[starts],
        open=hourly.open[starts],
        high=np.maximum.reduceat(hourly.high, starts),
        low=np.minimum.reduceat(hourly.low, starts),
        close=hourly.close[ends],
        volume=np.add.reduceat(hourly.volume, starts),
    )


class DemoSource:
    """`MarketSource` over the recorded demo market with clock `now_ms` (UTC ms).

    Only bars closed at `now_ms` exist, and funding events at or before it, so replaying a
    past hour sees exactly what a live run would have seen then. A bucket of a longer
    timeframe that is still filling is served as that timeframe's open candle.
    """

    def __init__(self, now_ms: int | None = None, *, label: str = "config") -> None:
        self._label = label  # the config file's name, for messages
        self._now_ms = demo_end_ms() if now_ms is None else now_ms
        self._requests = 0
        self._markets_loaded = False

    @property
    def exchange_id(self) -> str:
        return DEMO_EXCHANGE_ID

    @property
    def request_count(self) -> int:
        return self._requests

    def default_now_ms(self) -> int:
        return demo_end_ms()

    def server_time_ms(self) -> int | None:
        return self._now_ms

    def close(self) -> None:
        """Nothing to release: the recording is read from package files."""

    def load_markets(self, reload: bool = False) -> dict[str, MarketInfo]:
        if not self._markets_loaded:  # count it like ccxt, which loads markets once
            self._requests += 1
            self._markets_loaded = True
        return {symbol: market.info for symbol, market in _markets().items()}

    def fetch_tickers_24h(self, symbols: list[str]) -> list[Ticker24h]:
        self._requests += 1
        out = []
        for symbol in symbols:
            bars = self._closed_hourly(symbol).between(self._now_ms - 24 * MS_PER_HOUR, None)
            typical = (bars.high + bars.low + bars.close) / 3.0
            out.append(Ticker24h(symbol, float(np.sum(typical * bars.volume))))
        return out

    def ohlcv_page_limit(self, symbol: str) -> int:
        return PAGE_LIMIT

    def fetch_ohlcv_page(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int,
        limit: int,
        *,
        require_rows: bool = False,
    ) -> FloatArray:
        # `require_rows` is not checked: the recording cannot fault, and past its end a
        # symbol simply has no new bar (reported stale), as on a market that stopped.
        self._requests += 1
        tf_ms = timeframe_ms(timeframe)
        if tf_ms % _BASE_TF_MS:
            raise ConfigError(
                f"{self._label}: cache.timeframe must be a multiple of 1h on the demo market "
                f'(got "{timeframe}")'
            )
        bars = aggregate(self._closed_hourly(symbol), tf_ms).between(since_ms, None)
        bars = bars.take(slice(0, limit))
        return np.column_stack(
            [
                bars.timestamp.astype(np.float64),
                bars.open,
                bars.high,
                bars.low,
                bars.close,
                bars.volume,
            ]
        )

    def has_funding_history(self) -> bool:
        return True

    def funding_page_limit(self, symbol: str) -> int:
        return PAGE_LIMIT

    def fetch_funding_page(
        self, symbol: str, since_ms: int, limit: int, *, require_rows: bool = False
    ) -> FundingRates:
        self._requests += 1
        market = self._market(symbol)
        if not market.info.is_perpetual:
            return FundingRates.empty()  # like ccxt given a spot symbol: no events, no error
        events = _funding(market.file_stem).between(since_ms, self._now_ms)
        return events.take(slice(0, limit))

    def _market(self, symbol: str) -> _DemoMarket:
        market = _markets().get(symbol)
        if market is None:
            raise ExchangeError(
                f"demo does not list {symbol}; demo symbols: {', '.join(demo_symbols())}"
            )
        return market

    def _closed_hourly(self, symbol: str) -> Candles:
        hourly = _hourly(self._market(symbol).file_stem)
        return hourly.between(None, self._now_ms - _BASE_TF_MS)
