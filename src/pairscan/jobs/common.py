"""Shared plumbing of the jobs: pick the market source, the stores and the run's clock.

The demo market and ccxt exchanges are chosen here, so no lower stage needs to know which
one it talks to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pairscan.config import DEMO_EXCHANGE_ID, Config, config_label
from pairscan.errors import ConfigError
from pairscan.market import MS_PER_DAY, MarketInfo, format_utc, utc_now_ms
from pairscan.state import StateStore

if TYPE_CHECKING:
    from pairscan.cache import Store
    from pairscan.fetch import MarketSource

# The adapters below (cache, demo recording, ccxt) are imported where they are opened: a
# scan that finds its hour already decided opens only the state, and must not pay for
# pandas and pyarrow at start-up (`tests/test_startup.py`).

log = logging.getLogger(__name__)


def is_demo(config: Config) -> bool:
    return config.exchange.id == DEMO_EXCHANGE_ID


# No crypto exchange has candles before this; a --now before it is a typo (1970-01-01).
EARLIEST_NOW_MS = 1_230_940_800_000  # 2009-01-03, the Bitcoin genesis block
# A --now past the wall clock by more than this has no closed bar anywhere: a typo (2100).
MAX_NOW_AHEAD_MS = MS_PER_DAY


def run_clock_ms(config: Config, now_ms: int | None) -> int:
    """The run's `now`: `--now` when given, else the end of the recording on the demo
    market, else the wall clock. A `--now` before any market data or in the future is a
    usage error: it would decide (and send) nothing real."""
    if now_ms is not None:
        _check_now(now_ms)
        return now_ms
    if is_demo(config):
        from pairscan.demo.manifest import demo_end_ms

        return demo_end_ms()
    return utc_now_ms()


def _check_now(now_ms: int) -> None:
    wall = utc_now_ms()
    if now_ms < EARLIEST_NOW_MS:
        raise ConfigError(
            f"--now {format_utc(now_ms)} is before any crypto market data (2009): "
            "check the date (e.g. 2026-05-01T12:05)"
        )
    if now_ms > wall + MAX_NOW_AHEAD_MS:
        raise ConfigError(
            f"--now {format_utc(now_ms)} is in the future (the wall clock says "
            f"{format_utc(wall)}): no bar has closed then; check the date"
        )


def effective_clock_ms(source: MarketSource, clock_ms: int) -> int:
    """The earlier of the run's clock and the exchange's.

    A bar is stored only once it is closed by both clocks: a machine clock running ahead of
    the exchange (or a `--now` past the exchange's time) would otherwise store the bar the
    exchange is still filling as if it were closed.
    """
    server = source.server_time_ms()
    if server is None or server >= clock_ms:
        return clock_ms
    if clock_ms - server > 60_000:
        log.info("exchange clock is %.0f s behind ours: using it", (clock_ms - server) / 1000)
    return server


def open_source(config: Config, now_ms: int) -> MarketSource:
    """The market-data source named by `exchange.id` (ccxt is imported only if needed)."""
    if is_demo(config):
        from pairscan.demo.source import DemoSource

        return DemoSource(now_ms=now_ms, label=config_label(config))
    from pairscan.fetch.ccxt_source import CcxtSource

    return CcxtSource(config.exchange, secrets=config.secret_values(), label=config_label(config))


def cache_exchange_id(config: Config) -> str:
    """Folder/key under which this exchange's series are cached."""
    return config.exchange.id


def cache_root(config: Config) -> Path:
    """The cache folder: the series and each exchange's `markets.json`."""
    return config.data_dir / "cache"


def open_cache(config: Config) -> Store:
    from pairscan.cache import open_store

    return open_store(config.cache.backend, cache_root(config))


def cached_markets(config: Config, symbols: Sequence[str] | None = None) -> dict[str, MarketInfo]:
    """The market info (type, lots, minimum notional, taker fee) `pairs cache update` stored
    for this exchange: the one reader of market filters for a run that must not touch the
    network. With `symbols`, exactly those, and a symbol without stored info is refused
    (a cache written by an older version, or never updated): `ConfigError` naming the
    command that stores it. Without, every stored market."""
    from pairscan.cache.markets import read_markets

    stored = read_markets(cache_root(config), cache_exchange_id(config))
    if symbols is None:
        return {s: m.info for s, m in stored.items()}
    missing = [s for s in symbols if s not in stored]
    if missing:
        raise ConfigError(
            f"no market info cached for {', '.join(missing)} (lot sizes, fees; a cache from "
            f"an older version): run `pairs cache update --symbols {','.join(missing)}` "
            "to store it"
        )
    return {s: stored[s].info for s in symbols}


def state_db_path(config: Config) -> Path:
    """The positions database of this exchange: one file per exchange id, so the demo market,
    a testnet and the real account never share positions."""
    return config.data_dir / "state" / f"{cache_exchange_id(config)}.sqlite"


def open_state(config: Config, *, create: bool = True) -> StateStore:
    """The positions database (created when missing, unless `create=False`)."""
    return StateStore(state_db_path(config), create=create)
