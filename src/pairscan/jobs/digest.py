"""The scan's paper book and its daily digest message.

The paper book follows the delivered tickets on paper (marked to the latest cached closes,
taker fees per fill, the cached funding events); the digest sends it once a day, at the first
scan whose decided bar is at or after `notify.digest_hour_utc`, with the pair-selection changes
since the previous digest. A digest that no channel accepted is tried again the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pairscan.cache import Store
from pairscan.config import Config
from pairscan.errors import NotifyError
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, MarketInfo
from pairscan.notify import Channel, Message
from pairscan.state import StateStore
from pairscan.tickets import (
    PaperBook,
    build_paper_book,
    delivered_ids,
    get_meta,
    load_selection,
    load_tickets,
    render_digest,
    selection_boundaries,
    set_meta,
)

log = logging.getLogger(__name__)

LAST_DIGEST_KEY = "last_digest_day"
# Binance's VIP 0 taker fee on perpetuals, when the exchange's market info has none.
DEFAULT_FEE_BPS = 5.0


def paper_book(
    state: StateStore,
    store: Store,
    exchange: str,
    closes: Mapping[str, float],
    markets: Mapping[str, MarketInfo],
    as_of_ms: int,
) -> PaperBook:
    """The book of every delivered ticket, marked to `closes` (symbol -> last close)."""
    tickets = load_tickets(state)
    symbols = {leg.symbol for t in tickets for leg in t.legs}
    fees = {s: _fee_bps(markets.get(s)) for s in symbols}
    funding = {}
    for s in symbols:
        if ":" in s:  # perpetuals only
            events = store.read_funding(exchange, s)
            funding[s] = list(
                zip(events.timestamp.tolist(), events.funding_rate.tolist(), strict=True)
            )
    return build_paper_book(
        tickets, delivered_ids(state), closes, fee_bps=fees, funding=funding, as_of_ms=as_of_ms
    )


def _fee_bps(market: MarketInfo | None) -> float:
    if market is None or market.taker_fee is None:
        return DEFAULT_FEE_BPS
    return market.taker_fee * 1e4


def digest_due(state: StateStore, config: Config, bar_ms: int) -> bool:
    """True at the first run of a UTC day whose decided bar is at or after the digest hour."""
    hour = config.notify.digest_hour_utc
    if hour is None:
        return False
    day = bar_ms // MS_PER_DAY
    if (bar_ms % MS_PER_DAY) // MS_PER_HOUR < hour:
        return False
    last = get_meta(state, LAST_DIGEST_KEY)
    return last is None or int(last) < day


def selection_changes(state: StateStore, since_ms: int, until_ms: int) -> list[str]:
    """One line per pair added to or dropped from the selection between the selection in force
    at `since_ms` and the newest one up to `until_ms`."""
    bounds = [b for b in selection_boundaries(state) if b <= until_ms]
    if not bounds:
        return []
    before = [b for b in bounds if b <= since_ms]
    old = _pairs(state, before[-1]) if before else set()
    new = _pairs(state, bounds[-1])
    lines = [f"added {y} ~ {x}" for y, x in sorted(new - old)]
    lines += [f"dropped {y} ~ {x}" for y, x in sorted(old - new)]
    return lines


def _pairs(state: StateStore, boundary_ms: int) -> set[tuple[str, str]]:
    found = load_selection(state, boundary_ms)
    if found is None:
        return set()
    payload = found[1]
    return {
        (str(y), str(x))
        for y, x, chosen in zip(payload["y"], payload["x"], payload["selected"], strict=True)
        if chosen
    }


def send_digest(
    state: StateStore, channels: Sequence[Channel], book: PaperBook, bar_ms: int
) -> list[str]:
    """Send the digest to every channel; returns the channel errors. Recorded as sent for the
    day once any channel accepted it."""
    last = get_meta(state, LAST_DIGEST_KEY)
    since = (int(last) + 1) * MS_PER_DAY if last is not None else bar_ms - MS_PER_DAY
    rendered = render_digest(book, selection_changes(state, since, bar_ms), bar_ms)
    message = Message(slack=rendered.slack, telegram=rendered.telegram, plain=rendered.plain)
    errors, sent = [], 0
    for channel in channels:
        try:
            channel.send(message)
            sent += 1
        except NotifyError as exc:
            errors.append(f"digest: {exc}")  # the error names its channel
    if sent:
        set_meta(state, LAST_DIGEST_KEY, str(bar_ms // MS_PER_DAY))
    return errors
