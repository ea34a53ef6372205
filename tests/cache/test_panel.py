"""read_panel: cached candles of many symbols on one grid, from either backend."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pairscan.cache import Store, align_candles, open_store, read_panel
from pairscan.market import MS_PER_HOUR, Candles

H = MS_PER_HOUR


def demo(name: str, rows: slice) -> Candles:
    with as_file(files("pairscan") / "demo" / "data" / f"{name}.parquet") as path:
        frame = pd.read_parquet(path)
    return Candles(**{c: frame[c].to_numpy() for c in frame.columns}).take(rows)


@pytest.fixture(params=["parquet", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_store(request.param, tmp_path / "cache") as opened:
        yield opened


def test_panel_from_the_store_equals_aligning_the_recorded_bars(store: Store) -> None:
    btc = demo("BINANCE_BTC-USDT_1h", slice(0, 300))
    keep = np.ones(len(btc), dtype=np.bool_)
    keep[[100, 150, 151, 152, 153, 154]] = False  # a 1-bar and a 5-bar hole
    btc = btc.take(keep)
    eth = demo("BINANCEUSDM_ETH-USDT_1h", slice(50, 320))
    store.write_candles("binance", "BTC/USDT", "1h", btc)
    store.write_candles("binance", "ETH/USDT:USDT", "1h", eth)

    symbols = ["BTC/USDT", "ETH/USDT:USDT", "SOL/USDT"]
    panel = read_panel(store, "binance", symbols, "1h", max_ffill_bars=2)
    expected = align_candles(
        {"BTC/USDT": btc, "ETH/USDT:USDT": eth, "SOL/USDT": Candles.empty()}, H, max_ffill_bars=2
    )
    assert panel.symbols == tuple(symbols)
    np.testing.assert_array_equal(panel.timestamps, expected.timestamps)
    for field in ("open", "close", "volume", "filled"):
        np.testing.assert_array_equal(getattr(panel, field), getattr(expected, field))
    assert np.isnan(panel.close[:, 2]).all()  # nothing cached for SOL: an all-NaN column
    assert panel.filled[100, 0]
    assert panel.filled[150:152, 0].all()
    assert np.isnan(panel.close[152:155, 0]).all()


def test_a_window_is_a_slice_of_the_full_panel(store: Store) -> None:
    btc = demo("BINANCE_BTC-USDT_1h", slice(0, 200))
    btc = btc.take(np.r_[0:60, 61:200])  # hole at row 60
    store.write_candles("binance", "BTC/USDT", "1h", btc)
    full = read_panel(store, "binance", ["BTC/USDT"], "1h", max_ffill_bars=3)
    start = int(btc.timestamp[0]) + 60 * H  # the window opens inside the hole
    window = read_panel(
        store,
        "binance",
        ["BTC/USDT"],
        "1h",
        start_ms=start,
        end_ms=start + 50 * H,
        max_ffill_bars=3,
    )
    assert window.filled[0, 0]  # filled from a bar before the window
    np.testing.assert_array_equal(window.close, full.close[60:111])
    np.testing.assert_array_equal(window.filled, full.filled[60:111])
