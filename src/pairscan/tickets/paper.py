"""Stage 6 (tickets): the paper book of the outbox, its inputs gathered where they are kept.

`tickets.book.build_paper_book` is the pure rule; this module reads what it needs: the
tickets and their deliveries from the state database (`tickets.outbox`), each market's taker
fee, and the funding events `pairs cache update` cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pairscan.market import MarketInfo
from pairscan.state import StateStore
from pairscan.tickets.book import PaperBook, build_paper_book
from pairscan.tickets.outbox import delivered_ids, load_tickets

if TYPE_CHECKING:
    from pairscan.cache import Store  # typing only: the caller opens the cache

__all__ = ["paper_book"]


def paper_book(
    state: StateStore,
    store: Store,
    exchange: str,
    closes: Mapping[str, float],
    markets: Mapping[str, MarketInfo],
    as_of_ms: int,
) -> PaperBook:
    """The book of every delivered ticket, marked to `closes` (symbol -> last close) as of
    `as_of_ms` (UTC ms).

    Fees: each market's taker fee (`MarketInfo.taker_fee_bps`, the backtest's too); a symbol
    whose market is unknown pays none, and the book says so. Funding: the events cached for
    the symbol (`pairs cache update` keeps them for perpetuals only)."""
    tickets = load_tickets(state)
    symbols = sorted({leg.symbol for t in tickets for leg in t.legs})
    fees = {s: markets[s].taker_fee_bps for s in symbols if s in markets}
    funding = {}
    for s in symbols:
        events = store.read_funding(exchange, s)
        if len(events):
            funding[s] = list(
                zip(events.timestamp.tolist(), events.funding_rate.tolist(), strict=True)
            )
    return build_paper_book(
        tickets, delivered_ids(state), closes, fee_bps=fees, funding=funding, as_of_ms=as_of_ms
    )
