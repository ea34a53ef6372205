"""The state database on a real SQLite file: round trips, idempotent runs, partial writes,
one transaction with the caller's extra work, and clear errors for files it must not use."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pairscan import __version__
from pairscan.cache import open_store
from pairscan.errors import StateError
from pairscan.market import MS_PER_HOUR, parse_utc
from pairscan.state import (
    APPLICATION_ID,
    FLAT,
    LONG_SPREAD,
    SCHEMA_VERSION,
    SHORT_SPREAD,
    PositionRecord,
    RunInfo,
    StateStore,
)

BAR = parse_utc("2026-05-01T12:00")


def record(y: str = "ETH/USDT", x: str = "BTC/USDT", **changes: Any) -> PositionRecord:
    """An open LONG_SPREAD record at BAR, with any field changed."""
    fields: dict[str, Any] = {
        "y_symbol": y,
        "x_symbol": x,
        "state": LONG_SPREAD,
        "bars_held": 3,
        "cooldown": 0,
        "hold_limit": 48,
        "entry_bar_ms": BAR - 3 * MS_PER_HOUR,
        "entry_z": -2.1034,
        "entry_alpha": 0.0123,
        "entry_beta": 1.2345678901234567,
        "qty_y": 1.5,
        "qty_x": -0.0421,
        "entry_price_y": 3012.45,
        "entry_price_x": 96123.1,
        "updated_bar_ms": BAR,
    }
    fields.update(changes)
    return PositionRecord(**fields)


def flat(y: str, x: str, bar: int = BAR, cooldown: int = 0) -> PositionRecord:
    return PositionRecord(
        y, x, FLAT, 0, cooldown, 0, None, None, None, None, 0.0, 0.0, None, None, bar
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "binance.sqlite"


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# ---- creation and round trips ------------------------------------------------------------------


def test_a_new_database_is_empty_and_marked_as_ours(db: Path) -> None:
    with StateStore(db) as store:
        assert store.last_bar_ms() is None
        assert store.records() == {}
        assert store.open_positions() == []
        assert store.runs() == []
    con = raw(db)
    try:
        assert con.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert con.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        written_by = con.execute("SELECT value FROM meta WHERE key = 'written_by'").fetchone()
        assert written_by == (f"pairscan {__version__}",)
    finally:
        con.close()
    assert sorted(p.name for p in db.parent.iterdir()) == [db.name]  # no -wal/-shm/-journal


def test_round_trip_with_none_fields_and_exact_floats(db: Path) -> None:
    records = [
        record(entry_z=0.1 + 0.2, entry_beta=1 / 3, qty_y=5e-324, qty_x=-1.7976931348623157e308),
        record("SOL/USDT", "ETH/USDT", state=SHORT_SPREAD, entry_alpha=None, entry_price_x=None),
        flat("XRP/USDT", "ADA/USDT", cooldown=7),
    ]
    with StateStore(db) as store:
        assert store.commit_run(BAR, records)
    with StateStore(db) as store:  # a new connection reads what the file holds
        got = store.records()
        assert list(got) == sorted(r.key for r in records)
        assert got == {r.key: r for r in records}
        for r in records:
            for field in dataclasses.fields(r):
                a, b = getattr(got[r.key], field.name), getattr(r, field.name)
                assert type(a) is type(b), field.name
        assert got[records[0].key].entry_z == 0.30000000000000004
        assert store.open_positions() == sorted(records[:2], key=lambda r: r.key)
        assert store.last_bar_ms() == BAR
        snapshot = store.snapshot()
        assert (snapshot.last_bar_ms, snapshot.records) == (BAR, got)


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    values=st.tuples(finite, finite, st.none() | finite, st.none() | finite, st.none() | finite),
    counts=st.tuples(*(st.integers(0, 2**62) for _ in range(3))),
    state=st.sampled_from([FLAT, LONG_SPREAD, SHORT_SPREAD]),
    entry=st.none() | st.integers(-(2**62), 2**62),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_record_round_trips_exactly(
    tmp_path: Path,
    values: tuple[float, float, float | None, float | None, float | None],
    counts: tuple[int, int, int],
    state: int,
    entry: int | None,
) -> None:
    qty_y, qty_x, entry_z, entry_beta, price = values
    want = record(
        state=state,
        bars_held=counts[0],
        cooldown=counts[1],
        hold_limit=counts[2],
        entry_bar_ms=entry,
        entry_z=entry_z,
        entry_beta=entry_beta,
        entry_price_y=price,
        qty_y=qty_y,
        qty_x=qty_x,
    )
    path = tmp_path / f"{uuid.uuid4().hex}.sqlite"  # tmp_path is shared by the examples
    with StateStore(path) as store:
        store.commit_run(BAR, [want])
    with StateStore(path) as store:
        assert store.records() == {want.key: want}


def test_numpy_scalars_are_stored_as_python_numbers(db: Path) -> None:
    r = record(bars_held=np.int64(5), qty_y=np.float64(0.25), entry_bar_ms=np.int64(BAR))
    assert (type(r.bars_held), type(r.qty_y), type(r.entry_bar_ms)) == (int, float, int)
    with StateStore(db) as store:
        store.commit_run(BAR, [r])
        assert store.records()[r.key] == r


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"qty_y": math.nan}, "qty_y: must be finite"),
        ({"entry_z": math.inf}, "entry_z: must be finite"),
        ({"state": 3}, "state: must be 0 (FLAT), 1 or 2"),
        ({"bars_held": -1}, "bars_held: must be >= 0"),
        ({"cooldown": 1.5}, "cooldown: must be an integer"),
        ({"entry_bar_ms": 1.5}, "entry_bar_ms: must be an integer"),
        ({"x_symbol": "ETH/USDT"}, "x_symbol: must differ from y_symbol"),
        ({"y_symbol": ""}, "y_symbol: must be a non-empty symbol"),
    ],
)
def test_invalid_records_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        record(**changes)


def test_the_states_are_the_machines() -> None:
    from pairscan.signals import PairState

    assert (FLAT, LONG_SPREAD, SHORT_SPREAD) == (
        PairState.FLAT,
        PairState.LONG_SPREAD,
        PairState.SHORT_SPREAD,
    )


# ---- runs: idempotent, partial, one transaction --------------------------------------------------


def test_a_bar_already_processed_is_a_noop(db: Path) -> None:
    first = [record(), flat("SOL/USDT", "ETH/USDT")]
    called = []
    with StateStore(db) as store:
        assert store.commit_run(BAR, first, committed_at_ms=1)
        before = (store.records(), store.runs())
        for bar in (BAR, BAR - MS_PER_HOUR):
            changed = [record(bars_held=99, updated_bar_ms=bar), flat("A/USDT", "B/USDT", bar)]
            assert not store.commit_run(bar, changed, extra=called.append, committed_at_ms=2)
        assert (store.records(), store.runs()) == before
        assert store.last_bar_ms() == BAR
    assert called == []  # the extra work of a skipped run never runs


def test_pairs_not_passed_keep_their_records(db: Path) -> None:
    a, b, c = record(), record("SOL/USDT", "ETH/USDT"), flat("XRP/USDT", "ADA/USDT")
    later = BAR + MS_PER_HOUR
    with StateStore(db) as store:
        store.commit_run(BAR, [a, b, c])
        a2 = record(bars_held=4, updated_bar_ms=later)
        b2 = flat("SOL/USDT", "ETH/USDT", bar=later, cooldown=5)
        assert store.commit_run(later, {a2.key: a2, b2.key: b2})  # a mapping works too
        assert store.records() == {a.key: a2, b.key: b2, c.key: c}
        assert store.open_positions() == [a2]
        assert store.last_bar_ms() == later


def test_runs_history(db: Path) -> None:
    with StateStore(db) as store:
        store.commit_run(BAR, [record(), flat("SOL/USDT", "ETH/USDT")], committed_at_ms=10)
        store.commit_run(BAR + MS_PER_HOUR, [], committed_at_ms=20)
        store.commit_run(BAR + 3 * MS_PER_HOUR, [flat("ETH/USDT", "BTC/USDT")])
        runs = store.runs()
        assert runs[1:] == [
            RunInfo(BAR + MS_PER_HOUR, 20, n_records=0, n_open=1),
            RunInfo(BAR, 10, n_records=2, n_open=1),
        ]
        assert (runs[0].bar_ms, runs[0].n_records, runs[0].n_open) == (BAR + 3 * MS_PER_HOUR, 1, 0)
        assert runs[0].committed_at_ms > parse_utc("2024-01-01")  # the wall clock
        assert store.runs(limit=1) == runs[:1]


def _outbox(con: sqlite3.Connection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS outbox (pair TEXT, body TEXT)")
    con.execute("INSERT INTO outbox VALUES ('ETH/USDT ~ BTC/USDT', 'OPEN_LONG')")


def test_extra_work_commits_with_the_run(db: Path) -> None:
    with StateStore(db) as store:
        assert store.commit_run(BAR, [record()], extra=_outbox)
    con = raw(db)
    try:
        assert con.execute("SELECT * FROM outbox").fetchall() == [
            ("ETH/USDT ~ BTC/USDT", "OPEN_LONG")
        ]
    finally:
        con.close()
    with StateStore(db) as store:  # an extra table does not make the file foreign
        assert store.last_bar_ms() == BAR


def test_failing_extra_work_rolls_the_whole_run_back(db: Path) -> None:
    later = BAR + MS_PER_HOUR
    with StateStore(db) as store:
        store.commit_run(BAR, [record()])
        before = (store.records(), store.runs())

        def fail(con: sqlite3.Connection) -> None:
            _outbox(con)
            raise RuntimeError("ticket rendering failed")

        new = [record(bars_held=4, updated_bar_ms=later), record("SOL/USDT", "ETH/USDT")]
        with pytest.raises(RuntimeError, match="ticket rendering failed"):
            store.commit_run(later, new, extra=fail)
        assert (store.records(), store.runs()) == before
        assert store.last_bar_ms() == BAR
        # The same bar can be run again once the fault is gone.
        assert store.commit_run(later, new, extra=_outbox)
        assert store.last_bar_ms() == later
    con = raw(db)
    try:
        assert con.execute("SELECT COUNT(*) FROM outbox").fetchone() == (1,)
    finally:
        con.close()


def test_extra_work_must_not_end_the_transaction(db: Path) -> None:
    with StateStore(db) as store, pytest.raises(StateError, match="must not COMMIT or ROLLBACK"):
        store.commit_run(BAR, [record()], extra=lambda con: con.execute("ROLLBACK") and None)


@pytest.mark.parametrize(
    ("records", "error", "message"),
    [
        ([record(), record(bars_held=9)], ValueError, "appears twice"),
        ([record(updated_bar_ms=BAR + MS_PER_HOUR)], ValueError, "after the run's bar"),
        (["ETH/USDT"], TypeError, "expected PositionRecord"),
    ],
)
def test_bad_runs_write_nothing(
    db: Path, records: list[Any], error: type[Exception], message: str
) -> None:
    with StateStore(db) as store:
        with pytest.raises(error, match=message):
            store.commit_run(BAR, records)
        assert (store.last_bar_ms(), store.records()) == (None, {})


def test_a_run_computed_from_an_older_state_is_refused(db: Path) -> None:
    later = BAR + MS_PER_HOUR
    with StateStore(db) as store:
        store.commit_run(BAR, [record()])
        with pytest.raises(StateError, match="another run committed bar 2026-05-01 12:00Z"):
            store.commit_run(later, [], expect_last_bar_ms=None)
        assert store.last_bar_ms() == BAR
        assert store.commit_run(later, [], expect_last_bar_ms=BAR)


def test_a_locked_database_waits_then_fails_clearly(db: Path) -> None:
    with StateStore(db):
        pass
    other = raw(db)  # another run, in the middle of its transaction
    try:
        other.execute("BEGIN IMMEDIATE")
        with StateStore(db, timeout_s=0.05) as store:
            with pytest.raises(StateError) as info:
                store.commit_run(BAR, [record()])
            assert str(info.value) == (
                f"state database {db} is locked by another pairscan run (waited 0.05 s); "
                f"let it finish, or find it with `fuser {db}`"
            )
            other.execute("COMMIT")
            assert store.commit_run(BAR, [record()])
    finally:
        other.close()


# ---- files it must not use ---------------------------------------------------------------------


def _newer(db: Path) -> None:
    with StateStore(db) as store:
        store.commit_run(BAR, [record()])
    con = raw(db)
    try:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        con.execute("UPDATE meta SET value = 'pairscan 9.1.0' WHERE key = 'written_by'")
    finally:
        con.close()


@pytest.mark.parametrize("create", [True, False])
def test_a_newer_schema_is_refused_and_kept(db: Path, create: bool) -> None:
    _newer(db)
    content = db.read_bytes()
    with pytest.raises(StateError) as info:
        StateStore(db, create=create)
    assert str(info.value) == (
        f"state database {db} has schema version {SCHEMA_VERSION + 1}, written by pairscan "
        f"9.1.0; this pairscan {__version__} reads up to version {SCHEMA_VERSION}: upgrade "
        "pairscan (pip install -U pairscan) to use it. Keep the file: it holds the open positions"
    )
    assert db.read_bytes() == content


def _text_file(db: Path) -> None:
    db.write_text("symbol,qty\nETH/USDT,1.5\n" * 100, encoding="utf-8")


def _cache_db(db: Path) -> None:
    with open_store("sqlite", db.parent) as store:
        store.list_series()
        store.write_funding("binance", "ETH/USDT:USDT", _one_funding())
    (db.parent / "pairscan-cache.sqlite").rename(db)


def _one_funding() -> Any:
    from pairscan.market import FundingRates

    return FundingRates(np.array([BAR], dtype=np.int64), np.array([0.0001]))


def _other_app(db: Path) -> None:
    con = raw(db)
    con.execute("PRAGMA application_id = 1234")
    con.execute("CREATE TABLE positions (id INTEGER)")
    con.close()


def _our_id_missing_table(db: Path) -> None:
    with StateStore(db):
        pass
    con = raw(db)
    con.execute("DROP TABLE runs")
    con.close()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(_text_file, "file is not a database", id="text-file"),
        pytest.param(_cache_db, "tables candles, funding, meta", id="the-cache-database"),
        pytest.param(_other_app, "application_id 1234", id="another-application"),
        pytest.param(_our_id_missing_table, "table runs is missing", id="missing-table"),
    ],
)
@pytest.mark.parametrize("create", [True, False])
def test_a_foreign_file_is_refused_and_left_alone(
    db: Path, make: Any, reason: str, create: bool
) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    make(db)
    content = db.read_bytes()
    with pytest.raises(StateError) as info:
        StateStore(db, create=create)
    assert str(info.value) == (
        f"{db} is not a pairscan state database ({reason}); move it aside "
        f"(mv {db} {db}.bak) or point data_dir elsewhere, and rerun"
    )
    assert db.read_bytes() == content


def test_create_false_never_creates_anything(db: Path) -> None:
    with pytest.raises(StateError, match="no state database at"):
        StateStore(db, create=False)
    assert not db.parent.exists()
    db.parent.mkdir()
    db.touch()  # an empty file, e.g. left by a first run killed before its schema commit
    with StateStore(db, create=False) as store:
        assert (store.last_bar_ms(), store.records(), store.runs()) == (None, {}, [])
        with pytest.raises(StateError, match="opened without create=True"):
            store.commit_run(BAR, [record()])
    assert db.stat().st_size == 0
    with StateStore(db) as store:  # the next real run creates the schema in it
        assert store.commit_run(BAR, [record()])
