"""Stage 1 (fetch): the one interface every market-data source implements.

`CcxtSource` (any ccxt exchange) and the shipped `DemoSource` both satisfy `MarketSource`,
so pagination, validation, universe ranking and the cache update run unchanged on either.
Sources return raw pages; they never loop over history themselves.
"""

from __future__ import annotations

from typing import Protocol

from pairscan.market import FloatArray, FundingRates, MarketInfo, Ticker24h


class MarketSource(Protocol):
    """A page-level market-data client. Units: UTC milliseconds, quote currency, base units."""

    @property
    def exchange_id(self) -> str:
        """Identifier used in cache paths and messages (`binance`, `binanceusdm`, `demo`)."""
        ...

    @property
    def request_count(self) -> int:
        """HTTP requests (or demo page reads) made so far, retries included."""
        ...

    def default_now_ms(self) -> int:
        """The clock to use when the user gives no `--now` (wall clock; demo: end of data)."""
        ...

    def server_time_ms(self) -> int | None:
        """The exchange's own clock (UTC ms), or None when it cannot tell. One attempt, no
        retries: callers fall back to their clock."""
        ...

    def load_markets(self, reload: bool = False) -> dict[str, MarketInfo]:
        """Every market the source lists, keyed by ccxt unified symbol (cached; `reload`
        asks the exchange again)."""
        ...

    def fetch_tickers_24h(self, symbols: list[str]) -> list[Ticker24h]:
        """Rolling 24h quote volume for `symbols` (all of one market type)."""
        ...

    def ohlcv_page_limit(self, symbol: str) -> int:
        """Most candles one request may return for `symbol`."""
        ...

    def fetch_ohlcv_page(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int,
        limit: int,
        *,
        require_rows: bool = False,
    ) -> FloatArray:
        """Up to `limit` validated candles with open time >= `since_ms`, ascending.

        Returns float64[n, 6] rows `[open_ms, open, high, low, close, volume]`. The last row
        may be the still-open candle: the caller drops it. `require_rows`: the caller knows
        the exchange has a bar at or after `since_ms` (its clock says so and the market
        trades), so an answer without one is a fault, retried like a garbage body, unless
        the exchange's own newest bar is older than `since_ms` (its klines ended: a market
        that stopped while still listed as trading). Raises `ExchangeError`.
        """
        ...

    def has_funding_history(self) -> bool:
        """Whether the source can list past funding events at all."""
        ...

    def funding_page_limit(self, symbol: str) -> int:
        """Most funding events one request may return."""
        ...

    def fetch_funding_page(
        self, symbol: str, since_ms: int, limit: int, *, require_rows: bool = False
    ) -> FundingRates:
        """Up to `limit` funding events with time >= `since_ms`, ascending.

        `require_rows`: an event at or after `since_ms` must exist, so an answer without one
        is a fault, retried like a garbage body, unless the exchange's own newest event is
        older than `since_ms`. Raises `ExchangeError`."""
        ...

    def close(self) -> None:
        """Release sockets and files."""
        ...
