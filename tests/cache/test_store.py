"""Both cache backends on real files: round trips of the recorded demo market, merge on write,
bounds, listing, sizes, and one-line errors for corrupt or foreign files."""

from __future__ import annotations

import importlib.resources
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pairscan.cache import BACKENDS, SeriesKey, Store, open_store
from pairscan.cache.parquet_store import ParquetStore
from pairscan.errors import CacheError, ConfigError
from pairscan.market import MS_PER_HOUR, Candles, FundingRates

H = MS_PER_HOUR
T0 = 1_700_000_000_000 // H * H
ETH = "ETH/USDT"
ETH_PERP = "ETH/USDT:USDT"


def demo_file(name: str) -> Path:
    return Path(str(importlib.resources.files("pairscan.demo") / "data" / name))


def demo_candles(name: str = "BINANCE_ETH-USDT_1h.parquet") -> Candles:
    table = pq.read_table(demo_file(name))
    return Candles(**{c: table.column(c).to_numpy() for c in table.column_names})


def demo_funding() -> FundingRates:
    table = pq.read_table(demo_file("BINANCEUSDM_ETH-USDT_funding.parquet"))
    return FundingRates(
        table.column("timestamp").to_numpy(), table.column("funding_rate").to_numpy()
    )


def bars(hours: list[int], price: float = 1.0) -> Candles:
    return Candles.from_rows(
        [[T0 + h * H, price + h, price + h + 1, price + h - 1, price + h, 5.0] for h in hours]
    )


def assert_candles_equal(got: Candles, want: Candles) -> None:
    for name, column in want.columns().items():
        assert got.columns()[name].dtype == column.dtype, name
        np.testing.assert_array_equal(got.columns()[name], column, err_msg=name)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_store(request.param, tmp_path / "cache") as opened:
        yield opened


@pytest.fixture
def backend(store: Store) -> str:
    return "parquet" if isinstance(store, ParquetStore) else "sqlite"


def test_demo_candles_round_trip_in_chunks(store: Store) -> None:
    data = demo_candles()
    added = 0
    for chunk in np.array_split(np.arange(len(data)), 7):
        added += store.write_candles("binance", ETH, "1h", data.take(chunk)).rows_added
    assert added == len(data)
    assert_candles_equal(store.read_candles("binance", ETH, "1h"), data)


def test_demo_funding_round_trip_in_overlapping_chunks(store: Store) -> None:
    data = demo_funding()
    store.write_funding("binanceusdm", ETH_PERP, data.take(slice(0, 700)))
    result = store.write_funding("binanceusdm", ETH_PERP, data.take(slice(600, None)))
    assert result.rows_added == len(data) - 700
    assert result.rows_total == len(data)
    assert (result.first_ms, result.last_ms) == (int(data.timestamp[0]), int(data.timestamp[-1]))
    got = store.read_funding("binanceusdm", ETH_PERP)
    np.testing.assert_array_equal(got.timestamp, data.timestamp)
    np.testing.assert_array_equal(got.funding_rate, data.funding_rate)
    assert got.timestamp.dtype == np.int64
    assert store.last_funding_timestamp("binanceusdm", ETH_PERP) == int(data.timestamp[-1])


def test_write_merges_revisions_and_counts_new_rows(store: Store) -> None:
    first = store.write_candles("binance", ETH, "1h", bars([0, 1, 2]))
    assert (first.rows_added, first.rows_total) == (3, 3)
    revised = store.write_candles("binance", ETH, "1h", bars([4, 2, 3, 2], price=100.0))
    assert (revised.rows_added, revised.rows_total) == (2, 5)
    assert (revised.first_ms, revised.last_ms) == (T0, T0 + 4 * H)
    got = store.read_candles("binance", ETH, "1h")
    assert got.timestamp.tolist() == [T0 + h * H for h in range(5)]
    assert got.close.tolist() == [1.0, 2.0, 102.0, 103.0, 104.0]


def test_nan_values_survive_a_round_trip(store: Store) -> None:
    data = bars([0, 1])
    data.volume[1] = np.nan
    store.write_candles("binance", ETH, "1h", data)
    got = store.read_candles("binance", ETH, "1h")
    assert got.volume[0] == 5.0
    assert np.isnan(got.volume[1])


def test_empty_store_reads_nothing_and_creates_nothing(store: Store, tmp_path: Path) -> None:
    assert len(store.read_candles("binance", ETH, "1h")) == 0
    assert store.read_candles("binance", ETH, "1h").timestamp.dtype == np.int64
    assert len(store.read_funding("binance", ETH_PERP)) == 0
    assert store.last_timestamp("binance", ETH, "1h") is None
    assert store.last_funding_timestamp("binance", ETH_PERP) is None
    assert store.list_series() == []
    result = store.write_candles("binance", ETH, "1h", Candles.empty())
    assert (result.rows_added, result.rows_total, result.last_ms) == (0, 0, None)
    store.write_funding("binance", ETH_PERP, FundingRates.empty())
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_empty_write_to_existing_series_reports_it(store: Store) -> None:
    store.write_candles("binance", ETH, "1h", bars([0, 1]))
    result = store.write_candles("binance", ETH, "1h", Candles.empty())
    assert (result.rows_added, result.rows_total, result.last_ms) == (0, 2, T0 + H)


def test_read_bounds_are_inclusive_on_open_time(store: Store) -> None:
    store.write_candles("binance", ETH, "1h", bars(list(range(10))))
    read = store.read_candles
    assert read("binance", ETH, "1h", T0 + 2 * H, T0 + 4 * H).close.tolist() == [3.0, 4.0, 5.0]
    assert len(read("binance", ETH, "1h", start_ms=T0 + 8 * H)) == 2
    assert len(read("binance", ETH, "1h", end_ms=T0)) == 1
    assert len(read("binance", ETH, "1h", T0 + H + 1, T0 + 2 * H - 1)) == 0


def test_last_timestamp_follows_writes(store: Store) -> None:
    store.write_candles("binance", ETH, "1h", bars([3, 1, 2]))
    assert store.last_timestamp("binance", ETH, "1h") == T0 + 3 * H
    store.write_candles("binance", ETH, "1h", bars([0]))
    assert store.last_timestamp("binance", ETH, "1h") == T0 + 3 * H
    assert store.last_timestamp("binance", ETH, "4h") is None
    assert store.last_timestamp("okx", ETH, "1h") is None


def test_series_are_kept_apart(store: Store) -> None:
    store.write_candles("binance", ETH, "1h", bars([0, 1]))
    store.write_candles("binance", ETH_PERP, "1h", bars([5], price=9.0))
    store.write_candles("okx", ETH, "1h", bars([7]))
    store.write_candles("binance", ETH, "4h", bars([8]))
    assert len(store.read_candles("binance", ETH, "1h")) == 2
    assert store.read_candles("binance", ETH_PERP, "1h").close.tolist() == [14.0]


def test_list_series_includes_funding(store: Store) -> None:
    store.write_candles("binance", ETH, "1h", bars([0]))
    store.write_candles("binanceusdm", ETH_PERP, "1h", bars([0]))
    store.write_funding("binanceusdm", ETH_PERP, demo_funding().take(slice(0, 3)))
    assert store.list_series() == [
        SeriesKey("binance", ETH, "1h"),
        SeriesKey("binanceusdm", ETH_PERP, "1h"),
        SeriesKey("binanceusdm", ETH_PERP, "funding"),
    ]
    assert store.list_series("binance") == [SeriesKey("binance", ETH, "1h")]
    assert store.list_series("kraken") == []


def test_size_bytes_and_location(store: Store, tmp_path: Path) -> None:
    key = SeriesKey("binance", ETH, "1h")
    assert store.size_bytes(key) == 0
    store.write_candles("binance", ETH, "1h", demo_candles())
    store.write_funding("binance", ETH_PERP, demo_funding())
    assert store.size_bytes(key) > 10_000
    assert store.size_bytes(SeriesKey("binance", ETH_PERP, "funding")) > 1_000
    assert store.location(key).is_file()
    assert store.location(key).is_relative_to(tmp_path / "cache")


def test_funding_is_not_a_candle_timeframe(store: Store) -> None:
    with pytest.raises(ConfigError, match="timeframe"):
        store.read_candles("binance", ETH, "funding")


def test_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parquet, sqlite"):
        open_store("csv", tmp_path)


def test_open_store_creates_its_folder(tmp_path: Path) -> None:
    for backend in BACKENDS:
        with open_store(backend, tmp_path / backend / "deep" / "cache"):
            assert (tmp_path / backend / "deep" / "cache").is_dir()


# -- corrupt and foreign files --------------------------------------------------------------


def assert_one_line_with_fix(error: pytest.ExceptionInfo[CacheError], path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert "delete it" in message
    assert "rebuild" in message
    assert "Traceback" not in message


def damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(os.urandom(4096))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        raw = bytearray(path.read_bytes())
        raw[: len(raw) // 2] = b"\x00" * (len(raw) // 2)
        path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["garbage", "truncated", "zeroed"])
def test_corrupt_file_is_a_one_line_cache_error(store: Store, backend: str, how: str) -> None:
    store.write_candles("binance", ETH, "1h", demo_candles())
    path = store.location(SeriesKey("binance", ETH, "1h"))
    store.close()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no sqlite -wal left
    damage(path, how)
    with open_store(backend, path.parent if backend == "sqlite" else path.parents[1]) as again:
        with pytest.raises(CacheError) as error:
            again.read_candles("binance", ETH, "1h")
        assert_one_line_with_fix(error, path)
        with pytest.raises(CacheError):
            again.write_candles("binance", ETH, "1h", bars([0]))
        if how != "zeroed":  # parquet's footer survives, and last_timestamp reads only that
            with pytest.raises(CacheError):
                again.last_timestamp("binance", ETH, "1h")


def test_foreign_parquet_columns_are_a_cache_error(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        path = store.location(SeriesKey("binance", ETH, "1h"))
        path.parent.mkdir(parents=True)
        pq.write_table(pa.table({"a": [1, 2], "b": [0.5, 1.5]}), path)
        for call in (
            lambda: store.read_candles("binance", ETH, "1h"),
            lambda: store.last_timestamp("binance", ETH, "1h"),
            lambda: store.write_candles("binance", ETH, "1h", bars([0])),
        ):
            with pytest.raises(CacheError, match="a:int64, b:double") as error:
                call()
            assert_one_line_with_fix(error, path)
            assert "pairs cache update --symbols ETH/USDT" in str(error.value)


def test_parquet_with_wrong_dtype_is_foreign(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        path = store.location(SeriesKey("binance", ETH, "funding"))
        path.parent.mkdir(parents=True)
        table = pa.table({"timestamp": pa.array([1.0], pa.float64()), "funding_rate": [0.1]})
        pq.write_table(table, path)
        with pytest.raises(CacheError, match="not a pairscan") as error:
            store.read_funding("binance", ETH)
        assert_one_line_with_fix(error, path)


def test_parquet_metadata_of_another_symbol_is_foreign(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        # `ETH/USDT:USDT` and `ETH-USDT/USDT` share a file name; the metadata tells them apart.
        store.write_candles("binance", ETH_PERP, "1h", bars([0]))
        with pytest.raises(CacheError, match="symbol 'ETH/USDT:USDT'") as error:
            store.read_candles("binance", "ETH-USDT/USDT", "1h")
        assert_one_line_with_fix(error, store.location(SeriesKey("binance", ETH_PERP, "1h")))


def test_recorded_parquet_without_our_metadata_is_accepted(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        key = SeriesKey("binanceusdm", ETH_PERP, "funding")
        store.location(key).parent.mkdir(parents=True)
        store.location(key).write_bytes(
            demo_file("BINANCEUSDM_ETH-USDT_funding.parquet").read_bytes()
        )
        assert len(store.read_funding("binanceusdm", ETH_PERP)) == len(demo_funding())
        assert store.last_funding_timestamp("binanceusdm", ETH_PERP) == demo_funding().timestamp[-1]
        assert store.list_series() == [key]
        result = store.write_funding("binanceusdm", ETH_PERP, demo_funding().take(slice(-2, None)))
        assert result.rows_added == 0
        meta = pq.read_schema(store.location(key)).metadata
        assert meta[b"pairscan.symbol"] == ETH_PERP.encode()
        assert meta[b"pairscan.kind"] == b"funding"


def test_parquet_flipped_byte_in_the_data_is_caught(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        store.write_candles("binance", ETH, "1h", demo_candles())
        path = store.location(SeriesKey("binance", ETH, "1h"))
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
        with pytest.raises(CacheError, match="corrupt") as error:
            store.read_candles("binance", ETH, "1h")
        assert_one_line_with_fix(error, path)


def test_parquet_files_carry_schema_and_metadata(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        store.write_candles("binance", ETH, "1h", bars([0, 1]))
        path = tmp_path / "binance" / "ETH-USDT_1h.parquet"
        assert store.location(SeriesKey("binance", ETH, "1h")) == path
        schema = pq.read_schema(path)
        assert [(f.name, str(f.type)) for f in schema] == [
            ("timestamp", "int64"),
            ("open", "double"),
            ("high", "double"),
            ("low", "double"),
            ("close", "double"),
            ("volume", "double"),
        ]
        assert schema.metadata[b"pairscan.timeframe"] == b"1h"
        assert schema.metadata[b"pairscan.exchange"] == b"binance"
        assert schema.metadata[b"pairscan.schema_version"] == b"1"
        column = pq.read_metadata(path).row_group(0).column(0)
        assert column.compression == "ZSTD"


def test_parquet_leftover_temp_files_are_ignored_then_removed(tmp_path: Path) -> None:
    with open_store("parquet", tmp_path) as store:
        store.write_candles("binance", ETH, "1h", bars([0]))
        dead = tmp_path / "binance" / ".ETH-USDT_1h.parquet.tmp-999999999-abcd1234"
        dead.write_bytes(b"half a parquet file")
        assert store.list_series() == [SeriesKey("binance", ETH, "1h")]
        assert len(store.read_candles("binance", ETH, "1h")) == 1
        store.write_candles("binance", ETH, "1h", bars([1]))
        assert not dead.exists()
        assert sorted(p.name for p in (tmp_path / "binance").iterdir()) == ["ETH-USDT_1h.parquet"]


def test_sqlite_garbage_file_is_a_one_line_cache_error(tmp_path: Path) -> None:
    path = tmp_path / "pairscan-cache.sqlite"
    path.write_bytes(b"this is not a database" * 500)
    with open_store("sqlite", tmp_path) as store:
        with pytest.raises(CacheError, match="corrupt") as error:
            store.read_candles("binance", ETH, "1h")
        assert_one_line_with_fix(error, path)
        with pytest.raises(CacheError):
            store.list_series()


@pytest.mark.parametrize(
    "script",
    [
        "CREATE TABLE prices (ts INTEGER, price REAL);",
        "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '9');"
        "CREATE TABLE candles (exchange, symbol, timeframe, ts, open, high, low, close, volume);"
        "CREATE TABLE funding (exchange, symbol, ts, funding_rate);",
        "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE candles (exchange, symbol, ts, close);"
        "CREATE TABLE funding (exchange, symbol, ts, funding_rate);",
    ],
    ids=["other-tables", "other-version", "other-columns"],
)
def test_foreign_sqlite_database_is_a_cache_error(tmp_path: Path, script: str) -> None:
    path = tmp_path / "pairscan-cache.sqlite"
    con = sqlite3.connect(path)
    con.executescript(script)
    con.close()
    with open_store("sqlite", tmp_path) as store:
        with pytest.raises(CacheError, match="not a pairscan cache") as error:
            store.write_candles("binance", ETH, "1h", bars([0]))
        assert_one_line_with_fix(error, path)


def test_sqlite_store_can_be_reopened_after_close(tmp_path: Path) -> None:
    store = open_store("sqlite", tmp_path)
    store.write_candles("binance", ETH, "1h", bars([0, 1]))
    store.close()
    store.close()
    with open_store("sqlite", tmp_path) as again:
        assert again.last_timestamp("binance", ETH, "1h") == T0 + H


def test_a_file_that_cannot_be_written_is_a_cache_error_naming_it(tmp_path: Path) -> None:
    """A write that the file system refuses (here the exchange's folder is a file, which
    fails for root too, unlike permissions) is one CacheError naming the file, not an
    OSError traceback; nothing is left behind."""
    store = ParquetStore(tmp_path / "cache")
    (tmp_path / "cache" / "binance").write_text("not a folder")
    with pytest.raises(CacheError, match=r"ETH-USDT_1h\.parquet"):
        store.write_candles("binance", "ETH/USDT", "1h", bars([0, 1, 2]))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["binance"]
