"""Stage 6 (tickets): what the daily digest says, and the one wording of a selection change.

`selection_diff` is the wording the scan's summary and the digest share; `digest_outgoing`
hands `notify.fan_out` the digest each channel owes (rendered by `tickets.render`), marked
in the state database as each channel accepts it. When a digest is due, and which one each
channel has had, is `pairscan.state.digest`'s bookkeeping; sending is the scan job's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from pairscan.notify import Message, Outgoing
from pairscan.state import StateStore
from pairscan.state.digest import (
    channel_digest_day,
    channel_selection_span,
    issued_digest_day,
    mark_digest_accepted,
    selection_span,
)
from pairscan.tickets.book import PaperBook
from pairscan.tickets.outbox import load_selection
from pairscan.tickets.render import render_digest

__all__ = [
    "channel_selection_changes",
    "digest_outgoing",
    "selected_pairs",
    "selection_changes",
    "selection_diff",
]

Pair = tuple[str, str]


def selection_diff(old: set[Pair], new: set[Pair]) -> list[str]:
    """The one wording of a selection change, for the scan's summary and the digest alike:
    `added y ~ x` lines (sorted), then `dropped y ~ x` lines."""
    lines = [f"added {y} ~ {x}" for y, x in sorted(new - old)]
    lines += [f"dropped {y} ~ {x}" for y, x in sorted(old - new)]
    return lines


def selected_pairs(state: StateStore, boundary_ms: int | None) -> set[Pair]:
    """The (y, x) pairs selected by the selection stored at `boundary_ms` (UTC ms); empty
    when None or none is stored there."""
    found = load_selection(state, boundary_ms) if boundary_ms is not None else None
    if found is None:
        return set()
    payload = found[1]
    return {
        (str(y), str(x))
        for y, x, chosen in zip(payload["y"], payload["x"], payload["selected"], strict=True)
        if chosen
    }


def selection_changes(state: StateStore, since_ms: int, until_ms: int) -> list[str]:
    """One line per pair added to or dropped from the selection between the selection in
    force at `since_ms` and the newest one up to `until_ms` (UTC ms)."""
    old, new = selection_span(state, since_ms, until_ms)
    return selection_diff(selected_pairs(state, old), selected_pairs(state, new))


def channel_selection_changes(
    state: StateStore, channel: str, until_ms: int
) -> tuple[int | None, list[str]]:
    """(the newest selection's boundary up to `until_ms`, the changes `channel`'s next digest
    reports): against the selection its previous digest reported (see
    `state.digest.channel_selection_span`)."""
    old, new = channel_selection_span(state, channel, until_ms)
    return new, selection_diff(selected_pairs(state, old), selected_pairs(state, new))


def digest_outgoing(
    state: StateStore, book: PaperBook, bar_ms: int
) -> Callable[[str], Iterator[Outgoing]]:
    """What `notify.fan_out` delivers of the digest: for each channel that has not accepted
    the newest digest issued (`state.digest.digest_due` issues it), that digest, with the
    selection changes since the channel's own previous digest; the channel is marked as soon
    as it accepts, so no later failure sends it that digest again. A channel that fails owes
    it still, and gets it at its next run that can deliver. Nothing when none was issued."""
    issued = issued_digest_day(state)
    rendered: dict[tuple[str, ...], Message] = {}  # channels with the same changes share one

    def owed(channel: str) -> Iterator[Outgoing]:
        if issued is None or channel_digest_day(state, channel) >= issued:
            return
        newest, changes = channel_selection_changes(state, channel, bar_ms)
        key = tuple(changes)
        if key not in rendered:
            rendered[key] = render_digest(book, changes, bar_ms)
        yield Outgoing(
            rendered[key],
            delivered=partial(mark_digest_accepted, state, channel, issued, newest),
            label="digest: ",
        )

    return owed
