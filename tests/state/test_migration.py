"""Schema upgrades: a file written by an older pairscan is brought to the current schema in
place, in one transaction, with every position and run intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pairscan import __version__
from pairscan.errors import StateError
from pairscan.market import MS_PER_HOUR
from pairscan.state import SCHEMA_VERSION, StateStore
from tests.state.test_store import BAR, flat, record


def _v1_file(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file pairscan 0.1 (schema version 1) wrote: a v1 schema and two runs."""
    monkeypatch.setattr("pairscan.state.store.SCHEMA_VERSION", 1)
    with StateStore(db) as store:
        store.commit_run(BAR - MS_PER_HOUR, [record(updated_bar_ms=BAR - MS_PER_HOUR)])
        store.commit_run(BAR, [record(), flat("SOL/USDT", "ETH/USDT", cooldown=5)])
    monkeypatch.undo()
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("UPDATE meta SET value = 'pairscan 0.1.0' WHERE key = 'written_by'")
        assert con.execute("PRAGMA user_version").fetchone() == (1,)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"meta", "positions", "runs"}
    finally:
        con.close()


def test_version_1_is_migrated_in_place_with_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SCHEMA_VERSION == 2
    db = tmp_path / "state" / "binance.sqlite"
    _v1_file(db, monkeypatch)
    inode = db.stat().st_ino
    with StateStore(db, create=False) as old:  # read as it is, never upgraded
        before = (old.snapshot(), old.runs())
        assert old.schema_version == 1
    assert db.stat().st_ino == inode
    with StateStore(db) as store:
        assert store.schema_version == 2
        assert (store.snapshot(), store.runs()) == before
        assert store.commit_run(BAR + MS_PER_HOUR, [])
    assert db.stat().st_ino == inode  # the same file, not a copy moved over it
    con = sqlite3.connect(db, isolation_level=None)
    try:
        assert con.execute("PRAGMA user_version").fetchone() == (2,)
        assert con.execute("SELECT value FROM meta WHERE key = 'written_by'").fetchone() == (
            f"pairscan {__version__}",
        )
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"tickets", "deliveries", "delivery_failures", "selections", "exports"} <= tables
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (3,)
    finally:
        con.close()


def test_a_failed_migration_leaves_version_1_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "binance.sqlite"
    _v1_file(db, monkeypatch)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("CREATE TABLE selections (x INTEGER)")  # makes the v2 step fail half-way
    con.close()
    content = db.read_bytes()
    with pytest.raises(StateError, match="table selections already exists"):
        StateStore(db)
    assert db.read_bytes() == content
