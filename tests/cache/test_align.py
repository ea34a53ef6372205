"""Alignment of recorded demo candles on one UTC grid, against a pandas reindex + ffill oracle."""

from __future__ import annotations

from functools import cache
from importlib.resources import as_file, files

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pairscan.cache.align import AlignedPanel, align_candles, to_frame
from pairscan.errors import CacheError
from pairscan.market import MS_PER_HOUR, Candles, FloatArray

H = MS_PER_HOUR


@cache
def demo_candles(name: str) -> Candles:
    """Recorded 1h candles shipped with the package (8760 contiguous bars)."""
    with as_file(files("pairscan") / "demo" / "data" / f"{name}.parquet") as path:
        frame = pd.read_parquet(path)
    return Candles(**{column: frame[column].to_numpy() for column in frame.columns})


def drop(candles: Candles, rows: list[int] | range) -> Candles:
    keep = np.ones(len(candles), dtype=np.bool_)
    keep[list(rows)] = False
    return candles.take(keep)


def two_symbols() -> dict[str, Candles]:
    """BTC rows 0..199 with a 1-bar hole (row 50) and a 10-bar hole (rows 100..109);
    ETH perp rows 20..249 with a 2-bar hole (rows 60..61)."""
    btc = drop(demo_candles("BINANCE_BTC-USDT_1h").take(slice(0, 200)), [50, *range(100, 110)])
    eth = drop(demo_candles("BINANCEUSDM_ETH-USDT_1h").take(slice(20, 250)), [40, 41])
    return {"BTC/USDT": btc, "ETH/USDT:USDT": eth}


def pandas_oracle(
    series: dict[str, Candles], grid: np.ndarray, max_ffill_bars: int, field: str
) -> FloatArray:
    """reindex to the grid, then ffill(limit=max_ffill_bars): causal, fills the first bars of
    any hole (trailing ones included), never back-fills."""
    columns = []
    for candles in series.values():
        frame = pd.DataFrame(candles.columns()).set_index("timestamp").reindex(grid)
        present = frame["close"].notna().to_numpy()
        prev_close = frame["close"]
        if max_ffill_bars > 0:  # pandas rejects limit=0
            prev_close = prev_close.ffill(limit=max_ffill_bars)
        if field == "volume":
            values = frame["volume"].where(present, prev_close * 0.0)
        elif field == "close":
            values = prev_close
        else:
            values = frame[field].where(present, prev_close)
        columns.append(values.to_numpy())
    return np.column_stack(columns)


def test_two_symbols_holes_fill_and_no_back_fill() -> None:
    series = two_symbols()
    btc, eth = series.values()
    panel = align_candles(series, H, max_ffill_bars=3)

    assert panel.symbols == ("BTC/USDT", "ETH/USDT:USDT")
    assert panel.timestamps[0] == btc.timestamp[0]
    assert panel.timestamps[-1] == eth.timestamp[-1]
    np.testing.assert_array_equal(np.diff(panel.timestamps), H)
    assert panel.close.shape == panel.volume.shape == panel.filled.shape == (250, 2)

    close, volume, filled = panel.close, panel.volume, panel.filled
    # BTC 1-bar hole at grid row 50: filled from row 49's close, volume 0, open = high = low.
    assert filled[50, 0]
    assert close[50, 0] == close[49, 0] == btc.close[49]
    assert panel.open[50, 0] == panel.high[50, 0] == panel.low[50, 0] == btc.close[49]
    assert volume[50, 0] == 0.0
    # BTC 10-bar hole (rows 100..109) exceeds max_ffill_bars=3: its first 3 bars are filled
    # (causal: at bar 102 nobody knows the hole will last), the other 7 stay NaN.
    assert filled[100:103, 0].all()
    assert (close[100:103, 0] == close[99, 0]).all()
    assert np.isnan(close[103:110, 0]).all()
    assert np.isnan(volume[103:110, 0]).all()
    assert not filled[103:110, 0].any()
    assert close[110, 0] == btc.close[99]
    # BTC after its last bar (row 199): filled for 3 bars like any hole, then NaN.
    assert filled[200:203, 0].all()
    assert np.isnan(close[203:, 0]).all()
    # ETH before its first bar (grid row 20): no back-fill.
    assert np.isnan(close[:20, 1]).all()
    assert close[20, 1] == eth.close[0]
    # ETH 2-bar hole at grid rows 60..61.
    assert filled[60:62, 1].all()
    assert (close[60:62, 1] == close[59, 1]).all()
    assert (volume[60:62, 1] == 0.0).all()
    assert filled.sum() == 3 + 3 + 3
    # Real bars are copied unchanged.
    rows = (btc.timestamp - panel.timestamps[0]) // H
    np.testing.assert_array_equal(close[rows, 0], btc.close)
    np.testing.assert_array_equal(volume[rows, 0], btc.volume)
    np.testing.assert_array_equal(panel.high[rows, 0], btc.high)


@pytest.mark.parametrize("max_ffill_bars", [0, 1, 2, 3, 10, 20])
@pytest.mark.parametrize("field", ["open", "high", "low", "close", "volume"])
def test_matches_pandas_reindex_ffill_oracle(max_ffill_bars: int, field: str) -> None:
    series = two_symbols()
    panel = align_candles(series, H, max_ffill_bars=max_ffill_bars)
    expected = pandas_oracle(series, panel.timestamps, max_ffill_bars, field)
    np.testing.assert_array_equal(getattr(panel, field), expected)


def test_close_is_exactly_pandas_ffill_with_limit() -> None:
    series = two_symbols()
    panel = align_candles(series, H, max_ffill_bars=10)
    for column, candles in enumerate(series.values()):
        reindexed = pd.Series(candles.close, index=candles.timestamp).reindex(panel.timestamps)
        expected = reindexed.ffill(limit=10).to_numpy()
        np.testing.assert_array_equal(panel.close[:, column], expected)
        np.testing.assert_array_equal(
            panel.filled[:, column], reindexed.isna() & ~np.isnan(expected)
        )


def test_bounds_are_floored_to_the_grid_and_a_window_is_a_slice_of_the_full_panel() -> None:
    series = two_symbols()
    full = align_candles(series, H, max_ffill_bars=3)
    # start inside BTC's 1-bar hole, half-way into a bar: floored to row 50; still filled.
    start = int(full.timestamps[50]) + H // 2
    end = int(full.timestamps[180]) + H - 1
    window = align_candles(series, H, start, end, max_ffill_bars=3)
    np.testing.assert_array_equal(window.timestamps, full.timestamps[50:181])
    for name in ("open", "high", "low", "close", "volume", "filled"):
        np.testing.assert_array_equal(getattr(window, name), getattr(full, name)[50:181])
    assert window.filled[0, 0]


def test_grid_may_extend_beyond_the_data() -> None:
    series = two_symbols()
    btc = series["BTC/USDT"]
    start = int(btc.timestamp[0]) - 5 * H
    panel = align_candles(series, H, start_ms=start, end_ms=start + 4 * H, max_ffill_bars=3)
    assert panel.n_bars == 5
    assert np.isnan(panel.close).all()
    assert not panel.filled.any()


def test_off_grid_bar_raises_cache_error_naming_the_symbol() -> None:
    btc = two_symbols()["BTC/USDT"]
    ts = btc.timestamp.copy()
    ts[7] += 60_000
    shifted = Candles(ts, btc.open, btc.high, btc.low, btc.close, btc.volume)
    with pytest.raises(CacheError, match=r"XRP/USDT: bar at .* not on the 3600000 ms grid"):
        align_candles({"BTC/USDT": btc, "XRP/USDT": shifted}, H)


def test_unsorted_timestamps_raise_cache_error() -> None:
    btc = two_symbols()["BTC/USDT"]
    ts = btc.timestamp.copy()
    ts[[3, 4]] = ts[[4, 3]]
    swapped = Candles(ts, btc.open, btc.high, btc.low, btc.close, btc.volume)
    with pytest.raises(CacheError, match="BTC/USDT: timestamps are not strictly ascending"):
        align_candles({"BTC/USDT": swapped}, H)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tf_ms": 0}, "tf_ms must be >= 1"),
        ({"tf_ms": 1.5}, "tf_ms must be an integer"),
        ({"max_ffill_bars": -1}, "max_ffill_bars must be >= 0"),
        ({"start_ms": 10 * H, "end_ms": 2 * H}, "start_ms .* must not be after end_ms"),
        ({"start_ms": "2026-01-01"}, "start_ms must be an integer"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"series": two_symbols(), "tf_ms": H, **kwargs}
    with pytest.raises(ValueError, match=message):
        align_candles(**arguments)  # type: ignore[arg-type]


def test_empty_inputs() -> None:
    nothing = align_candles({}, H)
    assert nothing.n_bars == 0
    assert nothing.close.shape == (0, 0)
    panel = align_candles({"NEW/USDT": Candles.empty()}, H, start_ms=0, end_ms=3 * H)
    assert panel.close.shape == (4, 1)
    assert np.isnan(panel.close).all()


def test_to_frame_has_utc_index_and_symbol_columns() -> None:
    panel = align_candles(two_symbols(), H, max_ffill_bars=3)
    frame = to_frame(panel, "close")
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index[0] == pd.Timestamp(int(panel.timestamps[0]), unit="ms", tz="UTC")
    assert list(frame.columns) == list(panel.symbols)
    np.testing.assert_array_equal(frame.to_numpy(), panel.close)
    assert to_frame(panel, "filled").dtypes.tolist() == [np.dtype(bool)] * 2
    with pytest.raises(ValueError, match="field must be one of"):
        to_frame(panel, "vwap")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    present=st.lists(st.lists(st.booleans(), min_size=40, max_size=40), min_size=1, max_size=3),
    max_ffill_bars=st.integers(0, 6),
)
def test_random_holes_match_the_oracle(present: list[list[bool]], max_ffill_bars: int) -> None:
    source = demo_candles("BINANCE_SOL-USDT_1h").take(slice(0, 40))
    series = {
        f"S{i}/USDT": source.take(np.array(mask, dtype=np.bool_)) for i, mask in enumerate(present)
    }
    panel = align_candles(series, H, max_ffill_bars=max_ffill_bars)
    if not any(any(mask) for mask in present):
        assert panel.n_bars == 0
        return
    assert_panel_consistent(panel)
    for field in ("close", "open", "volume"):
        expected = pandas_oracle(series, panel.timestamps, max_ffill_bars, field)
        np.testing.assert_array_equal(getattr(panel, field), expected)


def assert_panel_consistent(panel: AlignedPanel) -> None:
    known = ~np.isnan(panel.close)
    np.testing.assert_array_equal(known, ~np.isnan(panel.volume))
    np.testing.assert_array_equal(known, ~np.isnan(panel.open))
    assert (panel.volume[panel.filled] == 0.0).all()
    assert known[panel.filled].all()


@settings(max_examples=40, deadline=None)
@given(
    present=st.lists(st.booleans(), min_size=30, max_size=30),
    cut=st.integers(1, 29),
    max_ffill_bars=st.integers(0, 5),
)
def test_no_look_ahead_rows_up_to_t_ignore_later_bars(
    present: list[bool], cut: int, max_ffill_bars: int
) -> None:
    """The panel built from bars up to t equals, on rows up to t, the panel built from all."""
    source = demo_candles("BINANCE_ETH-USDT_1h").take(slice(0, 30))
    mask = np.array(present, dtype=np.bool_)
    mask[0] = True
    full = source.take(mask)
    t_ms = int(source.timestamp[cut])
    start, end = int(source.timestamp[0]), int(source.timestamp[-1])
    later = align_candles({"X": full}, H, start, end, max_ffill_bars)
    early = align_candles({"X": full.between(None, t_ms)}, H, start, t_ms, max_ffill_bars)
    rows = early.n_bars
    for field in ("open", "close", "volume", "filled"):
        np.testing.assert_array_equal(getattr(early, field), getattr(later, field)[:rows])
