"""Stage 1 (fetch): ccxt's market dicts into `MarketInfo`, and the check that a market-list
answer is not garbage. Pure: no requests; imported only by `ccxt_source`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import ccxt

from pairscan.fetch.retry import redact
from pairscan.market import MarketInfo, MarketType

# Market-list answers per exchange, where known: (path suffix, fields one of which must be a
# list). ccxt turns a garbage exchangeInfo (HTML, an empty or truncated body, an object without
# `symbols`) into "no markets of that type" without an error. A well-formed answer with an
# empty list stands: an exchange (a testnet, a region) may list no market of a type. Other
# exchanges' answers during load_markets are only required to be JSON.
_BINANCE_MARKET_LIST = ("/exchangeInfo", ("symbols", "optionSymbols"))
MARKET_LISTS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "binance": _BINANCE_MARKET_LIST,
    "binanceusdm": _BINANCE_MARKET_LIST,
    "binancecoinm": _BINANCE_MARKET_LIST,
    "binanceus": _BINANCE_MARKET_LIST,
}

_MARKET_TYPES = ("spot", "swap", "future", "option")


def market_list_problem(
    exchange_id: str, answer: Any, path: str, secrets: tuple[str, ...]
) -> str | None:
    """What is wrong with one answer ccxt got while loading markets, or None.

    ccxt drops a market type whose answer it cannot parse without a word, so each answer must
    be JSON and, where `MARKET_LISTS` knows the shape, hold the list of markets.
    `answer` is what ccxt's `fetch` returned: parsed JSON, else the body as text.
    """
    if not isinstance(answer, dict | list):
        snippet = redact(str(answer), secrets)[:60] or "empty body"
        return f"200 response is not JSON ({snippet})"
    suffix, fields = MARKET_LISTS.get(exchange_id, ("", ()))
    if not fields or not path.endswith(suffix):
        return None
    found = [answer.get(f) for f in fields] if isinstance(answer, dict) else []
    if any(isinstance(markets, list) for markets in found):
        return None
    snippet = redact(json.dumps(answer), secrets)[:60]
    return f"200 response has no {' or '.join(fields)} list ({snippet})"


def _step(value: Any, precision_mode: int) -> float | None:
    if value is None:
        return None
    if precision_mode == ccxt.DECIMAL_PLACES:
        return float(10.0 ** (-float(value)))
    if precision_mode == ccxt.TICK_SIZE:
        return float(value)
    return None  # significant digits: no fixed lot step


def market_info(market: Mapping[str, Any], precision_mode: int) -> MarketInfo:
    """One ccxt unified market dict as a `MarketInfo`."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    raw_type = market.get("type")
    kind: MarketType = raw_type if raw_type in _MARKET_TYPES else "other"
    return MarketInfo(
        symbol=str(market["symbol"]),
        base=str(market.get("base") or ""),
        quote=str(market.get("quote") or ""),
        type=kind,
        active=market.get("active") is not False,  # ccxt uses None for "unknown": keep it
        settle=market.get("settle"),
        contract_size=float(market.get("contractSize") or 1.0),
        amount_step=_step(precision.get("amount"), precision_mode),
        price_step=_step(precision.get("price"), precision_mode),
        min_amount=(limits.get("amount") or {}).get("min"),
        min_notional=(limits.get("cost") or {}).get("min"),
        taker_fee=_fee(market.get("taker")),
        extra={"linear": str(market.get("linear"))},
    )


def _fee(value: Any) -> float | None:
    """ccxt's market fee (a fraction of notional), None when absent or not a sane number."""
    try:
        fee = float(value)
    except (TypeError, ValueError):
        return None
    return fee if 0.0 <= fee < 0.1 else None
