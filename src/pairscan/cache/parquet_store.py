"""Stage 2 (cache), default backend: one zstd parquet file per exchange/symbol/timeframe.

Files have the columns of the recorded demo data plus `pairscan.*` schema metadata; every
write replaces the whole file atomically (temp file, fsync, os.replace). No fetching here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from pairscan.cache.merge import merge_candles, merge_funding
from pairscan.cache.store import (
    FUNDING_TIMEFRAME,
    ClosingStore,
    SeriesKey,
    WriteResult,
    rebuild_hint,
    require_bar_timeframe,
)
from pairscan.errors import CacheError
from pairscan.fsio import replace_atomically, short_reason
from pairscan.market import Candles, FundingRates, Int64Array, symbol_key

SCHEMA_VERSION = "1"
SUFFIX = ".parquet"
CANDLE_SCHEMA = pa.schema(
    [("timestamp", pa.int64())]
    + [(name, pa.float64()) for name in ("open", "high", "low", "close", "volume")]
)
FUNDING_SCHEMA = pa.schema([("timestamp", pa.int64()), ("funding_rate", pa.float64())])


class ParquetStore(ClosingStore):
    """`Store` over `root/<exchange>/<symbol_key>_<timeframe>.parquet` files.

    size_bytes is the exact file size. Readers never see a half-written file; leftover temp
    files of killed writers (`.<name>.tmp-<pid>-<hex>`) are removed by the next write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own file."""

    def location(self, key: SeriesKey) -> Path:
        return (
            self.root
            / symbol_key(key.exchange)
            / f"{symbol_key(key.symbol)}_{key.timeframe}{SUFFIX}"
        )

    def read_candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Candles:
        require_bar_timeframe(timeframe)
        table = self._read(SeriesKey(exchange, symbol, timeframe))
        if table is None:
            return Candles.empty()
        return _candles(table).between(start_ms, end_ms)

    def write_candles(
        self, exchange: str, symbol: str, timeframe: str, new: Candles
    ) -> WriteResult:
        require_bar_timeframe(timeframe)
        key = SeriesKey(exchange, symbol, timeframe)
        if len(new) == 0:
            return _result(self.read_candles(exchange, symbol, timeframe).timestamp, 0)
        merged, added = merge_candles(self.read_candles(exchange, symbol, timeframe), new)
        self._write(key, pa.table(merged.columns(), schema=_with_meta(CANDLE_SCHEMA, key)))
        return _result(merged.timestamp, added)

    def last_timestamp(self, exchange: str, symbol: str, timeframe: str) -> int | None:
        require_bar_timeframe(timeframe)
        return self._last(SeriesKey(exchange, symbol, timeframe))

    def read_funding(
        self, exchange: str, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> FundingRates:
        table = self._read(SeriesKey(exchange, symbol, FUNDING_TIMEFRAME))
        if table is None:
            return FundingRates.empty()
        return _funding(table).between(start_ms, end_ms)

    def write_funding(self, exchange: str, symbol: str, new: FundingRates) -> WriteResult:
        key = SeriesKey(exchange, symbol, FUNDING_TIMEFRAME)
        if len(new) == 0:
            return _result(self.read_funding(exchange, symbol).timestamp, 0)
        merged, added = merge_funding(self.read_funding(exchange, symbol), new)
        self._write(key, pa.table(merged.columns(), schema=_with_meta(FUNDING_SCHEMA, key)))
        return _result(merged.timestamp, added)

    def last_funding_timestamp(self, exchange: str, symbol: str) -> int | None:
        return self._last(SeriesKey(exchange, symbol, FUNDING_TIMEFRAME))

    def list_series(self, exchange: str | None = None) -> list[SeriesKey]:
        folders = [self.root / symbol_key(exchange)] if exchange else sorted(self.root.iterdir())
        found = []
        for folder in folders:
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                if not path.name.startswith("."):
                    found.append(self._key_of(path))
        return sorted(found)

    def size_bytes(self, key: SeriesKey) -> int:
        try:
            return self.location(key).stat().st_size
        except FileNotFoundError:
            return 0

    # -- reading -------------------------------------------------------------------------

    def _read(self, key: SeriesKey) -> pa.Table | None:
        """The validated table of `key`, None when the file does not exist."""
        path = self.location(key)
        try:
            # Page checksums catch flipped bits that would otherwise decode as plausible prices.
            table = pq.read_table(path, page_checksum_verification=True)
        except FileNotFoundError:
            return None
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(path, key.symbol, exc) from None
        _check_schema(path, key, table.schema)
        timestamps = table.column("timestamp")
        if timestamps.null_count:
            raise _corrupt(path, key.symbol, "timestamp has missing values")
        if not bool(np.all(np.diff(timestamps.to_numpy()) > 0)):
            raise _corrupt(path, key.symbol, "timestamps are not ascending and unique")
        return table

    def _last(self, key: SeriesKey) -> int | None:
        """Newest timestamp from the footer's column statistics; reads data only without them."""
        path = self.location(key)
        try:
            meta = pq.read_metadata(path)
        except FileNotFoundError:
            return None
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(path, key.symbol, exc) from None
        _check_schema(path, key, meta.schema.to_arrow_schema())
        if meta.num_rows == 0:
            return None
        column = meta.schema.names.index("timestamp")
        stats = [meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)]
        if all(s is not None and s.has_min_max for s in stats):
            return max(int(s.max) for s in stats)
        table = self._read(key)
        return None if table is None else int(table.column("timestamp")[-1].as_py())

    def _key_of(self, path: Path) -> SeriesKey:
        """The series a file holds: from its metadata, else guessed from its name (also when
        the file cannot be read: listing it lets reading it report the fault for its series
        alone, so `cache stats` shows the other series)."""
        stem = path.name[: -len(SUFFIX)]
        name_symbol, _, name_timeframe = stem.rpartition("_")
        # A recorded file without our metadata: `ETH-USDT-USDT` was most likely `ETH/USDT:USDT`.
        base, _, rest = name_symbol.partition("-")
        quote, _, settle = rest.partition("-")
        guess = f"{base}/{quote}" + (f":{settle}" if settle else "")
        try:
            meta = pq.read_schema(path).metadata or {}
        except (pa.ArrowException, OSError):
            meta = {}
        return SeriesKey(
            exchange=_text(meta, "exchange") or path.parent.name,
            symbol=_text(meta, "symbol") or guess,
            timeframe=_text(meta, "timeframe") or name_timeframe,
        )

    # -- writing -------------------------------------------------------------------------

    def _write(self, key: SeriesKey, table: pa.Table) -> None:
        """Replace the file of `key` by `table` so that a reader sees the old or the new file,
        never a mix, even when this process is killed or the machine loses power."""
        path = self.location(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _remove_dead_temps(path)
            replace_atomically(
                path,
                lambda handle: pq.write_table(
                    table, handle, compression="zstd", write_page_checksum=True
                ),
            )
        except OSError as exc:
            # Permissions, a full disk, a folder where the file should be: that symbol fails
            # with the file named; the old file (if any) is untouched.
            raise CacheError(
                f"cannot write cache file {path} ({exc.strerror or type(exc).__name__}): "
                "fix its folder's permissions or free space; the previous version is kept"
            ) from None


def _with_meta(schema: pa.Schema, key: SeriesKey) -> pa.Schema:
    return schema.with_metadata(
        {
            "pairscan.kind": "funding" if key.is_funding else "candles",
            "pairscan.exchange": key.exchange,
            "pairscan.symbol": key.symbol,
            "pairscan.timeframe": key.timeframe,
            "pairscan.schema_version": SCHEMA_VERSION,
        }
    )


def _text(meta: dict[bytes, bytes], name: str) -> str | None:
    raw = meta.get(f"pairscan.{name}".encode())
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _check_schema(path: Path, key: SeriesKey, schema: pa.Schema) -> None:
    """Accept our files and metadata-free files with the same columns; refuse the rest."""
    expected = FUNDING_SCHEMA if key.is_funding else CANDLE_SCHEMA
    columns = {field.name: field.type for field in schema}
    wanted = {field.name: field.type for field in expected}
    if columns != wanted:
        shown = ", ".join(f"{n}:{t}" for n, t in columns.items())
        raise _foreign(path, key.symbol, f"columns are {shown or 'none'}")
    meta = schema.metadata or {}
    claims = {
        "kind": "funding" if key.is_funding else "candles",
        "exchange": key.exchange,
        "symbol": key.symbol,
        "timeframe": key.timeframe,
        "schema_version": SCHEMA_VERSION,
    }
    for name, value in claims.items():
        found = _text(meta, name)
        if found is not None and found != value:
            raise _foreign(path, key.symbol, f"it says {name} {found!r}, expected {value!r}")


def _candles(table: pa.Table) -> Candles:
    cols = {name: _numpy(table, name) for name in CANDLE_SCHEMA.names}
    return Candles(**cols)


def _funding(table: pa.Table) -> FundingRates:
    return FundingRates(_numpy(table, "timestamp"), _numpy(table, "funding_rate"))


def _numpy(table: pa.Table, name: str) -> npt.NDArray[Any]:
    # Nulls in a float column come back as NaN, which the candle records allow.
    return np.ascontiguousarray(table.column(name).to_numpy())


def _result(timestamps: Int64Array, added: int) -> WriteResult:
    if timestamps.shape[0] == 0:
        return WriteResult(rows_added=added, rows_total=0, first_ms=None, last_ms=None)
    return WriteResult(
        rows_added=added,
        rows_total=int(timestamps.shape[0]),
        first_ms=int(timestamps[0]),
        last_ms=int(timestamps[-1]),
    )


def _remove_dead_temps(path: Path) -> None:
    """Delete temp files of writers that died mid-write; a live writer's file is left alone."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid_text = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if not pid_text.isdigit() or not _alive(int(pid_text)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unreadable(path: Path, symbol: str, exc: BaseException) -> CacheError:
    if isinstance(exc, OSError) and exc.errno is not None:
        return CacheError(f"cache file {path} cannot be read ({short_reason(exc)})")
    # pyarrow repeats the path ("Could not open Parquet input source '<path>': why"): keep why.
    return _corrupt(path, symbol, short_reason(str(exc).split("': ", 1)[-1].split(". ", 1)[0]))


def _corrupt(path: Path, symbol: str, reason: str) -> CacheError:
    return CacheError(f"cache file {path} is corrupt ({reason}); {rebuild_hint(symbol)}")


def _foreign(path: Path, symbol: str, reason: str) -> CacheError:
    return CacheError(
        f"cache file {path} is not a pairscan {symbol} series ({reason}); {rebuild_hint(symbol)}"
    )
