"""The outbox on a real SQLite state database: tickets saved with the run, never twice;
delivery marked per channel; failures logged and retried; a crash-safe export."""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from pairscan.errors import PairscanError, StateError
from pairscan.state import PositionRecord, StateStore
from pairscan.tickets import (
    Ticket,
    combine,
    delivered_ids,
    export_new,
    failures,
    load_selection,
    load_tickets,
    mark_delivered,
    outbox_writer,
    pending,
    record_failure,
    selection_writer,
)
from pairscan.tickets import export as export_module
from pairscan.tickets import outbox as outbox_module
from tests.tickets.factories import BAR, make_ticket

H = 3_600_000


def _flat(bar: int) -> PositionRecord:
    return PositionRecord(
        "ETH/USDT:USDT",
        "BTC/USDT:USDT",
        0,
        0,
        0,
        0,
        None,
        None,
        None,
        None,
        0.0,
        0.0,
        None,
        None,
        bar,
    )


def _bar_tickets(bar: int) -> list[Ticket]:
    return [
        make_ticket("open_long", bar_ms=bar),
        make_ticket("open_short", y="SOL/USDT:USDT", x="ETH/USDT:USDT", bar_ms=bar),
    ]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    with StateStore(tmp_path / "state" / "binanceusdm.sqlite") as s:
        yield s  # type: ignore[misc]


def _seqs(store: StateStore) -> list[tuple[int, str]]:
    with store.transaction(write=False) as con:
        return [
            (int(s), str(i)) for s, i in con.execute("SELECT seq, id FROM tickets ORDER BY seq")
        ]


def test_tickets_commit_with_the_run_in_order(store: StateStore) -> None:
    first, second = _bar_tickets(BAR), _bar_tickets(BAR + H)
    assert store.commit_run(BAR, [_flat(BAR)], extra=outbox_writer(first))
    assert store.commit_run(BAR + H, [], extra=outbox_writer(second))
    assert load_tickets(store) == [*first, *second]
    assert load_tickets(store, since_bar_ms=BAR + H) == second
    assert _seqs(store) == [(i + 1, t.id) for i, t in enumerate([*first, *second])]


def test_a_rerun_never_duplicates(store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    tickets = _bar_tickets(BAR)
    assert store.commit_run(BAR, [], extra=outbox_writer(tickets))
    assert not store.commit_run(BAR, [], extra=outbox_writer(tickets))  # the hour again
    # Even the writer run twice (say, a state file restored from a backup and the bar run
    # again) keeps the first tickets, ids and seqs.
    changed = make_ticket("open_long", gross_quote=1.0)
    with caplog.at_level(logging.WARNING), store.transaction() as con:
        outbox_writer(tickets)(con)
        outbox_writer([changed])(con)
    assert _seqs(store) == [(1, tickets[0].id), (2, tickets[1].id)]
    assert load_tickets(store) == tickets
    assert f"ticket {changed.id} is already in the outbox, differently: kept" in caplog.text


def test_a_failing_run_saves_no_ticket(store: StateStore) -> None:
    def fail(con: sqlite3.Connection) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.commit_run(BAR, [], extra=combine(outbox_writer(_bar_tickets(BAR)), fail))
    assert load_tickets(store) == []
    assert store.last_bar_ms() is None


def test_the_writer_validates_before_the_transaction() -> None:
    ticket = make_ticket()
    with pytest.raises(ValueError, match="twice"):
        outbox_writer([ticket, ticket])
    with pytest.raises(TypeError, match="expected Ticket"):
        outbox_writer(["not a ticket"])  # type: ignore[list-item]


def test_pending_and_delivered_per_channel(store: StateStore) -> None:
    a, b = _bar_tickets(BAR)
    later = make_ticket("close", bar_ms=BAR + 5 * H)
    store.commit_run(BAR, [], extra=outbox_writer([a, b]))
    store.commit_run(BAR + 5 * H, [], extra=outbox_writer([later]))
    assert pending(store, "slack") == [a, b, later]
    assert mark_delivered(store, a.id, "slack", BAR + 2 * H)
    assert not mark_delivered(store, a.id, "slack", BAR + 3 * H)  # idempotent, first time kept
    assert pending(store, "slack") == [b, later]
    assert pending(store, "telegram") == [a, b, later]
    # A channel added later gets only what was made since.
    assert pending(store, "telegram", later.created_ms) == [later]
    assert delivered_ids(store) == {a.id}
    with store.transaction(write=False) as con:
        assert con.execute("SELECT * FROM deliveries").fetchall() == [(a.id, "slack", BAR + 2 * H)]
    with pytest.raises(ValueError, match="is not in the outbox"):
        mark_delivered(store, "f" * 20, "slack", BAR)
    with pytest.raises(ValueError, match="channel: must be a non-empty name"):
        pending(store, "")


def test_a_failure_is_logged_and_the_ticket_stays_pending(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a, b) = _bar_tickets(BAR)
    store.commit_run(BAR, [], extra=outbox_writer([a, b]))
    record_failure(store, a.id, "telegram", BAR + H, "429 Too Many Requests: retry after 5\nmore")
    assert pending(store, "telegram") == [a, b]
    (failure,) = failures(store)
    assert failure == (a.id, "telegram", BAR + H, "429 Too Many Requests: retry after 5")
    assert mark_delivered(store, a.id, "telegram", BAR + 2 * H)
    assert pending(store, "telegram") == [b]
    monkeypatch.setattr(outbox_module, "FAILURE_LOG_ROWS", 3)
    for k in range(10):
        record_failure(store, b.id, "slack", BAR + k, f"error {k}")
    assert [f.error for f in failures(store)] == ["error 9", "error 8", "error 7"]
    assert failures(store, ticket_id=a.id) == []


def test_selections_round_trip(store: StateStore) -> None:
    assert load_selection(store) is None
    table = {"pairs": [["ETH/USDT", "BTC/USDT"]], "qvalue": [0.01], "rejected": [float("nan")]}
    store.commit_run(BAR, [], extra=selection_writer(BAR - 24 * H, table, created_ms=BAR))
    store.commit_run(BAR + H, [], extra=selection_writer(BAR + H, {"pairs": []}))
    assert load_selection(store) == (BAR + H, {"pairs": []})
    boundary, payload = load_selection(store, BAR - 24 * H)  # type: ignore[misc]
    assert boundary == BAR - 24 * H
    assert payload["pairs"] == table["pairs"]
    assert payload["rejected"][0] != payload["rejected"][0]  # NaN kept
    assert load_selection(store, BAR) is None


# -- export ----------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_export_appends_each_ticket_once_exactly(store: StateStore, tmp_path: Path) -> None:
    out = tmp_path / "data" / "tickets" / "binanceusdm"
    first = _bar_tickets(BAR)
    store.commit_run(BAR, [], extra=outbox_writer(first))
    assert export_new(store, out) == (2, 2)
    assert export_new(store, out) == (0, 0)
    second = [make_ticket("close", bar_ms=BAR + 3 * H, y='A,B"C/USDT', z=None)]
    store.commit_run(BAR + 3 * H, [], extra=outbox_writer(second))
    assert export_new(store, out) == (1, 1)
    records = [json.loads(line) for line in _lines(out / "tickets.jsonl")]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert [Ticket.from_dict({k: v for k, v in r.items() if k != "seq"}) for r in records] == [
        *first,
        *second,
    ]
    with (out / "tickets.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [t.id for t in [*first, *second]]
    assert rows[2]["y_symbol"] == 'A,B"C/USDT'
    assert rows[2]["z"] == ""
    assert float(rows[0]["y_ref_price"]) == first[0].legs[0].ref_price
    assert float(rows[0]["hedge_ratio"]) == first[0].hedge_ratio


def test_a_crash_between_writing_and_recording_neither_loses_nor_duplicates(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "export"
    store.commit_run(BAR, [], extra=outbox_writer(_bar_tickets(BAR)))
    export_new(store, out)
    later = make_ticket("close", bar_ms=BAR + 2 * H)
    store.commit_run(BAR + 2 * H, [], extra=outbox_writer([later]))
    real = export_module._append_durably

    def write_then_crash(path: Path, text: str) -> None:
        real(path, text)  # the lines are on disk, fsynced...
        raise OSError("killed")  # ...and the run dies before the seq is recorded

    monkeypatch.setattr(export_module, "_append_durably", write_then_crash)
    with pytest.raises(OSError, match="killed"):
        export_new(store, out)
    assert len(_lines(out / "tickets.jsonl")) == 3  # written, not recorded
    monkeypatch.setattr(export_module, "_append_durably", real)
    assert export_new(store, out) == (0, 1)  # the JSONL lines are recognised, the CSV's sent
    assert [json.loads(x)["seq"] for x in _lines(out / "tickets.jsonl")] == [1, 2, 3]
    assert [x.split(",")[0] for x in _lines(out / "tickets.csv")] == ["seq", "1", "2", "3"]
    assert export_new(store, out) == (0, 0)


def test_a_torn_last_line_is_cut_and_written_again(store: StateStore, tmp_path: Path) -> None:
    out = tmp_path / "export"
    tickets = _bar_tickets(BAR)
    store.commit_run(BAR, [], extra=outbox_writer(tickets[:1]))
    export_new(store, out)
    store.commit_run(BAR + H, [], extra=outbox_writer([make_ticket("close", bar_ms=BAR + H)]))
    whole = {name: (out / name).read_bytes() for name in ("tickets.jsonl", "tickets.csv")}
    for name in whole:  # a crash in the middle of the second write
        with (out / name).open("ab") as f:
            f.write(b'{"seq":2,"id":"abc')
    assert export_new(store, out) == (1, 1)
    for name, before in whole.items():
        text = (out / name).read_bytes()
        assert text.startswith(before)
        assert text.endswith(b"\n")
        assert b"abc" not in text
    assert [json.loads(x)["seq"] for x in _lines(out / "tickets.jsonl")] == [1, 2]


def test_a_torn_header_and_a_rotated_file(store: StateStore, tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / "tickets.csv").write_text("seq,id,exch")  # killed while writing the header
    store.commit_run(BAR, [], extra=outbox_writer(_bar_tickets(BAR)))
    assert export_new(store, out) == (2, 2)
    assert _lines(out / "tickets.csv")[0].startswith("seq,id,exchange,bar_ms")
    (out / "tickets.jsonl").rename(out / "tickets.jsonl.1")  # a consumer rotated it
    store.commit_run(BAR + H, [], extra=outbox_writer([make_ticket("close", bar_ms=BAR + H)]))
    assert export_new(store, out) == (1, 1)
    assert [json.loads(x)["seq"] for x in _lines(out / "tickets.jsonl")] == [3]


def test_an_export_file_of_another_database_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "shared"
    with StateStore(tmp_path / "a.sqlite") as a:
        a.commit_run(BAR, [], extra=outbox_writer(_bar_tickets(BAR)))
        export_new(a, out)
    with StateStore(tmp_path / "b.sqlite") as b:
        b.commit_run(BAR, [], extra=outbox_writer([make_ticket("close")]))
        with pytest.raises(PairscanError, match="written from another database"):
            export_new(b, out)
    (out / "tickets.csv").write_text("a,b\n1,2\n")
    with StateStore(tmp_path / "a.sqlite") as a, pytest.raises(PairscanError, match="header"):
        export_new(a, out)


def test_an_older_file_opened_read_only_has_an_empty_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.sqlite"
    monkeypatch.setattr("pairscan.state.store.SCHEMA_VERSION", 1)
    with StateStore(db) as old:
        old.commit_run(BAR, [_flat(BAR)])
    monkeypatch.undo()
    with StateStore(db, create=False) as store:
        assert store.schema_version == 1
        assert store.last_bar_ms() == BAR
        assert pending(store, "slack") == []
        assert load_tickets(store) == []
        assert delivered_ids(store) == set()
        assert load_selection(store) is None
        assert export_new(store, tmp_path / "out") == (0, 0)
        with pytest.raises(StateError, match="schema version 1 and was opened without create"):
            store.commit_run(BAR + H, [])
        with pytest.raises(StateError, match="run `pairs scan` once to upgrade it"):
            mark_delivered(store, "x", "slack", BAR)
