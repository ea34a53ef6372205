"""`pairs cache stats`: what is cached per series, how fresh it is, and how liquid the market was.

Reads the store only; never fetches. Staleness is measured against the run's clock. A series
that cannot be read (a corrupt or foreign file) is reported with its error, and the others are
still described.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pairscan.cache import SeriesKey, Store, find_gaps
from pairscan.cache.liquidity import adv, rolling_vwap, spread_bps
from pairscan.config import Config
from pairscan.errors import CacheError
from pairscan.jobs.common import cache_exchange_id, open_cache, run_clock_ms
from pairscan.market import MS_PER_HOUR, last_closed_open_ms, timeframe_ms

FUNDING = "funding"
_LONGEST_FUNDING_INTERVAL_H = 8.0


@dataclass(frozen=True)
class SeriesStats:
    """One cached series. Times in UTC ms; staleness in bars of the series' timeframe
    (hours for funding); liquidity figures in the quote currency and bps, None if unknown.
    `error`: why the series could not be read (its other figures are then empty)."""

    exchange: str
    symbol: str
    timeframe: str
    first_ms: int | None
    last_ms: int | None
    rows: int
    gaps: int
    missing_bars: int
    staleness: float | None
    stale: bool
    size_bytes: int
    adv_quote: float | None = None
    spread_bps: float | None = None
    vwap: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class StatsReport:
    exchange: str
    now_ms: int
    series: list[SeriesStats]

    @property
    def failed(self) -> list[SeriesStats]:
        """The series that could not be read."""
        return [s for s in self.series if s.error is not None]


def run_cache_stats(config: Config, *, now_ms: int | None = None) -> StatsReport:
    """Describe every series cached for the configured exchange, candles first."""
    clock = run_clock_ms(config, now_ms)
    exchange = cache_exchange_id(config)
    with open_cache(config) as store:
        keys = sorted(
            store.list_series(exchange),
            key=lambda k: (k.timeframe == FUNDING, k.symbol, k.timeframe),
        )
        series = [_series_stats(config, store, key, clock) for key in keys]
    return StatsReport(exchange=exchange, now_ms=clock, series=series)


def _series_stats(config: Config, store: Store, key: SeriesKey, now_ms: int) -> SeriesStats:
    """One series; an unreadable one stops only its own row."""
    try:
        if key.timeframe == FUNDING:
            return _funding_stats(store, key, now_ms)
        return _candle_stats(config, store, key, now_ms)
    except CacheError as exc:
        try:
            size = store.size_bytes(key)
        except (CacheError, OSError):
            size = 0
        return SeriesStats(
            exchange=key.exchange,
            symbol=key.symbol,
            timeframe=key.timeframe,
            first_ms=None,
            last_ms=None,
            rows=0,
            gaps=0,
            missing_bars=0,
            staleness=None,
            stale=True,
            size_bytes=size,
            error=str(exc),
        )


def _last_finite(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None


def _candle_stats(config: Config, store: Store, key: SeriesKey, now_ms: int) -> SeriesStats:
    candles = store.read_candles(key.exchange, key.symbol, key.timeframe)
    tf_ms = timeframe_ms(key.timeframe)
    gaps = find_gaps(candles.timestamp, tf_ms)
    last = int(candles.timestamp[-1]) if len(candles) else None
    staleness = None if last is None else (last_closed_open_ms(now_ms, tf_ms) - last) / tf_ms
    cache_cfg = config.cache
    return SeriesStats(
        exchange=key.exchange,
        symbol=key.symbol,
        timeframe=key.timeframe,
        first_ms=int(candles.timestamp[0]) if len(candles) else None,
        last_ms=last,
        rows=len(candles),
        gaps=len(gaps),
        missing_bars=sum(g.missing_bars for g in gaps),
        staleness=staleness,
        stale=staleness is None or staleness >= cache_cfg.stale_after_bars,
        size_bytes=store.size_bytes(key),
        adv_quote=_last_finite(adv(candles, tf_ms, cache_cfg.adv_days)),
        spread_bps=_last_finite(
            spread_bps(
                candles, cache_cfg.spread_window_bars, cache_cfg.spread_estimator, tf_ms=tf_ms
            )
        ),
        vwap=_last_finite(rolling_vwap(candles, cache_cfg.vwap_bars, tf_ms=tf_ms)),
    )


def _funding_stats(store: Store, key: SeriesKey, now_ms: int) -> SeriesStats:
    events = store.read_funding(key.exchange, key.symbol)
    last = int(events.timestamp[-1]) if len(events) else None
    hours = None if last is None else max(0.0, (now_ms - last) / MS_PER_HOUR)
    # Funding intervals vary from 1 h to 8 h by symbol and over time, so a series is only
    # called stale when no event arrived for longer than the longest usual interval.
    return SeriesStats(
        exchange=key.exchange,
        symbol=key.symbol,
        timeframe=FUNDING,
        first_ms=int(events.timestamp[0]) if len(events) else None,
        last_ms=last,
        rows=len(events),
        gaps=0,
        missing_bars=0,
        staleness=hours,
        stale=hours is None or hours > _LONGEST_FUNDING_INTERVAL_H,
        size_bytes=store.size_bytes(key),
    )
