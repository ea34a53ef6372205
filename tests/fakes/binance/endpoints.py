"""JSON answers of the fake's endpoints (exchangeInfo, klines, fundingRate, ticker/24hr,
premiumIndex): pure functions of an `ExchangeState` and the query dict, bound to it as methods."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from pairscan.market import MS_PER_HOUR

from .bars import _aggregate, _interval, _kline_rows, _trade_count
from .filters import FakeMarket, StaticTicker
from .protocol import (
    FAPI_KLINES_MAX,
    FUNDING_DEFAULT,
    FUNDING_MAX,
    KLINES_DEFAULT,
    SPOT_KLINES_MAX,
    TICKER_WINDOW_MS,
    BinanceAPIError,
    MarketKind,
    _fmt,
    _int_param,
    _invalid_symbol,
    _mandatory,
    _opt_int_param,
)

if TYPE_CHECKING:
    from .state import ExchangeState


def exchange_info(state: ExchangeState, kind: MarketKind) -> dict[str, Any]:
    """`GET /api/v3/exchangeInfo` or `/fapi/v1/exchangeInfo`."""
    entry = _spot_info if kind == "spot" else _perp_info
    return {
        "timezone": "UTC",
        "serverTime": state.now_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000 if kind == "spot" else 2400,
            }
        ],
        "exchangeFilters": [],
        "symbols": [entry(m) for m in state.listed(kind)],
    }


def klines(state: ExchangeState, kind: MarketKind, query: Mapping[str, str]) -> list[list[Any]]:
    """`GET /api/v3/klines` or `/fapi/v1/klines`: rows with startTime <= openTime <=
    endTime; the first `limit` with startTime, else the last `limit`."""
    market = state._lookup(kind, query.get("symbol"))
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
        now_ms=state.now_ms,
        start=start,
        end=end,
        limit=limit,
        include_open=state.serve_open_candle,
        price_decimals=market.filters.price_decimals,
        qty_decimals=market.filters.qty_decimals,
    )
    return _kline_rows(bars, interval_ms, market, kind)


def funding_rate(state: ExchangeState, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """`GET /fapi/v1/fundingRate`: events with fundingTime <= now, ascending."""
    limit = min(_int_param(query, "limit", FUNDING_DEFAULT, low=1), FUNDING_MAX)
    start = _opt_int_param(query, "startTime")
    end = _opt_int_param(query, "endTime")
    symbol_id = query.get("symbol")
    markets = [state._lookup("perp", symbol_id)] if symbol_id else state.listed("perp")
    rows: list[tuple[int, str, dict[str, Any]]] = []
    for market in markets:
        for row in _funding_rows(market, state.now_ms, start, end, limit):
            rows.append((row["fundingTime"], market.id, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    picked = rows[:limit] if start is not None else rows[-limit:]
    return [row for _, _, row in picked]


def ticker_24hr(state: ExchangeState, kind: MarketKind, query: Mapping[str, str]) -> Any:
    """`GET /api/v3/ticker/24hr` or `/fapi/v1/ticker/24hr` over the last 24 h of closed
    bars; `symbol=` gives one object, `symbols=[...]` (spot) a subset."""
    if query.get("symbol"):
        market = state._lookup(kind, query["symbol"])
        ticker = _ticker(market, state.now_ms)
        if ticker is None:
            raise _invalid_symbol()
        return ticker
    markets = state.listed(kind)
    if query.get("symbols"):
        try:
            ids = json.loads(query["symbols"])
        except ValueError:
            raise BinanceAPIError(
                400, -1100, "Illegal characters found in parameter 'symbols'."
            ) from None
        markets = [state._lookup(kind, str(i)) for i in ids]
    tickers = (_ticker(m, state.now_ms) for m in markets)
    return [t for t in tickers if t is not None]


def premium_index(state: ExchangeState, query: Mapping[str, str]) -> Any:
    """`GET /fapi/v1/premiumIndex` (ccxt `fetch_funding_rates`): mark price and the
    latest funding rate as of now; next funding time assumes the last interval repeats."""
    if query.get("symbol"):
        return _premium(state._lookup("perp", query["symbol"]), state.now_ms)
    return [_premium(m, state.now_ms) for m in state.listed("perp")]


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
