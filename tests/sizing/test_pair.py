"""One pair's ticket: hand-computed sizes with each cap binding, lot rounding, leg minimums that
drop the whole ticket, risk figures, the book leverage cap and argument validation."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pairscan.config import SizingConfig
from pairscan.market import MS_PER_HOUR, MarketInfo
from pairscan.sizing import (
    SIDE_LONG,
    SIDE_SHORT,
    PairSize,
    apply_book_caps,
    floor_to_step,
    size_pair,
)

SIGMA_20 = 0.20 / math.sqrt(8760)  # spread vol 20 % a year, per one-hour bar
DAILY_20 = 0.20 / math.sqrt(365)  # the same per day: 0.0104685
CONFIG = SizingConfig(capital_quote=10_000.0, target_vol=0.10, margin_leverage=2.0)
Y = MarketInfo(
    symbol="YYY/USDT:USDT",
    base="YYY",
    quote="USDT",
    type="swap",
    active=True,
    settle="USDT",
    amount_step=0.01,
    min_amount=0.01,
    min_notional=5.0,
)
X = MarketInfo(
    symbol="XXX/USDT:USDT",
    base="XXX",
    quote="USDT",
    type="swap",
    active=True,
    settle="USDT",
    amount_step=0.1,
    min_amount=0.1,
    min_notional=5.0,
)
PRICE_Y, PRICE_X = 100.0, 50.0


def size(beta: float = 0.5, **kw: Any) -> PairSize:
    args: dict[str, Any] = {
        "side": SIDE_LONG,
        "beta": beta,
        "spread_vol": SIGMA_20,
        "price_y": PRICE_Y,
        "price_x": PRICE_X,
        "market_y": Y,
        "market_x": X,
        "config": CONFIG,
        "timeframe_ms": MS_PER_HOUR,
    }
    args.update(kw)
    side, beta_, vol = args.pop("side"), args.pop("beta"), args.pop("spread_vol")
    return size_pair(side, beta_, vol, **args)


# --- floor_to_step ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "step", "want"),
    [
        (0.3, 0.1, 0.3),  # floor(0.3 / 0.1) in binary is floor(2.9999999999999996) = 2
        (0.7, 0.1, 0.7),
        (1.0, 0.001, 1.0),
        (0.29999999999999993, 0.1, 0.2),  # the float just below 0.3 must not round up to it
        (0.0009999, 0.001, 0.0),
        (123.456789, 0.001, 123.456),
        (5.99, 1.0, 5.0),
        (2.675, 0.01, 2.67),
        (1e-05, 1e-05, 1e-05),
        (0.123456789, 1e-08, 0.12345678),
        (7.3, 0.25, 7.25),
        (0.42, None, 0.42),  # no lot step stated: unchanged
    ],
)
def test_floor_to_step_examples(qty: float, step: float | None, want: float) -> None:
    assert floor_to_step(qty, step) == want


STEPS = [1e-8, 1e-5, 1e-4, 0.001, 0.005, 0.01, 0.1, 0.25, 0.5, 1.0, 10.0, 100.0]


@given(
    qty=st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_subnormal=False),
    step=st.sampled_from(STEPS),
)
def test_floor_to_step_never_rounds_up_and_lands_on_a_step(qty: float, step: float) -> None:
    got = floor_to_step(qty, step)
    assert 0.0 <= got <= qty
    assert qty - got < step * (1.0 + 1e-9)
    assert Decimal(repr(got)) % Decimal(repr(step)) == 0


@pytest.mark.parametrize(
    ("qty", "step", "message"),
    [(-1.0, 0.1, "qty"), (math.nan, 0.1, "qty"), (1.0, 0.0, "step"), (1.0, -0.1, "step")],
)
def test_floor_to_step_rejects_bad_arguments(qty: float, step: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        floor_to_step(qty, step)


# --- size_pair: hand-computed -----------------------------------------------------------------


def test_vol_target_binding_long_spread() -> None:
    got = size()
    # N_y = 0.10 x 10,000 / (0.20 / sqrt(8760) x sqrt(8760)) = 5,000 -> 5,000 / 100 = 50.00 YYY.
    # x hedges the rounded y: 0.5 x 5,000 = 2,500 -> 2,500 / 50 = 50.0 XXX, sold.
    assert (got.qty_y, got.qty_x) == (50.0, -50.0)
    assert (got.notional_y, got.notional_x) == (5000.0, -2500.0)
    assert got.achieved_hedge == 0.5
    assert (got.binding, got.target_notional_y, got.dropped) == ("vol_target", 5000.0, None)
    assert got.ok
    # Gross 7,500; margin 7,500 / 2 = 3,750.
    assert (got.gross_quote, got.margin_quote) == (7500.0, 3750.0)
    # 1-day P&L std: 5,000 x 0.20 / sqrt(365) = 5,000 x 0.0104685 = 52.342;
    # VaR 95 % = 1.6449 x 52.342 = 86.10, VaR 99 % = 2.3263 x 52.342 = 121.76.
    assert got.spread_vol_daily == pytest.approx(0.0104685, rel=1e-5)
    assert got.daily_vol_quote == pytest.approx(52.342, rel=1e-4)
    assert got.var95_quote == pytest.approx(86.10, rel=1e-4)
    assert got.var99_quote == pytest.approx(121.76, rel=1e-4)
    # Annualised check: 52.342 x sqrt(365) = 1,000 = 10 % of capital.
    assert got.daily_vol_quote * math.sqrt(365) == pytest.approx(1000.0)


def test_short_spread_flips_both_legs() -> None:
    got = size(side=SIDE_SHORT)
    assert (got.qty_y, got.qty_x) == (-50.0, 50.0)
    assert (got.notional_y, got.notional_x) == (-5000.0, 2500.0)
    assert got.achieved_hedge == 0.5
    assert got.daily_vol_quote == pytest.approx(52.342, rel=1e-4)


@pytest.mark.parametrize(("side", "sign"), [(SIDE_LONG, 1.0), (SIDE_SHORT, -1.0)])
def test_negative_beta_puts_both_legs_on_the_same_side(side: int, sign: float) -> None:
    got = size(beta=-0.5, side=side)
    # N_x = beta x N_y = -0.5 x 5,000 = -2,500 "short", i.e. 2,500 long: 50.0 XXX bought.
    assert (got.qty_y, got.qty_x) == (sign * 50.0, sign * 50.0)
    assert got.achieved_hedge == -0.5
    assert got.gross_quote == 7500.0


def test_pair_gross_cap_binding() -> None:
    got = size(beta=1.5)
    # Vol target 5,000 would make a gross of 5,000 x 2.5 = 12,500 > 1.0 x 10,000:
    # N_y = 10,000 / 2.5 = 4,000 -> 40.00 YYY; x: 1.5 x 4,000 = 6,000 -> 120.0 XXX.
    assert (got.qty_y, got.qty_x) == (40.0, -120.0)
    assert (got.binding, got.gross_quote) == ("pair_gross", 10_000.0)
    assert got.daily_vol_quote == pytest.approx(4000 * DAILY_20)


def test_kelly_cap_binding_with_rounding() -> None:
    got = size(edge_mean=1e-4, edge_var=1e-4)
    # f* = mu / var = 1e-4 / 1e-4 = 1x capital; half-Kelly gross 0.5 x 1 x 10,000 = 5,000;
    # N_y = 5,000 / 1.5 = 3,333.33 -> 33.3333 YYY floored to 33.33 -> N_y = 3,333.00.
    # x: 0.5 x 3,333 = 1,666.5 -> 33.33 XXX floored to 33.3 -> N_x = 1,665.00.
    assert (got.qty_y, got.qty_x) == (33.33, -33.3)
    assert got.notional_y == pytest.approx(3333.0)
    assert got.notional_x == pytest.approx(-1665.0)
    assert got.target_notional_y == pytest.approx(10_000 / 3)
    assert got.binding == "kelly"
    # Achieved hedge 1,665 / 3,333 = 0.49955: rounding only ever shrinks it.
    assert got.achieved_hedge == pytest.approx(0.499549955, rel=1e-9)
    assert got.gross_quote == pytest.approx(4998.0)


def test_contract_size_converts_notional_to_contracts() -> None:
    x10 = replace(X, contract_size=10.0, amount_step=1.0, min_amount=1.0)
    got = size(market_x=x10)
    # 2,500 / (50 x 10 per contract) = 5 contracts.
    assert got.qty_x == -5.0
    assert got.notional_x == -2500.0


# --- size_pair: dropped tickets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"spread_vol": math.nan}, "spread vol is nan per bar: the vol target gives no finite"),
        ({"spread_vol": 0.0}, "spread vol is 0.0 per bar"),
        ({"spread_vol": math.inf}, "spread vol is inf per bar"),
        ({"beta": math.nan}, "hedge ratio beta is nan"),
        ({"edge_mean": 0.0, "edge_var": 1e-4}, "edge estimate 0.0 per bar is not positive"),
        ({"edge_mean": -1e-5, "edge_var": 1e-4}, "edge estimate -1e-05 per bar is not positive"),
        (
            {"config": replace(CONFIG, max_pair_gross=0.0)},
            "sizing.max_pair_gross is 0: no size allowed",
        ),
        (
            {"config": replace(CONFIG, kelly_fraction=0.0), "edge_mean": 1e-4, "edge_var": 1e-4},
            "sizing.kelly_fraction is 0: no size allowed",
        ),
        ({"market_x": replace(X, active=False)}, "x leg XXX/USDT:USDT: market is not active"),
        (
            {"market_x": replace(X, min_notional=3000.0)},
            "x leg XXX/USDT:USDT: notional 2500.00 USDT (50 contracts at 50) below the minimum "
            "3000 USDT (exchange min_notional)",
        ),
        (
            {"config": replace(CONFIG, min_order_quote=3000.0)},
            "x leg XXX/USDT:USDT: notional 2500.00 USDT (50 contracts at 50) below the minimum "
            "3000 USDT (sizing.min_order_quote)",
        ),
        (
            {"market_x": replace(X, amount_step=100.0)},
            "x leg XXX/USDT:USDT: 50 contracts rounds to 0 at lot step 100",
        ),
        (
            {"market_x": replace(X, min_amount=60.0)},
            "x leg XXX/USDT:USDT: 50 contracts below the exchange's minimum amount 60",
        ),
        (
            {"market_y": replace(Y, amount_step=100.0, type="spot")},
            "y leg YYY/USDT:USDT: 50 YYY rounds to 0 at lot step 100",
        ),
        # beta 0: no hedge to trade, and never a one-legged ticket.
        ({"beta": 0.0}, "x leg XXX/USDT:USDT: 0 contracts rounds to 0 at lot step 0.1"),
    ],
)
def test_dropped_ticket_states_the_reason_and_trades_nothing(
    kw: dict[str, Any], reason: str
) -> None:
    got = size(**kw)
    assert got.dropped is not None
    assert got.dropped.startswith(reason), got.dropped
    assert not got.ok
    assert (got.qty_y, got.qty_x, got.notional_y, got.notional_x) == (0.0, 0.0, 0.0, 0.0)
    assert (got.gross_quote, got.daily_vol_quote, got.var99_quote, got.margin_quote) == (
        0.0,
        0.0,
        0.0,
        0.0,
    )
    assert math.isnan(got.achieved_hedge)


def test_a_minimum_met_exactly_in_decimal_is_accepted_despite_binary_rounding() -> None:
    # 0.29 x 100 is 28.999999999999996 in binary; the exchange computes 29.00 >= 29.
    assert 0.29 * 100.0 < 29.0
    got = size(config=replace(CONFIG, capital_quote=58.0), market_y=replace(Y, min_notional=29.0))
    # N_y = 0.1 x 58 / 0.2 = 29 -> 0.29 YYY; x: 0.5 x 29 / 50 = 0.29 -> 0.2 XXX = 10 USDT.
    assert (got.qty_y, got.qty_x, got.dropped) == (0.29, -0.2, None)


# --- apply_book_caps --------------------------------------------------------------------------


def ticket(symbol_y: str, symbol_x: str, **kw: Any) -> PairSize:
    return size(market_y=replace(Y, symbol=symbol_y), market_x=replace(X, symbol=symbol_x), **kw)


def test_book_cap_scales_the_first_that_does_not_fit_and_drops_the_rest() -> None:
    config = replace(CONFIG, max_leverage=1.0)
    a, b = ticket("A/USDT:USDT", "B/USDT:USDT"), ticket("C/USDT:USDT", "D/USDT:USDT")
    dropped = size(spread_vol=math.nan)
    got = apply_book_caps([a, dropped, b], open_gross_quote=4000.0, config=config)
    # Cap 1.0 x 10,000 = 10,000; open 4,000 leaves 6,000 < a's 7,500:
    # N_y = min(5,000, 6,000 / 1.5 = 4,000) -> 40.00 and 40.0 units, gross 6,000.
    assert (got[0].qty_y, got[0].qty_x, got[0].gross_quote) == (40.0, -40.0, 6000.0)
    assert (got[0].binding, got[0].dropped) == ("book_leverage", None)
    assert got[0].daily_vol_quote == pytest.approx(4000 * DAILY_20)
    assert got[1] is dropped
    assert got[2].dropped == (
        "book leverage cap 1 x 10000 = 10000.00 USDT (open 4000.00, new so far 6000.00): "
        "no room left"
    )
    assert got[2].gross_quote == 0.0


def test_book_cap_keeps_what_fits_and_drops_a_remainder_below_the_minimum() -> None:
    config = replace(CONFIG, max_leverage=1.0)
    a = ticket("A/USDT:USDT", "B/USDT:USDT")
    b = ticket("C/USDT:USDT", "D/USDT:USDT")
    c = ticket("E/USDT:USDT", "F/USDT:USDT")
    got = apply_book_caps([a, b, c], open_gross_quote=0.0, config=config)
    assert got[0] is a  # 7,500 fits under 10,000: untouched
    # Room 2,500: N_y = 2,500 / 1.5 = 1,666.67 -> 16.66 (1,666.00); x 833.00 / 50 = 16.66 -> 16.6.
    assert (got[1].qty_y, got[1].qty_x) == (16.66, -16.6)
    assert got[1].gross_quote == pytest.approx(1666.0 + 830.0)
    # Room 4.00: N_y = 2.67 -> 0.02 YYY = 2.00 USDT, below the exchange's 5 USDT.
    assert got[2].dropped == (
        "book leverage cap 1 x 10000 = 10000.00 USDT (open 0.00, new so far 9996.00) leaves "
        "4.00: y leg E/USDT:USDT: notional 2.00 USDT (0.02 contracts at 100) below the minimum "
        "5 USDT (exchange min_notional)"
    )
    total = sum(t.gross_quote for t in got)
    assert total <= config.max_leverage * config.capital_quote


def test_book_cap_never_resizes_open_positions_and_drops_all_new_when_full() -> None:
    config = replace(CONFIG, max_leverage=1.0)
    got = apply_book_caps([size()], open_gross_quote=12_000.0, config=config)
    assert got[0].dropped is not None
    assert got[0].dropped.endswith("no room left")
    assert apply_book_caps([], 0.0, config) == ()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([object()], 0.0, CONFIG), r"candidates\[0\]"),
        (([], -1.0, CONFIG), "open_gross_quote"),
        (([], math.nan, CONFIG), "open_gross_quote"),
        (([], 0.0, None), "config"),
    ],
)
def test_book_caps_reject_bad_arguments(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_book_caps(*args)


# --- size_pair: validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"side": 0}, "side"),
        ({"side": True}, "side"),
        ({"beta": "0.5"}, "beta"),
        ({"spread_vol": -0.01}, "spread_vol"),
        ({"price_y": 0.0}, "price_y"),
        ({"price_x": math.nan}, "price_x"),
        ({"market_y": "BTC/USDT"}, "market_y"),
        ({"market_x": Y}, "market_x: YYY/USDT:USDT is also the y leg"),
        ({"market_x": replace(X, quote="USDC")}, "market_x: quote USDC differs"),
        ({"market_x": replace(X, contract_size=0.0)}, "market_x"),
        ({"config": {}}, "config"),
        ({"timeframe_ms": 0}, "timeframe_ms"),
        ({"edge_mean": 1e-4}, "edge_var"),
        ({"edge_mean": "1", "edge_var": 1.0}, "edge_mean"),
        ({"edge_mean": 1e-4, "edge_var": -1.0}, "edge_var"),
    ],
)
def test_size_pair_rejects_bad_arguments(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        size(**kw)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.integers(0, 10**9),
    step=st.sampled_from([1e-8, 3e-7, 1e-5, 1e-4, 0.001, 0.0125, 0.1, 0.25, 1.0, 10.0, 100.0]),
    wiggle=st.sampled_from([0.0, 1e-13, -1e-13, 0.3, 0.999]),
)
def test_floor_to_step_equals_decimal_floor(steps: int, step: float, wiggle: float) -> None:
    """The shared kernel equals floor in decimal on the numbers' shortest reprs (how an
    exchange reads them), near exact multiples too."""
    qty = (steps + wiggle) * step
    if qty < 0:
        return
    with localcontext() as ctx:
        ctx.prec = 50
        want = float(Decimal(repr(qty)) // Decimal(repr(step)) * Decimal(repr(step)))
    assert floor_to_step(qty, step) == want
