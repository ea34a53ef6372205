"""Stage 6 (tickets): new tickets appended to JSON lines and CSV files for other tools,
crash-safe (no loss, no duplicate line). Reads the outbox through `pairscan.state.outbox`;
sends nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from pairscan.errors import PairscanError
from pairscan.fsio import fsync_dir
from pairscan.state import StateStore
from pairscan.state import outbox as tables
from pairscan.tickets.model import Ticket

__all__ = ["CSV_COLUMNS", "CSV_NAME", "JSONL_NAME", "ExportCounts", "export_new"]

log = logging.getLogger(__name__)

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


class ExportCounts(NamedTuple):
    """Tickets appended to each export file by one `export_new`."""

    jsonl: int
    csv: int


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
    if not tables.has_outbox(store):
        return ExportCounts(0, 0)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = []
    with tables.export_session(store) as rows:
        for name, header, line_of, seq_id_of in (
            (JSONL_NAME, None, _jsonl_line, _jsonl_seq_id),
            (CSV_NAME, _csv_line(CSV_COLUMNS), _csv_row_line, _csv_seq_id),
        ):
            path = directory / name
            counts.append(_export_file(rows, path, header, line_of, seq_id_of))
    return ExportCounts(*counts)


def _export_file(
    exports: tables.ExportTables,
    path: Path,
    header: str | None,
    line_of: Callable[[int, Ticket], str],
    seq_id_of: Callable[[str, Path], tuple[int, str]],
) -> int:
    key = str(path.resolve())
    recorded = exports.last_seq(key)
    first, last = _repair_tail(path)
    if header is not None and first is not None and first != header.rstrip("\n"):
        raise PairscanError(
            f"{path} has another header than this pairscan's ticket export: move it aside "
            f"(mv {path} {path}.old) and rerun"
        )
    start = recorded
    if last is not None and (header is None or last != header.rstrip("\n")):
        seq, ticket = seq_id_of(last, path)
        if exports.id_at(seq) != ticket:
            raise PairscanError(
                f"{path} ends with ticket seq {seq} id {ticket}, which this state database "
                "does not hold: it was written from another database; export to one "
                "directory per database, or move the file aside"
            )
        # Written (and fsynced) by a run that crashed before recording it: already there.
        start = max(start, seq)
    rows = exports.after(start)
    lines = [line_of(seq, Ticket.from_json(payload)) for seq, payload in rows]
    if header is not None and first is None:
        lines.insert(0, header)
    if lines:
        _append_durably(path, "".join(lines))
    exports.record(key, rows[-1][0] if rows else start)
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
        fsync_dir(path.parent)


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
