"""The ticket: a stable id per (exchange, pair, bar, action), validation that names the field,
and an exact JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pairscan.signals import REASON_NAMES, REFUSAL_REASONS
from pairscan.tickets import CLOSE_REASONS, Leg, Ticket, ticket_id
from tests.tickets.factories import BAR, X, Y, make_ticket


def test_the_id_is_stable_and_documented() -> None:
    # A fixed value: changing the scheme would let a rerun duplicate tickets saved before.
    assert ticket_id("binance", "ETH/USDT", "BTC/USDT", BAR, "open_long") == (
        ticket_id("binance", "ETH/USDT", "BTC/USDT", np.int64(BAR), "open_long")
    )
    assert ticket_id("binance", "ETH/USDT", "BTC/USDT", BAR, "open_long") == "802d2b039befc20162d1"
    assert len(ticket_id("b", "A", "B", 0, "close")) == 20


def test_the_id_differs_for_every_part_of_the_key() -> None:
    base = ("binance", "ETH/USDT", "BTC/USDT", BAR, "open_long")
    variants = [
        ("bybit", *base[1:]),
        (base[0], "SOL/USDT", *base[2:]),
        (*base[:2], "SOL/USDT", *base[3:]),
        (*base[:3], BAR + 3_600_000, base[4]),
        (*base[:4], "open_short"),
        (*base[:4], "close"),
        (base[0], base[2], base[1], *base[3:]),  # the pair's orientation matters
        ("binance|ETH/USDT", "BTC/USDT", "", BAR, "open_long"),  # no separator ambiguity
    ]
    ids = {ticket_id(*base)} | {ticket_id(*v) for v in variants}  # type: ignore[arg-type]
    assert len(ids) == len(variants) + 1


def test_close_reasons_are_the_machines() -> None:
    refusals = {REASON_NAMES[code] for code in REFUSAL_REASONS}
    assert set(CLOSE_REASONS) == set(REASON_NAMES.values()) - {"none"} - refusals


def test_nan_optional_values_become_none_and_numpy_numbers_are_plain() -> None:
    ticket = make_ticket(
        "close", z=float("nan"), qvalue=np.float64("nan"), gross_quote=np.float64(12.5)
    )
    assert ticket.z is None
    assert ticket.qvalue is None
    assert type(ticket.gross_quote) is float
    assert ticket.direction == "long"
    assert make_ticket("close", closes="short").direction == "short"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "0" * 20}, "id: must be ticket_id"),
        ({"action": "buy"}, "action: must be one of open_long, open_short, close"),
        ({"reason": "stop"}, "reason: a open_long ticket's reason must be one of entry"),
        ({"x_symbol": Y}, "x_symbol: must differ"),
        ({"y_symbol": "ETH/USDT\n"}, "y_symbol: must be a non-empty printable"),
        ({"quote": ""}, "quote: must be a non-empty printable"),
        ({"bar_ms": 1.5}, "bar_ms: must be an integer"),
        ({"z": float("nan")}, "z: an open_long ticket needs a finite z-score"),
        ({"z": float("inf")}, "z: must be finite"),
        ({"hedge_ratio": 0.0}, "hedge_ratio: must not be 0"),
        ({"stop_z": 1.0}, "need stop_z > entry_z > exit_z >= 0"),
        ({"qvalue": 1.5}, "qvalue: must be within"),
        ({"half_life_bars": -3.0}, "half_life_bars: must be > 0"),
        ({"var95_quote": -1.0}, "var95_quote: must be >= 0"),
        ({"pnl_estimate_quote": 3.0}, "only a close ticket has one"),
        ({"legs": ()}, "legs: must be a tuple of two Leg"),
        (
            {"legs": (Leg(X, "sell", 1.0, 1.0, 1.0), Leg(Y, "buy", 1.0, 1.0, 1.0))},
            "legs: must be \\(ETH/USDT:USDT, BTC/USDT:USDT\\) in that order",
        ),
        (
            {"legs": (Leg(Y, "sell", 1.0, 1.0, 1.0), Leg(X, "buy", 1.0, 1.0, 1.0))},
            "an open_long ticket must buy y",
        ),
        (
            {"legs": (Leg(Y, "buy", 1.0, 1.0, 1.0), Leg(X, "buy", 1.0, 1.0, 1.0))},
            "with hedge ratio 0.98 the x leg BTC/USDT:USDT must sell",
        ),
    ],
)
def test_invalid_tickets_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_ticket(**changes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((Y, "hold", 1.0, 1.0, 1.0), "side: must be 'buy' or 'sell'"),
        ((Y, "buy", 0.0, 1.0, 1.0), "ETH/USDT:USDT qty: must be > 0"),
        ((Y, "buy", 1.0, float("nan"), 1.0), "notional_quote: must be finite"),
        ((Y, "buy", 1.0, 1.0, True), "ref_price: expected a number"),
    ],
)
def test_invalid_legs_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Leg(*args)


def test_negative_beta_puts_both_legs_on_ys_side() -> None:
    ticket = make_ticket("open_short", hedge_ratio=-0.7)
    assert [leg.side for leg in ticket.legs] == ["sell", "sell"]


def test_from_json_names_what_is_wrong() -> None:
    data = json.loads(make_ticket().to_json())
    with pytest.raises(ValueError, match="JSON version 2 is not 1"):
        Ticket.from_dict({**data, "v": 2})
    with pytest.raises(ValueError, match="missing quote; unknown colour"):
        Ticket.from_dict({**{k: v for k, v in data.items() if k != "quote"}, "colour": 1})
    with pytest.raises(ValueError, match="not JSON"):
        Ticket.from_json("{")


# -- JSON round trip -------------------------------------------------------------------------------

_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
_positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False)
_symbols = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N", "P", "S")),
    min_size=1,
    max_size=24,
)


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    action = draw(st.sampled_from(["open_long", "open_short", "close"]))
    y, x = draw(st.lists(_symbols, min_size=2, max_size=2, unique=True))
    exchange = draw(_symbols)
    bar_ms = draw(st.integers(min_value=0, max_value=2**53))
    beta = draw(_floats.filter(lambda b: b != 0.0))
    y_side = draw(st.sampled_from(["buy", "sell"]))
    if action != "close":
        y_side = "buy" if action == "open_long" else "sell"
    x_side = ("sell" if y_side == "buy" else "buy") if beta > 0 else y_side
    exit_z = draw(st.floats(min_value=0.0, max_value=10.0))
    entry_z = exit_z + draw(st.floats(min_value=1e-6, max_value=10.0))
    stop_z = entry_z + draw(st.floats(min_value=1e-6, max_value=10.0))
    optional = st.none() | _positive
    return Ticket(
        id=ticket_id(exchange, y, x, bar_ms, action),
        exchange=exchange,
        bar_ms=bar_ms,
        created_ms=draw(st.integers(min_value=0, max_value=2**62)),
        y_symbol=y,
        x_symbol=x,
        action=action,  # type: ignore[arg-type]
        reason=draw(st.sampled_from(CLOSE_REASONS)) if action == "close" else "entry",
        legs=(
            Leg(y, y_side, draw(_positive), draw(_positive), draw(_positive)),  # type: ignore[arg-type]
            Leg(x, x_side, draw(_positive), draw(_positive), draw(_positive)),  # type: ignore[arg-type]
        ),
        hedge_ratio=beta,
        z=draw(st.none() | _floats) if action == "close" else draw(_floats),
        entry_z=entry_z,
        exit_z=exit_z,
        stop_z=stop_z,
        half_life_bars=draw(optional),
        qvalue=draw(st.none() | st.floats(min_value=0.0, max_value=1.0)),
        gross_quote=draw(_positive),
        daily_vol_quote=draw(_positive),
        var95_quote=draw(_positive),
        var99_quote=draw(_positive),
        margin_quote=draw(st.just(0.0) | _positive),
        pnl_estimate_quote=draw(st.none() | _floats) if action == "close" else None,
        quote=draw(_symbols),
    )


@given(tickets())
def test_json_round_trip_is_exact(ticket: Ticket) -> None:
    text = ticket.to_json()
    back = Ticket.from_json(text)
    assert back == ticket
    for f in dataclasses.fields(Ticket):
        a, b = getattr(back, f.name), getattr(ticket, f.name)
        if isinstance(a, float):
            assert math.copysign(1.0, a) == math.copysign(1.0, b)  # -0.0 stays -0.0
    assert back.to_json() == text
