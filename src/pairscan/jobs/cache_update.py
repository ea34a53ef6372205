"""`pairs cache update`: fetch new closed candles (and funding) for the universe into the cache.

One straight line per symbol: last cached bar -> fetch since -> merge (pure) -> atomic write.
A failing symbol is reported and the others proceed, and so is a symbol without a new bar for
`signals.stale_bars` bars; nothing here renders output.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pairscan.cache import Store, find_gaps
from pairscan.cache.markets import CachedMarket, read_markets, write_markets
from pairscan.config import Config
from pairscan.errors import CacheError, ConfigError, ExchangeError
from pairscan.fetch import (
    IncompleteHistoryError,
    MarketSource,
    fetch_closed_candles,
    fetch_funding_history,
    resolve_universe,
)
from pairscan.fetch.universe import check_symbols
from pairscan.jobs.common import (
    cache_exchange_id,
    cache_root,
    effective_clock_ms,
    open_cache,
    open_source,
    run_clock_ms,
)
from pairscan.market import (
    MS_PER_DAY,
    Candles,
    MarketInfo,
    format_utc,
    last_closed_open_ms,
    timeframe_ms,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SymbolUpdate:
    """Outcome for one symbol. Times are bar open times in UTC ms; None when nothing cached.

    bars_behind: bars from the last cached bar to the last bar closed by the exchange's clock
    (0: up to date; None: nothing cached). stale: no new bar for `signals.stale_bars` bars
    (or nothing cached): the market stopped (halted, delisted) or its data cannot be had;
    a scan closes positions on it as `data_stale`. Both are set for failed symbols too,
    from what the cache holds.
    """

    symbol: str
    new_bars: int = 0
    total_bars: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    gaps: int = 0
    missing_bars: int = 0
    new_funding: int | None = None  # None: not a perpetual, or funding disabled
    error: str | None = None
    bars_behind: int | None = None
    stale: bool = False

    @property
    def status(self) -> str:
        """`error`, `stale` or `ok` (an error wins: it says why the symbol is behind)."""
        return "error" if self.error is not None else "stale" if self.stale else "ok"


@dataclass(frozen=True)
class UpdateReport:
    """Outcome of one `cache update` run."""

    exchange: str
    timeframe: str
    now_ms: int
    symbols: list[SymbolUpdate] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    # Symbols updated besides the universe (a scan's open positions outside it): fetched and
    # reported like the others, never ranked nor checked as typos; in `symbols` too.
    extras: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[SymbolUpdate]:
        return [s for s in self.symbols if s.error is not None]

    @property
    def stale(self) -> list[SymbolUpdate]:
        """Symbols without a new bar for `signals.stale_bars` bars, failed or not."""
        return [s for s in self.symbols if s.stale]


def run_cache_update(
    config: Config,
    *,
    now_ms: int | None = None,
    symbols: Sequence[str] = (),
    extra_symbols: Sequence[str] = (),
    since_ms: int | None = None,
    on_symbol: Callable[[str, int, int], None] | None = None,
) -> UpdateReport:
    """Update the cache for `symbols` (default: the configured universe), and for
    `extra_symbols` besides (the scan's open positions outside the universe: fresh candles
    and market info from the same market list, without entering the ranking).

    since_ms: first bar to (re)fetch; default: the newest `cache.refetch_bars` cached bars
    onwards, or `cache.history_days` before now for a new symbol.
    on_symbol(symbol, done, total) is called before each symbol, for progress display.
    """
    started = time.perf_counter()
    run_clock = run_clock_ms(config, now_ms)
    if since_ms is not None and since_ms > run_clock:
        raise ConfigError(
            f"--since {format_utc(since_ms)} is after the run's clock {format_utc(run_clock)} "
            "(--now or the wall clock): there is nothing to fetch"
        )
    source = open_source(config, run_clock)
    try:
        clock = effective_clock_ms(source, run_clock)
        with open_cache(config) as store:
            universe, extras = _symbols_to_update(config, source, store, symbols, extra_symbols)
            wanted = universe + extras
            listed = source.load_markets()
            _store_markets(config, listed, wanted, clock)
            results = []
            for done, symbol in enumerate(wanted):
                if on_symbol is not None:
                    on_symbol(symbol, done, len(wanted))
                if symbol not in listed:
                    result = _delisted(config, store, symbol, clock, held=symbol in extras)
                else:
                    result = _update_symbol(config, source, store, symbol, clock, since_ms)
                if result.stale:
                    log.warning(
                        "%s: no new bar for %s bars (last bar %s, exchange clock %s)",
                        symbol,
                        "-" if result.bars_behind is None else result.bars_behind,
                        format_utc(result.last_ms),
                        format_utc(clock),
                    )
                results.append(result)
        return UpdateReport(
            exchange=cache_exchange_id(config),
            timeframe=config.cache.timeframe,
            now_ms=clock,
            symbols=results,
            requests=source.request_count,
            seconds=time.perf_counter() - started,
            extras=extras,
        )
    finally:
        source.close()


def _symbols_to_update(
    config: Config,
    source: MarketSource,
    store: Store,
    symbols: Sequence[str],
    extra_symbols: Sequence[str],
) -> tuple[list[str], list[str]]:
    """(the universe, the extras): `symbols` as given (checked) or the configured universe
    (ranked), then the `extra_symbols` not in it. An extra is never a typo (a position was
    held on it): one the exchange no longer lists is delisted, cached or not."""
    cached = _cached_unlisted(config, source, store, symbols or config.universe.symbols)
    universe = list(symbols) or resolve_universe(source, config.universe, cached)
    if symbols:
        check_symbols(source, universe, cached)
    extras = [s for s in dict.fromkeys(extra_symbols) if s not in set(universe)]
    if extras:
        # Reloads the market list once before calling an extra delisted (a garbage answer
        # must not close a position), and says which ones are.
        check_symbols(source, extras, cached=extras)
    return universe, extras


def _store_markets(
    config: Config, listed: Mapping[str, MarketInfo], symbols: Sequence[str], fetched_ms: int
) -> None:
    """Keep the market info of the symbols this run updates in the cache, so the backtest
    reads its lots and fees from there and never asks the exchange. A symbol the exchange no
    longer lists keeps its stored filters, marked inactive. Written before any series, so a
    run killed midway leaves no series without its market."""
    root, exchange = cache_root(config), cache_exchange_id(config)
    try:
        stored = read_markets(root, exchange)
    except CacheError as exc:
        log.warning("%s: storing the market info afresh", exc)  # it is rebuilt right here
        stored = {}
    update = {s: CachedMarket(listed[s], fetched_ms) for s in symbols if s in listed}
    for symbol in symbols:
        if symbol not in listed and symbol in stored and stored[symbol].info.active:
            info = dataclasses.replace(stored[symbol].info, active=False)
            update[symbol] = CachedMarket(info, fetched_ms)
    if update:
        write_markets(root, exchange, {**stored, **update})


def _start_ms(
    config: Config, last_ms: int | None, since_ms: int | None, now_ms: int, tf_ms: int
) -> int:
    if since_ms is not None:
        return since_ms
    if last_ms is not None:
        # Exchanges revise the newest bars (late trades, corrections): fetch them again.
        # refetch_bars = N asks again for the newest N cached bars (0: only new ones).
        return last_ms - (config.cache.refetch_bars - 1) * tf_ms
    return last_closed_open_ms(now_ms, tf_ms) - config.cache.history_days * MS_PER_DAY + tf_ms


def _cached_unlisted(
    config: Config, source: MarketSource, store: Store, symbols: Sequence[str]
) -> set[str]:
    """Symbols asked for that the exchange's market list lacks but the cache holds: delisted
    (not mistyped) symbols, whose history and open positions must not stop the run."""
    listed = source.load_markets()
    exchange, timeframe = cache_exchange_id(config), config.cache.timeframe
    found = set()
    for symbol in (s for s in symbols if s not in listed):
        try:
            if store.last_timestamp(exchange, symbol, timeframe) is not None:
                found.add(symbol)
        except CacheError:
            found.add(symbol)  # cached, though unreadable: still not a typo
    return found


def _delisted(
    config: Config, store: Store, symbol: str, now_ms: int, *, held: bool = False
) -> SymbolUpdate:
    """A cached symbol the exchange no longer lists: nothing to fetch, history kept, reported
    as failed so the run says so (and a scan closes open positions on it as delisted).
    `held`: an extra (an open position's symbol outside the universe), not a configured one."""
    advice = "the scan closes the positions on it" if held else "remove it from universe.symbols"
    return _failed(
        config,
        store,
        symbol,
        now_ms,
        f"no longer listed by {config.exchange.id} (delisted): its cached history is "
        f"kept; {advice}",
    )


def _failed(config: Config, store: Store, symbol: str, now_ms: int, error: str) -> SymbolUpdate:
    """A symbol whose update failed, with how far behind its cached bars are."""
    try:
        last = store.last_timestamp(cache_exchange_id(config), symbol, config.cache.timeframe)
    except CacheError:
        last = None  # the error already says the cache is unreadable
    behind, stale = _staleness(config, last, now_ms)
    return SymbolUpdate(symbol=symbol, last_ms=last, error=error, bars_behind=behind, stale=stale)


def _staleness(config: Config, last_ms: int | None, now_ms: int) -> tuple[int | None, bool]:
    """(bars from `last_ms` to the last closed bar at `now_ms`, stale?), by the scan's rule:
    a leg is stale after `signals.stale_bars` bars without a new one."""
    if last_ms is None:
        return None, True
    tf_ms = timeframe_ms(config.cache.timeframe)
    behind = max(0, (last_closed_open_ms(now_ms, tf_ms) - last_ms) // tf_ms)
    return behind, behind >= config.signals.stale_bars


def _update_symbol(
    config: Config,
    source: MarketSource,
    store: Store,
    symbol: str,
    now_ms: int,
    since_ms: int | None,
) -> SymbolUpdate:
    exchange, timeframe = cache_exchange_id(config), config.cache.timeframe
    tf_ms = timeframe_ms(timeframe)
    candle_error: IncompleteHistoryError[Candles] | None = None
    try:
        last = store.last_timestamp(exchange, symbol, timeframe)
        start = _start_ms(config, last, since_ms, now_ms, tf_ms)
        trading = source.load_markets()[symbol].active
        try:
            candles = fetch_closed_candles(
                source, symbol, timeframe, start, now_ms, trading=trading
            )
        except IncompleteHistoryError as exc:
            # Keep the bars that did arrive (they are closed and in sequence); report the rest.
            candles, candle_error = exc.partial, exc
        written = store.write_candles(exchange, symbol, timeframe, candles)
        stored = store.read_candles(exchange, symbol, timeframe)
        first = int(stored.timestamp[0]) if len(stored) else None
        traded_from = first if trading else None
        new_funding = _update_funding(config, source, store, symbol, since_ms, now_ms, traded_from)
    except (ExchangeError, CacheError) as exc:
        error = str(exc) if candle_error is None else f"{candle_error}; {exc}"
        log.error("%s", error)
        return _failed(config, store, symbol, now_ms, error)
    if candle_error is not None:
        log.error("%s", candle_error)
        return _failed(config, store, symbol, now_ms, str(candle_error))
    gaps = find_gaps(stored.timestamp, tf_ms)
    last = int(stored.timestamp[-1]) if len(stored) else None
    behind, stale = _staleness(config, last, now_ms)
    return SymbolUpdate(
        symbol=symbol,
        new_bars=written.rows_added,
        total_bars=len(stored),
        first_ms=first,
        last_ms=last,
        gaps=len(gaps),
        missing_bars=sum(g.missing_bars for g in gaps),
        new_funding=new_funding,
        bars_behind=behind,
        stale=stale,
    )


def _update_funding(
    config: Config,
    source: MarketSource,
    store: Store,
    symbol: str,
    since_ms: int | None,
    now_ms: int,
    traded_from_ms: int | None,
) -> int | None:
    """New funding events cached for a perpetual; None for spot or when disabled.

    Funding continues from its own last cached event, independently of the candles: a run
    killed (or a funding request failed) after the candles were written must not leave the
    history empty for good. A series not cached yet starts where a new symbol's candles
    start (`--since`, else `cache.history_days` ago); `--since` refetches from there.
    `traded_from_ms` (the first cached bar of a market the exchange lists as active; None
    otherwise) tells when the perpetual traded from, so a missing event is a fault once one
    is overdue, and a listing younger than a funding interval is not asked for one.
    """
    market = source.load_markets().get(symbol)
    if not config.cache.funding or market is None or not market.is_perpetual:
        return None
    if not source.has_funding_history():
        log.warning(
            "%s has no funding-rate history; %s funding not cached", source.exchange_id, symbol
        )
        return None
    exchange = cache_exchange_id(config)
    last = store.last_funding_timestamp(exchange, symbol)
    if since_ms is None and last is not None:
        since = last + 1
    else:
        tf_ms = timeframe_ms(config.cache.timeframe)
        since = _start_ms(config, None, since_ms, now_ms, tf_ms)
    try:
        events = fetch_funding_history(
            source, symbol, since, now_ms, trading_since_ms=traded_from_ms
        )
    except IncompleteHistoryError as exc:
        store.write_funding(exchange, symbol, exc.partial)  # keep what arrived, then report
        raise
    return store.write_funding(exchange, symbol, events).rows_added
