"""Plain market-data records shared by fetch, cache and demo: candles, funding, markets, time.

Pure values only: numpy arrays in frozen dataclasses, UTC milliseconds end to end. Aware
datetimes appear only at the edges (`parse_utc`, `format_utc`). No I/O, no ccxt here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from pairscan.errors import ConfigError

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MS_PER_SECOND = 1_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("timestamp", "funding_rate")

_TIMEFRAME = re.compile(r"([1-9][0-9]*)([smhdwMy])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def timeframe_ms(timeframe: str) -> int:
    """Length of one bar in milliseconds, with ccxt's conventions (`1M` = 30 days).

    Matches `ccxt.Exchange.parse_timeframe(timeframe) * 1000` for every timeframe ccxt knows.
    """
    match = _TIMEFRAME.fullmatch(timeframe)
    if match is None:
        raise ConfigError(f"timeframe must look like 1m, 5m, 1h, 4h or 1d (got {timeframe!r})")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * MS_PER_SECOND


def last_closed_open_ms(now_ms: int, tf_ms: int) -> int:
    """Open time of the newest bar that is closed at `now_ms` (its close is at or before now)."""
    return (now_ms // tf_ms) * tf_ms - tf_ms


def parse_utc(text: str, *, what: str = "datetime") -> int:
    """Parse an ISO date or datetime to UTC milliseconds; naive input is taken as UTC.

    Accepts `2026-05-01`, `2026-05-01T12:00`, `2026-05-01 12:00:00Z`, `...+02:00`, or an
    integer count of epoch milliseconds.
    """
    raw = text.strip()
    if re.fullmatch(r"[0-9]{11,14}", raw):
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{what} must be an ISO date or datetime in UTC, e.g. 2026-05-01 or "
            f"2026-05-01T12:00Z (got {raw!r})"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * MS_PER_SECOND)


def format_utc(ms: int | None) -> str:
    """`2026-05-01 12:00Z` for display; `-` for None."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / MS_PER_SECOND, tz=UTC).strftime("%Y-%m-%d %H:%MZ")


def utc_now_ms() -> int:
    """The wall clock in UTC milliseconds."""
    return int(datetime.now(tz=UTC).timestamp() * MS_PER_SECOND)


def symbol_key(symbol: str) -> str:
    """File-safe name of a ccxt unified symbol: `ETH/USDT` -> `ETH-USDT`,
    `ETH/USDT:USDT` -> `ETH-USDT-USDT`. The symbol itself is stored inside the file too."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", symbol.replace("/", "-").replace(":", "-"))


def is_spot_market(symbol: str, markets: Mapping[str, MarketInfo]) -> bool:
    """A spot market (shorting it needs a borrow), by the exchange's market type. A symbol
    whose market is unknown is not taken for spot: nothing is guessed from its name."""
    market = markets.get(symbol)
    return market is not None and market.type == "spot"


def _span_mask(
    timestamp: Int64Array, start_ms: int | None, end_ms: int | None
) -> npt.NDArray[np.bool_]:
    """Rows with `start_ms <= timestamp <= end_ms`; a missing bound does not restrict."""
    mask = np.ones(timestamp.shape[0], dtype=np.bool_)
    if start_ms is not None:
        mask &= timestamp >= start_ms
    if end_ms is not None:
        mask &= timestamp <= end_ms
    return mask


@dataclass(frozen=True)
class Candles:
    """OHLCV bars of one symbol, ascending by open time, unique timestamps.

    timestamp: int64[n] bar open, UTC ms (the bar covers [t, t + timeframe)).
    open/high/low/close: float64[n], quote currency. volume: float64[n], base units.
    """

    timestamp: Int64Array
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    @classmethod
    def empty(cls) -> Candles:
        return cls.from_rows([])

    @classmethod
    def from_rows(cls, rows: list[list[float]] | npt.NDArray[np.float64]) -> Candles:
        """From ccxt-style rows `[ms, open, high, low, close, volume]` (already validated)."""
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(
            timestamp=arr[:, 0].astype(np.int64),
            open=np.ascontiguousarray(arr[:, 1]),
            high=np.ascontiguousarray(arr[:, 2]),
            low=np.ascontiguousarray(arr[:, 3]),
            close=np.ascontiguousarray(arr[:, 4]),
            volume=np.ascontiguousarray(arr[:, 5]),
        )

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice) -> Candles:
        """Rows selected by a boolean mask, integer index or slice."""
        return Candles(**{name: getattr(self, name)[index] for name in CANDLE_COLUMNS})

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Candles:
        """Bars with `start_ms <= timestamp <= end_ms` (either bound optional)."""
        return self.take(_span_mask(self.timestamp, start_ms, end_ms))

    def columns(self) -> dict[str, npt.NDArray[np.int64] | npt.NDArray[np.float64]]:
        return {name: getattr(self, name) for name in CANDLE_COLUMNS}


@dataclass(frozen=True)
class FundingRates:
    """Funding events of one perpetual, ascending, unique timestamps.

    timestamp: int64[n] funding time, UTC ms. funding_rate: float64[n] fraction per event
    (0.0001 = 0.01 % = 1 bp); positive means longs pay shorts.
    """

    timestamp: Int64Array
    funding_rate: FloatArray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    @classmethod
    def empty(cls) -> FundingRates:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice) -> FundingRates:
        return FundingRates(self.timestamp[index], self.funding_rate[index])

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> FundingRates:
        """Events with `start_ms <= timestamp <= end_ms` (either bound optional)."""
        return self.take(_span_mask(self.timestamp, start_ms, end_ms))

    def columns(self) -> dict[str, npt.NDArray[np.int64] | npt.NDArray[np.float64]]:
        return {"timestamp": self.timestamp, "funding_rate": self.funding_rate}


MarketType = Literal["spot", "swap", "future", "option", "other"]


@dataclass(frozen=True)
class MarketInfo:
    """What later stages need to know of one market, taken from ccxt's unified market dict.

    amount_step / price_step: lot and tick sizes in base units / quote currency (None when
    the exchange does not say). min_notional: minimum order value in the quote currency.
    taker_fee: fraction of notional per taker fill (0.0005 = 5 bps), None when unknown.
    """

    symbol: str
    base: str
    quote: str
    type: MarketType
    active: bool
    settle: str | None = None
    contract_size: float = 1.0
    amount_step: float | None = None
    price_step: float | None = None
    min_amount: float | None = None
    min_notional: float | None = None
    taker_fee: float | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_perpetual(self) -> bool:
        """A perpetual swap (ccxt type `swap`): the one test of "has funding". A dated future
        (`BTC/USDT:USDT-260626`, type `future`) is not one."""
        return self.type == "swap"

    @property
    def taker_fee_bps(self) -> float:
        """Taker fee per fill in basis points (`5.0` is 0.05 % of notional): the exchange's,
        else `DEFAULT_TAKER_BPS` of the market type."""
        if self.taker_fee is not None:
            return self.taker_fee * 1e4
        return DEFAULT_TAKER_BPS[self.type]


# Taker fees (bps) when the exchange's market info has none: Binance's base tier (VIP 0),
# 0.1 % spot and 0.05 % on USDT-M derivatives; an unknown type pays the dearer spot rate.
DEFAULT_TAKER_BPS: Mapping[MarketType, float] = {
    "spot": 10.0,
    "swap": 5.0,
    "future": 5.0,
    "option": 5.0,
    "other": 10.0,
}


@dataclass(frozen=True)
class Ticker24h:
    """24-hour rolling volume of one market, for ranking the universe."""

    symbol: str
    quote_volume: float


# --- Liquidity: the one definition of dollar volume and ADV -----------------------------------
# Here, below every stage, so the cache (`pairs cache stats`) and the pair selection (scan and
# backtest eligibility) share it without the cache importing the numeric stack of `stats`.


def typical_dollar_volume(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike
) -> FloatArray:
    """Quote-currency volume per bar: typical price (high + low + close) / 3 × base volume.

    Element-wise, any shape (one series or a (n_bars, n_symbols) panel), quote currency; NaN
    where an input is NaN. Binance klines also report the exact quoteVolume, but the cache keeps
    ccxt's OHLCV schema (base volume only), so the quote volume is estimated; the typical price
    stays within [low, high], hence so does the implied average trade price.
    """
    h, lo, c, v = (np.asarray(a, dtype=np.float64) for a in (high, low, close, volume))
    result: FloatArray = (h + lo + c) / 3.0 * v
    return result


def trailing_adv(
    timestamps: Int64Array, dollar_volume: FloatArray, tf_ms: int, days: float
) -> FloatArray:
    """Average daily dollar volume over the trailing `days` days, quote currency per day.

    timestamps: int64[n] ascending bar open times (ms) of the bars that exist; dollar_volume:
    float64[n] quote traded per bar. Returns float64[n]: the value at bar t sums the bars with
    open time in (open_t - days, open_t] and divides by `days`; a missing bar counts as zero
    volume. NaN during warm-up (until the span fits after the first bar's open) and where a bar
    in the window has a non-finite dollar volume. Example: 1h bars, days=30 -> bars t-719..t.
    Arguments are not validated here (`cache.liquidity.adv` does, for user input).
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    if ts.shape[0] == 0:
        return np.empty(0, dtype=np.float64)
    span_ms = round(days * MS_PER_DAY)
    starts = window_starts(ts, span_ms)
    sums, counts = window_finite_sums(np.asarray(dollar_volume, dtype=np.float64), starts)
    complete = counts == np.arange(ts.shape[0]) - starts + 1
    warm = ts + tf_ms - span_ms >= ts[0]
    result: FloatArray = np.where(complete & warm, sums / days, np.nan)
    return result


def window_starts(ts: Int64Array, span_ms: int) -> npt.NDArray[np.intp]:
    """starts[t]: first bar with open time > ts[t] - span_ms (so the window is starts[t]..t)."""
    return np.searchsorted(ts, ts - np.int64(span_ms), side="right")


def window_finite_sums(
    values: FloatArray, starts: npt.NDArray[np.intp]
) -> tuple[FloatArray, FloatArray]:
    """Sum and count of the finite values in values[starts[t] : t + 1], for every t.

    A single cumulative sum would carry the rounding error of the whole history into every
    window (BTC dollar volumes reach 1e8 per bar and 1e12 per year); prefix sums restart in
    blocks as long as the longest window, so a window straddles at most two blocks and its
    error scales with one block's total, not the history's.
    """
    n = values.shape[0]
    finite = np.isfinite(values)
    clean = np.where(finite, values, 0.0)
    index = np.arange(n)
    block = int((index - starts).max()) + 1
    n_blocks = -(-n // block)
    same_block = index // block == starts // block
    start_block_end = (starts // block) * block + block - 1
    result = []
    for column in (clean, finite.astype(np.float64)):
        padded = np.zeros(n_blocks * block)
        padded[:n] = column
        prefix = np.cumsum(padded.reshape(n_blocks, block), axis=1).ravel()
        before = np.where(starts % block > 0, prefix[np.maximum(starts - 1, 0)], 0.0)
        result.append(
            np.where(
                same_block,
                prefix[index] - before,
                (prefix[start_block_end] - before) + prefix[index],
            )
        )
    return result[0], result[1]
