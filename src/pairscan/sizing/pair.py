"""Stage 5 (sizing): one pair's ticket size, rounded to the exchange's lots, and the book cap.

One module (~420 lines): `size_pair` and `apply_book_caps` build and drop the same ticket
(`PairSize`) with the same reasons; split, its private builders would become public.

Scalar API for the scan on top of `pairscan.sizing.target` (the same kernel the backtest uses).
Never rounds a quantity up and never returns a one-legged trade. No I/O here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np

from pairscan.config import SizingConfig
from pairscan.market import MS_PER_DAY, MarketInfo
from pairscan.sizing.kernels import (
    LegCheck,
    SizeCode,
    book_cap_target_nb,
    floor_to_step_nb,
    leg_check_nb,
    pair_lots_nb,
)
from pairscan.sizing.lots import lot_terms
from pairscan.sizing.target import _check_timeframe_ms, target_notional

__all__ = [
    "SIDE_LONG",
    "SIDE_SHORT",
    "PairSize",
    "apply_book_caps",
    "floor_to_step",
    "size_pair",
]

# Signed sides, as the backtest ledger stores them (the signals stage's PairState numbers its
# states FLAT 0, LONG_SPREAD 1, SHORT_SPREAD 2: map SHORT_SPREAD to -1 before sizing).
SIDE_LONG = 1
"""Long the spread: long y, short beta x its notional of x (for beta > 0)."""
SIDE_SHORT = -1
"""Short the spread: short y, long beta x its notional of x (for beta > 0)."""

# One-day parametric VaR of a zero-mean normal P&L: these many daily sigmas.
Z95 = NormalDist().inv_cdf(0.95)  # 1.6449
Z99 = NormalDist().inv_cdf(0.99)  # 2.3263

_BINDING = {
    SizeCode.VOL_TARGET: "vol_target",
    SizeCode.PAIR_GROSS: "pair_gross",
    SizeCode.KELLY: "kelly",
}
BOOK_LEVERAGE = "book_leverage"


@dataclass(frozen=True)
class PairSize:
    """The size of one pair ticket after caps and lot rounding, and its risk.

    Quantities are signed (+ buy, - sell), in base units on spot and contracts on derivatives.
    Notionals are signed too, in the quote currency: qty * price * contract_size.

    side: +1 long spread, -1 short spread. beta: the hedge ratio asked for.
    achieved_hedge: -notional_x / notional_y after rounding (equals beta when exact; rounding
        only shrinks it towards 0).
    target_notional_y: |y notional| the caps allowed, before lot rounding.
    binding: what set that target: vol_target, pair_gross, kelly or book_leverage; None when
        the ticket was dropped before a target existed.
    spread_vol_daily: std of the spread's daily log change (per-bar vol x sqrt(bars per day)).
    gross_quote: |notional_y| + |notional_x|. margin_quote: gross / sizing.margin_leverage.
    daily_vol_quote: |notional_y| x spread_vol_daily, the expected 1-day P&L std.
    var95_quote, var99_quote: 1-day parametric normal VaR (1.645 and 2.326 daily sigmas).
    dropped: None for a ticket to send, else why the whole ticket was dropped (then every
        quantity, notional and risk figure is 0 and achieved_hedge is NaN).
    """

    symbol_y: str
    symbol_x: str
    side: int
    beta: float
    price_y: float
    price_x: float
    qty_y: float
    qty_x: float
    notional_y: float
    notional_x: float
    achieved_hedge: float
    target_notional_y: float
    binding: str | None
    spread_vol_daily: float
    gross_quote: float
    daily_vol_quote: float
    var95_quote: float
    var99_quote: float
    margin_quote: float
    dropped: str | None
    market_y: MarketInfo = field(repr=False, compare=False)
    market_x: MarketInfo = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the ticket is to be sent (not dropped)."""
        return self.dropped is None


def floor_to_step(qty: float, step: float | None) -> float:
    """`qty` rounded toward zero to a whole number of `step`s (an exchange's lot step).

    qty: >= 0, finite. step: > 0, or None (the exchange states no step: qty is returned).
    The backtest's rounding (`floor_to_step_nb`): 0.3 with step 0.1 gives 0.3 (not 0.2, as
    floor(0.3 / 0.1) = floor(2.9999999999999996) would), and the result never exceeds qty.
    """
    q = _real(qty, "qty")
    if not (math.isfinite(q) and q >= 0.0):
        raise ValueError(f"qty: must be finite and >= 0, got {qty!r}")
    if step is None:
        return q
    s = _real(step, "step")
    if not (math.isfinite(s) and s > 0.0):
        raise ValueError(f"step: must be finite and > 0 (or None), got {step!r}")
    return float(floor_to_step_nb(q, s))


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _positive_price(value: Any, name: str) -> float:
    price = _real(value, name)
    if not (math.isfinite(price) and price > 0.0):
        raise ValueError(f"{name}: must be finite and > 0, got {value!r}")
    return price


def _check_market(value: Any, name: str) -> MarketInfo:
    if not isinstance(value, MarketInfo):
        raise ValueError(f"{name}: expected a MarketInfo, got {type(value).__name__}")
    if not (math.isfinite(value.contract_size) and value.contract_size > 0.0):
        raise ValueError(
            f"{name}: {value.symbol} contract_size must be > 0, got {value.contract_size!r}"
        )
    return value


def _unit(market: MarketInfo) -> str:
    return market.base if market.type == "spot" else "contracts"


def _dropped(
    base: dict[str, Any], reason: str, target: float = 0.0, binding: str | None = None
) -> PairSize:
    return PairSize(
        **base,
        qty_y=0.0,
        qty_x=0.0,
        notional_y=0.0,
        notional_x=0.0,
        gross_quote=0.0,
        daily_vol_quote=0.0,
        var95_quote=0.0,
        var99_quote=0.0,
        margin_quote=0.0,
        achieved_hedge=math.nan,
        target_notional_y=target,
        binding=binding,
        dropped=reason,
    )


def _leg_problem(
    leg: str, market: MarketInfo, raw_qty: float, qty: float, price: float, min_order_quote: float
) -> str | None:
    """Why one rounded leg cannot be sent (`leg_check_nb`, the backtest's rule), naming the
    leg, the symbol and the numbers."""
    where = f"{leg} leg {market.symbol}"
    unit = _unit(market)
    quote = market.quote
    terms = lot_terms(market)
    exchange_min = terms.min_notional
    floor = max(exchange_min, min_order_quote)
    check = leg_check_nb(qty, price * terms.contract_size, terms.min_amount, floor)
    if check == LegCheck.ROUNDS_TO_ZERO:
        step = "no lot step" if market.amount_step is None else f"lot step {market.amount_step:g}"
        return f"{where}: {raw_qty:.6g} {unit} rounds to 0 at {step}"
    if check == LegCheck.BELOW_MIN_AMOUNT:
        return f"{where}: {qty:g} {unit} below the exchange's minimum amount {market.min_amount:g}"
    if check == LegCheck.BELOW_MIN_NOTIONAL:
        notional = qty * price * terms.contract_size
        which = (
            "exchange min_notional" if exchange_min >= min_order_quote else "sizing.min_order_quote"
        )
        return (
            f"{where}: notional {notional:.2f} {quote} ({qty:g} {unit} at {price:g}) below the "
            f"minimum {floor:g} {quote} ({which})"
        )
    return None


def _ticket(
    base: dict[str, Any],
    target_y: float,
    binding: str,
    min_order_quote: float,
    margin_leverage: float,
) -> PairSize:
    """Round a target y notional to lots (y first, x hedged on the rounded y), check both legs'
    minimums, and price the risk. Any leg that fails drops the whole ticket."""
    market_y: MarketInfo = base["market_y"]
    market_x: MarketInfo = base["market_x"]
    side: int = base["side"]
    beta: float = base["beta"]
    terms_y, terms_x = lot_terms(market_y), lot_terms(market_x)
    unit_y = base["price_y"] * terms_y.contract_size
    unit_x = base["price_x"] * terms_x.contract_size
    qty_y, qty_x, raw_y, raw_x = pair_lots_nb(
        target_y, beta, unit_y, unit_x, terms_y.amount_step, terms_x.amount_step
    )
    for leg, market, raw, qty, price in (
        ("y", market_y, raw_y, qty_y, base["price_y"]),
        ("x", market_x, raw_x, qty_x, base["price_x"]),
    ):
        problem = _leg_problem(leg, market, raw, qty, price, min_order_quote)
        if problem is not None:
            return _dropped(base, problem, target_y, binding)
    signed_y = side * qty_y
    signed_x = -side * math.copysign(1.0, beta) * qty_x
    notional_y = signed_y * unit_y
    notional_x = signed_x * unit_x
    gross = abs(notional_y) + abs(notional_x)
    daily_vol = abs(notional_y) * base["spread_vol_daily"]
    return PairSize(
        **base,
        qty_y=signed_y,
        qty_x=signed_x,
        notional_y=notional_y,
        notional_x=notional_x,
        achieved_hedge=-notional_x / notional_y,
        target_notional_y=target_y,
        binding=binding,
        gross_quote=gross,
        daily_vol_quote=daily_vol,
        var95_quote=Z95 * daily_vol,
        var99_quote=Z99 * daily_vol,
        margin_quote=gross / margin_leverage,
        dropped=None,
    )


def _kernel_drop_reason(
    code: int, beta: float, spread_vol: float, edge_mean: float | None, config: SizingConfig
) -> str:
    if code == SizeCode.DROP_NO_BETA:
        return f"hedge ratio beta is {beta!r}: no hedge, no ticket"
    if code == SizeCode.DROP_NO_VOL:
        return (
            f"spread vol is {spread_vol!r} per bar: the vol target gives no finite size "
            "(too little history, or a flat spread)"
        )
    if code == SizeCode.DROP_NO_EDGE:
        return f"edge estimate {edge_mean!r} per bar is not positive: Kelly bets nothing"
    if config.max_pair_gross == 0.0:
        return "sizing.max_pair_gross is 0: no size allowed"
    if config.kelly_fraction == 0.0:
        return "sizing.kelly_fraction is 0: no size allowed"
    return f"the caps leave no size (edge estimate {edge_mean!r} per bar)"


def size_pair(
    side: int,
    beta: float,
    spread_vol: float,
    price_y: float,
    price_x: float,
    market_y: MarketInfo,
    market_x: MarketInfo,
    config: SizingConfig,
    timeframe_ms: int,
    *,
    edge_mean: float | None = None,
    edge_var: float | None = None,
) -> PairSize:
    """Size one pair ticket: vol target, pair and Kelly caps, lot rounding, leg minimums, risk.

    side: SIDE_LONG (+1: long y, short x for beta > 0) or SIDE_SHORT (-1).
    beta: hedge ratio of log y on log x at this bar; NaN drops the ticket with a reason.
    spread_vol: per-bar std of the spread's returns (`spread_vol`, last bar); NaN, 0 or +inf
        drops the ticket with a reason; negative is an error.
    price_y, price_x: the prices orders are expected to fill at (last close), quote currency.
    market_y, market_x: the two legs' markets (lot step, minimums, contract size), same quote.
    config: the sizing section. timeframe_ms: bar length, e.g. 3,600,000 for `1h`.
    edge_mean, edge_var: the pair's per-bar return on gross notional and its variance, from its
        backtest or its running record; None (or NaN) = no estimate, no Kelly cap.
    Returns a `PairSize`; `dropped` says why when the ticket cannot be sent. The book-wide
    leverage cap is applied afterwards over all new tickets by `apply_book_caps`.
    """
    if isinstance(side, bool) or side not in (SIDE_LONG, SIDE_SHORT):
        raise ValueError(
            f"side: must be 1 (long spread) or -1 (short spread; PairState.SHORT_SPREAD is 2, "
            f"pass -1), got {side!r}"
        )
    b = _real(beta, "beta")
    vol = _real(spread_vol, "spread_vol")
    if vol < 0.0:
        raise ValueError(f"spread_vol: a volatility must be >= 0 (NaN = unknown), got {vol!r}")
    py = _positive_price(price_y, "price_y")
    px = _positive_price(price_x, "price_x")
    my = _check_market(market_y, "market_y")
    mx = _check_market(market_x, "market_x")
    if my.symbol == mx.symbol:
        raise ValueError(f"market_x: {mx.symbol} is also the y leg")
    if my.quote != mx.quote:
        raise ValueError(
            f"market_x: quote {mx.quote} differs from market_y's {my.quote}; "
            "notionals must share one currency"
        )
    if not isinstance(config, SizingConfig):
        raise ValueError(f"config: expected a SizingConfig, got {type(config).__name__}")
    tf_ms = _check_timeframe_ms(timeframe_ms)
    for name, value in (("edge_mean", edge_mean), ("edge_var", edge_var)):
        if value is not None:
            _real(value, name)
    notional, code = target_notional(
        np.array([vol]), np.array([b]), config, tf_ms, edge_mean=edge_mean, edge_var=edge_var
    )
    daily = vol * math.sqrt(MS_PER_DAY / tf_ms) if math.isfinite(vol) else math.nan
    base: dict[str, Any] = {
        "symbol_y": my.symbol,
        "symbol_x": mx.symbol,
        "side": side,
        "beta": b,
        "price_y": py,
        "price_x": px,
        "spread_vol_daily": daily,
        "market_y": my,
        "market_x": mx,
    }
    for leg, market in (("y", my), ("x", mx)):
        if not market.active:
            return _dropped(base, f"{leg} leg {market.symbol}: market is not active")
    kernel_code = int(code[0])
    if kernel_code not in _BINDING:
        return _dropped(base, _kernel_drop_reason(kernel_code, b, vol, edge_mean, config))
    return _ticket(
        base,
        float(notional[0]),
        _BINDING[kernel_code],
        config.min_order_quote,
        config.margin_leverage,
    )


def apply_book_caps(
    candidates: Sequence[PairSize], open_gross_quote: float, config: SizingConfig
) -> tuple[PairSize, ...]:
    """Fit new tickets under the book's leverage cap, best-ranked first.

    candidates: new tickets from `size_pair`, best first (dropped ones pass through unchanged).
    open_gross_quote: gross notional of the positions already open, quote currency; they are
        never resized, so when they alone exceed the cap every new ticket is dropped.
    config: max_leverage and capital_quote set the cap (gross of the whole book <=
        max_leverage x capital_quote); min_order_quote and margin_leverage as in `size_pair`.
    Returns the tickets in the same order: kept whole while they fit; the first that does not
    fit is scaled down to the room left (rounded again, so it may then drop below a minimum);
    the ones after it are dropped with the cap as reason, unless a later one still fits. The
    rule is `sizing.kernels.book_cap_target_nb`, the one the backtest's simulator applies.
    """
    if not isinstance(config, SizingConfig):
        raise ValueError(f"config: expected a SizingConfig, got {type(config).__name__}")
    open_gross = _real(open_gross_quote, "open_gross_quote")
    if not (math.isfinite(open_gross) and open_gross >= 0.0):
        raise ValueError(f"open_gross_quote: must be finite and >= 0, got {open_gross_quote!r}")
    cap = config.max_leverage * config.capital_quote
    room = cap - open_gross
    out: list[PairSize] = []
    for i, ticket in enumerate(candidates):
        if not isinstance(ticket, PairSize):
            raise ValueError(f"candidates[{i}]: expected a PairSize, got {type(ticket).__name__}")
        if ticket.dropped is not None:
            out.append(ticket)  # sends nothing: takes no room
            continue
        target = book_cap_target_nb(ticket.gross_quote, ticket.beta, room)
        if math.isnan(target):
            out.append(ticket)
            room -= ticket.gross_quote
            continue
        quote = ticket.market_y.quote
        limit = (
            f"book leverage cap {config.max_leverage:g} x {config.capital_quote:g} = {cap:.2f} "
            f"{quote} (open {open_gross:.2f}, new so far {cap - open_gross - room:.2f})"
        )
        if room <= 0.0:
            out.append(_dropped(_base_of(ticket), f"{limit}: no room left"))
            continue
        resized = _ticket(
            _base_of(ticket), target, BOOK_LEVERAGE, config.min_order_quote, config.margin_leverage
        )
        if resized.dropped is not None:
            resized = replace(resized, dropped=f"{limit} leaves {room:.2f}: {resized.dropped}")
        out.append(resized)
        room -= resized.gross_quote
    return tuple(out)


def _base_of(ticket: PairSize) -> dict[str, Any]:
    keys = (
        "symbol_y",
        "symbol_x",
        "side",
        "beta",
        "price_y",
        "price_x",
        "spread_vol_daily",
        "market_y",
        "market_x",
    )
    return {key: getattr(ticket, key) for key in keys}
