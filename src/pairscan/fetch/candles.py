"""Stage 1 (fetch): closed-candle and funding history by a plain since-loop over any source.

Validation of raw rows lives here too, because ccxt turns many garbage bodies into junk
rows or an empty list instead of an exception. Nothing here touches the cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pairscan.errors import BadResponseError
from pairscan.fetch.source import MarketSource
from pairscan.market import (
    Candles,
    FloatArray,
    FundingRates,
    last_closed_open_ms,
    timeframe_ms,
)

# Rounding on some exchanges leaves high a hair below close; a relative slack of 1e-9
# accepts that while still catching rows whose columns are shuffled or missing.
_OHLC_SLACK = 1e-9


def validate_ohlcv_rows(rows: Sequence[Any], where: str) -> FloatArray:
    """Check raw ccxt OHLCV rows and return them as float64[n, 6].

    Each row must hold six finite numbers, open times strictly ascending, prices > 0,
    volume >= 0 and low <= min(open, close) <= max(open, close) <= high. Raises
    `BadResponseError` (transient: the caller retries) naming `where` otherwise.
    """
    if not isinstance(rows, list | tuple):
        raise BadResponseError(f"{where}: expected a list of candles, got {type(rows).__name__}")
    out = np.empty((len(rows), 6), dtype=np.float64)
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) < 6:
            raise BadResponseError(f"{where}: candle {i} is not a 6-field row: {str(row)[:80]}")
        for j in range(6):
            value = row[j]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadResponseError(f"{where}: candle {i} field {j} is not a number: {value!r}")
            if not math.isfinite(value):
                raise BadResponseError(f"{where}: candle {i} field {j} is not finite: {value!r}")
            out[i, j] = value
    _check_candle_values(out, where)
    return out


def _check_candle_values(rows: FloatArray, where: str) -> None:
    if rows.shape[0] == 0:
        return
    ts, o, h, lo, c, v = (rows[:, j] for j in range(6))
    if np.any(np.diff(ts) <= 0):
        raise BadResponseError(f"{where}: candle open times are not strictly ascending")
    if np.any(np.minimum(np.minimum(o, h), np.minimum(lo, c)) <= 0) or np.any(v < 0):
        raise BadResponseError(f"{where}: non-positive price or negative volume in candles")
    slack = _OHLC_SLACK * h
    if np.any(h + slack < np.maximum(o, c)) or np.any(lo - slack > np.minimum(o, c)):
        raise BadResponseError(f"{where}: candle high/low inconsistent with open/close")


def validate_funding_rows(items: Sequence[Any], where: str) -> FundingRates:
    """Check ccxt funding-rate history items and return them as `FundingRates`.

    Each item needs an integer `timestamp` (ms) and a finite `fundingRate`; times ascending.
    """
    if not isinstance(items, list | tuple):
        raise BadResponseError(f"{where}: expected a list of funding events")
    ts = np.empty(len(items), dtype=np.int64)
    rate = np.empty(len(items), dtype=np.float64)
    for i, item in enumerate(items):
        stamp = item.get("timestamp") if isinstance(item, dict) else None
        value = item.get("fundingRate") if isinstance(item, dict) else None
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            raise BadResponseError(f"{where}: funding event {i} has no timestamp")
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise BadResponseError(f"{where}: funding event {i} has no numeric fundingRate")
        ts[i], rate[i] = int(stamp), float(value)
    if np.any(np.diff(ts) <= 0):
        raise BadResponseError(f"{where}: funding times are not strictly ascending")
    return FundingRates(ts, rate)


def fetch_closed_candles(
    source: MarketSource, symbol: str, timeframe: str, since_ms: int, now_ms: int
) -> Candles:
    """Every closed candle of `symbol` with open time in [since_ms, last closed bar at now].

    A plain since-loop: each request starts one bar after the previous page's last bar, so
    the result does not depend on the machine clock (ccxt's `paginate` does). It stops at the
    last closed bar, on an empty page, or when a page makes no progress. A short page is not
    taken as the end, since exchanges may cap `limit` below what was asked. The still-open
    candle (open time + timeframe > now) is never returned.
    """
    tf_ms = timeframe_ms(timeframe)
    last_closed = last_closed_open_ms(now_ms, tf_ms)
    since = (since_ms // tf_ms) * tf_ms  # grid-align: exchanges key bars by open time
    limit = source.ohlcv_page_limit(symbol)
    pages: list[FloatArray] = []
    while since <= last_closed:
        page = source.fetch_ohlcv_page(symbol, timeframe, since, limit)
        page = page[page[:, 0] >= since]
        if page.shape[0] == 0:
            break
        pages.append(page[page[:, 0] <= last_closed])
        newest = int(page[-1, 0])
        if newest >= last_closed:
            break
        since = newest + tf_ms
    if not pages:
        return Candles.empty()
    return Candles.from_rows(np.concatenate(pages))


def fetch_funding_history(
    source: MarketSource, symbol: str, since_ms: int, now_ms: int
) -> FundingRates:
    """Every funding event of perpetual `symbol` with time in [since_ms, now_ms].

    Funding times carry exchange jitter of a few ms, so the next page starts 1 ms after the
    last event seen rather than on an assumed 8-hour grid (intervals differ by symbol).
    Unlike candles, a short page ends the loop: the page limit comes from a per-exchange
    table (`funding_page_limit`), and an hourly run would otherwise pay an extra request
    per perpetual just to learn that no event happened.
    """
    limit = source.funding_page_limit(symbol)
    since = since_ms
    pages: list[FundingRates] = []
    while since <= now_ms:
        raw = source.fetch_funding_page(symbol, since, limit)
        page = raw.between(since, None)
        if len(page) == 0:
            break
        pages.append(page.between(None, now_ms))
        newest = int(page.timestamp[-1])
        if newest >= now_ms or len(raw) < limit:
            break
        since = newest + 1
    if not pages:
        return FundingRates.empty()
    return FundingRates(
        np.concatenate([p.timestamp for p in pages]),
        np.concatenate([p.funding_rate for p in pages]),
    )
