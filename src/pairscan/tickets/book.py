"""Stage 6 (tickets): the paper book, the P&L of following every delivered ticket by hand.

Pure: tickets, prices, fee rates and funding events in, a `PaperBook` out; no SQL, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from pairscan.market import format_utc
from pairscan.tickets.model import Side, Ticket

__all__ = ["BookLeg", "BookPosition", "PaperBook", "build_paper_book"]

_QTY_RTOL = 1e-9


@dataclass(frozen=True)
class BookLeg:
    """One leg of a paper position. `qty` (> 0, `side` buy or sell) and `entry_price` come
    from the opening ticket; `entry_notional_quote` is its notional there. `mark_price` is
    the closing ticket's reference price (closed) or the last close (open); None when no
    price was given, and the leg is then marked at its entry price (P&L 0).
    price_pnl_quote: sign x entry notional x (mark / entry - 1).
    fees_quote: taker fees paid on this leg's fills (entry, and exit when closed; >= 0).
    funding_quote: funding paid (> 0) or received (< 0) while held.
    """

    symbol: str
    side: Side
    qty: float
    entry_price: float
    entry_notional_quote: float
    mark_price: float | None
    price_pnl_quote: float
    fees_quote: float
    funding_quote: float

    @property
    def marked_notional_quote(self) -> float:
        """The leg's notional at its mark (the entry notional when unmarked)."""
        if self.mark_price is None:
            return self.entry_notional_quote
        return self.entry_notional_quote * self.mark_price / self.entry_price


@dataclass(frozen=True)
class BookPosition:
    """A spread opened by one delivered ticket and, when `close_id` is set, closed by another.

    Times: `opened_bar_ms`/`closed_bar_ms` are the decision bars (UTC ms, bar open),
    `opened_ms`/`closed_ms` when the tickets were made (the paper fills; funding counts
    between them). pnl_quote = price_pnl_quote - fees_quote - funding_quote: realised when
    closed, unrealised (entry fees and funding so far included, exit fee not yet) when open.
    """

    y_symbol: str
    x_symbol: str
    direction: str
    open_id: str
    opened_bar_ms: int
    opened_ms: int
    hedge_ratio: float
    entry_z: float | None
    legs: tuple[BookLeg, BookLeg]
    close_id: str | None
    closed_bar_ms: int | None
    closed_ms: int | None
    close_reason: str | None
    price_pnl_quote: float
    fees_quote: float
    funding_quote: float
    pnl_quote: float

    @property
    def is_open(self) -> bool:
        return self.close_id is None

    @property
    def gross_quote(self) -> float:
        """Both legs' notionals at their marks."""
        return sum(leg.marked_notional_quote for leg in self.legs)


@dataclass(frozen=True)
class PaperBook:
    """Every delivered ticket followed on paper since the first one, in quote currency.

    unrealised_quote: open positions' pnl_quote (marked to the last closes, entry fees and
        funding so far included); realised_quote: closed positions' pnl_quote (both fills'
        fees and funding included); total_pnl_quote: their sum. fees_quote and funding_quote
        are the parts of the total that were fees and funding (funding > 0 = paid).
    open_gross_quote: the open legs' notionals at their marks.
    quote: the tickets' quote currency (None before any ticket).
    notes: what the book had to skip or assume (e.g. a close without a delivered open, a
        symbol with no price or no fee rate), one line each.
    """

    open_positions: tuple[BookPosition, ...]
    closed_positions: tuple[BookPosition, ...]
    unrealised_quote: float
    realised_quote: float
    total_pnl_quote: float
    fees_quote: float
    funding_quote: float
    open_gross_quote: float
    quote: str | None
    as_of_ms: int | None
    notes: tuple[str, ...]


def build_paper_book(
    tickets: Sequence[Ticket],
    delivered: Collection[str],
    closes: Mapping[str, float],
    *,
    fee_bps: Mapping[str, float] | None = None,
    funding: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    as_of_ms: int | None = None,
) -> PaperBook:
    """The paper book of `tickets` (in outbox order, oldest first) whose id is in
    `delivered`: a ticket counts once it reached at least one channel (the console is a
    channel too, so a console-only set-up has a book); undelivered ones are left out, as the
    trader was never told of them.

    Each delivered open starts a position at its legs' reference prices; the pair's next
    delivered close ends it at the close ticket's reference prices (the open's quantities
    are the ones closed). Open positions are marked to `closes` (symbol -> last close).
    fee_bps: taker fee per fill, bps of the fill's notional, by symbol (`5` = 0.05 %); a
        symbol without one pays none (and a note says so).
    funding: by symbol, (time UTC ms, rate) events; a rate > 0 is paid by a long and received
        by a short, on the leg's entry notional (the price drift over a hold changes this by
        its own few percent), for events after the opening ticket was made up to the closing
        one's (open positions: up to `as_of_ms`, or every event when None).
    """
    fees = fee_bps or {}
    events = funding or {}
    notes: list[str] = []
    missing_fee: set[str] = set()
    delivered_ids = set(delivered)
    quote: str | None = None
    opened: dict[tuple[str, str], Ticket] = {}
    closed: list[BookPosition] = []

    def fee_rate(symbol: str) -> float:
        if symbol not in fees:
            if symbol not in missing_fee:
                missing_fee.add(symbol)
                notes.append(f"no fee rate for {symbol}: its fills count no fee")
            return 0.0
        return float(fees[symbol]) / 1e4

    for ticket in tickets:
        if ticket.id not in delivered_ids:
            continue
        if quote is None:
            quote = ticket.quote
        elif ticket.quote != quote:
            notes.append(
                f"ticket {ticket.id} is in {ticket.quote}, the book in {quote}: summed as is"
            )
        if not ticket.is_close:
            if ticket.pair in opened:
                notes.append(
                    f"{_pair(ticket)}: open {ticket.id} at {format_utc(ticket.bar_ms)} while "
                    f"{opened[ticket.pair].id} is open: ignored"
                )
                continue
            opened[ticket.pair] = ticket
            continue
        entry = opened.pop(ticket.pair, None)
        if entry is None:
            notes.append(
                f"{_pair(ticket)}: close {ticket.id} at {format_utc(ticket.bar_ms)} without a "
                "delivered open: ignored"
            )
            continue
        if ticket.direction != entry.direction:
            notes.append(
                f"{_pair(ticket)}: close {ticket.id} closes a {ticket.direction} spread, the "
                f"open {entry.id} was {entry.direction}: closed at its prices anyway"
            )
        for open_leg, close_leg in zip(entry.legs, ticket.legs, strict=True):
            if not math.isclose(open_leg.qty, close_leg.qty, rel_tol=_QTY_RTOL):
                notes.append(
                    f"{_pair(ticket)}: close {ticket.id} trades {close_leg.qty:.10g} "
                    f"{close_leg.symbol}, the open {open_leg.qty:.10g}: the open's counted"
                )
        marks = (ticket.legs[0].ref_price, ticket.legs[1].ref_price)
        closed.append(_position(entry, ticket, marks, fee_rate, events, ticket.created_ms))

    open_positions = []
    for entry in opened.values():
        marks_open: list[float | None] = []
        for leg in entry.legs:
            price = closes.get(leg.symbol)
            if price is None or not (math.isfinite(price) and price > 0.0):
                notes.append(f"no last close for {leg.symbol}: {_pair(entry)} marked at entry")
                marks_open.append(None)
            else:
                marks_open.append(float(price))
        open_positions.append(
            _position(entry, None, (marks_open[0], marks_open[1]), fee_rate, events, as_of_ms)
        )

    unrealised = math.fsum(p.pnl_quote for p in open_positions)
    realised = math.fsum(p.pnl_quote for p in closed)
    everything = [*open_positions, *closed]
    return PaperBook(
        open_positions=tuple(open_positions),
        closed_positions=tuple(closed),
        unrealised_quote=unrealised,
        realised_quote=realised,
        total_pnl_quote=unrealised + realised,
        fees_quote=math.fsum(p.fees_quote for p in everything),
        funding_quote=math.fsum(p.funding_quote for p in everything),
        open_gross_quote=math.fsum(p.gross_quote for p in open_positions),
        quote=quote,
        as_of_ms=as_of_ms,
        notes=tuple(notes),
    )


def _position(
    entry: Ticket,
    exit_ticket: Ticket | None,
    marks: tuple[float | None, float | None],
    fee_rate: Callable[[str], float],
    events: Mapping[str, Sequence[tuple[int, float]]],
    until_ms: int | None,
) -> BookPosition:
    legs = []
    for leg, mark in zip(entry.legs, marks, strict=True):
        notional = leg.notional_quote
        rate = fee_rate(leg.symbol)
        price_pnl = 0.0 if mark is None else leg.sign * notional * (mark / leg.ref_price - 1.0)
        fees = notional * rate
        if exit_ticket is not None and mark is not None:
            fees += notional * mark / leg.ref_price * rate
        paid = math.fsum(
            leg.sign * notional * float(r)
            for ms, r in events.get(leg.symbol, ())
            if ms > entry.created_ms and (until_ms is None or ms <= until_ms)
        )
        legs.append(
            BookLeg(
                symbol=leg.symbol,
                side=leg.side,
                qty=leg.qty,
                entry_price=leg.ref_price,
                entry_notional_quote=notional,
                mark_price=mark,
                price_pnl_quote=price_pnl,
                fees_quote=fees,
                funding_quote=paid,
            )
        )
    price_pnl = math.fsum(leg.price_pnl_quote for leg in legs)
    fees_total = math.fsum(leg.fees_quote for leg in legs)
    funding_total = math.fsum(leg.funding_quote for leg in legs)
    return BookPosition(
        y_symbol=entry.y_symbol,
        x_symbol=entry.x_symbol,
        direction=entry.direction,
        open_id=entry.id,
        opened_bar_ms=entry.bar_ms,
        opened_ms=entry.created_ms,
        hedge_ratio=entry.hedge_ratio,
        entry_z=entry.z,
        legs=(legs[0], legs[1]),
        close_id=None if exit_ticket is None else exit_ticket.id,
        closed_bar_ms=None if exit_ticket is None else exit_ticket.bar_ms,
        closed_ms=None if exit_ticket is None else exit_ticket.created_ms,
        close_reason=None if exit_ticket is None else exit_ticket.reason,
        price_pnl_quote=price_pnl,
        fees_quote=fees_total,
        funding_quote=funding_total,
        pnl_quote=price_pnl - fees_total - funding_total,
    )


def _pair(ticket: Ticket) -> str:
    return f"{ticket.y_symbol} ~ {ticket.x_symbol}"
