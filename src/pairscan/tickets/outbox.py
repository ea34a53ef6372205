"""Stage 6 (tickets): the outbox, the tickets saved in the state database before any send.

Tickets join the run's transaction (`outbox_writer` as `StateStore.commit_run`'s `extra`);
deliveries are marked per channel; new tickets are appended to JSON lines and CSV files for
other tools. Uses only the `StateStore`'s connection; sends nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from pairscan.errors import PairscanError
from pairscan.market import utc_now_ms
from pairscan.state import ExtraWork, StateStore
from pairscan.tickets.model import Ticket

__all__ = [
    "CSV_COLUMNS",
    "FAILURE_LOG_ROWS",
    "DeliveryFailure",
    "ExportCounts",
    "combine",
    "delivered_ids",
    "export_new",
    "failures",
    "load_selection",
    "load_tickets",
    "mark_delivered",
    "outbox_writer",
    "pending",
    "record_failure",
    "selection_writer",
]

log = logging.getLogger(__name__)

OUTBOX_SCHEMA_VERSION: Final = 2
"""The state database's schema version that added the outbox tables."""
FAILURE_LOG_ROWS: Final = 1000
"""`delivery_failures` keeps this many newest rows: a channel down for weeks cannot grow it."""
JSONL_NAME: Final = "tickets.jsonl"
CSV_NAME: Final = "tickets.csv"
CSV_COLUMNS: Final = (
    "seq",
    "id",
    "exchange",
    "bar_ms",
    "created_ms",
    "y_symbol",
    "x_symbol",
    "action",
    "reason",
    "y_side",
    "y_qty",
    "y_notional_quote",
    "y_ref_price",
    "x_side",
    "x_qty",
    "x_notional_quote",
    "x_ref_price",
    "hedge_ratio",
    "z",
    "entry_z",
    "exit_z",
    "stop_z",
    "half_life_bars",
    "qvalue",
    "gross_quote",
    "daily_vol_quote",
    "var95_quote",
    "var99_quote",
    "margin_quote",
    "pnl_estimate_quote",
    "quote",
)
_INSERT_TICKET: Final = (
    "INSERT OR IGNORE INTO tickets (id, seq, bar_ms, created_ms, payload) "
    "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM tickets"
)


class DeliveryFailure(NamedTuple):
    """One failed send: the ticket, the channel, when (UTC ms) and the error's one line."""

    ticket_id: str
    channel: str
    at_ms: int
    error: str


class ExportCounts(NamedTuple):
    """Tickets appended to each export file by one `export_new`."""

    jsonl: int
    csv: int


# -- writes inside the run's transaction -------------------------------------------------------


def outbox_writer(tickets: Iterable[Ticket]) -> ExtraWork:
    """Work for `StateStore.commit_run(..., extra=...)` that saves `tickets` (in this order)
    in the run's transaction. A ticket whose id is already saved is left as it is (INSERT OR
    IGNORE): a rerun can never duplicate or alter a ticket, delivered or not.

    Serialises (and so validates) every ticket now, before the run's transaction begins;
    ValueError for two tickets with one id.
    """
    rows: list[tuple[str, int, int, str]] = []
    seen: set[str] = set()
    for ticket in tickets:
        if not isinstance(ticket, Ticket):
            raise TypeError(f"tickets: expected Ticket, got {type(ticket).__name__}")
        if ticket.id in seen:
            raise ValueError(f"tickets: id {ticket.id} ({ticket.pair}, {ticket.action}) twice")
        seen.add(ticket.id)
        rows.append((ticket.id, ticket.bar_ms, ticket.created_ms, ticket.to_json()))

    def write(con: sqlite3.Connection) -> None:
        for ticket_id_, bar_ms, created_ms, payload in rows:
            if con.execute(_INSERT_TICKET, (ticket_id_, bar_ms, created_ms, payload)).rowcount:
                continue
            (stored,) = con.execute(
                "SELECT payload FROM tickets WHERE id = ?", (ticket_id_,)
            ).fetchone()
            if stored != payload:
                log.warning("ticket %s is already in the outbox, differently: kept", ticket_id_)

    return write


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
    boundary = int(boundary_ms)
    created = utc_now_ms() if created_ms is None else int(created_ms)

    def write(con: sqlite3.Connection) -> None:
        con.execute(
            "INSERT OR IGNORE INTO selections (boundary_ms, created_ms, payload) VALUES (?, ?, ?)",
            (boundary, created, text),
        )

    return write


def combine(*works: ExtraWork | None) -> ExtraWork:
    """Several pieces of extra work as one, run in order in the same transaction."""

    def write(con: sqlite3.Connection) -> None:
        for work in works:
            if work is not None:
                work(con)

    return write


# -- reads -------------------------------------------------------------------------------------


def _has_outbox(store: StateStore) -> bool:
    # An empty file, or an older one opened read-only, has no outbox yet: nothing in it.
    return store.schema_version >= OUTBOX_SCHEMA_VERSION


def load_selection(
    store: StateStore, boundary_ms: int | None = None
) -> tuple[int, dict[str, Any]] | None:
    """(boundary_ms, payload) of the selection saved at `boundary_ms`, or of the latest one
    when None; None when there is none."""
    if not _has_outbox(store):
        return None
    with store.transaction(write=False) as con:
        if boundary_ms is None:
            row = con.execute(
                "SELECT boundary_ms, payload FROM selections ORDER BY boundary_ms DESC LIMIT 1"
            ).fetchone()
        else:
            row = con.execute(
                "SELECT boundary_ms, payload FROM selections WHERE boundary_ms = ?",
                (int(boundary_ms),),
            ).fetchone()
    if row is None:
        return None
    return int(row[0]), json.loads(row[1])


def pending(store: StateStore, channel: str, channels_since_ms: int | None = None) -> list[Ticket]:
    """Tickets not yet delivered to `channel`, in outbox order (oldest first).

    channels_since_ms: when given, tickets made before it (UTC ms, `created_ms`) are left
    out: pass when the channel was added, so that a new channel is not flooded with the
    history, or now minus the age past which a ticket is no longer worth sending.
    """
    _check_channel(channel)
    if not _has_outbox(store):
        return []
    with store.transaction(write=False) as con:
        rows = con.execute(
            "SELECT payload FROM tickets AS t WHERE t.created_ms >= ? AND NOT EXISTS "
            "(SELECT 1 FROM deliveries AS d WHERE d.ticket_id = t.id AND d.channel = ?) "
            "ORDER BY t.seq",
            (-(2**63) if channels_since_ms is None else int(channels_since_ms), channel),
        ).fetchall()
    return [Ticket.from_json(payload) for (payload,) in rows]


def load_tickets(store: StateStore, *, since_bar_ms: int | None = None) -> list[Ticket]:
    """Every ticket in the outbox (decided at or after `since_bar_ms` when given), oldest
    first: with `delivered_ids`, the input of `build_paper_book`."""
    if not _has_outbox(store):
        return []
    with store.transaction(write=False) as con:
        rows = con.execute(
            "SELECT payload FROM tickets WHERE bar_ms >= ? ORDER BY seq",
            (-(2**63) if since_bar_ms is None else int(since_bar_ms),),
        ).fetchall()
    return [Ticket.from_json(payload) for (payload,) in rows]


def delivered_ids(store: StateStore) -> set[str]:
    """Ids of the tickets delivered to at least one channel."""
    if not _has_outbox(store):
        return set()
    with store.transaction(write=False) as con:
        return {row[0] for row in con.execute("SELECT DISTINCT ticket_id FROM deliveries")}


def failures(
    store: StateStore, *, ticket_id: str | None = None, limit: int | None = 100
) -> list[DeliveryFailure]:
    """Logged delivery failures, newest first (of one ticket when given)."""
    if not _has_outbox(store):
        return []
    where, args = ("WHERE ticket_id = ?", [ticket_id]) if ticket_id is not None else ("", [])
    with store.transaction(write=False) as con:
        rows = con.execute(
            f"SELECT ticket_id, channel, at_ms, error FROM delivery_failures {where} "
            "ORDER BY rowid DESC LIMIT ?",
            (*args, -1 if limit is None else int(limit)),
        ).fetchall()
    return [DeliveryFailure(*row) for row in rows]


# -- delivery bookkeeping (each its own small transaction) --------------------------------------


def mark_delivered(store: StateStore, ticket_id: str, channel: str, at_ms: int) -> bool:
    """Record that `channel` received the ticket at `at_ms` (UTC ms), committed at once so a
    crash after the send cannot send it again. Idempotent: returns False (and keeps the first
    time) when it was already marked. ValueError for a ticket the outbox does not hold."""
    _check_channel(channel)
    with store.transaction() as con:
        _check_ticket(con, ticket_id)
        cursor = con.execute(
            "INSERT OR IGNORE INTO deliveries (ticket_id, channel, delivered_at_ms) "
            "VALUES (?, ?, ?)",
            (ticket_id, channel, int(at_ms)),
        )
        return bool(cursor.rowcount)


def record_failure(store: StateStore, ticket_id: str, channel: str, at_ms: int, error: str) -> None:
    """Log a failed send of the ticket to `channel` (it stays pending). Only the newest
    `FAILURE_LOG_ROWS` rows are kept. `error` should name no secret (first line kept, 500
    characters at most)."""
    _check_channel(channel)
    line = (str(error).strip().splitlines() or ["(no message)"])[0][:500]
    with store.transaction() as con:
        _check_ticket(con, ticket_id)
        cursor = con.execute(
            "INSERT INTO delivery_failures (ticket_id, channel, at_ms, error) VALUES (?, ?, ?, ?)",
            (ticket_id, channel, int(at_ms), line),
        )
        con.execute(
            "DELETE FROM delivery_failures WHERE rowid <= ?",
            (int(cursor.lastrowid or 0) - FAILURE_LOG_ROWS,),
        )


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str) or not channel or not channel.isprintable():
        raise ValueError(f"channel: must be a non-empty name, e.g. 'slack' (got {channel!r})")


def _check_ticket(con: sqlite3.Connection, ticket_id: str) -> None:
    if con.execute("SELECT 1 FROM tickets WHERE id = ?", (ticket_id,)).fetchone() is None:
        raise ValueError(f"ticket_id: {ticket_id!r} is not in the outbox")


# -- export for other tools ------------------------------------------------------------------


def export_new(store: StateStore, directory: Path) -> ExportCounts:
    """Append the tickets not yet exported to `directory`/tickets.jsonl and tickets.csv
    (created with a header row for the CSV), oldest first; each line carries the ticket's
    outbox `seq` and `id`. Use one directory per state database (e.g.
    `data_dir/tickets/<exchange>`).

    Crash-safe, no loss and no duplicate: per file, under the database's write lock (so two
    runs never export at once), (1) a torn last line left by a crash mid-write is cut off,
    (2) the seq of the file's last whole line is read back: lines a crashed run wrote and
    fsynced but did not get to record are recognised (their seq, and the id at that seq, are
    the outbox's) and not written again, (3) the new lines are appended in one write and
    fsynced, (4) the last seq is recorded in the database in the same transaction. A file
    that was rotated away starts afresh with the tickets not yet exported.
    """
    if not _has_outbox(store):
        return ExportCounts(0, 0)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = []
    with store.transaction() as con:
        for name, header, line_of, seq_id_of in (
            (JSONL_NAME, None, _jsonl_line, _jsonl_seq_id),
            (CSV_NAME, _csv_line(CSV_COLUMNS), _csv_row_line, _csv_seq_id),
        ):
            path = directory / name
            counts.append(_export_file(con, path, header, line_of, seq_id_of))
    return ExportCounts(*counts)


def _export_file(
    con: sqlite3.Connection,
    path: Path,
    header: str | None,
    line_of: Callable[[int, Ticket], str],
    seq_id_of: Callable[[str, Path], tuple[int, str]],
) -> int:
    key = str(path.resolve())
    row = con.execute("SELECT last_seq FROM exports WHERE path = ?", (key,)).fetchone()
    recorded = 0 if row is None else int(row[0])
    first, last = _repair_tail(path)
    if header is not None and first is not None and first != header.rstrip("\n"):
        raise PairscanError(
            f"{path} has another header than this pairscan's ticket export: move it aside "
            f"(mv {path} {path}.old) and rerun"
        )
    start = recorded
    if last is not None and (header is None or last != header.rstrip("\n")):
        seq, ticket = seq_id_of(last, path)
        stored = con.execute("SELECT id FROM tickets WHERE seq = ?", (seq,)).fetchone()
        if stored is None or stored[0] != ticket:
            raise PairscanError(
                f"{path} ends with ticket seq {seq} id {ticket}, which this state database "
                "does not hold: it was written from another database; export to one "
                "directory per database, or move the file aside"
            )
        # Written (and fsynced) by a run that crashed before recording it: already there.
        start = max(start, seq)
    rows = con.execute(
        "SELECT seq, payload FROM tickets WHERE seq > ? ORDER BY seq", (start,)
    ).fetchall()
    lines = [line_of(int(seq), Ticket.from_json(payload)) for seq, payload in rows]
    if header is not None and first is None:
        lines.insert(0, header)
    if lines:
        _append_durably(path, "".join(lines))
    new_last = int(rows[-1][0]) if rows else start
    con.execute("INSERT OR REPLACE INTO exports (path, last_seq) VALUES (?, ?)", (key, new_last))
    return len(rows)


def _repair_tail(path: Path) -> tuple[str | None, str | None]:
    """(first line, last line) of the file's whole lines, (None, None) when it has none;
    bytes after the last newline (a write cut short by a crash) are cut off first."""
    if not path.exists():
        return None, None
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        tail, pos = b"", size
        while pos > 0:  # read back until the last whole line's start is in `tail`
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            end = tail.rfind(b"\n")
            if end >= 0 and tail.rfind(b"\n", 0, end) >= 0:
                break
        end = tail.rfind(b"\n")
        whole = pos + end + 1 if end >= 0 else 0
        if whole != size:
            log.warning("%s: cutting off %d bytes of a torn last line", path, size - whole)
            f.truncate(whole)
            f.flush()
            os.fsync(f.fileno())
        if whole == 0:
            return None, None
        last = tail[tail.rfind(b"\n", 0, end) + 1 : end].decode("utf-8")
        f.seek(0)
        first = f.readline().decode("utf-8").rstrip("\n")
    return first, last


def _append_durably(path: Path, text: str) -> None:
    created = not path.exists()
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if created:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonl_line(seq: int, ticket: Ticket) -> str:
    record = {"seq": seq, **ticket.to_dict()}
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _jsonl_seq_id(line: str, path: Path) -> tuple[int, str]:
    try:
        record = json.loads(line)
        return int(record["seq"]), str(record["id"])
    except (ValueError, KeyError, TypeError):
        raise PairscanError(
            f"{path}: the last line is not a ticket export line; move the file aside "
            f"(mv {path} {path}.old) and rerun"
        ) from None


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _csv_row_line(seq: int, t: Ticket) -> str:
    y, x = t.legs
    values = {
        "seq": seq,
        "y_side": y.side,
        "y_qty": y.qty,
        "y_notional_quote": y.notional_quote,
        "y_ref_price": y.ref_price,
        "x_side": x.side,
        "x_qty": x.qty,
        "x_notional_quote": x.notional_quote,
        "x_ref_price": x.ref_price,
    }
    row = [values[c] if c in values else getattr(t, c) for c in CSV_COLUMNS]
    # repr() of a float is exact; None is an empty cell.
    return _csv_line(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])


def _csv_seq_id(line: str, path: Path) -> tuple[int, str]:
    try:
        row = next(csv.reader([line]))
        return int(row[0]), row[1]
    except (ValueError, IndexError, StopIteration):
        raise PairscanError(
            f"{path}: the last line is not a ticket export row; move the file aside "
            f"(mv {path} {path}.old) and rerun"
        ) from None


def selection_boundaries(store: StateStore) -> list[int]:
    """Every stored selection's boundary (UTC ms), ascending."""
    if not _has_outbox(store):
        return []
    with store.transaction(write=False) as con:
        rows = con.execute("SELECT boundary_ms FROM selections ORDER BY boundary_ms").fetchall()
    return [int(r[0]) for r in rows]


def get_meta(store: StateStore, key: str) -> str | None:
    """A small piece of the scan's bookkeeping (e.g. the day of the last digest), or None."""
    with store.transaction(write=False) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(store: StateStore, key: str, value: str) -> None:
    """Set a bookkeeping value in its own small transaction."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
