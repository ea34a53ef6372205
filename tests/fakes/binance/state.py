"""State of the fake: `ExchangeState` (markets, clock, fault queue, request log) and the
loading of recorded parquet folders into it. Endpoint answers live in endpoints.py."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pairscan.market import Candles, FundingRates, timeframe_ms

from . import endpoints
from .faults import Fault, _PendingFault
from .filters import FakeMarket, Filters, StaticTicker, known_filters
from .protocol import MarketKind, _exchange_id, _invalid_symbol, _mandatory

CandleLike = Candles | Mapping[str, Any]
FundingLike = FundingRates | Mapping[str, Any]


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
        self,
        path: str | None,
        fault: Fault,
        *,
        times: int = 1,
        symbol: str | None = None,
        after: int = 0,
    ) -> None:
        """Queue `fault` for the next `times` requests to `path` (None: any path), only those
        whose `symbol` parameter matches when `symbol` is given (`ETHUSDT` or `ETH/USDT`),
        once `after` such requests were answered normally (`after=2`: the third page).
        Faults apply first-in first-out."""
        if times < 1:
            raise ValueError(f"times must be >= 1 (got {times})")
        if after < 0:
            raise ValueError(f"after must be >= 0 (got {after})")
        wanted = _exchange_id(symbol) if symbol else None
        with self._lock:
            self._faults.append(_PendingFault(path, wanted, fault, times, after))

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
                if pending.skip > 0:
                    pending.skip -= 1
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

    # ---- endpoint logic (pure: query dict in, JSON-able value out), in endpoints.py

    exchange_info = endpoints.exchange_info
    klines = endpoints.klines
    funding_rate = endpoints.funding_rate
    ticker_24hr = endpoints.ticker_24hr
    premium_index = endpoints.premium_index


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
