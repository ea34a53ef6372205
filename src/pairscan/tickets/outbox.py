"""Stage 6 (tickets): the outbox, the tickets saved in the state database before any send.

Tickets join the run's transaction (`outbox_writer` as `StateStore.commit_run`'s `extra`);
deliveries are marked per channel; `outgoing` hands the pending ones to `notify.fan_out`.
The SQL is `pairscan.state.outbox`'s; this module turns rows into tickets and back, and
sends nothing. The export files for other tools are `tickets.export`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, Final, NamedTuple

from pairscan.market import utc_now_ms
from pairscan.notify import Outgoing
from pairscan.state import ExtraWork, StateStore, combine
from pairscan.state import outbox as tables
from pairscan.tickets.model import Ticket
from pairscan.tickets.render import to_message

__all__ = [
    "FAILURE_LOG_ROWS",
    "DeliveryFailure",
    "combine",
    "delivered_ids",
    "failures",
    "load_selection",
    "load_tickets",
    "mark_delivered",
    "outbox_writer",
    "outgoing",
    "pending",
    "record_failure",
    "selection_writer",
]

FAILURE_LOG_ROWS: Final = 1000
"""`delivery_failures` keeps this many newest rows: a channel down for weeks cannot grow it."""


class DeliveryFailure(NamedTuple):
    """One failed send: the ticket, the channel, when (UTC ms) and the error's one line."""

    ticket_id: str
    channel: str
    at_ms: int
    error: str


# -- writes inside the run's transaction -------------------------------------------------------


def outbox_writer(tickets: Iterable[Ticket]) -> ExtraWork:
    """Work for `StateStore.commit_run(..., extra=...)` that saves `tickets` (in this order)
    in the run's transaction. A ticket whose id is already saved is left as it is (INSERT OR
    IGNORE): a rerun can never duplicate or alter a ticket, delivered or not.

    Serialises (and so validates) every ticket now, before the run's transaction begins;
    ValueError for two tickets with one id.
    """
    rows: list[tables.TicketRow] = []
    seen: set[str] = set()
    for ticket in tickets:
        if not isinstance(ticket, Ticket):
            raise TypeError(f"tickets: expected Ticket, got {type(ticket).__name__}")
        if ticket.id in seen:
            raise ValueError(f"tickets: id {ticket.id} ({ticket.pair}, {ticket.action}) twice")
        seen.add(ticket.id)
        rows.append((ticket.id, ticket.bar_ms, ticket.created_ms, ticket.to_json()))
    return tables.insert_tickets(rows)


def selection_writer(
    boundary_ms: int, payload: dict[str, Any], *, created_ms: int | None = None
) -> ExtraWork:
    """Work for `commit_run(..., extra=...)` that saves a re-selection's table as JSON, keyed
    by its boundary (UTC ms). The first one saved for a boundary is kept.

    `payload` must be JSON-serialisable (checked now); NaN and infinities are kept as
    Python's JSON extension (`NaN`), which `load_selection` reads back."""
    if not isinstance(payload, dict):
        raise TypeError(f"payload: expected a dict, got {type(payload).__name__}")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    created = utc_now_ms() if created_ms is None else int(created_ms)
    return StateStore.selection_work(int(boundary_ms), created, text)


# -- reads -------------------------------------------------------------------------------------


def load_selection(
    store: StateStore, boundary_ms: int | None = None
) -> tuple[int, dict[str, Any]] | None:
    """(boundary_ms, payload) of the selection saved at `boundary_ms`, or of the latest one
    when None; None when there is none."""
    found = store.selection_text(boundary_ms)
    return None if found is None else (found[0], json.loads(found[1]))


def pending(store: StateStore, channel: str, channels_since_ms: int | None = None) -> list[Ticket]:
    """Tickets not yet delivered to `channel`, in outbox order (oldest first).

    channels_since_ms: when given, tickets made before it (UTC ms, `created_ms`) are left
    out: pass when the channel was added, so that a new channel is not flooded with the
    history, or now minus the age past which a ticket is no longer worth sending.
    """
    _check_channel(channel)
    payloads = tables.pending_payloads(store, channel, channels_since_ms)
    return [Ticket.from_json(payload) for payload in payloads]


def load_tickets(store: StateStore, *, since_bar_ms: int | None = None) -> list[Ticket]:
    """Every ticket in the outbox (decided at or after `since_bar_ms` when given), oldest
    first: with `delivered_ids`, the input of `build_paper_book`."""
    return [Ticket.from_json(payload) for payload in tables.ticket_payloads(store, since_bar_ms)]


def delivered_ids(store: StateStore) -> set[str]:
    """Ids of the tickets delivered to at least one channel."""
    return tables.delivered_ids(store)


def failures(
    store: StateStore, *, ticket_id: str | None = None, limit: int | None = 100
) -> list[DeliveryFailure]:
    """Logged delivery failures, newest first (of one ticket when given)."""
    return [DeliveryFailure(*row) for row in tables.failure_rows(store, ticket_id, limit)]


# -- delivery bookkeeping (each its own small transaction) --------------------------------------


def mark_delivered(store: StateStore, ticket_id: str, channel: str, at_ms: int) -> bool:
    """Record that `channel` received the ticket at `at_ms` (UTC ms), committed at once so a
    crash after the send cannot send it again. Idempotent: returns False (and keeps the first
    time) when it was already marked. ValueError for a ticket the outbox does not hold."""
    _check_channel(channel)
    return tables.insert_delivery(store, ticket_id, channel, at_ms)


def record_failure(store: StateStore, ticket_id: str, channel: str, at_ms: int, error: str) -> None:
    """Log a failed send of the ticket to `channel` (it stays pending). Only the newest
    `FAILURE_LOG_ROWS` rows are kept. `error` should name no secret (first line kept, 500
    characters at most)."""
    _check_channel(channel)
    line = (str(error).strip().splitlines() or ["(no message)"])[0][:500]
    tables.insert_failure(store, ticket_id, channel, at_ms, line, keep_rows=FAILURE_LOG_ROWS)


def outgoing(
    store: StateStore, *, at_ms: int, since_ms: int | None = None
) -> Callable[[str], Iterator[Outgoing]]:
    """What `notify.fan_out` delivers of the outbox: for each channel, its pending tickets
    (made at or after `since_ms`, see `pending`), oldest first, each rendered for every
    channel, marked delivered or its failure logged at `at_ms` (UTC ms)."""

    def for_channel(channel: str) -> Iterator[Outgoing]:
        for ticket in pending(store, channel, channels_since_ms=since_ms):
            yield Outgoing(
                message=to_message(ticket),
                delivered=partial(mark_delivered, store, ticket.id, channel, at_ms),
                failed=partial(record_failure, store, ticket.id, channel, at_ms),
            )

    return for_channel


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str) or not channel or not channel.isprintable():
        raise ValueError(f"channel: must be a non-empty name, e.g. 'slack' (got {channel!r})")
