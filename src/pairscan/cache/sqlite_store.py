"""Stage 2 (cache), optional backend: every series in one SQLite file, one transaction per write.

Same behaviour as the parquet store behind `Store`. No fetching here; every
`sqlite3.DatabaseError` leaves this module as a one-line `CacheError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from pairscan.cache.merge import merge_candles, merge_funding
from pairscan.cache.store import (
    FUNDING_TIMEFRAME,
    ClosingStore,
    SeriesKey,
    WriteResult,
    require_bar_timeframe,
)
from pairscan.errors import CacheError
from pairscan.fsio import sqlite_errors
from pairscan.market import Candles, FloatArray, FundingRates

SCHEMA_VERSION = "1"
DB_NAME = "pairscan-cache.sqlite"
VALUE_BYTES = 8
# Per-row cost beyond the payload: record header, b-tree cell pointer and page slack.
ROW_OVERHEAD_BYTES = 16

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
CREATE TABLE IF NOT EXISTS candles (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
    open REAL, high REAL, low REAL, close REAL, volume REAL,
    PRIMARY KEY (exchange, symbol, timeframe, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS funding (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, funding_rate REAL,
    PRIMARY KEY (exchange, symbol, ts)
) WITHOUT ROWID;
"""
_COLUMNS = {
    "meta": ["key", "value"],
    "candles": ["exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume"],
    "funding": ["exchange", "symbol", "ts", "funding_rate"],
}
_UPSERT_CANDLES = """
INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,
    close = excluded.close, volume = excluded.volume
"""
_UPSERT_FUNDING = """
INSERT INTO funding (exchange, symbol, ts, funding_rate) VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET funding_rate = excluded.funding_rate
"""
_CANDLE_WHERE = "exchange = ? AND symbol = ? AND timeframe = ?"
_FUNDING_WHERE = "exchange = ? AND symbol = ?"


class SqliteStore(ClosingStore):
    """`Store` over `root/pairscan-cache.sqlite` (WAL mode).

    The connection opens on first use; reads of a missing database return nothing without
    creating it. size_bytes is an estimate: rows x (key text + 8 bytes per number + 16 bytes
    overhead), because measuring one series' pages with dbstat would scan the whole table.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DB_NAME
        self._con: sqlite3.Connection | None = None

    def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            with self._guard():
                con.close()

    def location(self, key: SeriesKey) -> Path:
        return self.path

    def read_candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Candles:
        require_bar_timeframe(timeframe)
        sql = f"SELECT ts, open, high, low, close, volume FROM candles WHERE {_CANDLE_WHERE}"
        rows = self._select(sql, (exchange, symbol, timeframe), start_ms, end_ms)
        return Candles.from_rows(_as_array(rows, width=6))

    def write_candles(
        self, exchange: str, symbol: str, timeframe: str, new: Candles
    ) -> WriteResult:
        require_bar_timeframe(timeframe)
        key = (exchange, symbol, timeframe)
        if len(new) == 0:
            return self._stats("candles", _CANDLE_WHERE, key, before=None)
        # Sorting and deduplicating first makes `new wins` independent of executemany order.
        rows, _ = merge_candles(Candles.empty(), new)
        values = zip(
            *(repeat(part) for part in key),
            rows.timestamp.tolist(),
            rows.open.tolist(),
            rows.high.tolist(),
            rows.low.tolist(),
            rows.close.tolist(),
            rows.volume.tolist(),
            strict=False,
        )
        return self._upsert("candles", _CANDLE_WHERE, key, _UPSERT_CANDLES, values)

    def last_timestamp(self, exchange: str, symbol: str, timeframe: str) -> int | None:
        require_bar_timeframe(timeframe)
        sql = f"SELECT MAX(ts) FROM candles WHERE {_CANDLE_WHERE}"
        return self._scalar(sql, (exchange, symbol, timeframe))

    def read_funding(
        self, exchange: str, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> FundingRates:
        sql = f"SELECT ts, funding_rate FROM funding WHERE {_FUNDING_WHERE}"
        arr = _as_array(self._select(sql, (exchange, symbol), start_ms, end_ms), width=2)
        return FundingRates(arr[:, 0].astype(np.int64), np.ascontiguousarray(arr[:, 1]))

    def write_funding(self, exchange: str, symbol: str, new: FundingRates) -> WriteResult:
        key = (exchange, symbol)
        if len(new) == 0:
            return self._stats("funding", _FUNDING_WHERE, key, before=None)
        rows, _ = merge_funding(FundingRates.empty(), new)
        values = zip(
            repeat(exchange),
            repeat(symbol),
            rows.timestamp.tolist(),
            rows.funding_rate.tolist(),
            strict=False,
        )
        return self._upsert("funding", _FUNDING_WHERE, key, _UPSERT_FUNDING, values)

    def last_funding_timestamp(self, exchange: str, symbol: str) -> int | None:
        return self._scalar(
            f"SELECT MAX(ts) FROM funding WHERE {_FUNDING_WHERE}", (exchange, symbol)
        )

    def list_series(self, exchange: str | None = None) -> list[SeriesKey]:
        con = self._connection()
        if con is None:
            return []
        where, args = ("WHERE exchange = ?", (exchange,)) if exchange else ("", ())
        with self._guard():
            candles = con.execute(
                f"SELECT DISTINCT exchange, symbol, timeframe FROM candles {where}", args
            ).fetchall()
            funding = con.execute(
                f"SELECT DISTINCT exchange, symbol FROM funding {where}", args
            ).fetchall()
        keys = [SeriesKey(*row) for row in candles]
        keys += [SeriesKey(ex, sym, FUNDING_TIMEFRAME) for ex, sym in funding]
        return sorted(keys)

    def size_bytes(self, key: SeriesKey) -> int:
        if key.is_funding:
            args: tuple[str, ...] = (key.exchange, key.symbol)
            sql, numbers = f"SELECT COUNT(*) FROM funding WHERE {_FUNDING_WHERE}", 2
        else:
            args = (key.exchange, key.symbol, key.timeframe)
            sql, numbers = f"SELECT COUNT(*) FROM candles WHERE {_CANDLE_WHERE}", 6
        rows = self._scalar(sql, args) or 0
        key_bytes = sum(len(part.encode()) for part in args)
        return rows * (key_bytes + numbers * VALUE_BYTES + ROW_OVERHEAD_BYTES)

    # -- queries -------------------------------------------------------------------------

    def _select(
        self, sql: str, args: tuple[str, ...], start_ms: int | None, end_ms: int | None
    ) -> list[tuple[Any, ...]]:
        con = self._connection()
        if con is None:
            return []
        low = start_ms if start_ms is not None else -(2**63)
        high = end_ms if end_ms is not None else 2**63 - 1
        with self._guard():
            return con.execute(
                f"{sql} AND ts BETWEEN ? AND ? ORDER BY ts", (*args, low, high)
            ).fetchall()

    def _scalar(self, sql: str, args: tuple[str, ...]) -> int | None:
        con = self._connection()
        if con is None:
            return None
        with self._guard():
            value = con.execute(sql, args).fetchone()[0]
        return None if value is None else int(value)

    def _upsert(
        self,
        table: str,
        where: str,
        key: tuple[str, ...],
        sql: str,
        values: Iterable[tuple[object, ...]],
    ) -> WriteResult:
        """One transaction: count, upsert, count again; the difference is the rows added."""
        con = self._open()
        with self._guard():
            con.execute("BEGIN IMMEDIATE")
            try:
                count_sql = f"SELECT COUNT(*) FROM {table} WHERE {where}"
                (before,) = con.execute(count_sql, key).fetchone()
                con.executemany(sql, values)
                result = self._stats(table, where, key, before=int(before))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return result

    def _stats(
        self, table: str, where: str, key: tuple[str, ...], before: int | None
    ) -> WriteResult:
        con = self._connection()
        if con is None:
            return WriteResult(rows_added=0, rows_total=0, first_ms=None, last_ms=None)
        sql = f"SELECT COUNT(*), MIN(ts), MAX(ts) FROM {table} WHERE {where}"
        with self._guard():
            total, first, last = con.execute(sql, key).fetchone()
        added = 0 if before is None else int(total) - before
        return WriteResult(rows_added=added, rows_total=int(total), first_ms=first, last_ms=last)

    # -- connection ----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection | None:
        """The open connection for reading; None when the database does not exist yet."""
        if self._con is None and not self.path.exists():
            return None
        return self._open()

    def _open(self) -> sqlite3.Connection:
        """The open connection, creating the database when missing."""
        if self._con is None:
            self._con = self._connect()
        return self._con

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) rather than implicit.
        # timeout: a cron run waits for a concurrent writer instead of failing at once.
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            with self._guard():
                con.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL survives a killed process; only power loss can drop the
                # newest transactions, which the next update fetches again.
                con.execute("PRAGMA synchronous = NORMAL")
                self._ensure_schema(con)
        except BaseException:
            con.close()
            raise
        return con

    def _ensure_schema(self, con: sqlite3.Connection) -> None:
        tables = {
            row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not tables:
            con.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            tables = set(_COLUMNS)
        for table, columns in _COLUMNS.items():
            if table not in tables:
                raise self._foreign(f"table {table} is missing")
            found = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
            if found != columns:
                raise self._foreign(f"table {table} has columns {', '.join(found)}")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            version = "none" if row is None else repr(row[0])
            raise self._foreign(f"schema_version is {version}, expected {SCHEMA_VERSION!r}")

    def _guard(self) -> AbstractContextManager[None]:
        """Turn any sqlite3 error into one line naming the database and the fix."""
        return sqlite_errors(self._error)

    def _error(self, name: str, reason: str) -> CacheError:
        if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            return CacheError(f"cache database {self.path} is corrupt ({reason}); {_HINT}")
        return CacheError(f"cache database {self.path} cannot be used ({reason})")

    def _foreign(self, reason: str) -> CacheError:
        return CacheError(f"cache database {self.path} is not a pairscan cache ({reason}); {_HINT}")


_HINT = 'delete it and run "pairs cache update" to rebuild it'


def _as_array(rows: list[tuple[Any, ...]], width: int) -> FloatArray:
    """Rows as float64[n, width]. SQLite stores NaN as NULL, which numpy turns back into NaN;
    timestamps pass through float64 exactly (they stay far below 2**53 ms)."""
    return np.array(rows, dtype=np.float64).reshape(-1, width)
