"""`pairs backtest`, its input: the cache read into one market panel with its costs.

Cached candles, funding and market info (lot sizes, minimum notional, taker fees, stored by
`pairs cache update`) of the universe, aligned, with the fees and slippage each fill pays. It
never touches the network: run `pairs cache update` first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pairscan.backtest.costs import (
    fixed_cost_source,
    funding_by_bar,
    slippage_from_spread,
    taker_fees_bps,
)
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
from pairscan.sizing.lots import lot_table
from pairscan.stats.explain import universe_warnings


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
        lots=lot_table(universe, markets),
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
    """float64 (n_bars, n_symbols): each perpetual's cached funding events on the bar that
    charges them (`costs.funding_by_bar`); 0 for the others."""
    out = np.zeros((aligned.n_bars, aligned.n_symbols))
    ts = aligned.timestamps
    for k, symbol in enumerate(aligned.symbols):
        if markets[symbol].is_perpetual:
            events = store.read_funding(exchange, symbol, int(ts[0]) + 1, int(ts[-1]))
            out[:, k] = funding_by_bar(ts, events.timestamp, events.funding_rate)
    return out


def _fees(
    config: Config, universe: Sequence[str], markets: Mapping[str, MarketInfo]
) -> tuple[np.ndarray, str]:
    """Taker fee per fill of each symbol in bps, and where it came from: `backtest.fee_bps`,
    else each market's own (`costs.taker_fees_bps`)."""
    fixed = config.backtest.fee_bps
    if fixed is not None:
        return np.full(len(universe), fixed), fixed_cost_source(fixed)
    return taker_fees_bps(universe, markets), "taker fee from the exchange's market info"


def _slippage(config: Config, aligned: AlignedPanel) -> tuple[np.ndarray, str]:
    """Slippage per fill in bps, (n_bars, n_symbols), and where it came from:
    `backtest.slippage_bps`, else half the causal spread estimate of each symbol's candles
    (`costs.slippage_from_spread`)."""
    fixed = config.backtest.slippage_bps
    if fixed is not None:
        return np.full((aligned.n_bars, aligned.n_symbols), fixed), fixed_cost_source(fixed)
    estimator = config.cache.spread_estimator
    spread = np.column_stack(
        [
            spread_bps(
                _candles(aligned, k),
                config.cache.spread_window_bars,
                estimator,
                tf_ms=aligned.tf_ms,
            )
            for k in range(aligned.n_symbols)
        ]
    )
    return slippage_from_spread(spread), f"half the {estimator} spread estimate (causal)"


def _candles(aligned: AlignedPanel, k: int) -> Candles:
    """Column k of the panel as one symbol's candles."""
    return Candles(
        aligned.timestamps,
        aligned.open[:, k],
        aligned.high[:, k],
        aligned.low[:, k],
        aligned.close[:, k],
        aligned.volume[:, k],
    )
