"""A local Binance public REST API on 127.0.0.1, for tests with real ccxt over real HTTP.

Serves recorded candles and funding from memory behind Binance's own paths, parameters,
row formats and error bodies (spot `/api/v3`, USD-M `/fapi/v1`), with a settable clock, a
queue of one-shot faults and a log of every request. Test-only: never imported by `src/`.

Run standalone (prints the base URL, serves until killed)::

    python -m tests.fakes.binance --port 0 --data /work/shared/data
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from pairscan.market import MS_PER_HOUR, Candles, FundingRates, parse_utc, timeframe_ms

MarketKind = Literal["spot", "perp"]
CandleLike = Candles | Mapping[str, Any]
FundingLike = FundingRates | Mapping[str, Any]

SPOT_PREFIX = "/api/v3"
FAPI_PREFIX = "/fapi/v1"
DAPI_PREFIX = "/dapi/v1"
SPOT_KLINES_MAX = 1000
FAPI_KLINES_MAX = 1500
KLINES_DEFAULT = 500
FUNDING_DEFAULT = 100
FUNDING_MAX = 1000
TICKER_WINDOW_MS = 24 * MS_PER_HOUR
# Binance opens weekly bars on Monday 00:00 UTC; the epoch (1970-01-01) was a Thursday.
_WEEK_OFFSET_MS = 4 * 86_400_000
_BINANCE_INTERVALS = frozenset(
    (
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    )
)
_JSON = "application/json;charset=UTF-8"
_HTML = "text/html"

# Every `urls['api']` key of ccxt.binance, pointed at the same local path, so a stray call
# reaches the fake (a logged 404) instead of the network.
CCXT_API_PATHS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/dapi/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


# --------------------------------------------------------------------------- market specs


@dataclass
class Filters:
    """Exchange filters of one market, as the decimal strings Binance sends.

    tick_size: PRICE_FILTER.tickSize (quote). step_size/min_qty/max_qty: LOT_SIZE (base).
    min_notional: NOTIONAL.minNotional on spot, MIN_NOTIONAL.notional on USD-M (quote).
    """

    tick_size: str
    step_size: str
    min_notional: str = "5"
    min_qty: str | None = None
    max_qty: str = "9000000"

    def __post_init__(self) -> None:
        self.tick_size = _dec(self.tick_size)
        self.step_size = _dec(self.step_size)
        self.min_notional = _dec(self.min_notional)
        self.min_qty = _dec(self.min_qty if self.min_qty is not None else self.step_size)
        self.max_qty = _dec(self.max_qty)

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.step_size)

    @classmethod
    def default_for(cls, kind: MarketKind, price: float | None) -> Filters:
        """Plausible filters from the price level, for bases without a known entry."""
        if price is None or not math.isfinite(price) or price <= 0:
            price = 1.0
        spot_step = 10.0 ** math.floor(math.log10(1.0 / price))
        if kind == "spot":
            tick = min(0.01, 10.0 ** (math.floor(math.log10(price)) - 4))
            return cls(_fmt_pow10(tick), _fmt_pow10(spot_step), "5")
        tick = min(0.1, 10.0 ** (math.floor(math.log10(price)) - 4))
        return cls(_fmt_pow10(tick), _fmt_pow10(max(spot_step, 0.001)), "5", max_qty="1000000")


# Approximate real Binance filters (tick, step, min notional); the demo entries match
# src/pairscan/demo/data/markets.json.
_SPOT_FILTERS: dict[str, tuple[str, str, str]] = {
    "BTC": ("0.01", "0.00001", "5"),
    "ETH": ("0.01", "0.0001", "5"),
    "SOL": ("0.01", "0.001", "5"),
    "XRP": ("0.0001", "0.1", "5"),
    "DOGE": ("0.00001", "1", "5"),
    "ADA": ("0.0001", "0.1", "5"),
    "LINK": ("0.01", "0.01", "5"),
    "AVAX": ("0.01", "0.01", "5"),
    "LTC": ("0.01", "0.001", "5"),
    "BCH": ("0.1", "0.001", "5"),
    "TRX": ("0.0001", "0.1", "5"),
    "XTZ": ("0.001", "0.1", "5"),
    "USDC": ("0.0001", "1", "5"),
    "BTCUP": ("0.001", "0.01", "5"),
    "LUNA": ("0.0001", "0.01", "5"),
}
_PERP_FILTERS: dict[str, tuple[str, str, str]] = {
    "BTC": ("0.1", "0.001", "100"),
    "ETH": ("0.01", "0.001", "20"),
    "SOL": ("0.01", "0.01", "5"),
    "XRP": ("0.0001", "0.1", "5"),
    "DOGE": ("0.00001", "1", "5"),
    "ADA": ("0.0001", "1", "5"),
    "LINK": ("0.001", "0.01", "20"),
    "AVAX": ("0.001", "1", "5"),
    "LTC": ("0.01", "0.001", "20"),
    "BCH": ("0.01", "0.001", "20"),
    "TRX": ("0.00001", "1", "5"),
    "XTZ": ("0.001", "0.1", "5"),
    "1000SHIB": ("0.000001", "1", "5"),
    "AAVE": ("0.01", "0.1", "5"),
    "ARB": ("0.0001", "0.1", "5"),
    "ENA": ("0.0001", "1", "5"),
    "HBAR": ("0.00001", "1", "5"),
    "KAS": ("0.000001", "1", "5"),
    "OP": ("0.0001", "0.1", "5"),
    "SUI": ("0.0001", "0.1", "5"),
}
_MAX_QTY = {("spot", "BTC"): "9000", ("spot", "ETH"): "9000", ("perp", "BTC"): "1000"}


def known_filters(kind: MarketKind, base: str, price: float | None = None) -> Filters:
    """Realistic filters for a known base, else `Filters.default_for(kind, price)`."""
    table = _SPOT_FILTERS if kind == "spot" else _PERP_FILTERS
    entry = table.get(base.upper())
    if entry is None:
        return Filters.default_for(kind, price)
    default_max = "9000000" if kind == "spot" else "1000000"
    return Filters(*entry, max_qty=_MAX_QTY.get((kind, base.upper()), default_max))


@dataclass(frozen=True)
class StaticTicker:
    """24h ticker for a market without candles (exchangeInfo-only markets)."""

    last_price: float
    quote_volume: float


@dataclass
class FakeMarket:
    """One listed market: its exchangeInfo entry plus the recorded series it serves.

    Mutable on purpose: tests flip `status`, `listed` or `filters` between requests.
    `timeframe_ms` is the length of the stored bars; requested intervals must be multiples.
    """

    kind: MarketKind
    base: str
    quote: str
    filters: Filters
    candles: Candles | None = None
    funding: FundingRates | None = None
    status: str = "TRADING"
    listed: bool = True
    timeframe_ms: int = MS_PER_HOUR
    onboard_ms: int | None = None
    permission_sets: list[list[str]] = field(default_factory=lambda: [["SPOT", "MARGIN"]])
    ticker: StaticTicker | None = None

    @property
    def id(self) -> str:
        """Exchange symbol, `ETHUSDT`."""
        return self.base + self.quote

    @property
    def symbol(self) -> str:
        """ccxt unified symbol: `ETH/USDT` (spot) or `ETH/USDT:USDT` (perp)."""
        unified = f"{self.base}/{self.quote}"
        return unified if self.kind == "spot" else f"{unified}:{self.quote}"


class BinanceAPIError(Exception):
    """An error answer in Binance's format: HTTP `status` with `{"code": code, "msg": msg}`."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg


def _invalid_symbol() -> BinanceAPIError:
    return BinanceAPIError(400, -1121, "Invalid symbol.")


def _mandatory(name: str) -> BinanceAPIError:
    return BinanceAPIError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of the server, applied to a matching request instead of the answer.

    status None means "answer normally" (after `sleep_s`); with `drop` the socket is closed
    without any response. `body` is sent verbatim with `headers` and `content_type`.
    Use the constructors (`Fault.rate_limited()`, `Fault.drop_connection()`, ...).
    """

    status: int | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = _JSON
    sleep_s: float = 0.0
    drop: bool = False
    name: str = "fault"

    @classmethod
    def http(
        cls,
        status: int,
        body: str | bytes | dict[str, Any] | list[Any] = b"",
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        name: str | None = None,
    ) -> Fault:
        """Any status with any body; dicts and lists are sent as JSON."""
        if isinstance(body, dict | list):
            raw, default_type = json.dumps(body).encode(), _JSON
        elif isinstance(body, str):
            raw = body.encode()
            default_type = _HTML if body.lstrip().startswith("<") else _JSON
        else:
            raw, default_type = body, _JSON
        return cls(
            status=status,
            body=raw,
            headers=dict(headers or {}),
            content_type=content_type or default_type,
            name=name or f"http {status}",
        )

    @classmethod
    def rate_limited(cls, retry_after: int = 7) -> Fault:
        """HTTP 429 with `Retry-After` (seconds), as Binance sends on request-weight overuse."""
        body = {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 6000 request weight per "
            "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        return cls.http(429, body, headers={"Retry-After": str(retry_after)}, name="429")

    @classmethod
    def ip_banned(cls, retry_after: int = 120) -> Fault:
        """HTTP 418: the IP is banned after ignoring 429s."""
        body = {
            "code": -1003,
            "msg": "Way too much request weight used; IP banned until 1778889600000. "
            "Please use WebSocket Streams for live updates to avoid bans.",
        }
        return cls.http(418, body, headers={"Retry-After": str(retry_after)}, name="418")

    @classmethod
    def rate_limit_code(cls) -> Fault:
        """HTTP 200 carrying a -1003 error body (ccxt: RateLimitExceeded)."""
        return cls.http(200, {"code": -1003, "msg": "Too many requests."}, name="200 -1003")

    @classmethod
    def server_error(cls) -> Fault:
        """HTTP 500 with an empty body."""
        return cls.http(500, b"", name="500 empty")

    @classmethod
    def bad_gateway(cls) -> Fault:
        """HTTP 502 with an nginx-style HTML page."""
        page = (
            "<html><head><title>502 Bad Gateway</title></head>"
            "<body><h1>502 Bad Gateway</h1></body></html>"
        )
        return cls.http(502, page, name="502 html")

    @classmethod
    def service_unavailable(cls) -> Fault:
        """HTTP 503 with Binance's -1001 internal-error body."""
        body = {
            "code": -1001,
            "msg": "Internal error; unable to process your request. Please try again.",
        }
        return cls.http(503, body, name="503 -1001")

    @classmethod
    def gateway_timeout(cls) -> Fault:
        """HTTP 504: Binance's gateway gave up waiting for the backend."""
        page = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
        return cls.http(504, page, name="504")

    @classmethod
    def bad_symbol(cls) -> Fault:
        """HTTP 400 -1121, whatever the symbol."""
        return cls.http(400, {"code": -1121, "msg": "Invalid symbol."}, name="400 -1121")

    @classmethod
    def bad_request(cls) -> Fault:
        """HTTP 400 -1100 (illegal characters in a parameter)."""
        body = {
            "code": -1100,
            "msg": "Illegal characters found in parameter 'symbol'; legal range is "
            "'^[A-Z0-9-_.]{1,20}$'.",
        }
        return cls.http(400, body, name="400 -1100")

    @classmethod
    def waf_forbidden(cls) -> Fault:
        """HTTP 403 HTML page from the CDN's web application firewall."""
        page = (
            "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD>"
            "<BODY><H1>403 ERROR</H1><H2>The request could not be satisfied.</H2></BODY></HTML>"
        )
        return cls.http(403, page, name="403 html")

    @classmethod
    def not_found(cls) -> Fault:
        """HTTP 404 with a JSON `{"code": -1}` body."""
        return cls.http(404, {"code": -1, "msg": "unknown path"}, name="404 -1")

    @classmethod
    def truncated_json(cls) -> Fault:
        """HTTP 200 whose JSON array stops mid-row."""
        return cls.http(200, '[[1747353600000,"103763.71000000","104033.9', name="truncated")

    @classmethod
    def empty_body(cls) -> Fault:
        """HTTP 200 with Content-Length 0."""
        return cls.http(200, b"", name="empty 200")

    @classmethod
    def html_page(cls) -> Fault:
        """HTTP 200 with an HTML page (a captive portal or maintenance page)."""
        page = "<!DOCTYPE html><html><body><p>System maintenance</p></body></html>"
        return cls.http(200, page, name="html 200")

    @classmethod
    def json_object(cls) -> Fault:
        """HTTP 200 with a JSON object where Binance sends an array."""
        return cls.http(200, {"symbol": "ETHUSDT", "data": []}, name="object 200")

    @classmethod
    def slow(cls, seconds: float, then: Fault | None = None) -> Fault:
        """Wait `seconds` (longer than the client timeout), then answer normally or `then`."""
        if then is None:
            return cls(sleep_s=seconds, name=f"slow {seconds}s")
        return cls(
            status=then.status,
            body=then.body,
            headers=then.headers,
            content_type=then.content_type,
            sleep_s=seconds,
            drop=then.drop,
            name=f"slow {seconds}s + {then.name}",
        )

    @classmethod
    def drop_connection(cls) -> Fault:
        """Close the socket without sending a byte of response."""
        return cls(drop=True, name="drop")


@dataclass
class _PendingFault:
    path: str | None
    symbol: str | None
    fault: Fault
    remaining: int


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it.

    query: decoded form parameters (all strings). wall_time: `time.time()` on arrival.
    clock_ms: the fake's `now_ms` then. fault: name of the fault applied, if any.
    """

    method: str
    path: str
    query: dict[str, str]
    wall_time: float
    clock_ms: int
    fault: str | None = None


# --------------------------------------------------------------------------- state


class ExchangeState:
    """Everything the fake serves: markets with their data, the clock, faults and the log.

    `now_ms` is the exchange clock (UTC ms): only bars with open time <= now are served,
    and the bar containing now is the still-open candle (see `serve_open_candle`).
    Build with `ExchangeState.demo()`, `ExchangeState.from_folder(path)` or
    `ExchangeState()` plus `add_spot` / `add_perp` / `add_listing`.
    """

    def __init__(self, *, now_ms: int | None = None, serve_open_candle: bool = True) -> None:
        self.markets: dict[tuple[MarketKind, str], FakeMarket] = {}
        self.serve_open_candle = serve_open_candle
        self.requests: list[LoggedRequest] = []
        self._faults: list[_PendingFault] = []
        self._lock = threading.Lock()
        self._now_ms = now_ms

    # ---- clock

    @property
    def now_ms(self) -> int:
        """The exchange clock; defaults to one bar after the newest recorded bar's open."""
        if self._now_ms is not None:
            return self._now_ms
        latest = [
            int(m.candles.timestamp[-1]) + m.timeframe_ms
            for m in self.markets.values()
            if m.candles is not None and len(m.candles)
        ]
        return max(latest) if latest else int(time.time() * 1000)

    @now_ms.setter
    def now_ms(self, value: int | None) -> None:
        self._now_ms = None if value is None else int(value)

    def advance(self, ms: int) -> int:
        """Move the clock forward by `ms` and return the new time."""
        self.now_ms = self.now_ms + int(ms)
        return self.now_ms

    # ---- markets

    def add_spot(
        self,
        base: str,
        candles: CandleLike | None = None,
        *,
        quote: str = "USDT",
        filters: Filters | None = None,
        status: str = "TRADING",
        timeframe: str = "1h",
        ticker: StaticTicker | None = None,
        permission_sets: list[list[str]] | None = None,
    ) -> FakeMarket:
        """List a spot market `BASE/QUOTE` (exchange id `BASEQUOTE`), optionally with candles.

        candles: `Candles`, a DataFrame or a mapping with columns timestamp (int64 ms open
        time), open, high, low, close, volume; ascending, bars of `timeframe`.
        """
        bars = _as_candles(candles)
        market = FakeMarket(
            kind="spot",
            base=base.upper(),
            quote=quote.upper(),
            filters=filters or known_filters("spot", base, _last_close(bars)),
            candles=bars,
            status=status,
            timeframe_ms=timeframe_ms(timeframe),
            ticker=ticker,
        )
        if permission_sets is not None:
            market.permission_sets = permission_sets
        return self._add(market)

    def add_perp(
        self,
        base: str,
        candles: CandleLike | None = None,
        funding: FundingLike | None = None,
        *,
        quote: str = "USDT",
        filters: Filters | None = None,
        status: str = "TRADING",
        timeframe: str = "1h",
        onboard_ms: int | None = None,
        ticker: StaticTicker | None = None,
    ) -> FakeMarket:
        """List a USD-M perpetual `BASE/QUOTE:QUOTE`, optionally with candles and funding.

        funding: `FundingRates`, a DataFrame or a mapping with columns timestamp (int64 ms
        funding time) and funding_rate (fraction per event), ascending.
        """
        bars = _as_candles(candles)
        if onboard_ms is None and bars is not None and len(bars):
            onboard_ms = int(bars.timestamp[0])
        market = FakeMarket(
            kind="perp",
            base=base.upper(),
            quote=quote.upper(),
            filters=filters or known_filters("perp", base, _last_close(bars)),
            candles=bars,
            funding=_as_funding(funding),
            status=status,
            timeframe_ms=timeframe_ms(timeframe),
            onboard_ms=onboard_ms if onboard_ms is not None else 1569398400000,
            ticker=ticker,
        )
        return self._add(market)

    def add_listing_extras(self) -> None:
        """Markets that exist only in exchangeInfo, for universe filtering tests.

        USDC/USDT (stable/stable, very liquid), BTCUP/USDT (leveraged token, TRADING) and
        LUNA/USDT (status BREAK, zero volume). Their tickers are static.
        """
        self.add_spot("USDC", ticker=StaticTicker(1.0001, 1.5e9))
        self.add_spot(
            "BTCUP",
            ticker=StaticTicker(8.5, 3.0e6),
            permission_sets=[["SPOT", "LEVERAGED"]],
        )
        self.add_spot("LUNA", status="BREAK", ticker=StaticTicker(0.0, 0.0))

    def _add(self, market: FakeMarket) -> FakeMarket:
        with self._lock:
            self.markets[(market.kind, market.id)] = market
        return market

    def market(self, symbol: str) -> FakeMarket:
        """Look up by ccxt symbol (`ETH/USDT`, `ETH/USDT:USDT`); KeyError if not added."""
        kind: MarketKind = "perp" if ":" in symbol else "spot"
        return self.markets[(kind, _exchange_id(symbol))]

    def set_status(self, symbol: str, status: str = "BREAK") -> None:
        """Change the exchangeInfo status (anything but TRADING makes ccxt `active=False`)."""
        self.market(symbol).status = status

    def delist(self, symbol: str) -> None:
        """Remove from exchangeInfo and tickers; its klines then answer -1121 Invalid symbol."""
        self.market(symbol).listed = False

    def listed(self, kind: MarketKind) -> list[FakeMarket]:
        """Listed markets of one kind, in insertion order."""
        return [m for (k, _), m in self.markets.items() if k == kind and m.listed]

    def _lookup(self, kind: MarketKind, symbol_id: str | None) -> FakeMarket:
        if not symbol_id:
            raise _mandatory("symbol")
        market = self.markets.get((kind, symbol_id))
        if market is None or not market.listed:
            raise _invalid_symbol()
        return market

    # ---- constructors

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        timeframe: str = "1h",
        bases: list[str] | None = None,
        extras: bool = True,
        now_ms: int | None = None,
        serve_open_candle: bool = True,
    ) -> ExchangeState:
        """Load `BINANCE_<BASE>-<QUOTE>_<tf>.parquet` (spot), `BINANCEUSDM_<BASE>-<QUOTE>_<tf>`
        and `..._funding.parquet` (perps) from `folder`. Arrays are read once per process
        and shared read-only between states. `bases` restricts which bases are loaded."""
        state = cls(now_ms=now_ms, serve_open_candle=serve_open_candle)
        wanted = {b.upper() for b in bases} if bases is not None else None
        for (kind, base, quote), (bars, funding) in _load_folder(str(folder), timeframe).items():
            if wanted is not None and base not in wanted:
                continue
            if kind == "spot":
                state.add_spot(base, bars, quote=quote, timeframe=timeframe)
            else:
                state.add_perp(base, bars, funding, quote=quote, timeframe=timeframe)
        if extras:
            state.add_listing_extras()
        return state

    @classmethod
    def demo(cls, **kwargs: Any) -> ExchangeState:
        """The recorded demo market shipped in `pairscan.demo/data` (10 bases, spot + perps)."""
        return cls.from_folder(_demo_folder(), **kwargs)

    # ---- faults

    def add_fault(
        self, path: str | None, fault: Fault, *, times: int = 1, symbol: str | None = None
    ) -> None:
        """Queue `fault` for the next `times` requests to `path` (None: any path), only those
        whose `symbol` parameter matches when `symbol` is given (`ETHUSDT` or `ETH/USDT`).
        Faults apply first-in first-out."""
        if times < 1:
            raise ValueError(f"times must be >= 1 (got {times})")
        wanted = _exchange_id(symbol) if symbol else None
        with self._lock:
            self._faults.append(_PendingFault(path, wanted, fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many fault applications are still queued."""
        with self._lock:
            return sum(p.remaining for p in self._faults)

    def _take_fault(self, path: str, query: Mapping[str, str]) -> Fault | None:
        with self._lock:
            for pending in self._faults:
                if pending.path is not None and pending.path != path:
                    continue
                if pending.symbol is not None and query.get("symbol") != pending.symbol:
                    continue
                pending.remaining -= 1
                if pending.remaining == 0:
                    self._faults.remove(pending)
                return pending.fault
        return None

    # ---- log

    def _log(self, method: str, path: str, query: dict[str, str], fault: Fault | None) -> None:
        entry = LoggedRequest(
            method, path, query, time.time(), self.now_ms, fault.name if fault else None
        )
        with self._lock:
            self.requests.append(entry)

    def count(self, path: str | None = None, *, symbol: str | None = None) -> int:
        """Requests logged for `path` (all paths when None), optionally only for `symbol`."""
        return len(self.requests_for(path, symbol=symbol))

    def requests_for(
        self, path: str | None = None, *, symbol: str | None = None
    ) -> list[LoggedRequest]:
        wanted = _exchange_id(symbol) if symbol else None
        with self._lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path == path)
                and (wanted is None or r.query.get("symbol") == wanted)
            ]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # ---- endpoint logic (pure: query dict in, JSON-able value out)

    def exchange_info(self, kind: MarketKind) -> dict[str, Any]:
        """`GET /api/v3/exchangeInfo` or `/fapi/v1/exchangeInfo`."""
        entry = _spot_info if kind == "spot" else _perp_info
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000 if kind == "spot" else 2400,
                }
            ],
            "exchangeFilters": [],
            "symbols": [entry(m) for m in self.listed(kind)],
        }

    def klines(self, kind: MarketKind, query: Mapping[str, str]) -> list[list[Any]]:
        """`GET /api/v3/klines` or `/fapi/v1/klines`: rows with startTime <= openTime <=
        endTime; the first `limit` with startTime, else the last `limit`."""
        market = self._lookup(kind, query.get("symbol"))
        interval = query.get("interval")
        if not interval:
            raise _mandatory("interval")
        cap = SPOT_KLINES_MAX if kind == "spot" else FAPI_KLINES_MAX
        limit = min(_int_param(query, "limit", KLINES_DEFAULT, low=1), cap)
        start = _opt_int_param(query, "startTime")
        end = _opt_int_param(query, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceAPIError(400, -1023, "Start time is greater than end time.")
        interval_ms, offset = _interval(interval, market.timeframe_ms)
        if market.candles is None:
            return []
        bars = _aggregate(
            market.candles,
            market.timeframe_ms,
            interval_ms,
            offset,
            now_ms=self.now_ms,
            start=start,
            end=end,
            limit=limit,
            include_open=self.serve_open_candle,
            price_decimals=market.filters.price_decimals,
            qty_decimals=market.filters.qty_decimals,
        )
        return _kline_rows(bars, interval_ms, market, kind)

    def funding_rate(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """`GET /fapi/v1/fundingRate`: events with fundingTime <= now, ascending."""
        limit = min(_int_param(query, "limit", FUNDING_DEFAULT, low=1), FUNDING_MAX)
        start = _opt_int_param(query, "startTime")
        end = _opt_int_param(query, "endTime")
        symbol_id = query.get("symbol")
        markets = [self._lookup("perp", symbol_id)] if symbol_id else self.listed("perp")
        rows: list[tuple[int, str, dict[str, Any]]] = []
        for market in markets:
            for row in _funding_rows(market, self.now_ms, start, end, limit):
                rows.append((row["fundingTime"], market.id, row))
        rows.sort(key=lambda r: (r[0], r[1]))
        picked = rows[:limit] if start is not None else rows[-limit:]
        return [row for _, _, row in picked]

    def ticker_24hr(self, kind: MarketKind, query: Mapping[str, str]) -> Any:
        """`GET /api/v3/ticker/24hr` or `/fapi/v1/ticker/24hr` over the last 24 h of closed
        bars; `symbol=` gives one object, `symbols=[...]` (spot) a subset."""
        if query.get("symbol"):
            market = self._lookup(kind, query["symbol"])
            ticker = _ticker(market, self.now_ms)
            if ticker is None:
                raise _invalid_symbol()
            return ticker
        markets = self.listed(kind)
        if query.get("symbols"):
            try:
                ids = json.loads(query["symbols"])
            except ValueError:
                raise BinanceAPIError(
                    400, -1100, "Illegal characters found in parameter 'symbols'."
                ) from None
            markets = [self._lookup(kind, str(i)) for i in ids]
        tickers = (_ticker(m, self.now_ms) for m in markets)
        return [t for t in tickers if t is not None]

    def premium_index(self, query: Mapping[str, str]) -> Any:
        """`GET /fapi/v1/premiumIndex` (ccxt `fetch_funding_rates`): mark price and the
        latest funding rate as of now; next funding time assumes the last interval repeats."""
        if query.get("symbol"):
            return _premium(self._lookup("perp", query["symbol"]), self.now_ms)
        return [_premium(m, self.now_ms) for m in self.listed("perp")]


# --------------------------------------------------------------------------- data loading


def _demo_folder() -> str:
    return str(resources.files("pairscan.demo") / "data")


_FILE = re.compile(
    r"^(?P<ex>BINANCE|BINANCEUSDM)_(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)"
    r"_(?P<what>[0-9]+[smhdwM]|funding)\.parquet$"
)


@functools.lru_cache(maxsize=8)
def _load_folder(
    folder: str, timeframe: str
) -> dict[tuple[MarketKind, str, str], tuple[Candles | None, FundingRates | None]]:
    """Read every matching parquet file once per process; arrays are made read-only."""
    found: dict[tuple[MarketKind, str, str], list[Any]] = {}
    for path in sorted(Path(folder).glob("*.parquet")):
        match = _FILE.match(path.name)
        if match is None or match["what"] not in (timeframe, "funding"):
            continue
        kind: MarketKind = "spot" if match["ex"] == "BINANCE" else "perp"
        if kind == "spot" and match["what"] == "funding":
            continue
        slot = found.setdefault((kind, match["base"], match["quote"]), [None, None])
        table = pq.read_table(path)
        columns = {name: table.column(name).to_numpy() for name in table.column_names}
        if match["what"] == "funding":
            slot[1] = FundingRates(
                columns["timestamp"].astype(np.int64, copy=False),
                columns["funding_rate"].astype(np.float64, copy=False),
            )
        else:
            slot[0] = _as_candles(columns)
        for array in vars(slot[0] if match["what"] != "funding" else slot[1]).values():
            array.flags.writeable = False
    return {key: (bars, funding) for key, (bars, funding) in found.items() if bars is not None}


def _as_candles(data: CandleLike | None) -> Candles | None:
    if data is None or isinstance(data, Candles):
        return data
    columns = {
        name: np.asarray(data[name])
        for name in ("timestamp", "open", "high", "low", "close", "volume")
    }
    timestamp = columns["timestamp"].astype(np.int64)
    if timestamp.size > 1 and not np.all(np.diff(timestamp) > 0):
        raise ValueError("candle timestamps must be strictly ascending")
    return Candles(
        timestamp=timestamp,
        open=columns["open"].astype(np.float64),
        high=columns["high"].astype(np.float64),
        low=columns["low"].astype(np.float64),
        close=columns["close"].astype(np.float64),
        volume=columns["volume"].astype(np.float64),
    )


def _as_funding(data: FundingLike | None) -> FundingRates | None:
    if data is None or isinstance(data, FundingRates):
        return data
    timestamp = np.asarray(data["timestamp"]).astype(np.int64)
    if timestamp.size > 1 and not np.all(np.diff(timestamp) > 0):
        raise ValueError("funding timestamps must be strictly ascending")
    return FundingRates(timestamp, np.asarray(data["funding_rate"]).astype(np.float64))


def _last_close(bars: Candles | None) -> float | None:
    return float(bars.close[-1]) if bars is not None and len(bars) else None


# --------------------------------------------------------------------------- formatting


def _dec(value: str | float | None) -> str:
    """Normalise a decimal to plain notation without trailing zeros (`"0.00100"` -> `"0.001"`)."""
    return format(Decimal(str(value)).normalize(), "f")


def _decimals(text: str) -> int:
    exponent = Decimal(text).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _fmt_pow10(value: float) -> str:
    return _dec(f"{value:.12f}")


def _fmt(value: float, decimals: int) -> str:
    """Fixed-point like Binance; falls back to the shortest exact form if rounding would
    change the float, so ccxt parses back exactly the recorded value."""
    text = f"{value:.{decimals}f}"
    if float(text) == value:
        return text
    return np.format_float_positional(value, unique=True, trim="-")


def _exchange_id(symbol: str) -> str:
    """`ETH/USDT:USDT`, `ETH/USDT` or `ETHUSDT` -> `ETHUSDT`."""
    return symbol.split(":", 1)[0].replace("/", "").upper()


def _int_param(query: Mapping[str, str], name: str, default: int, *, low: int = 0) -> int:
    value = _opt_int_param(query, name)
    if value is None:
        return default
    if value < low:
        raise BinanceAPIError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '[{low},]'.",
        )
    return value


def _opt_int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?[0-9]{1,20}", raw):
        raise BinanceAPIError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


# --------------------------------------------------------------------------- klines


def _interval(interval: str, base_ms: int) -> tuple[int, int]:
    """(length, alignment offset) in ms; -1120 unless a Binance interval that is a whole
    multiple of the stored bars (`1M` calendar months are not synthesised)."""
    if interval not in _BINANCE_INTERVALS or interval == "1M":
        raise BinanceAPIError(400, -1120, "Invalid interval.")
    length = timeframe_ms(interval)
    if length < base_ms or length % base_ms:
        raise BinanceAPIError(400, -1120, "Invalid interval.")
    return length, (_WEEK_OFFSET_MS if interval == "1w" else 0)


@dataclass(frozen=True)
class _Bars:
    """Aggregated bars ready to format (float64 prices, base and quote volumes)."""

    start: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    quote_volume: npt.NDArray[np.float64]


def _aggregate(
    candles: Candles,
    base_ms: int,
    interval_ms: int,
    offset: int,
    *,
    now_ms: int,
    start: int | None,
    end: int | None,
    limit: int,
    include_open: bool,
    price_decimals: int,
    qty_decimals: int,
) -> _Bars:
    """Bars of `interval_ms` built from stored bars of `base_ms`, as Binance would serve them
    at `now_ms`: buckets aligned to the epoch (+`offset`), window by bucket open time."""
    ts = candles.timestamp
    per_bucket = interval_ms // base_ms
    first = 0
    if start is not None:
        aligned_start = -((offset - start) // interval_ms) * interval_ms + offset  # ceil
        first = int(np.searchsorted(ts, aligned_start, side="left"))
    stop_ts = now_ms
    if end is not None:
        stop_ts = min(
            stop_ts, (end - offset) // interval_ms * interval_ms + offset + interval_ms - 1
        )
    stop = int(np.searchsorted(ts, stop_ts, side="right"))
    # Only as many stored bars as `limit` buckets can need.
    if start is not None:
        stop = min(stop, first + limit * per_bucket)
    else:
        first = max(first, stop - (limit + 1) * per_bucket)
    if stop <= first:
        return _empty_bars()
    t = ts[first:stop]
    o = candles.open[first:stop].copy()
    h = candles.high[first:stop].copy()
    lo = candles.low[first:stop].copy()
    c = candles.close[first:stop].copy()
    v = candles.volume[first:stop].copy()
    if t[-1] + base_ms > now_ms:
        # The stored bar holding `now` is still open: show it as far as it has got.
        fraction = (now_ms - int(t[-1])) / base_ms
        h[-1] = round(o[-1] + fraction * (h[-1] - o[-1]), price_decimals)
        lo[-1] = round(o[-1] + fraction * (lo[-1] - o[-1]), price_decimals)
        c[-1] = round(o[-1] + fraction * (c[-1] - o[-1]), price_decimals)
        v[-1] = round(fraction * v[-1], qty_decimals)
        # Rounding to the tick can push high below (or low above) the unrounded open: widen
        # them so the partial bar stays a valid candle, as Binance's always is.
        h[-1] = max(h[-1], o[-1], c[-1])
        lo[-1] = min(lo[-1], o[-1], c[-1])
    quote = v * (o + h + lo + c) / 4.0
    bucket = (t - offset) // interval_ms * interval_ms + offset
    edges = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    last_rows = np.r_[edges[1:], t.size] - 1
    volume = np.add.reduceat(v, edges)
    if per_bucket > 1:
        volume = np.round(volume, 8)  # drop the float noise of the sums, as Binance prints
    bars = _Bars(
        start=bucket[edges],
        open=o[edges],
        high=np.maximum.reduceat(h, edges),
        low=np.minimum.reduceat(lo, edges),
        close=c[last_rows],
        volume=volume,
        quote_volume=np.add.reduceat(quote, edges),
    )
    keep = np.ones(bars.start.size, dtype=np.bool_)
    if not include_open:
        keep &= bars.start + interval_ms <= now_ms
    if start is not None:
        keep &= bars.start >= start
    rows = np.flatnonzero(keep)
    rows = rows[:limit] if start is not None else rows[-limit:]
    return _Bars(*(getattr(bars, f)[rows] for f in _Bars.__dataclass_fields__))


def _empty_bars() -> _Bars:
    f = np.empty(0, dtype=np.float64)
    return _Bars(np.empty(0, dtype=np.int64), f, f, f, f, f, f)


def _kline_rows(
    bars: _Bars, interval_ms: int, market: FakeMarket, kind: MarketKind
) -> list[list[Any]]:
    """Binance's 12-field rows; spot prints 8 decimals, USD-M the tick and step decimals."""
    price_d = 8 if kind == "spot" else market.filters.price_decimals
    qty_d = 8 if kind == "spot" else market.filters.qty_decimals
    rows = []
    for i in range(bars.start.size):
        volume = float(bars.volume[i])
        quote = float(bars.quote_volume[i])
        rows.append(
            [
                int(bars.start[i]),
                _fmt(float(bars.open[i]), price_d),
                _fmt(float(bars.high[i]), price_d),
                _fmt(float(bars.low[i]), price_d),
                _fmt(float(bars.close[i]), price_d),
                _fmt(volume, qty_d),
                int(bars.start[i]) + interval_ms - 1,
                f"{quote:.8f}",
                _trade_count(quote, volume),
                _fmt(round(volume / 2.0, qty_d), qty_d),
                f"{quote / 2.0:.8f}",
                "0",
            ]
        )
    return rows


def _trade_count(quote_volume: float, volume: float) -> int:
    """A plausible trade count: about 1,500 quote units per trade, at least one if traded."""
    if volume <= 0:
        return 0
    return max(1, int(quote_volume / 1500.0))


# --------------------------------------------------------------------------- funding, tickers


def _funding_rows(
    market: FakeMarket, now_ms: int, start: int | None, end: int | None, limit: int
) -> list[dict[str, Any]]:
    funding = market.funding
    if funding is None or not len(funding):
        return []
    ts = funding.timestamp
    lo = int(np.searchsorted(ts, start, side="left")) if start is not None else 0
    upper = now_ms if end is None else min(end, now_ms)
    hi = int(np.searchsorted(ts, upper, side="right"))
    if hi <= lo:
        return []
    lo, hi = (lo, min(hi, lo + limit)) if start is not None else (max(lo, hi - limit), hi)
    return [
        {
            "symbol": market.id,
            "fundingTime": int(ts[i]),
            "fundingRate": _fmt(float(funding.funding_rate[i]), 8),
            "markPrice": _mark_price(market, int(ts[i])),
        }
        for i in range(lo, hi)
    ]


def _mark_price(market: FakeMarket, at_ms: int) -> str:
    """Close of the bar that ends at the funding hour, or "" (as Binance sends for old rows)."""
    bars = market.candles
    if bars is None or not len(bars):
        return ""
    wanted = at_ms // market.timeframe_ms * market.timeframe_ms - market.timeframe_ms
    i = int(np.searchsorted(bars.timestamp, wanted, side="left"))
    if i >= len(bars) or int(bars.timestamp[i]) != wanted:
        return ""
    return f"{float(bars.close[i]):.8f}"


def _ticker(market: FakeMarket, now_ms: int) -> dict[str, Any] | None:
    """24h statistics from closed bars in [now - 24h, now); None when nothing to report."""
    if market.candles is None or not len(market.candles):
        return _static_ticker(market, now_ms) if market.ticker is not None else None
    bars = market.candles
    tf = market.timeframe_ms
    closed_end = now_ms // tf * tf  # bars opening before this are closed
    hi = int(np.searchsorted(bars.timestamp, closed_end - tf, side="right"))
    if hi == 0:
        return None
    lo = int(np.searchsorted(bars.timestamp, closed_end - TICKER_WINDOW_MS, side="left"))
    s = slice(lo, hi)
    last = float(bars.close[hi - 1])
    if hi <= lo:
        return _ticker_dict(
            market, last, last, last, last, 0.0, 0.0, closed_end - TICKER_WINDOW_MS, now_ms
        )
    o, h, lw, c, v = (bars.open[s], bars.high[s], bars.low[s], bars.close[s], bars.volume[s])
    quote = float(np.sum(v * (o + h + lw + c) / 4.0))
    return _ticker_dict(
        market,
        float(o[0]),
        float(np.max(h)),
        float(np.min(lw)),
        last,
        float(np.sum(v)),
        quote,
        int(bars.timestamp[lo]),
        now_ms,
    )


def _static_ticker(market: FakeMarket, now_ms: int) -> dict[str, Any]:
    static = market.ticker or StaticTicker(0.0, 0.0)
    price = static.last_price
    volume = static.quote_volume / price if price > 0 else 0.0
    return _ticker_dict(
        market,
        price,
        price,
        price,
        price,
        volume,
        static.quote_volume,
        now_ms - TICKER_WINDOW_MS,
        now_ms,
    )


def _ticker_dict(
    market: FakeMarket,
    open_: float,
    high: float,
    low: float,
    last: float,
    volume: float,
    quote: float,
    open_time: int,
    close_time: int,
) -> dict[str, Any]:
    price_d = 8 if market.kind == "spot" else market.filters.price_decimals
    qty_d = 8 if market.kind == "spot" else market.filters.qty_decimals
    change = last - open_
    volume = round(volume, 8)
    count = _trade_count(quote, volume)
    ticker: dict[str, Any] = {
        "symbol": market.id,
        "priceChange": _fmt(change, price_d),
        "priceChangePercent": f"{(100.0 * change / open_) if open_ else 0.0:.3f}",
        "weightedAvgPrice": _fmt(quote / volume if volume else last, price_d),
        "lastPrice": _fmt(last, price_d),
        "lastQty": _fmt(float(market.filters.min_qty or 0), qty_d),
        "openPrice": _fmt(open_, price_d),
        "highPrice": _fmt(high, price_d),
        "lowPrice": _fmt(low, price_d),
        "volume": _fmt(volume, qty_d),
        "quoteVolume": f"{quote:.8f}",
        "openTime": open_time,
        "closeTime": close_time,
        "firstId": 1000 if count else -1,
        "lastId": 1000 + count - 1 if count else -1,
        "count": count,
    }
    if market.kind == "spot":
        # `bidQty` is how ccxt's parse_ticker tells a spot ticker from a contract one.
        tick = float(market.filters.tick_size)
        ticker.update(
            prevClosePrice=_fmt(open_, price_d),
            bidPrice=_fmt(last, price_d),
            bidQty="1.00000000",
            askPrice=_fmt(last + tick if last else 0.0, price_d),
            askQty="1.00000000",
        )
    return ticker


def _premium(market: FakeMarket, now_ms: int) -> dict[str, Any]:
    mark = ""
    if market.candles is not None and len(market.candles):
        bars = market.candles
        i = int(np.searchsorted(bars.timestamp, now_ms, side="right")) - 1
        if i >= 0:
            # Inside a bar, the price so far, as in the open candle (no look-ahead).
            fraction = min(1.0, (now_ms - int(bars.timestamp[i])) / market.timeframe_ms)
            price = float(bars.open[i]) + fraction * float(bars.close[i] - bars.open[i])
            mark = f"{round(price, market.filters.price_decimals):.8f}"
    last_rate, next_time = (
        "0.00000000",
        now_ms // (8 * MS_PER_HOUR) * (8 * MS_PER_HOUR) + 8 * MS_PER_HOUR,
    )
    funding = market.funding
    if funding is not None and len(funding):
        j = int(np.searchsorted(funding.timestamp, now_ms, side="right")) - 1
        if j >= 0:
            last_rate = _fmt(float(funding.funding_rate[j]), 8)
            step = (
                int(funding.timestamp[j] - funding.timestamp[j - 1]) if j >= 1 else 8 * MS_PER_HOUR
            )
            step = max(MS_PER_HOUR, step // MS_PER_HOUR * MS_PER_HOUR)
            next_time = int(funding.timestamp[j]) // MS_PER_HOUR * MS_PER_HOUR + step
            while next_time <= now_ms:
                next_time += step
    return {
        "symbol": market.id,
        "markPrice": mark,
        "indexPrice": mark,
        "estimatedSettlePrice": mark,
        "lastFundingRate": last_rate,
        "interestRate": "0.00010000",
        "nextFundingTime": next_time,
        "time": now_ms,
    }


# --------------------------------------------------------------------------- exchangeInfo


def _spot_info(m: FakeMarket) -> dict[str, Any]:
    f = m.filters
    return {
        "symbol": m.id,
        "status": m.status,
        "baseAsset": m.base,
        "baseAssetPrecision": 8,
        "quoteAsset": m.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": m.status == "TRADING",
        "isMarginTradingAllowed": any("MARGIN" in s for s in m.permission_sets),
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _fixed8(f.tick_size),
                "maxPrice": "1000000.00000000",
                "tickSize": _fixed8(f.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": _fixed8(f.min_qty or f.step_size),
                "maxQty": _fixed8(f.max_qty),
                "stepSize": _fixed8(f.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": _fixed8(f.max_qty),
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": _fixed8(f.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": m.permission_sets,
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _perp_info(m: FakeMarket) -> dict[str, Any]:
    f = m.filters
    return {
        "symbol": m.id,
        "pair": m.id,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": m.onboard_ms,
        "status": m.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": m.base,
        "quoteAsset": m.quote,
        "marginAsset": m.quote,
        "pricePrecision": f.price_decimals,
        "quantityPrecision": f.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f.tick_size,
                "maxPrice": "4529764",
                "tickSize": f.tick_size,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": f.min_qty or f.step_size,
                "maxQty": f.max_qty,
                "stepSize": f.step_size,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": f.min_qty or f.step_size,
                "maxQty": f.max_qty,
                "stepSize": f.step_size,
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": f.min_notional},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def _fixed8(text: str) -> str:
    return f"{Decimal(text):.8f}"


# --------------------------------------------------------------------------- HTTP server


class _Handler(BaseHTTPRequestHandler):
    """Routes Binance public REST paths to `ExchangeState`; one instance per connection."""

    protocol_version = "HTTP/1.1"  # keep-alive like the real API; every answer has Content-Length
    server_version = "fake-binance"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds
    # ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    ROUTES: ClassVar[dict[str, Callable[[ExchangeState, dict[str, str]], Any]]] = {
        f"{SPOT_PREFIX}/exchangeInfo": lambda s, q: s.exchange_info("spot"),
        f"{FAPI_PREFIX}/exchangeInfo": lambda s, q: s.exchange_info("perp"),
        f"{DAPI_PREFIX}/exchangeInfo": lambda s, q: {
            "timezone": "UTC",
            "serverTime": s.now_ms,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [],
        },
        f"{SPOT_PREFIX}/klines": lambda s, q: s.klines("spot", q),
        f"{FAPI_PREFIX}/klines": lambda s, q: s.klines("perp", q),
        f"{FAPI_PREFIX}/fundingRate": lambda s, q: s.funding_rate(q),
        f"{SPOT_PREFIX}/ticker/24hr": lambda s, q: s.ticker_24hr("spot", q),
        f"{FAPI_PREFIX}/ticker/24hr": lambda s, q: s.ticker_24hr("perp", q),
        f"{FAPI_PREFIX}/premiumIndex": lambda s, q: s.premium_index(q),
        f"{SPOT_PREFIX}/time": lambda s, q: {"serverTime": s.now_ms},
        f"{FAPI_PREFIX}/time": lambda s, q: {"serverTime": s.now_ms},
        f"{DAPI_PREFIX}/time": lambda s, q: {"serverTime": s.now_ms},
        f"{SPOT_PREFIX}/ping": lambda s, q: {},
        f"{FAPI_PREFIX}/ping": lambda s, q: {},
    }

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        fault = state._take_fault(url.path, query)
        state._log(method, url.path, query, fault)
        if fault is not None:
            if fault.sleep_s > 0 and self.server.stopping.wait(fault.sleep_s):
                self.close_connection = True
                return
            if fault.drop:
                self.close_connection = True
                return
            if fault.status is not None:
                self._send(fault.status, fault.body, fault.content_type, fault.headers)
                return
        route = self.ROUTES.get(url.path) if method == "GET" else None
        if route is None:
            self._send_json(404, {"code": -1, "msg": "unknown path"})
            return
        try:
            payload = route(state, query)
        except BinanceAPIError as error:
            self._send_json(error.status, {"code": error.code, "msg": error.msg})
            return
        self._send_json(200, payload)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, separators=(",", ":")).encode(), _JSON, {})

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged in `state.requests`, not on stderr."""


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its state and its open connections, to close them."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: ExchangeState) -> None:
        self.state = state
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Condition()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
                self._connections_lock.notify_all()

    def close_connections(self, timeout_s: float = 2.0) -> None:
        """Shut every open client connection and wait for their handler threads to finish."""
        with self._connections_lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections_lock.wait_for(lambda: not self._connections, timeout=timeout_s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeout tests) is normal here; anything else is printed."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FakeBinance:
    """A running fake: `.state`, `.base_url`, `.ccxt_config()`; close with `.close()` or `with`."""

    def __init__(self, state: ExchangeState, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.server = _Server((host, port), state)
        self.port = int(self.server.server_address[1])
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-binance-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server: `url("/api/v3/klines")`."""
        return self.base_url + path

    def ccxt_config(
        self,
        *,
        market_types: tuple[str, ...] = ("spot", "linear"),
        timeout_ms: int = 2000,
        enable_rate_limit: bool = False,
        options: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Constructor config for `ccxt.binance` and `ccxt.binanceusdm` pointing at this server.

        Every `urls['api']` key is replaced (a stray endpoint gives a logged 404, never the
        network). `market_types` is `options.fetchMarkets.types`; the default loads spot and
        USD-M; pass `("linear",)` for binanceusdm's own default.
        """
        merged_options: dict[str, Any] = {"fetchMarkets": {"types": list(market_types)}}
        merged_options.update(options or {})
        config: dict[str, Any] = {
            "urls": {"api": {key: self.base_url + path for key, path in CCXT_API_PATHS.items()}},
            "options": merged_options,
            "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit,
        }
        config.update(extra)
        return config

    def close(self) -> None:
        """Stop serving, wake sleeping faults, close every socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.server.stopping.set()
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeBinance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start_fake_binance(
    state: ExchangeState | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> FakeBinance:
    """Serve `state` (default: the demo market) on `host:port` (0 = any free port) in a
    daemon thread. Returns the running `FakeBinance`; use it as a context manager."""
    return FakeBinance(state if state is not None else ExchangeState.demo(), host=host, port=port)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.fakes.binance`: print the base URL, serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.binance", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--data", help="parquet folder (default: the packaged demo data)")
    parser.add_argument("--timeframe", default="1h", help="stored bar length of the files")
    parser.add_argument("--now", help="exchange clock: ISO datetime (UTC) or epoch ms")
    parser.add_argument("--no-open-candle", action="store_true", help="serve only closed bars")
    parser.add_argument("--no-extras", action="store_true", help="omit USDC/BTCUP/LUNA listings")
    args = parser.parse_args(argv)
    state = ExchangeState.from_folder(
        args.data or _demo_folder(),
        timeframe=args.timeframe,
        extras=not args.no_extras,
        serve_open_candle=not args.no_open_candle,
        now_ms=parse_utc(args.now, what="--now") if args.now else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with start_fake_binance(state, host=args.host, port=args.port) as fake:
        print(fake.base_url, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
