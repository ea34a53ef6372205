"""The fetching half of `pairs scan`: the run's cache update, over the universe and the
symbols of open positions outside it (new candles and market info for both, from one market
list), the market filters that update stored, and the dry run's scratch copy of the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pairscan.cache.markets import markets_path, read_markets
from pairscan.config import Config
from pairscan.errors import CacheError, ExchangeError
from pairscan.jobs.cache_update import UpdateReport, run_cache_update
from pairscan.jobs.common import cache_exchange_id, cache_root, open_cache
from pairscan.jobs.scan_report import ScanReport
from pairscan.market import MarketInfo, format_utc, last_closed_open_ms, timeframe_ms


@contextlib.contextmanager
def scratch_cache(config: Config) -> Iterator[Config]:
    """`config` with its cache replaced by a throwaway copy of the cached candles of this
    exchange and timeframe (funding is not needed to decide) and of its `markets.json`, for a
    dry run to update."""
    exchange, timeframe = cache_exchange_id(config), config.cache.timeframe
    with tempfile.TemporaryDirectory(prefix="pairscan-dry-run-") as folder:
        scratch = dataclasses.replace(
            config,
            data_dir=Path(folder),
            cache=dataclasses.replace(config.cache, funding=False),
        )
        if (config.data_dir / "cache").is_dir():
            with open_cache(config) as real, open_cache(scratch) as copy:
                for key in real.list_series(exchange):
                    if key.timeframe == timeframe:
                        candles = real.read_candles(exchange, key.symbol, timeframe)
                        copy.write_candles(exchange, key.symbol, timeframe, candles)
            stored = markets_path(cache_root(config), exchange)
            if stored.is_file():  # the update merges into it, as into the real one
                target = markets_path(cache_root(scratch), exchange)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(stored, target)
        yield scratch


def update_cache(
    config: Config,
    clock: int,
    symbols: Sequence[str],
    held: Sequence[str],
    report: ScanReport,
    *,
    require_fresh: bool,
) -> list[str]:
    """Update the cache for the universe (`symbols`, else the configured one) and for `held`,
    the symbols of open positions (`StateStore.open_symbols`), so those outside the universe
    get new candles and fresh market info too, from the run's one market list; the market
    info that update stored goes into `report.markets`. Returns the universe: what selection
    ranks among, held extras apart.

    `require_fresh`: when every symbol of the universe failed to update (the exchange
    unreachable, say), raise `ExchangeError` rather than decide the bar on old closes
    (failures of held extras alone, a delisted one say, do not count)."""
    started = time.perf_counter()
    update = run_cache_update(config, now_ms=clock, symbols=symbols, extra_symbols=held)
    report.bar_ms = min(
        report.bar_ms, last_closed_open_ms(update.now_ms, timeframe_ms(config.cache.timeframe))
    )
    report.symbol_errors = [f"{s.symbol}: {s.error}" for s in update.failed]
    report.stale_symbols = [
        f"{s.symbol}: no new bar for {s.bars_behind} bars (last {format_utc(s.last_ms)})"
        if s.bars_behind is not None
        else f"{s.symbol}: nothing cached"
        for s in update.stale
    ]
    report.universe = [s.symbol for s in update.symbols if s.symbol not in update.extras]
    failed = [f"{s.symbol}: {s.error}" for s in update.failed if s.symbol not in update.extras]
    if require_fresh and report.universe and len(failed) >= len(report.universe):
        raise ExchangeError(
            f"every symbol of the universe failed to update ({failed[0]}, ...): "
            "nothing was decided; the next run retries"
        )
    report.markets = _stored_markets(config, update, report)
    report.seconds["fetch"] = time.perf_counter() - started
    return report.universe


def _stored_markets(
    config: Config, update: UpdateReport, report: ScanReport
) -> dict[str, MarketInfo]:
    """The market info this run's cache update stored (`markets.json`): its symbols' entries
    fresh from the exchange, one the exchange no longer lists marked inactive or absent
    (`scan_decide.delisted` sees it the run it disappears); other symbols' entries as
    earlier updates left them (the paper book's fees).

    An entry of this run's symbols still active but stored before this run's clock means
    another process rewrote the file meanwhile (a `pairs cache update` that read it first):
    it could hide a delisting, so the run reports the filters unavailable, as when they
    cannot be read, and decides without (staleness still closes positions) rather than
    trade on stale filters. A second market-list request is never made."""
    try:
        stored = read_markets(cache_root(config), update.exchange)
    except CacheError as exc:
        report.symbol_errors.append(f"market filters unavailable: {exc}")
        return {}
    old = [
        s.symbol
        for s in update.symbols
        if (m := stored.get(s.symbol)) is not None
        and m.info.active
        and m.fetched_ms < update.now_ms
    ]
    if old:
        report.symbol_errors.append(
            f"market filters unavailable: markets.json was rewritten during the run "
            f"(stale entries for {', '.join(old)})"
        )
        return {}
    return {symbol: m.info for symbol, m in stored.items()}
