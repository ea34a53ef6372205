"""`pairs backtest`, its input: the cache read into one market panel with its costs.

Cached candles, funding and market info (lot sizes, minimum notional, taker fees, stored by
`pairs cache update`) of the universe, aligned, with the fees and slippage each fill pays. It
never touches the network: run `pairs cache update` first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pairscan.backtest.engine import MarketPanel
from pairscan.cache import Store, read_panel
from pairscan.cache.align import AlignedPanel
from pairscan.cache.liquidity import spread_bps
from pairscan.config import Config
from pairscan.errors import ConfigError
from pairscan.jobs.common import cache_exchange_id, cached_markets, open_cache
from pairscan.market import (
    MS_PER_DAY,
    Candles,
    MarketInfo,
    format_utc,
    is_spot_market,
    timeframe_ms,
    typical_dollar_volume,
)
from pairscan.stats.explain import universe_warnings

# Slippage when `backtest.slippage_bps` is null and a bar's spread estimate is missing.
FALLBACK_SLIPPAGE_BPS = 2.0


def cached_universe(
    store: Store, exchange: str, timeframe: str, markets: Mapping[str, MarketInfo]
) -> tuple[str, ...]:
    """Cached symbols at this timeframe: the perpetuals (by their cached market info) when any
    are cached (a spread needs a short leg, which perpetuals give without borrowing), else
    every cached symbol."""
    symbols = sorted({k.symbol for k in store.list_series(exchange) if k.timeframe == timeframe})
    perps = [s for s in symbols if s in markets and markets[s].is_perpetual]
    return tuple(perps or symbols)


@dataclass(frozen=True)
class LoadedMarket:
    """The panel a backtest (or a sweep of them) runs on, and what it was built from."""

    panel: MarketPanel
    first_row: int
    symbols: tuple[str, ...]
    fee_source: str
    slippage_source: str
    warnings: tuple[str, ...] = ()


def load_market(
    config: Config,
    *,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> LoadedMarket:
    """Cached candles, funding, market filters and costs of the universe as one panel, with
    no network: the market filters and fees are those `pairs cache update` stored
    (`jobs.common.cached_markets`, which refuses a symbol it has none of).

    symbols: the universe (default `universe.symbols`, else every cached symbol, see
    `cached_universe`). start_ms/end_ms: the traded period (bar open times, inclusive);
    default from the first bar with a full formation window of history to the last cached
    bar. History before start_ms is read for formation and warm-up. Nothing here reads a
    clock: the cache decides what "now" is.
    """
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ConfigError(f"--start {format_utc(start_ms)} is after --end {format_utc(end_ms)}")
    exchange = cache_exchange_id(config)
    timeframe = config.cache.timeframe
    tf_ms = timeframe_ms(timeframe)
    history_ms = config.stats.formation_days * MS_PER_DAY
    with open_cache(config) as store:
        universe = tuple(
            symbols
            or config.universe.symbols
            or cached_universe(store, exchange, timeframe, cached_markets(config))
        )
        if not universe:
            raise ConfigError(_nothing_cached(store, exchange, timeframe))
        if len(universe) < 2:
            raise ConfigError(f"one symbol only ({universe[0]}): a pair needs two; add symbols")
        warmup_ms = history_ms + config.stats.window_bars * tf_ms
        aligned = read_panel(
            store,
            exchange,
            universe,
            timeframe,
            start_ms=None if start_ms is None else start_ms - warmup_ms,
            end_ms=end_ms,
            max_ffill_bars=config.cache.max_ffill_bars,
        )
        if aligned.n_bars == 0:
            raise ConfigError(_no_bars(store, exchange, universe, timeframe, start_ms, end_ms))
        _check_columns(aligned)
        markets = cached_markets(config, universe)
        funding = _funding_panel(store, exchange, aligned, markets)
    fee_bps, fee_source = _fees(config, universe, markets)
    slippage, slippage_source = _slippage(config, aligned)
    panel = MarketPanel(
        timestamps=aligned.timestamps,
        symbols=aligned.symbols,
        tf_ms=tf_ms,
        open=aligned.open,
        close=aligned.close,
        real=aligned.real,
        dollar_volume=typical_dollar_volume(
            aligned.high, aligned.low, aligned.close, aligned.volume
        ),
        funding=funding,
        lots=_lots(universe, markets),
        fee_bps=fee_bps,
        slippage_bps=slippage,
        spot=np.array([is_spot_market(s, markets) for s in universe], dtype=np.bool_),
    )
    first = _first_traded_row(aligned, start_ms, history_ms)
    warnings = tuple(universe_warnings(universe, markets, config.universe.quote))
    return LoadedMarket(panel, first, universe, fee_source, slippage_source, warnings)


def _nothing_cached(store: Store, exchange: str, timeframe: str) -> str:
    """Why the default universe (the cached symbols) is empty: the cache of this exchange is
    empty, or it holds other timeframes only."""
    held = sorted({k.timeframe for k in store.list_series(exchange)} - {"funding"})
    if not held:
        return f"nothing cached for exchange {exchange}: run `pairs cache update` first"
    return (
        f"no cached symbols at {timeframe} on {exchange}; the cache holds {', '.join(held)}: "
        f"set cache.timeframe to one of them, or run `pairs cache update --timeframe {timeframe}`"
    )


def _no_bars(
    store: Store,
    exchange: str,
    universe: Sequence[str],
    timeframe: str,
    start_ms: int | None,
    end_ms: int | None,
) -> str:
    """Why the requested period has no cached bar, with what the cache does hold."""
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        return f"--start {format_utc(start_ms)} is after --end {format_utc(end_ms)}"
    lasts = [store.last_timestamp(exchange, s, timeframe) for s in universe]
    known = [t for t in lasts if t is not None]
    if not known:
        return (
            f"nothing cached for {', '.join(universe)} at {timeframe} on {exchange}: run "
            f"`pairs cache update --symbols {','.join(universe)}` first"
        )
    span = f"the cache of {', '.join(universe)} ends {format_utc(max(known))}"
    if start_ms is not None and start_ms > max(known):
        return f"--start {format_utc(start_ms)} is after the cached data: {span}"
    return f"no cached bars of {', '.join(universe)} in the requested period; {span}"


def _first_traded_row(aligned: AlignedPanel, start_ms: int | None, history_ms: int) -> int:
    first_possible = int(aligned.timestamps[0]) + history_ms
    start = first_possible if start_ms is None else max(start_ms, first_possible)
    row = int(np.searchsorted(aligned.timestamps, start))
    if row >= aligned.n_bars - 1:
        first, last = (
            format_utc(int(aligned.timestamps[0])),
            format_utc(int(aligned.timestamps[-1])),
        )
        raise ConfigError(
            f"not enough history: the first {history_ms // MS_PER_DAY} days "
            f"(stats.formation_days) from {first} are needed for selection before trading, "
            f"and the cache ends {last}"
        )
    return row


def _check_columns(aligned: AlignedPanel) -> None:
    empty = [s for k, s in enumerate(aligned.symbols) if not np.isfinite(aligned.close[:, k]).any()]
    if empty:
        raise ConfigError(
            f"nothing cached for {', '.join(empty)} at this timeframe: run "
            f"`pairs cache update --symbols {','.join(empty)}` first"
        )


def _funding_panel(
    store: Store, exchange: str, aligned: AlignedPanel, markets: Mapping[str, MarketInfo]
) -> np.ndarray:
    """Funding rates charged at the start of each bar: an event at time E belongs to the bar
    t with open(t-1) < E <= open(t) (Binance's events fall on bar opens). Perpetuals only."""
    out = np.zeros((aligned.n_bars, aligned.n_symbols))
    ts = aligned.timestamps
    for k, symbol in enumerate(aligned.symbols):
        if not markets[symbol].is_perpetual:
            continue
        events = store.read_funding(exchange, symbol, int(ts[0]) + 1, int(ts[-1]))
        rows = np.searchsorted(ts, events.timestamp, side="left")
        keep = (rows > 0) & (rows < aligned.n_bars)
        np.add.at(out[:, k], rows[keep], events.funding_rate[keep])
    return out


def _lots(universe: Sequence[str], markets: Mapping[str, MarketInfo]) -> np.ndarray:
    """float64[4, n_symbols]: contract size, lot step, minimum amount, minimum notional (0 when
    the exchange does not say)."""
    lots = np.zeros((4, len(universe)))
    for k, symbol in enumerate(universe):
        m = markets[symbol]
        lots[:, k] = (
            m.contract_size,
            m.amount_step or 0.0,
            m.min_amount or 0.0,
            m.min_notional or 0.0,
        )
    return lots


def _fees(
    config: Config, universe: Sequence[str], markets: Mapping[str, MarketInfo]
) -> tuple[np.ndarray, str]:
    """Taker fee per fill of each symbol in bps: `backtest.fee_bps`, else the market's own
    (`MarketInfo.taker_fee_bps`, with its documented default per market type)."""
    if config.backtest.fee_bps is not None:
        return np.full(
            len(universe), config.backtest.fee_bps
        ), f"{config.backtest.fee_bps:g} bps (config)"
    fees = np.array([markets[s].taker_fee_bps for s in universe])
    return fees, "taker fee from the exchange's market info"


def _slippage(config: Config, aligned: AlignedPanel) -> tuple[np.ndarray, str]:
    shape = (aligned.n_bars, aligned.n_symbols)
    if config.backtest.slippage_bps is not None:
        return np.full(
            shape, config.backtest.slippage_bps
        ), f"{config.backtest.slippage_bps:g} bps (config)"
    out = np.empty(shape)
    for k in range(aligned.n_symbols):
        candles = Candles(
            aligned.timestamps,
            aligned.open[:, k],
            aligned.high[:, k],
            aligned.low[:, k],
            aligned.close[:, k],
            aligned.volume[:, k],
        )
        est = spread_bps(
            candles,
            config.cache.spread_window_bars,
            config.cache.spread_estimator,
            tf_ms=aligned.tf_ms,
        )
        # Half the spread: a taker crosses from the mid to the far side.
        out[:, k] = np.where(np.isfinite(est), est / 2.0, FALLBACK_SLIPPAGE_BPS)
    return out, f"half the {config.cache.spread_estimator} spread estimate (causal)"
