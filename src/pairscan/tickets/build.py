"""Stage 6 (tickets): the ticket of one decided pair (an entry as sized, or a close of the
recorded position), built from the scan's decision. No SQL, no rendering, no sending.

Not re-exported by `pairscan.tickets`: it needs the machine's action codes
(`pairscan.signals`, which loads Numba), and reading or delivering tickets must not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from pairscan.config import SignalsConfig
from pairscan.market import MarketInfo, timeframe_ms
from pairscan.signals import Action
from pairscan.sizing import PairSize
from pairscan.state import PositionRecord
from pairscan.tickets.model import Leg, Side, Ticket, TicketAction, ticket_id


class Decision(Protocol):
    """What a ticket needs of the scan's decision for one pair at one bar
    (`jobs.scan_decide.PairDecision`): prices in quote per base unit (or per contract)."""

    @property
    def pair(self) -> tuple[str, str]: ...
    @property
    def action(self) -> int: ...  # a `signals.Action` code
    @property
    def reason(self) -> str: ...
    @property
    def z(self) -> float: ...
    @property
    def beta(self) -> float: ...
    @property
    def half_life(self) -> float: ...  # bars; NaN when unknown
    @property
    def qvalue(self) -> float: ...  # NaN when unknown
    @property
    def price_y(self) -> float: ...
    @property
    def price_x(self) -> float: ...
    @property
    def size(self) -> PairSize | None: ...


def ticket_of(
    decision: Decision,
    record: PositionRecord | None,
    *,
    exchange: str,
    timeframe: str,
    bar_ms: int,
    signals: SignalsConfig,
    markets: Mapping[str, MarketInfo],
) -> Ticket | None:
    """The ticket of one decision at the bar opening at `bar_ms` (UTC ms), or None (a hold,
    a dropped entry, a close of nothing). `record` is the pair's position before the bar (a
    close sells what it holds); `markets` gives contract sizes (1 when unknown)."""
    y, x = decision.pair
    common: dict[str, Any] = {
        "exchange": exchange,
        "bar_ms": bar_ms,
        # Decided at the bar's close: also for bars caught up after missed runs.
        "created_ms": bar_ms + timeframe_ms(timeframe),
        "y_symbol": y,
        "x_symbol": x,
        "hedge_ratio": decision.beta,
        "z": decision.z,
        "entry_z": signals.entry_z,
        "exit_z": signals.exit_z,
        "stop_z": signals.stop_z,
        "half_life_bars": decision.half_life if math.isfinite(decision.half_life) else None,
        "qvalue": decision.qvalue if math.isfinite(decision.qvalue) else None,
        "quote": y.split("/")[1].split(":")[0],
    }
    if decision.action in (Action.OPEN_LONG, Action.OPEN_SHORT):
        return _entry(decision, common)
    if decision.action != Action.CLOSE or record is None:
        return None
    if record.qty_y == 0.0 and record.qty_x == 0.0:
        return None
    return _close(decision, record, markets, common)


def _entry(decision: Decision, common: dict[str, Any]) -> Ticket | None:
    """An open as sized; None when sizing dropped it."""
    size = decision.size
    if size is None or not size.ok:
        return None
    y, x = decision.pair
    action: TicketAction = "open_long" if decision.action == Action.OPEN_LONG else "open_short"
    legs = (
        Leg(y, _side(size.qty_y), abs(size.qty_y), abs(size.notional_y), decision.price_y),
        Leg(x, _side(size.qty_x), abs(size.qty_x), abs(size.notional_x), decision.price_x),
    )
    return Ticket(
        id=ticket_id(common["exchange"], y, x, common["bar_ms"], action),
        action=action,
        reason="entry",
        legs=legs,
        gross_quote=size.gross_quote,
        daily_vol_quote=size.daily_vol_quote,
        var95_quote=size.var95_quote,
        var99_quote=size.var99_quote,
        margin_quote=size.margin_quote,
        pnl_estimate_quote=None,
        **common,
    )


def _close(
    decision: Decision,
    record: PositionRecord,
    markets: Mapping[str, MarketInfo],
    common: dict[str, Any],
) -> Ticket:
    """A close of the recorded quantities at the bar's closes, with the P&L estimate since
    the entry prices (the bar's close when an entry price is unknown: no P&L on that leg)."""
    y, x = decision.pair
    cs = {s: (markets[s].contract_size if s in markets else 1.0) for s in (y, x)}
    py, px = decision.price_y, decision.price_x
    pnl = record.qty_y * cs[y] * (py - (record.entry_price_y or py)) + record.qty_x * cs[x] * (
        px - (record.entry_price_x or px)
    )
    legs = (
        Leg(y, _unwind(record.qty_y), abs(record.qty_y), abs(record.qty_y) * cs[y] * py, py),
        Leg(x, _unwind(record.qty_x), abs(record.qty_x), abs(record.qty_x) * cs[x] * px, px),
    )
    return Ticket(
        id=ticket_id(common["exchange"], y, x, common["bar_ms"], "close"),
        action="close",
        reason=decision.reason,
        legs=legs,
        gross_quote=legs[0].notional_quote + legs[1].notional_quote,
        daily_vol_quote=0.0,
        var95_quote=0.0,
        var99_quote=0.0,
        margin_quote=0.0,
        pnl_estimate_quote=pnl,
        **common,
    )


def _side(qty: float) -> Side:
    """The side that opens a signed quantity: + buys, - (or 0) sells."""
    return "buy" if qty > 0 else "sell"


def _unwind(qty: float) -> Side:
    """The side that closes a held signed quantity: a long sells, a short (or 0) buys."""
    return "sell" if qty > 0 else "buy"
