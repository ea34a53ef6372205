"""Market specs of the fake: Binance filters (tick, step, min notional) with realistic
values for known bases, static tickers for exchangeInfo-only markets, and `FakeMarket`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pairscan.market import MS_PER_HOUR, Candles, FundingRates

from .protocol import MarketKind, _dec, _decimals, _fmt_pow10


@dataclass
class Filters:
    """Exchange filters of one market, as the decimal strings Binance sends.

    tick_size: PRICE_FILTER.tickSize (quote). step_size/min_qty/max_qty: LOT_SIZE (base).
    min_notional: NOTIONAL.minNotional on spot, MIN_NOTIONAL.notional on USD-M (quote).
    """

    tick_size: str
    step_size: str
    min_notional: str = "5"
    min_qty: str | None = None
    max_qty: str = "9000000"

    def __post_init__(self) -> None:
        self.tick_size = _dec(self.tick_size)
        self.step_size = _dec(self.step_size)
        self.min_notional = _dec(self.min_notional)
        self.min_qty = _dec(self.min_qty if self.min_qty is not None else self.step_size)
        self.max_qty = _dec(self.max_qty)

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.step_size)

    @classmethod
    def default_for(cls, kind: MarketKind, price: float | None) -> Filters:
        """Plausible filters from the price level, for bases without a known entry."""
        if price is None or not math.isfinite(price) or price <= 0:
            price = 1.0
        spot_step = 10.0 ** math.floor(math.log10(1.0 / price))
        if kind == "spot":
            tick = min(0.01, 10.0 ** (math.floor(math.log10(price)) - 4))
            return cls(_fmt_pow10(tick), _fmt_pow10(spot_step), "5")
        tick = min(0.1, 10.0 ** (math.floor(math.log10(price)) - 4))
        return cls(_fmt_pow10(tick), _fmt_pow10(max(spot_step, 0.001)), "5", max_qty="1000000")


# Approximate real Binance filters (tick, step, min notional); the demo entries match
# src/pairscan/demo/data/markets.json.
_SPOT_FILTERS: dict[str, tuple[str, str, str]] = {
    "BTC": ("0.01", "0.00001", "5"),
    "ETH": ("0.01", "0.0001", "5"),
    "SOL": ("0.01", "0.001", "5"),
    "XRP": ("0.0001", "0.1", "5"),
    "DOGE": ("0.00001", "1", "5"),
    "ADA": ("0.0001", "0.1", "5"),
    "LINK": ("0.01", "0.01", "5"),
    "AVAX": ("0.01", "0.01", "5"),
    "LTC": ("0.01", "0.001", "5"),
    "BCH": ("0.1", "0.001", "5"),
    "TRX": ("0.0001", "0.1", "5"),
    "XTZ": ("0.001", "0.1", "5"),
    "USDC": ("0.0001", "1", "5"),
    "BTCUP": ("0.001", "0.01", "5"),
    "LUNA": ("0.0001", "0.01", "5"),
}
_PERP_FILTERS: dict[str, tuple[str, str, str]] = {
    "BTC": ("0.1", "0.001", "100"),
    "ETH": ("0.01", "0.001", "20"),
    "SOL": ("0.01", "0.01", "5"),
    "XRP": ("0.0001", "0.1", "5"),
    "DOGE": ("0.00001", "1", "5"),
    "ADA": ("0.0001", "1", "5"),
    "LINK": ("0.001", "0.01", "20"),
    "AVAX": ("0.001", "1", "5"),
    "LTC": ("0.01", "0.001", "20"),
    "BCH": ("0.01", "0.001", "20"),
    "TRX": ("0.00001", "1", "5"),
    "XTZ": ("0.001", "0.1", "5"),
    "1000SHIB": ("0.000001", "1", "5"),
    "AAVE": ("0.01", "0.1", "5"),
    "ARB": ("0.0001", "0.1", "5"),
    "ENA": ("0.0001", "1", "5"),
    "HBAR": ("0.00001", "1", "5"),
    "KAS": ("0.000001", "1", "5"),
    "OP": ("0.0001", "0.1", "5"),
    "SUI": ("0.0001", "0.1", "5"),
}
_MAX_QTY = {("spot", "BTC"): "9000", ("spot", "ETH"): "9000", ("perp", "BTC"): "1000"}


def known_filters(kind: MarketKind, base: str, price: float | None = None) -> Filters:
    """Realistic filters for a known base, else `Filters.default_for(kind, price)`."""
    table = _SPOT_FILTERS if kind == "spot" else _PERP_FILTERS
    entry = table.get(base.upper())
    if entry is None:
        return Filters.default_for(kind, price)
    default_max = "9000000" if kind == "spot" else "1000000"
    return Filters(*entry, max_qty=_MAX_QTY.get((kind, base.upper()), default_max))


@dataclass(frozen=True)
class StaticTicker:
    """24h ticker for a market without candles (exchangeInfo-only markets)."""

    last_price: float
    quote_volume: float


@dataclass
class FakeMarket:
    """One listed market: its exchangeInfo entry plus the recorded series it serves.

    Mutable on purpose: tests flip `status`, `listed` or `filters` between requests.
    `timeframe_ms` is the length of the stored bars; requested intervals must be multiples.
    """

    kind: MarketKind
    base: str
    quote: str
    filters: Filters
    candles: Candles | None = None
    funding: FundingRates | None = None
    status: str = "TRADING"
    listed: bool = True
    timeframe_ms: int = MS_PER_HOUR
    onboard_ms: int | None = None
    permission_sets: list[list[str]] = field(default_factory=lambda: [["SPOT", "MARGIN"]])
    ticker: StaticTicker | None = None

    @property
    def id(self) -> str:
        """Exchange symbol, `ETHUSDT`."""
        return self.base + self.quote

    @property
    def symbol(self) -> str:
        """ccxt unified symbol: `ETH/USDT` (spot) or `ETH/USDT:USDT` (perp)."""
        unified = f"{self.base}/{self.quote}"
        return unified if self.kind == "spot" else f"{unified}:{self.quote}"
