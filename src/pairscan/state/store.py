"""I/O stage (state): the per-pair positions and the history of runs, in one SQLite file.

One transaction per hourly run. No trading rule here (the records come from the caller), and
every `sqlite3.DatabaseError` leaves this module as a one-line `StateError`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from pairscan import __version__
from pairscan.errors import StateError
from pairscan.market import format_utc, utc_now_ms
from pairscan.state.records import (
    FLAT,
    POSITION_FIELDS,
    PositionRecord,
    RunInfo,
    StateSnapshot,
    as_int,
)

log = logging.getLogger(__name__)

# Stored in the database header (`PRAGMA application_id`): tells our file from any other
# SQLite file without trusting its tables. ASCII "PSst".
APPLICATION_ID: Final = 0x50537374
# `PRAGMA user_version`. The header fields and the `meta` table keep their meaning in every
# future version, so an old pairscan can always say which version wrote a newer file.
SCHEMA_VERSION: Final = 2
DEFAULT_TIMEOUT_S: Final = 30.0

# _MIGRATIONS[v] takes a database from schema version v to v + 1 (v = 0: an empty file).
_MIGRATIONS: Final = (
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
    # 2: the trade-ticket outbox (`pairscan.tickets.outbox` reads and writes these tables).
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
_COLUMNS: Final = {
    "meta": ("key", "value"),
    "positions": POSITION_FIELDS,
    "runs": ("bar_ms", "committed_at_ms", "n_records", "n_open"),
    "tickets": ("id", "seq", "bar_ms", "created_ms", "payload"),
    "deliveries": ("ticket_id", "channel", "delivered_at_ms"),
    "delivery_failures": ("ticket_id", "channel", "at_ms", "error"),
    "selections": ("boundary_ms", "created_ms", "payload"),
    "exports": ("path", "last_seq"),
}
_SINCE_VERSION: Final = {
    "tickets": 2,
    "deliveries": 2,
    "delivery_failures": 2,
    "selections": 2,
    "exports": 2,
}
_POSITION_COLUMNS = ", ".join(_COLUMNS["positions"])
_UPSERT_POSITION = (
    f"INSERT OR REPLACE INTO positions ({_POSITION_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS['positions']))})"
)


class _Unset:
    """Type of `_UNSET`, the default of an argument for which None is a meaningful value."""


_UNSET: Final = _Unset()

ExtraWork = Callable[[sqlite3.Connection], None]
"""Work done inside a run's transaction (e.g. saving the bar's tickets): gets the open
connection, must not BEGIN, COMMIT or ROLLBACK; raising rolls the whole run back."""


class StateStore:
    """The state database at `path` (created on first use unless `create=False`).

    Use as a context manager. `timeout_s` is how long an operation waits for another
    process's transaction before failing with a `StateError`.
    """

    def __init__(
        self, path: Path, *, create: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._initialised = True
        self._version = SCHEMA_VERSION
        self._con: sqlite3.Connection | None = self._connect(create)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            with self._guard():
                con.close()

    @property
    def initialised(self) -> bool:
        """False for an empty file opened with create=False: it holds no state yet."""
        return self._initialised

    @property
    def schema_version(self) -> int:
        """The file's schema version: SCHEMA_VERSION, or an older one for an old file opened
        with create=False (read as it is, never upgraded; its newer tables are missing)."""
        return self._version if self._initialised else 0

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction on the store's connection: BEGIN IMMEDIATE (`write=True`, takes the
        write lock at once, waiting up to `timeout_s` for another run's) or BEGIN (a
        consistent read), COMMIT at the end of the block, ROLLBACK on any exception.

        The block gets the connection and must not BEGIN, COMMIT or ROLLBACK itself; sqlite3
        errors leave as `StateError`. For the stages that keep their own tables in this file
        (the ticket outbox); positions and runs are written by `commit_run` only.
        """
        con = self._writable() if write else self._connection()
        with self._guard(), _transaction(con, "BEGIN IMMEDIATE" if write else "BEGIN"):
            yield con
            if not con.in_transaction:
                raise StateError(
                    f"state database {self.path}: a transaction block ended the transaction "
                    "itself (a bug: it must not COMMIT or ROLLBACK)"
                )

    # -- reads ----------------------------------------------------------------------------

    def last_bar_ms(self) -> int | None:
        """Open time (UTC ms) of the newest bar a committed run processed; None before any."""
        if not self._initialised:
            return None
        with self._guard():
            return _last_bar(self._connection())

    def records(self) -> dict[tuple[str, str], PositionRecord]:
        """Every pair's record, keyed by (y_symbol, x_symbol), in key order."""
        if not self._initialised:
            return {}
        with self._guard():
            return _records(self._connection(), "")

    def open_positions(self) -> list[PositionRecord]:
        """Records whose state is not FLAT, ordered by (y_symbol, x_symbol)."""
        if not self._initialised:
            return []
        with self._guard():
            return list(_records(self._connection(), f"WHERE state != {FLAT}").values())

    def snapshot(self) -> StateSnapshot:
        """`last_bar_ms()` and `records()` as of one moment (one read transaction)."""
        if not self._initialised:
            return StateSnapshot(None, {})
        con = self._connection()
        with self._guard(), _transaction(con, "BEGIN"):
            return StateSnapshot(_last_bar(con), _records(con, ""))

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Committed runs, newest first (at most `limit`)."""
        if not self._initialised:
            return []
        sql = "SELECT bar_ms, committed_at_ms, n_records, n_open FROM runs ORDER BY bar_ms DESC"
        with self._guard():
            rows = self._connection().execute(f"{sql} LIMIT ?", (-1 if limit is None else limit,))
            return [RunInfo(*row) for row in rows.fetchall()]

    # -- the one write --------------------------------------------------------------------

    def commit_run(
        self,
        bar_ms: int,
        records: Iterable[PositionRecord] | Mapping[tuple[str, str], PositionRecord],
        *,
        extra: ExtraWork | None = None,
        expect_last_bar_ms: int | _Unset | None = _UNSET,
        committed_at_ms: int | None = None,
    ) -> bool:
        """Apply the run of bar `bar_ms` (UTC ms, bar open) in one transaction.

        Writes every given record (replacing that pair's old record; pairs not given keep
        theirs), a `runs` row, then calls `extra(connection)` in the same transaction.
        Returns False and changes nothing when `bar_ms` is not newer than the last processed
        bar: rerunning an hour is a no-op, and of two concurrent runs of one hour only the
        first applies (the second waits for its lock, then sees the bar done).

        `expect_last_bar_ms`, when given, is the `last_bar_ms` the records were computed
        from: if another run committed a different bar since, a `StateError` is raised and
        nothing is written. Raises ValueError for two records of one pair, or a record
        updated after `bar_ms`.
        """
        bar_ms = as_int("bar_ms", bar_ms)
        values = records.values() if isinstance(records, Mapping) else records
        rows = _rows(bar_ms, values)
        con = self._writable()
        with self._guard(), _transaction(con, "BEGIN IMMEDIATE") as rollback:
            last = _last_bar(con)
            if last is not None and bar_ms <= last:
                rollback()
                log.info(
                    "bar %s already processed (last %s): nothing written",
                    format_utc(bar_ms),
                    format_utc(last),
                )
                return False
            if not isinstance(expect_last_bar_ms, _Unset) and last != expect_last_bar_ms:
                raise StateError(
                    f"state database {self.path} changed while this run computed bar "
                    f"{format_utc(bar_ms)}: another run committed bar {format_utc(last)} "
                    f"(expected {format_utc(expect_last_bar_ms)}); nothing written, run again"
                )
            con.executemany(_UPSERT_POSITION, rows)
            (n_open,) = con.execute(
                f"SELECT COUNT(*) FROM positions WHERE state != {FLAT}"
            ).fetchone()
            con.execute(
                "INSERT INTO runs (bar_ms, committed_at_ms, n_records, n_open) VALUES (?, ?, ?, ?)",
                (
                    bar_ms,
                    committed_at_ms if committed_at_ms is not None else utc_now_ms(),
                    len(rows),
                    n_open,
                ),
            )
            if extra is not None:
                extra(con)
                if not con.in_transaction:
                    raise StateError(
                        f"state database {self.path}: the extra work of bar {format_utc(bar_ms)} "
                        "ended the run's transaction itself (a bug: it must not COMMIT or ROLLBACK)"
                    )
        return True

    # -- connection and schema ------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            raise StateError(f"state database {self.path} is closed")
        return self._con

    def _writable(self) -> sqlite3.Connection:
        if not self._initialised:
            raise StateError(f"state database {self.path} was opened without create=True")
        if self._version < SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {self._version} and was "
                "opened without create=True, read only: run `pairs scan` once to upgrade it"
            )
        return self._connection()

    def _connect(self, create: bool) -> sqlite3.Connection:
        if not create and not self.path.is_file():
            raise StateError(f"no state database at {self.path}")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # mode=rw never creates the file; read-write (not ro) so that a killed run's hot
        # journal can be rolled back by whoever opens the file next.
        target = self.path.resolve().as_uri() + ("?mode=rwc" if create else "?mode=rw")
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), not implicit.
        # timeout: SQLite's busy timeout; a second cron run waits for the first's lock.
        with self._guard():
            con = sqlite3.connect(target, uri=True, isolation_level=None, timeout=self.timeout_s)
        try:
            with self._guard():
                # EXTRA = FULL (fsync the journal and the database at every commit) plus an
                # fsync of the folder after the journal is deleted: in DELETE mode that
                # deletion *is* the commit, and without the folder sync a power cut right
                # after it could bring the journal back and undo a run whose tickets were
                # already sent. One more fsync an hour costs nothing.
                con.execute("PRAGMA synchronous = EXTRA")
                self._check_schema(con, create)
                # Rollback journal (DELETE), not WAL: the file is tiny and written once an
                # hour, so WAL's concurrent readers buy nothing, while a rollback-journal
                # database is one self-contained file between runs (back it up or move it
                # aside with plain cp/mv, no -wal/-shm companions to forget) and needs no
                # shared-memory file (WAL does not work on network filesystems). Set only
                # once the file is known to be ours: it rewrites a WAL-mode file's header.
                con.execute("PRAGMA journal_mode = DELETE")
        except BaseException:
            con.close()
            raise
        return con

    def _check_schema(self, con: sqlite3.Connection, create: bool) -> None:
        app_id, version, tables = _header(con)
        if app_id == 0 and version == 0 and not tables:
            if not create:
                self._initialised = False  # an empty file: reads see no state
                return
            with _transaction(con, "BEGIN IMMEDIATE"):
                # Re-read under the write lock: a concurrent run may have just created it.
                app_id, version, tables = _header(con)
                if app_id == 0 and version == 0 and not tables:
                    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    self._migrate(con, 0)
            app_id, version, tables = _header(con)
        if app_id != APPLICATION_ID:
            seen = f"application_id {app_id}" if app_id else f"tables {', '.join(sorted(tables))}"
            raise self._foreign(seen)
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {version}, written by "
                f"{_written_by(con)}; this pairscan {__version__} reads up to version "
                f"{SCHEMA_VERSION}: upgrade pairscan (pip install -U pairscan) to use it. "
                "Keep the file: it holds the open positions"
            )
        if version < 1 and not create:
            raise StateError(
                f"state database {self.path} has schema version {version}: run "
                "`pairs scan` once to upgrade it"
            )
        if version < SCHEMA_VERSION and create:
            with _transaction(con, "BEGIN IMMEDIATE"):
                # Re-read under the write lock: a concurrent run may have just upgraded it.
                self._migrate(con, _header(con)[1])
            app_id, version, tables = _header(con)
        # create=False (e.g. `pairs state show`) never writes, so an older file is read as it
        # is: migrations only add tables, and the ones it has keep their columns.
        self._version = version
        for table, columns in _COLUMNS.items():
            if _SINCE_VERSION.get(table, 1) > version:
                continue
            if table not in tables:
                raise self._foreign(f"table {table} is missing")
            found = tuple(row[1] for row in con.execute(f"PRAGMA table_info({table})"))
            if found != columns:
                raise self._foreign(f"table {table} has columns {', '.join(found)}")

    def _migrate(self, con: sqlite3.Connection, version: int) -> None:
        """Bring the schema from `version` to SCHEMA_VERSION; the caller holds a transaction."""
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step].split(";"):
                if statement.strip():
                    con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('written_by', ?)",
            (f"pairscan {__version__}",),
        )

    def _foreign(self, reason: str) -> StateError:
        return StateError(
            f"{self.path} is not a pairscan state database ({reason}); move it aside "
            f"(mv {self.path} {self.path}.bak) or point data_dir elsewhere, and rerun"
        )

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn any sqlite3 error into one line naming the database and the fix."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            name = getattr(exc, "sqlite_errorname", "")
            reason = _short_reason(exc)
            if name.startswith("SQLITE_NOTADB"):
                raise self._foreign(reason) from None
            if name.startswith("SQLITE_CORRUPT"):
                raise StateError(
                    f"state database {self.path} is corrupt ({reason}); restore it from a "
                    f"backup, or move it aside (mv {self.path} {self.path}.bak) to start "
                    "with no positions and close any open ones on the exchange by hand"
                ) from None
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                raise StateError(
                    f"state database {self.path} is locked by another pairscan run (waited "
                    f"{self.timeout_s:g} s); let it finish, or find it with `fuser {self.path}`"
                ) from None
            raise StateError(f"state database {self.path} cannot be used ({reason})") from None


def _header(con: sqlite3.Connection) -> tuple[int, int, set[str]]:
    (app_id,) = con.execute("PRAGMA application_id").fetchone()
    (version,) = con.execute("PRAGMA user_version").fetchone()
    tables = {
        row[0]
        for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }
    return int(app_id), int(version), tables


def _written_by(con: sqlite3.Connection) -> str:
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'written_by'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    return "an unknown pairscan" if row is None else str(row[0])


def _last_bar(con: sqlite3.Connection) -> int | None:
    (value,) = con.execute("SELECT MAX(bar_ms) FROM runs").fetchone()
    return None if value is None else int(value)


def _records(con: sqlite3.Connection, where: str) -> dict[tuple[str, str], PositionRecord]:
    rows = con.execute(
        f"SELECT {_POSITION_COLUMNS} FROM positions {where} ORDER BY y_symbol, x_symbol"
    ).fetchall()
    return {(row[0], row[1]): PositionRecord(*row) for row in rows}


def _rows(bar_ms: int, records: Iterable[PositionRecord]) -> list[tuple[Any, ...]]:
    rows, seen = [], set()
    for record in records:
        if not isinstance(record, PositionRecord):
            raise TypeError(f"records: expected PositionRecord, got {type(record).__name__}")
        if record.key in seen:
            raise ValueError(f"records: pair {record.key} appears twice")
        if record.updated_bar_ms > bar_ms:
            raise ValueError(
                f"records: {record.key} is updated at {format_utc(record.updated_bar_ms)}, "
                f"after the run's bar {format_utc(bar_ms)}"
            )
        seen.add(record.key)
        rows.append(tuple(getattr(record, name) for name in POSITION_FIELDS))
    return rows


@contextmanager
def _transaction(con: sqlite3.Connection, begin: str) -> Iterator[Callable[[], None]]:
    """BEGIN ... COMMIT, rolled back on any exception; yields a function that rolls back
    early (after which the block must not write)."""

    def rollback() -> None:
        con.execute("ROLLBACK")

    con.execute(begin)
    try:
        yield rollback
        if con.in_transaction:
            con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                log.debug("rollback failed", exc_info=True)
        raise


def _short_reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 120 else line[:117] + "..."
