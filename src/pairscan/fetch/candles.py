"""Stage 1 (fetch): closed-candle and funding history by a plain since-loop over any source.

Validation of raw rows lives here too, because ccxt turns many garbage bodies into junk
rows or an empty list instead of an exception. Nothing here touches the cache.
"""

from __future__ import annotations

import logging
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
    format_utc,
    last_closed_open_ms,
    timeframe_ms,
)

log = logging.getLogger(__name__)

# Rounding on some exchanges leaves high a hair below close; a relative slack of 1e-9
# accepts that while still catching rows whose columns are shuffled or missing.
_OHLC_SLACK = 1e-9


def validate_ohlcv_rows(rows: Sequence[Any], where: str) -> FloatArray:
    """Check raw ccxt OHLCV rows and return the sound ones as float64[n, 6].

    Structure: each row must hold six finite numbers with open times strictly ascending,
    else `BadResponseError` (transient: the caller retries), because that is what ccxt makes
    of a garbage body. Values: a bar with a non-positive price, negative volume or
    high/low outside open/close is dropped with a warning (it then shows as a gap), because
    retrying cannot fix a bad bar the exchange keeps serving and it must not block the symbol.
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
    if np.any(np.diff(out[:, 0]) <= 0):
        raise BadResponseError(f"{where}: candle open times are not strictly ascending")
    return _drop_unsound_bars(out, where)


def _drop_unsound_bars(rows: FloatArray, where: str) -> FloatArray:
    o, h, lo, c, v = (rows[:, j] for j in range(1, 6))
    slack = _OHLC_SLACK * np.abs(h)
    sound = (np.minimum(np.minimum(o, h), np.minimum(lo, c)) > 0) & (v >= 0)
    sound &= (h + slack >= np.maximum(o, c)) & (lo - slack <= np.minimum(o, c))
    if sound.all():
        return rows
    bad = [format_utc(int(t)) for t in rows[~sound, 0]]
    log.warning(
        "%s: dropped %d unsound candle(s) (price <= 0, volume < 0 or high/low outside "
        "open/close) at %s",
        where,
        len(bad),
        ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""),
    )
    return rows[sound]


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
    page_limit = source.ohlcv_page_limit(symbol)
    pages: list[FloatArray] = []
    while since <= last_closed:
        # Ask only for the bars still missing: an hourly update then requests 2-3 bars, which
        # some exchanges (Binance: weight 1 below 100 bars, 5 at 500-1000) charge far less for.
        limit = min(page_limit, (last_closed - since) // tf_ms + 1)
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
