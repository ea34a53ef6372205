"""The scan's paper book and its daily digest message.

The paper book follows the delivered tickets on paper (marked to the latest cached closes,
taker fees per fill, the cached funding events); the digest sends it once a day, at the first
scan whose decided bar is at or after `notify.digest_hour_utc`, with the pair-selection changes
since the previous digest. Each channel's digest is tracked on its own in the state database:
a channel that could not take the day's digest gets it at its next run that can deliver, once
(the newest digest only: a channel down for days is not sent each missed day's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from pairscan.config import Config
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, MarketInfo
from pairscan.notify import Channel, Message, Outgoing, fan_out
from pairscan.state import StateStore
from pairscan.tickets import (
    PaperBook,
    build_paper_book,
    delivered_ids,
    load_selection,
    load_tickets,
    render_digest,
)

if TYPE_CHECKING:
    from pairscan.cache import Store  # the paper book reads closes; typing only

log = logging.getLogger(__name__)

# State database `meta` keys (UTC day numbers): the newest digest issued, and per channel the
# newest one it accepted. `last_digest_day` is the single key of earlier versions.
ISSUED_DIGEST_KEY = "digest_issued_day"
CHANNEL_DIGEST_KEY = "digest_day:"
LAST_DIGEST_KEY = "last_digest_day"
# Per channel: the boundary (UTC ms) of the newest selection its last digest reported.
CHANNEL_SELECTION_KEY = "digest_selection:"


def paper_book(
    state: StateStore,
    store: Store,
    exchange: str,
    closes: Mapping[str, float],
    markets: Mapping[str, MarketInfo],
    as_of_ms: int,
) -> PaperBook:
    """The book of every delivered ticket, marked to `closes` (symbol -> last close).

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


def digest_due(state: StateStore, config: Config, bar_ms: int) -> bool:
    """True when this run has a digest to send: some configured channel has not accepted the
    newest digest issued.

    The first run whose decided bar is at or after `notify.digest_hour_utc` of a UTC day issues
    that day's digest (recorded now, in the state database, whether or not it is then
    delivered); every channel owes it until that channel accepts it. Digests off (`null`):
    never due, and owed digests are dropped.
    """
    hour = config.notify.digest_hour_utc
    if hour is None:
        return False
    day = bar_ms // MS_PER_DAY
    issued = _issued_day(state)
    if (bar_ms % MS_PER_DAY) // MS_PER_HOUR >= hour and (issued is None or issued < day):
        state.set_meta(ISSUED_DIGEST_KEY, str(day))
        issued = day
    if issued is None:
        return False
    return any(channel_digest_day(state, name) < issued for name in config.notify.channels)


def channel_digest_day(state: StateStore, channel: str) -> int:
    """The UTC day number of the newest digest `channel` accepted; -1 when none."""
    value = state.get_meta(CHANNEL_DIGEST_KEY + channel)
    if value is None:
        # Before per-channel bookkeeping, one day was kept for all channels.
        value = state.get_meta(LAST_DIGEST_KEY)
    return -1 if value is None else int(value)


def _issued_day(state: StateStore) -> int | None:
    value = state.get_meta(ISSUED_DIGEST_KEY) or state.get_meta(LAST_DIGEST_KEY)
    return None if value is None else int(value)


def selection_diff(old: set[tuple[str, str]], new: set[tuple[str, str]]) -> list[str]:
    """The one wording of a selection change, for the scan's summary and the digest alike:
    `added y ~ x` lines (sorted), then `dropped y ~ x` lines."""
    lines = [f"added {y} ~ {x}" for y, x in sorted(new - old)]
    lines += [f"dropped {y} ~ {x}" for y, x in sorted(old - new)]
    return lines


def selection_changes(state: StateStore, since_ms: int, until_ms: int) -> list[str]:
    """One line per pair added to or dropped from the selection between the selection in force
    at `since_ms` and the newest one up to `until_ms`."""
    bounds = [b for b in state.selection_boundaries() if b <= until_ms]
    if not bounds:
        return []
    before = [b for b in bounds if b <= since_ms]
    old = _pairs(state, before[-1]) if before else set()
    return selection_diff(old, _pairs(state, bounds[-1]))


def channel_selection_changes(
    state: StateStore, channel: str, until_ms: int
) -> tuple[int | None, list[str]]:
    """(the newest selection's boundary up to `until_ms`, the changes `channel`'s next digest
    reports): against the selection its previous digest reported; everything selected when it
    has had no digest yet, as the scan's summary said of a first selection. A channel whose
    last digest came from a version that did not record the selection: against the selection
    in force when that digest's day ended."""
    bounds = [b for b in state.selection_boundaries() if b <= until_ms]
    newest = bounds[-1] if bounds else None
    reported = state.get_meta(CHANNEL_SELECTION_KEY + channel)
    if reported is not None:
        old = _pairs(state, int(reported))
    else:
        last = channel_digest_day(state, channel)
        if last >= 0:
            return newest, selection_changes(state, (last + 1) * MS_PER_DAY, until_ms)
        old = set()
    return newest, selection_diff(old, _pairs(state, newest) if newest is not None else set())


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
    """Send the digest to every channel that has not accepted the newest digest issued (see
    `digest_due`); returns the channel errors. Each channel is marked as soon as it accepts,
    so no later failure sends it that digest again; a channel that fails owes it still, and
    gets it at its next run that can deliver. The selection changes are those since the
    channel's own previous digest (`channel_selection_changes`)."""
    issued = _issued_day(state)
    if issued is None:
        return []
    day: int = issued
    rendered: dict[tuple[str, ...], Message] = {}

    def owed(channel: str) -> Iterator[Outgoing]:
        if channel_digest_day(state, channel) >= day:
            return
        newest, changes = channel_selection_changes(state, channel, bar_ms)
        key = tuple(changes)
        if key not in rendered:
            rendered[key] = render_digest(book, changes, bar_ms)
        yield Outgoing(
            rendered[key],
            delivered=partial(_accepted, state, channel, day, newest),
            label="digest: ",
        )

    return fan_out(channels, owed).errors


def _accepted(state: StateStore, channel: str, day: int, selection_ms: int | None) -> None:
    """`channel` took the digest of UTC day number `day`, reporting the selection of
    boundary `selection_ms`: it owes no digest until the next one is issued."""
    state.set_meta(CHANNEL_DIGEST_KEY + channel, str(day))
    if selection_ms is not None:
        state.set_meta(CHANNEL_SELECTION_KEY + channel, str(selection_ms))
