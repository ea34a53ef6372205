"""I/O stage (state): the state database's schema: its header fields, the migration from
each version to the next, and each table's columns (checked when a file is opened). No
reads or writes of state here: `StateStore` and `state.outbox` do those.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from pairscan import __version__
from pairscan.state.records import POSITION_FIELDS

# Stored in the database header (`PRAGMA application_id`): tells our file from any other
# SQLite file without trusting its tables. ASCII "PSst".
APPLICATION_ID: Final = 0x50537374
# `PRAGMA user_version`. The header fields and the `meta` table keep their meaning in every
# future version, so an old pairscan can always say which version wrote a newer file.
SCHEMA_VERSION: Final = 2

# MIGRATIONS[v] takes a database from schema version v to v + 1 (v = 0: an empty file).
MIGRATIONS: Final = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE positions (
        y_symbol TEXT NOT NULL,
        x_symbol TEXT NOT NULL,
        state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
        bars_held INTEGER NOT NULL CHECK (bars_held >= 0),
        cooldown INTEGER NOT NULL CHECK (cooldown >= 0),
        hold_limit INTEGER NOT NULL CHECK (hold_limit >= 0),
        entry_bar_ms INTEGER,
        entry_z REAL,
        entry_alpha REAL,
        entry_beta REAL,
        qty_y REAL NOT NULL,
        qty_x REAL NOT NULL,
        entry_price_y REAL,
        entry_price_x REAL,
        updated_bar_ms INTEGER NOT NULL,
        PRIMARY KEY (y_symbol, x_symbol)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        bar_ms INTEGER PRIMARY KEY,
        committed_at_ms INTEGER NOT NULL,
        n_records INTEGER NOT NULL,
        n_open INTEGER NOT NULL
    );
    """,
    # 2: the trade-ticket outbox (`pairscan.state.outbox` holds their SQL).
    # A ticket is saved in its run's transaction, before any send; `seq` is its insertion
    # order; `deliveries` has one row per channel it reached; `delivery_failures` is a log
    # capped at the newest rows; `selections` holds each re-selection's table (JSON);
    # `exports` the last seq appended to each export file.
    """
    CREATE TABLE tickets (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        bar_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        ticket_id TEXT NOT NULL REFERENCES tickets (id),
        channel TEXT NOT NULL,
        delivered_at_ms INTEGER NOT NULL,
        PRIMARY KEY (ticket_id, channel)
    ) WITHOUT ROWID;
    CREATE TABLE delivery_failures (
        ticket_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        error TEXT NOT NULL
    );
    CREATE INDEX delivery_failures_by_ticket ON delivery_failures (ticket_id, channel);
    CREATE TABLE selections (
        boundary_ms INTEGER PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE TABLE exports (
        path TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
)
# Each table's columns and the schema version that added it: a file is checked for the
# tables of its own version (an older file opened with create=False is read as it is).
COLUMNS: Final = {
    "meta": ("key", "value"),
    "positions": POSITION_FIELDS,
    "runs": ("bar_ms", "committed_at_ms", "n_records", "n_open"),
    "tickets": ("id", "seq", "bar_ms", "created_ms", "payload"),
    "deliveries": ("ticket_id", "channel", "delivered_at_ms"),
    "delivery_failures": ("ticket_id", "channel", "at_ms", "error"),
    "selections": ("boundary_ms", "created_ms", "payload"),
    "exports": ("path", "last_seq"),
}
SINCE_VERSION: Final = {
    "tickets": 2,
    "deliveries": 2,
    "delivery_failures": 2,
    "selections": 2,
    "exports": 2,
}


def migrate(con: sqlite3.Connection, version: int, target: int) -> None:
    """Bring the schema from `version` to `target` (SCHEMA_VERSION, or an older one for the
    tests that write an old file); the caller holds a transaction."""
    for step in range(version, target):
        for statement in MIGRATIONS[step].split(";"):
            if statement.strip():
                con.execute(statement)
    con.execute(f"PRAGMA user_version = {int(target)}")
    con.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('written_by', ?)",
        (f"pairscan {__version__}",),
    )


def header(con: sqlite3.Connection) -> tuple[int, int, set[str]]:
    """(application_id, user_version, table names) of the open database."""
    (app_id,) = con.execute("PRAGMA application_id").fetchone()
    (version,) = con.execute("PRAGMA user_version").fetchone()
    tables = {
        row[0]
        for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }
    return int(app_id), int(version), tables


def written_by(con: sqlite3.Connection) -> str:
    """The pairscan version that last migrated the file, for messages."""
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'written_by'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    return "an unknown pairscan" if row is None else str(row[0])
