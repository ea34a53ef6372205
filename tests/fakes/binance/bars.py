"""Klines of the fake: stored bars aggregated to the requested interval, the still-open
candle as far as it has got at `now`, and Binance's 12-field kline rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pairscan.market import Candles, timeframe_ms

from .filters import FakeMarket
from .protocol import BinanceAPIError, MarketKind, _fmt

# Binance opens weekly bars on Monday 00:00 UTC; the epoch (1970-01-01) was a Thursday.
_WEEK_OFFSET_MS = 4 * 86_400_000
_BINANCE_INTERVALS = frozenset(
    (
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    )
)


def _interval(interval: str, base_ms: int) -> tuple[int, int]:
    """(length, alignment offset) in ms; -1120 unless a Binance interval that is a whole
    multiple of the stored bars (`1M` calendar months are not synthesised)."""
    if interval not in _BINANCE_INTERVALS or interval == "1M":
        raise BinanceAPIError(400, -1120, "Invalid interval.")
    length = timeframe_ms(interval)
    if length < base_ms or length % base_ms:
        raise BinanceAPIError(400, -1120, "Invalid interval.")
    return length, (_WEEK_OFFSET_MS if interval == "1w" else 0)


@dataclass(frozen=True)
class _Bars:
    """Aggregated bars ready to format (float64 prices, base and quote volumes)."""

    start: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    quote_volume: npt.NDArray[np.float64]


def _aggregate(
    candles: Candles,
    base_ms: int,
    interval_ms: int,
    offset: int,
    *,
    now_ms: int,
    start: int | None,
    end: int | None,
    limit: int,
    include_open: bool,
    price_decimals: int,
    qty_decimals: int,
) -> _Bars:
    """Bars of `interval_ms` built from stored bars of `base_ms`, as Binance would serve them
    at `now_ms`: buckets aligned to the epoch (+`offset`), window by bucket open time."""
    ts = candles.timestamp
    per_bucket = interval_ms // base_ms
    first = 0
    if start is not None:
        aligned_start = -((offset - start) // interval_ms) * interval_ms + offset  # ceil
        first = int(np.searchsorted(ts, aligned_start, side="left"))
    stop_ts = now_ms
    if end is not None:
        stop_ts = min(
            stop_ts, (end - offset) // interval_ms * interval_ms + offset + interval_ms - 1
        )
    stop = int(np.searchsorted(ts, stop_ts, side="right"))
    # Only as many stored bars as `limit` buckets can need.
    if start is not None:
        stop = min(stop, first + limit * per_bucket)
    else:
        first = max(first, stop - (limit + 1) * per_bucket)
    if stop <= first:
        return _empty_bars()
    t = ts[first:stop]
    o = candles.open[first:stop].copy()
    h = candles.high[first:stop].copy()
    lo = candles.low[first:stop].copy()
    c = candles.close[first:stop].copy()
    v = candles.volume[first:stop].copy()
    if t[-1] + base_ms > now_ms:
        # The stored bar holding `now` is still open: show it as far as it has got.
        fraction = (now_ms - int(t[-1])) / base_ms
        h[-1] = round(o[-1] + fraction * (h[-1] - o[-1]), price_decimals)
        lo[-1] = round(o[-1] + fraction * (lo[-1] - o[-1]), price_decimals)
        c[-1] = round(o[-1] + fraction * (c[-1] - o[-1]), price_decimals)
        v[-1] = round(fraction * v[-1], qty_decimals)
        # Rounding to the tick can push high below (or low above) the unrounded open: widen
        # them so the partial bar stays a valid candle, as Binance's always is.
        h[-1] = max(h[-1], o[-1], c[-1])
        lo[-1] = min(lo[-1], o[-1], c[-1])
    quote = v * (o + h + lo + c) / 4.0
    bucket = (t - offset) // interval_ms * interval_ms + offset
    edges = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    last_rows = np.r_[edges[1:], t.size] - 1
    volume = np.add.reduceat(v, edges)
    if per_bucket > 1:
        volume = np.round(volume, 8)  # drop the float noise of the sums, as Binance prints
    bars = _Bars(
        start=bucket[edges],
        open=o[edges],
        high=np.maximum.reduceat(h, edges),
        low=np.minimum.reduceat(lo, edges),
        close=c[last_rows],
        volume=volume,
        quote_volume=np.add.reduceat(quote, edges),
    )
    keep = np.ones(bars.start.size, dtype=np.bool_)
    if not include_open:
        keep &= bars.start + interval_ms <= now_ms
    if start is not None:
        keep &= bars.start >= start
    rows = np.flatnonzero(keep)
    rows = rows[:limit] if start is not None else rows[-limit:]
    return _Bars(*(getattr(bars, f)[rows] for f in _Bars.__dataclass_fields__))


def _empty_bars() -> _Bars:
    f = np.empty(0, dtype=np.float64)
    return _Bars(np.empty(0, dtype=np.int64), f, f, f, f, f, f)


def _kline_rows(
    bars: _Bars, interval_ms: int, market: FakeMarket, kind: MarketKind
) -> list[list[Any]]:
    """Binance's 12-field rows; spot prints 8 decimals, USD-M the tick and step decimals."""
    price_d = 8 if kind == "spot" else market.filters.price_decimals
    qty_d = 8 if kind == "spot" else market.filters.qty_decimals
    rows = []
    for i in range(bars.start.size):
        volume = float(bars.volume[i])
        quote = float(bars.quote_volume[i])
        rows.append(
            [
                int(bars.start[i]),
                _fmt(float(bars.open[i]), price_d),
                _fmt(float(bars.high[i]), price_d),
                _fmt(float(bars.low[i]), price_d),
                _fmt(float(bars.close[i]), price_d),
                _fmt(volume, qty_d),
                int(bars.start[i]) + interval_ms - 1,
                f"{quote:.8f}",
                _trade_count(quote, volume),
                _fmt(round(volume / 2.0, qty_d), qty_d),
                f"{quote / 2.0:.8f}",
                "0",
            ]
        )
    return rows


def _trade_count(quote_volume: float, volume: float) -> int:
    """A plausible trade count: about 1,500 quote units per trade, at least one if traded."""
    if volume <= 0:
        return 0
    return max(1, int(quote_volume / 1500.0))
