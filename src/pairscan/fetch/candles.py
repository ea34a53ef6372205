"""Stage 1 (fetch): closed-candle and funding history by a plain since-loop over any source.

Validation of raw rows lives here too, because ccxt turns many garbage bodies into junk
rows or an empty list instead of an exception. Nothing here touches the cache.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from pairscan.errors import BadResponseError, ExchangeError
from pairscan.fetch.source import MarketSource
from pairscan.market import (
    MS_PER_HOUR,
    Candles,
    FloatArray,
    FundingRates,
    format_utc,
    last_closed_open_ms,
    timeframe_ms,
)
from pairscan.text import plural

log = logging.getLogger(__name__)

# Rounding on some exchanges leaves high a hair below close; a relative slack of 1e-9
# accepts that while still catching rows whose columns are shuffled or missing.
_OHLC_SLACK = 1e-9

# Funding is settled every 1, 4 or 8 hours, by symbol and changing over time (Binance moves
# symbols between them), so an event is overdue, and an answer without one a fault, only
# after the longest interval plus an hour for the exchange to publish it.
LONGEST_FUNDING_INTERVAL_MS = 8 * MS_PER_HOUR
FUNDING_OVERDUE_MS = LONGEST_FUNDING_INTERVAL_MS + MS_PER_HOUR


History = TypeVar("History", Candles, FundingRates)


class IncompleteHistoryError(ExchangeError, Generic[History]):
    """A page failed for good after earlier pages had arrived.

    `partial` holds what did arrive (`Candles` or `FundingRates`): every row from `since` up
    to the failed request, so the caller can keep it and still report the error (lose
    nothing: a market the exchange lists as trading but serves no new bar for would
    otherwise never get its history cached).
    """

    def __init__(self, cause: ExchangeError, partial: History) -> None:
        super().__init__(str(cause), transient=cause.transient)
        self.partial: History = partial


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
        "%s: dropped %s (price <= 0, volume < 0 or high/low outside open/close) at %s",
        where,
        plural(len(bad), "unsound candle"),
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
    source: MarketSource,
    symbol: str,
    timeframe: str,
    since_ms: int,
    now_ms: int,
    *,
    trading: bool = True,
) -> Candles:
    """Every closed candle of `symbol` with open time in [since_ms, last closed bar at now].

    A plain since-loop: each request starts one bar after the previous page's last bar, so
    the result does not depend on the machine clock (ccxt's `paginate` does). It stops at the
    last closed bar. A short page is not taken as the end, since exchanges may cap `limit`
    below what was asked. The still-open candle (open time + timeframe > now) is never
    returned. `now_ms` should be the exchange's clock (see `jobs.common.effective_clock_ms`).

    While the market trades, the exchange has a bar at or after every `since` up to the last
    closed bar: it serves one for every interval, traded or not, and from a start before the
    listing it serves the first bars. So an empty answer, or one whose rows all start before
    `since`, is a fault the source retries and then raises (`ExchangeError`), never the end
    of the history; if earlier pages had arrived, they come with the error as
    `IncompleteHistoryError.partial`. The history ends early only where the market's bars
    do: at once for a market the exchange lists as inactive (halted, settling, being
    delisted; pass `trading=False`), else when the exchange's own newest bar is older than
    the page asked for (see `MarketSource.fetch_ohlcv_page`). The caller reports the symbol
    stale once it is `signals.stale_bars` behind.
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
        try:
            page = source.fetch_ohlcv_page(symbol, timeframe, since, limit, require_rows=trading)
        except ExchangeError as exc:
            if not pages:
                raise
            raise IncompleteHistoryError(exc, Candles.from_rows(np.concatenate(pages))) from None
        page = page[page[:, 0] >= since]
        if page.shape[0] == 0:
            break  # an inactive market's last bar is behind us (or every bar was unsound)
        pages.append(page[page[:, 0] <= last_closed])
        newest = int(page[-1, 0])
        if newest >= last_closed:
            break
        since = newest + tf_ms
    if not pages:
        return Candles.empty()
    return Candles.from_rows(np.concatenate(pages))


def fetch_funding_history(
    source: MarketSource,
    symbol: str,
    since_ms: int,
    now_ms: int,
    *,
    trading_since_ms: int | None = None,
) -> FundingRates:
    """Every funding event of perpetual `symbol` with time in [since_ms, now_ms].

    Funding times carry exchange jitter of a few ms, so the next page starts 1 ms after the
    last event seen rather than on an assumed 8-hour grid (intervals differ by symbol).
    Unlike candles, a short page ends the loop: the page limit comes from a per-exchange
    table (`funding_page_limit`), and an hourly run would otherwise pay an extra request
    per perpetual just to learn that no event happened.

    trading_since_ms: when the perpetual is known to have traded from (its first cached bar)
    if the exchange lists it as active; None otherwise. With it, an event is due once
    `FUNDING_OVERDUE_MS` passed since the later of the last event seen (or `since_ms`) and
    that time: an answer without one is then a fault, retried and raised (with the pages
    that did arrive as `IncompleteHistoryError.partial`), and a short page does not end the
    loop. A perpetual listed hours ago has no event yet and none is asked for; without
    `trading_since_ms` nothing is required (the series may be that young).
    """

    def overdue(after_ms: int) -> bool:
        if trading_since_ms is None:
            return False
        return now_ms - max(after_ms, trading_since_ms) > FUNDING_OVERDUE_MS

    limit = source.funding_page_limit(symbol)
    since = since_ms
    pages: list[FundingRates] = []
    while since <= now_ms:
        try:
            raw = source.fetch_funding_page(symbol, since, limit, require_rows=overdue(since))
        except ExchangeError as exc:
            if not pages:
                raise
            raise IncompleteHistoryError(exc, _concat_funding(pages)) from None
        page = raw.between(since, None)
        if len(page) == 0:
            break
        pages.append(page.between(None, now_ms))
        newest = int(page.timestamp[-1])
        if newest >= now_ms or (len(raw) < limit and not overdue(newest)):
            break
        since = newest + 1
    return _concat_funding(pages)


def _concat_funding(pages: list[FundingRates]) -> FundingRates:
    if not pages:
        return FundingRates.empty()
    return FundingRates(
        np.concatenate([p.timestamp for p in pages]),
        np.concatenate([p.funding_rate for p in pages]),
    )
