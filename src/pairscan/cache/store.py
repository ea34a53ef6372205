"""Stage 2 (cache): the one interface of the candle/funding store (`open_store` picks a backend).

Both backends (parquet files, one SQLite database) behave identically behind `Store`.
Nothing here fetches data or knows about ccxt: callers hand in `Candles`/`FundingRates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from pairscan.cache.align import AlignedPanel, align_candles
from pairscan.market import Candles, FundingRates, timeframe_ms

FUNDING_TIMEFRAME = "funding"
"""The `SeriesKey.timeframe` of a funding-rate series."""

BACKENDS = ("parquet", "sqlite")


@dataclass(frozen=True, order=True)
class SeriesKey:
    """One cached series.

    exchange: ccxt exchange id (`binance`). symbol: ccxt unified symbol (`ETH/USDT`,
    `ETH/USDT:USDT`). timeframe: a ccxt timeframe (`1h`) or `funding` for funding rates.
    """

    exchange: str
    symbol: str
    timeframe: str

    @property
    def is_funding(self) -> bool:
        return self.timeframe == FUNDING_TIMEFRAME


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one write: rows_added counts timestamps new to the series; rows_total,
    first_ms and last_ms (UTC ms, None when empty) describe the whole stored series after it."""

    rows_added: int
    rows_total: int
    first_ms: int | None
    last_ms: int | None


class ClosingStore:
    """Context-manager plumbing shared by the backends: `with open_store(...) as store:`."""

    def close(self) -> None:
        """Release connections; the backends override it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Store(Protocol):
    """Cached candles and funding rates of many symbols; writes are merged and atomic.

    Timestamps are UTC ms (bar open time / funding time). Reads return ascending, unique
    timestamps and an empty record when nothing is cached. A file or database that cannot be
    read raises `CacheError` naming it and how to rebuild it.
    """

    def read_candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Candles:
        """Cached bars with `start_ms <= open time <= end_ms` (either bound optional)."""
        ...

    def write_candles(
        self, exchange: str, symbol: str, timeframe: str, new: Candles
    ) -> WriteResult:
        """Merge `new` into the cached bars (`new` wins on equal timestamps), then store
        atomically. Writing no bars changes nothing and creates no file."""
        ...

    def last_timestamp(self, exchange: str, symbol: str, timeframe: str) -> int | None:
        """Open time of the newest cached bar, None when none; cheap (no full read)."""
        ...

    def read_funding(
        self, exchange: str, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> FundingRates:
        """Cached funding events with `start_ms <= time <= end_ms` (either bound optional)."""
        ...

    def write_funding(self, exchange: str, symbol: str, new: FundingRates) -> WriteResult:
        """Merge `new` into the cached funding events, same rules as `write_candles`."""
        ...

    def last_funding_timestamp(self, exchange: str, symbol: str) -> int | None:
        """Time of the newest cached funding event, None when none."""
        ...

    def list_series(self, exchange: str | None = None) -> list[SeriesKey]:
        """Every cached series (funding ones with timeframe `funding`), sorted."""
        ...

    def size_bytes(self, key: SeriesKey) -> int:
        """Bytes the series takes on disk (0 when absent); see each backend for how."""
        ...

    def location(self, key: SeriesKey) -> Path:
        """The file holding the series, for messages."""
        ...

    def close(self) -> None:
        """Release open handles; the store may not be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def require_bar_timeframe(timeframe: str) -> None:
    """Raise `ConfigError` unless `timeframe` is a ccxt bar length, so that a candle series
    can never be stored under (and overwrite) the `funding` name."""
    timeframe_ms(timeframe)


def rebuild_hint(symbol: str | None) -> str:
    """The fix appended to every `CacheError`: what to delete and which command refills it."""
    command = f"pairs cache update --symbols {symbol}" if symbol else "pairs cache update"
    return f'delete it and run "{command}" to rebuild it'


def read_panel(
    store: Store,
    exchange: str,
    symbols: Sequence[str],
    timeframe: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    max_ffill_bars: int = 0,
) -> AlignedPanel:
    """Cached candles of `symbols` on one UTC grid: `(n_bars, n_symbols)` matrices.

    Columns follow `symbols`; a symbol with nothing cached is an all-NaN column. Holes follow
    `align_candles`' causal rule (at most `max_ffill_bars` bars forward-filled after a real
    bar, flagged in `filled`). Bars before `start_ms` are read too (one fill window), so the
    first rows of the panel are filled exactly as in a wider panel.
    """
    tf_ms = timeframe_ms(timeframe)
    read_from = None if start_ms is None else start_ms - max_ffill_bars * tf_ms
    series = {
        symbol: store.read_candles(exchange, symbol, timeframe, read_from, end_ms)
        for symbol in symbols
    }
    return align_candles(series, tf_ms, start_ms, end_ms, max_ffill_bars)
