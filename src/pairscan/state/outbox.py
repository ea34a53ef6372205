"""I/O stage (state): the SQL of the ticket-outbox tables (tickets, deliveries,
delivery_failures, exports), so that every statement on the state database lives in
`pairscan.state`. Rows in, rows out: what a payload means (a ticket's JSON) is
`pairscan.tickets.outbox`'s business, and so is every rule about when to call these.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from pairscan.state.schema import SINCE_VERSION
from pairscan.state.store import ExtraWork, StateStore

log = logging.getLogger(__name__)

OUTBOX_SCHEMA_VERSION: Final = SINCE_VERSION["tickets"]
"""The state database's schema version that added the outbox tables."""
_EVER: Final = -(2**63)  # below every UTC ms: "no lower bound" in one query
_INSERT_TICKET: Final = (
    "INSERT OR IGNORE INTO tickets (id, seq, bar_ms, created_ms, payload) "
    "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM tickets"
)

TicketRow = tuple[str, int, int, str]
"""(id, bar_ms, created_ms, payload) of one saved ticket."""


def has_outbox(store: StateStore) -> bool:
    """False for an empty file, or an older one opened read-only: no outbox in it yet."""
    return store.schema_version >= OUTBOX_SCHEMA_VERSION


def insert_tickets(rows: Sequence[TicketRow]) -> ExtraWork:
    """Work for `commit_run(..., extra=...)` that appends `rows` in this order, each with the
    next `seq`. A row whose id is already saved is left as it is (INSERT OR IGNORE), with a
    warning when its payload differs."""

    def write(con: sqlite3.Connection) -> None:
        for ticket_id, bar_ms, created_ms, payload in rows:
            if con.execute(_INSERT_TICKET, (ticket_id, bar_ms, created_ms, payload)).rowcount:
                continue
            (stored,) = con.execute(
                "SELECT payload FROM tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
            if stored != payload:
                log.warning("ticket %s is already in the outbox, differently: kept", ticket_id)

    return write


def pending_payloads(store: StateStore, channel: str, since_ms: int | None) -> list[str]:
    """Payloads of the tickets made at or after `since_ms` (UTC ms, `created_ms`) that
    `channel` has not received, in `seq` order."""
    if not has_outbox(store):
        return []
    with store.transaction(write=False) as con:
        rows = con.execute(
            "SELECT payload FROM tickets AS t WHERE t.created_ms >= ? AND NOT EXISTS "
            "(SELECT 1 FROM deliveries AS d WHERE d.ticket_id = t.id AND d.channel = ?) "
            "ORDER BY t.seq",
            (_EVER if since_ms is None else int(since_ms), channel),
        ).fetchall()
    return [payload for (payload,) in rows]


def ticket_payloads(store: StateStore, since_bar_ms: int | None) -> list[str]:
    """Payloads of every ticket (decided at or after `since_bar_ms` when given), by `seq`."""
    if not has_outbox(store):
        return []
    with store.transaction(write=False) as con:
        rows = con.execute(
            "SELECT payload FROM tickets WHERE bar_ms >= ? ORDER BY seq",
            (_EVER if since_bar_ms is None else int(since_bar_ms),),
        ).fetchall()
    return [payload for (payload,) in rows]


def delivered_ids(store: StateStore) -> set[str]:
    """Ids of the tickets delivered to at least one channel."""
    if not has_outbox(store):
        return set()
    with store.transaction(write=False) as con:
        return {row[0] for row in con.execute("SELECT DISTINCT ticket_id FROM deliveries")}


def failure_rows(
    store: StateStore, ticket_id: str | None, limit: int | None
) -> list[tuple[str, str, int, str]]:
    """(ticket_id, channel, at_ms, error) of the logged failures, newest first."""
    if not has_outbox(store):
        return []
    where, args = ("WHERE ticket_id = ?", [ticket_id]) if ticket_id is not None else ("", [])
    with store.transaction(write=False) as con:
        return con.execute(
            f"SELECT ticket_id, channel, at_ms, error FROM delivery_failures {where} "
            "ORDER BY rowid DESC LIMIT ?",
            (*args, -1 if limit is None else int(limit)),
        ).fetchall()


def insert_delivery(store: StateStore, ticket_id: str, channel: str, at_ms: int) -> bool:
    """Mark the ticket received by `channel` at `at_ms` in its own transaction; False when it
    was marked already (the first time is kept). ValueError for an unknown ticket."""
    with store.transaction() as con:
        _check_ticket(con, ticket_id)
        cursor = con.execute(
            "INSERT OR IGNORE INTO deliveries (ticket_id, channel, delivered_at_ms) "
            "VALUES (?, ?, ?)",
            (ticket_id, channel, int(at_ms)),
        )
        return bool(cursor.rowcount)


def insert_failure(
    store: StateStore, ticket_id: str, channel: str, at_ms: int, error: str, *, keep_rows: int
) -> None:
    """Log one failed send in its own transaction, keeping the newest `keep_rows` rows.
    ValueError for an unknown ticket."""
    with store.transaction() as con:
        _check_ticket(con, ticket_id)
        cursor = con.execute(
            "INSERT INTO delivery_failures (ticket_id, channel, at_ms, error) VALUES (?, ?, ?, ?)",
            (ticket_id, channel, int(at_ms), error),
        )
        con.execute(
            "DELETE FROM delivery_failures WHERE rowid <= ?",
            (int(cursor.lastrowid or 0) - keep_rows,),
        )


def _check_ticket(con: sqlite3.Connection, ticket_id: str) -> None:
    if con.execute("SELECT 1 FROM tickets WHERE id = ?", (ticket_id,)).fetchone() is None:
        raise ValueError(f"ticket_id: {ticket_id!r} is not in the outbox")


class ExportTables:
    """The `exports` bookkeeping and the ticket rows an export reads, inside one write
    transaction (`export_session`): export files are written under its lock."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def last_seq(self, key: str) -> int:
        """The last seq recorded as appended to the file `key` (0: none)."""
        row = self._con.execute("SELECT last_seq FROM exports WHERE path = ?", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    def id_at(self, seq: int) -> str | None:
        """The id of the ticket saved with `seq`, None when there is none."""
        row = self._con.execute("SELECT id FROM tickets WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def after(self, seq: int) -> list[tuple[int, str]]:
        """(seq, payload) of every ticket after `seq`, in order."""
        rows = self._con.execute(
            "SELECT seq, payload FROM tickets WHERE seq > ? ORDER BY seq", (seq,)
        ).fetchall()
        return [(int(s), str(payload)) for s, payload in rows]

    def record(self, key: str, last_seq: int) -> None:
        """Record `last_seq` as the last one appended to the file `key`."""
        self._con.execute(
            "INSERT OR REPLACE INTO exports (path, last_seq) VALUES (?, ?)", (key, last_seq)
        )


@contextmanager
def export_session(store: StateStore) -> Iterator[ExportTables]:
    """One write transaction (the database's write lock: two runs never export at once)."""
    with store.transaction() as con:
        yield ExportTables(con)
