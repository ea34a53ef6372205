"""Tickets for the tests: a valid ticket of any action, with any field changed."""

from __future__ import annotations

from typing import Any

from pairscan.market import parse_utc
from pairscan.tickets import Leg, Ticket, ticket_id

BAR = parse_utc("2026-05-15T23:00")
CREATED = BAR + 3_600_000 + 42_000  # the bar's close plus a run's 42 s
Y, X = "ETH/USDT:USDT", "BTC/USDT:USDT"


def leg(symbol: str, side: str, qty: float, price: float) -> Leg:
    return Leg(symbol, side, qty, qty * price, price)  # type: ignore[arg-type]


def make_ticket(
    action: str = "open_long",
    *,
    y: str = Y,
    x: str = X,
    bar_ms: int = BAR,
    exchange: str = "binanceusdm",
    closes: str = "long",
    qty: tuple[float, float] = (1.234, 0.031),
    prices: tuple[float, float] = (2192.1, 85480.0),
    **changes: Any,
) -> Ticket:
    """An open_long/open_short ticket, or a close of a `closes` spread, sides following the
    action and the hedge ratio's sign."""
    beta = changes.get("hedge_ratio", 0.98)
    if action == "close":
        y_side = "sell" if closes == "long" else "buy"
    else:
        y_side = "buy" if action == "open_long" else "sell"
    x_side = ("sell" if y_side == "buy" else "buy") if beta > 0 else y_side
    fields: dict[str, Any] = {
        "id": ticket_id(exchange, y, x, bar_ms, action),
        "exchange": exchange,
        "bar_ms": bar_ms,
        "created_ms": bar_ms + (CREATED - BAR),
        "y_symbol": y,
        "x_symbol": x,
        "action": action,
        "reason": "entry" if action != "close" else "mean_reversion",
        "legs": (leg(y, y_side, qty[0], prices[0]), leg(x, x_side, qty[1], prices[1])),
        "hedge_ratio": beta,
        "z": -2.3141 if action == "open_long" else (2.5 if action == "open_short" else -0.41),
        "entry_z": 2.0,
        "exit_z": 0.5,
        "stop_z": 4.0,
        "half_life_bars": 14.0,
        "qvalue": 0.003,
        "gross_quote": 5355.0,
        "daily_vol_quote": 41.2,
        "var95_quote": 67.8,
        "var99_quote": 95.9,
        "margin_quote": 5355.0 if action != "close" else 0.0,
        "pnl_estimate_quote": 53.2 if action == "close" else None,
        "quote": "USDT",
    }
    fields.update(changes)
    return Ticket(**fields)
