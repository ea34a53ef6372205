"""I/O stage (state): the per-pair positions and the history of runs, in one SQLite file.

One transaction per hourly run. No trading rule here (the records come from the caller), and
every `sqlite3.DatabaseError` leaves this module as a one-line `StateError`.

Over 400 lines on purpose: one class, whose every read and write (positions, runs, the
scan's meta values and selections) goes through the same connection, transaction and error
guard. The schema is `state.schema`'s; the outbox tables' SQL is `state.outbox`'s.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from pairscan import __version__
from pairscan.errors import StateError
from pairscan.fsio import sqlite_errors
from pairscan.market import format_utc, utc_now_ms
from pairscan.state.records import (
    FLAT,
    POSITION_FIELDS,
    PositionRecord,
    RunInfo,
    StateSnapshot,
    as_int,
)
from pairscan.state.schema import (
    APPLICATION_ID,
    COLUMNS,
    SCHEMA_VERSION,
    SINCE_VERSION,
    header,
    migrate,
    written_by,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 30.0

_POSITION_COLUMNS = ", ".join(COLUMNS["positions"])
_UPSERT_POSITION = (
    f"INSERT OR REPLACE INTO positions ({_POSITION_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(COLUMNS['positions']))})"
)


class _Unset:
    """Type of `_UNSET`, the default of an argument for which None is a meaningful value."""


_UNSET: Final = _Unset()

ExtraWork = Callable[[sqlite3.Connection], None]
"""Work done inside a run's transaction (e.g. saving the bar's tickets): gets the open
connection, must not BEGIN, COMMIT or ROLLBACK; raising rolls the whole run back."""


def combine(*works: ExtraWork | None) -> ExtraWork:
    """Several pieces of extra work as one, run in order in the same transaction."""

    def write(con: sqlite3.Connection) -> None:
        for work in works:
            if work is not None:
                work(con)

    return write


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

    def open_symbols(self) -> list[str]:
        """Both legs' symbols of every open position, sorted: what the scan fetches even when
        they left the universe, so those positions can still be closed."""
        return sorted({s for r in self.open_positions() for s in (r.y_symbol, r.x_symbol)})

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

    # -- the scan's bookkeeping: `meta` values and stored selections ------------------------

    def get_meta(self, key: str) -> str | None:
        """A small piece of the scan's bookkeeping (e.g. the day of the last digest), or None."""
        with self.transaction(write=False) as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a bookkeeping value in its own small transaction."""
        with self.transaction() as con:
            con.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def selection_text(self, boundary_ms: int | None = None) -> tuple[int, str] | None:
        """(boundary_ms, payload text) of the selection saved at `boundary_ms` (UTC ms), or of
        the latest one when None; None when there is none (or the file predates selections)."""
        if self.schema_version < SINCE_VERSION["selections"]:
            return None
        with self.transaction(write=False) as con:
            if boundary_ms is None:
                row = con.execute(
                    "SELECT boundary_ms, payload FROM selections ORDER BY boundary_ms DESC LIMIT 1"
                ).fetchone()
            else:
                row = con.execute(
                    "SELECT boundary_ms, payload FROM selections WHERE boundary_ms = ?",
                    (int(boundary_ms),),
                ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def selection_boundaries(self) -> list[int]:
        """Every stored selection's boundary (UTC ms), ascending."""
        if self.schema_version < SINCE_VERSION["selections"]:
            return []
        with self.transaction(write=False) as con:
            rows = con.execute("SELECT boundary_ms FROM selections ORDER BY boundary_ms")
            return [int(r[0]) for r in rows.fetchall()]

    @staticmethod
    def selection_work(boundary_ms: int, created_ms: int, payload_text: str) -> ExtraWork:
        """Work for `commit_run(..., extra=...)` that saves a re-selection's table (text, the
        caller's format) keyed by its boundary (UTC ms); the first one saved is kept."""

        def write(con: sqlite3.Connection) -> None:
            con.execute(
                "INSERT OR IGNORE INTO selections (boundary_ms, created_ms, payload) "
                "VALUES (?, ?, ?)",
                (int(boundary_ms), int(created_ms), payload_text),
            )

        return write

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
        app_id, version, tables = header(con)
        if app_id == 0 and version == 0 and not tables:
            if not create:
                self._initialised = False  # an empty file: reads see no state
                return
            with _transaction(con, "BEGIN IMMEDIATE"):
                # Re-read under the write lock: a concurrent run may have just created it.
                app_id, version, tables = header(con)
                if app_id == 0 and version == 0 and not tables:
                    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    migrate(con, 0, SCHEMA_VERSION)
            app_id, version, tables = header(con)
        if app_id != APPLICATION_ID:
            seen = f"application_id {app_id}" if app_id else f"tables {', '.join(sorted(tables))}"
            raise self._foreign(seen)
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {version}, written by "
                f"{written_by(con)}; this pairscan {__version__} reads up to version "
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
                migrate(con, header(con)[1], SCHEMA_VERSION)
            app_id, version, tables = header(con)
        # create=False (e.g. `pairs state show`) never writes, so an older file is read as it
        # is: migrations only add tables, and the ones it has keep their columns.
        self._version = version
        for table, columns in COLUMNS.items():
            if SINCE_VERSION.get(table, 1) > version:
                continue
            if table not in tables:
                raise self._foreign(f"table {table} is missing")
            found = tuple(row[1] for row in con.execute(f"PRAGMA table_info({table})"))
            if found != columns:
                raise self._foreign(f"table {table} has columns {', '.join(found)}")

    def _foreign(self, reason: str) -> StateError:
        return StateError(
            f"{self.path} is not a pairscan state database ({reason}); move it aside "
            f"(mv {self.path} {self.path}.bak) or point data_dir elsewhere, and rerun"
        )

    def _guard(self) -> AbstractContextManager[None]:
        """Turn any sqlite3 error into one line naming the database and the fix."""
        return sqlite_errors(self._error)

    def _error(self, name: str, reason: str) -> StateError:
        if name.startswith("SQLITE_NOTADB"):
            return self._foreign(reason)
        if name.startswith("SQLITE_CORRUPT"):
            return StateError(
                f"state database {self.path} is corrupt ({reason}); restore it from a "
                f"backup, or move it aside (mv {self.path} {self.path}.bak) to start "
                "with no positions and close any open ones on the exchange by hand"
            )
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StateError(
                f"state database {self.path} is locked by another pairscan run (waited "
                f"{self.timeout_s:g} s); let it finish, or find it with `fuser {self.path}`"
            )
        return StateError(f"state database {self.path} cannot be used ({reason})")


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
