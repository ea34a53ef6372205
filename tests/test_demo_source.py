"""The built-in demo exchange: its clock, timeframe aggregation (pandas as the oracle), funding
cut-off, errors and volume ranking, through the same fetch functions a ccxt source uses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pairscan.demo.manifest import demo_end_ms
from pairscan.demo.source import DEMO_EXCHANGE_ID, DemoSource, demo_symbols, recorded_end_ms
from pairscan.errors import ConfigError, ExchangeError
from pairscan.fetch import fetch_closed_candles, fetch_funding_history
from pairscan.market import MS_PER_HOUR, Candles, parse_utc, timeframe_ms

RECORDING_START = parse_utc("2025-05-16")
RECORDING_END = parse_utc("2026-05-16")  # close of the last recorded bar, 2026-05-15 23:00
BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX", "LTC", "BCH")


def frame(candles: Candles) -> pd.DataFrame:
    index = pd.to_datetime(candles.timestamp, unit="ms")  # naive, UTC by construction
    return pd.DataFrame(
        {
            "open": candles.open,
            "high": candles.high,
            "low": candles.low,
            "close": candles.close,
            "volume": candles.volume,
        },
        index=index,
    )


def test_default_clock_is_the_end_of_the_recording() -> None:
    assert demo_end_ms() == RECORDING_END
    assert recorded_end_ms() == RECORDING_END  # the manifest's clock is the files' end
    source = DemoSource()
    assert source.exchange_id == DEMO_EXCHANGE_ID == "demo"
    assert source.default_now_ms() == RECORDING_END
    page = source.fetch_ohlcv_page("BTC/USDT", "1h", parse_utc("2026-05-15T20:00"), 1000)
    assert page[:, 0].astype(np.int64).tolist() == [
        parse_utc(f"2026-05-15T{hour}:00") for hour in (20, 21, 22, 23)
    ]
    year = fetch_closed_candles(source, "ETH/USDT:USDT", "1h", RECORDING_START, RECORDING_END)
    assert len(year) == 8760
    assert int(year.timestamp[0]) == RECORDING_START
    assert np.all(np.diff(year.timestamp) == MS_PER_HOUR)


def test_markets_list_ten_spot_and_ten_perpetual_symbols() -> None:
    symbols = demo_symbols()
    assert symbols == [f"{b}/USDT" for b in BASES] + [f"{b}/USDT:USDT" for b in BASES]
    source = DemoSource()
    markets = source.load_markets()
    source.load_markets()
    assert source.request_count == 1  # loaded once, like ccxt
    assert list(markets) == symbols
    assert markets["BTC/USDT"].type == "spot"
    assert not markets["BTC/USDT"].is_perpetual
    assert markets["BTC/USDT:USDT"].is_perpetual
    assert markets["BTC/USDT:USDT"].settle == "USDT"
    assert all(m.active and m.quote == "USDT" for m in markets.values())


@pytest.mark.parametrize("now", ["2026-03-01T12:30", "2026-03-01T12:00"])
def test_mid_history_clock_serves_only_bars_closed_at_now(now: str) -> None:
    now_ms = parse_utc(now)
    source = DemoSource(now_ms=now_ms)
    page = source.fetch_ohlcv_page("SOL/USDT", "1h", parse_utc("2026-03-01"), 1000)
    # The 11:00 bar closes at 12:00: closed at both clocks; the 12:00 bar is open at 12:30.
    assert int(page[-1, 0]) == parse_utc("2026-03-01T11:00")
    assert len(page) == 12
    later = source.fetch_ohlcv_page("SOL/USDT", "1h", now_ms, 1000)
    assert later.shape == (0, 6)


def test_mid_history_candles_equal_the_recording_up_to_now() -> None:
    now_ms = parse_utc("2026-01-10T07:45")
    got = fetch_closed_candles(DemoSource(now_ms=now_ms), "ADA/USDT", "1h", 0, now_ms)
    full = fetch_closed_candles(DemoSource(), "ADA/USDT", "1h", 0, RECORDING_END)
    want = full.between(None, parse_utc("2026-01-10T06:00"))
    assert len(got) == len(want)
    for name, column in got.columns().items():
        np.testing.assert_array_equal(column, want.columns()[name])


def test_funding_events_up_to_and_including_now() -> None:
    events = fetch_funding_history(DemoSource(), "BTC/USDT:USDT", 0, RECORDING_END)
    assert len(events) == 1095
    event_ms = int(events.timestamp[600])

    at_event = DemoSource(now_ms=event_ms)
    got = fetch_funding_history(at_event, "BTC/USDT:USDT", 0, event_ms)
    assert int(got.timestamp[-1]) == event_ms
    assert len(got) == 601
    np.testing.assert_array_equal(got.funding_rate, events.funding_rate[:601])

    before = DemoSource(now_ms=event_ms - 1)
    page = before.fetch_funding_page("BTC/USDT:USDT", 0, 2000)
    assert len(page) == 600
    assert int(page.timestamp.max()) < event_ms


def test_spot_symbol_has_no_funding() -> None:
    source = DemoSource()
    assert len(source.fetch_funding_page("BTC/USDT", RECORDING_START, 1000)) == 0
    assert len(fetch_funding_history(source, "ETH/USDT", RECORDING_START, RECORDING_END)) == 0


def _resampled(hourly: Candles, timeframe: str) -> pd.DataFrame:
    rule = {"2h": "2h", "4h": "4h", "1d": "1D"}[timeframe]
    return (
        frame(hourly)
        .resample(rule, label="left", closed="left", origin="epoch")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["open"])
    )


@pytest.mark.parametrize("timeframe", ["2h", "4h", "1d"])
def test_aggregation_equals_a_pandas_resample_of_the_hourly_bars(timeframe: str) -> None:
    source = DemoSource()
    hourly = fetch_closed_candles(source, "LINK/USDT", "1h", 0, RECORDING_END)
    got = fetch_closed_candles(source, "LINK/USDT", timeframe, 0, RECORDING_END)
    want = _resampled(hourly, timeframe)
    tf_ms = timeframe_ms(timeframe)
    assert len(got) == 8760 * MS_PER_HOUR // tf_ms
    assert np.all(got.timestamp % tf_ms == 0)  # aligned to the epoch, as Binance does
    pd.testing.assert_frame_equal(frame(got), want, check_freq=False, rtol=1e-12)


def test_still_filling_4h_bucket_is_served_as_open_candle_but_never_returned() -> None:
    now_ms = parse_utc("2026-03-01T14:00")  # the 12:00 4h bucket holds 12:00 and 13:00 only
    source = DemoSource(now_ms=now_ms)
    page = source.fetch_ohlcv_page("BTC/USDT", "4h", parse_utc("2026-03-01"), 1000)
    assert page[:, 0].astype(np.int64).tolist() == [
        parse_utc(f"2026-03-01T{hour:02d}:00") for hour in (0, 4, 8, 12)
    ]
    got = fetch_closed_candles(source, "BTC/USDT", "4h", parse_utc("2026-02-01"), now_ms)
    assert int(got.timestamp[-1]) == parse_utc("2026-03-01T08:00")
    hourly = fetch_closed_candles(source, "BTC/USDT", "1h", parse_utc("2026-02-01"), now_ms)
    want = _resampled(hourly, "4h").iloc[:-1]  # pandas keeps the partial bucket: drop it
    pd.testing.assert_frame_equal(frame(got), want, check_freq=False, rtol=1e-12)


@pytest.mark.parametrize("timeframe", ["5m", "90m", "1s"])
def test_timeframe_below_or_off_the_hour_names_cache_timeframe(timeframe: str) -> None:
    with pytest.raises(ConfigError) as info:
        fetch_closed_candles(DemoSource(), "BTC/USDT", timeframe, RECORDING_START, RECORDING_END)
    message = str(info.value)
    assert "cache.timeframe must be a multiple of 1h" in message
    assert f'"{timeframe}"' in message


def test_unknown_symbol_lists_the_demo_symbols() -> None:
    source = DemoSource()
    with pytest.raises(ExchangeError) as info:
        source.fetch_ohlcv_page("PEPE/USDT", "1h", RECORDING_START, 10)
    message = str(info.value)
    assert message.startswith("demo does not list PEPE/USDT; demo symbols: BTC/USDT, ETH/USDT")
    for symbol in demo_symbols():
        assert symbol in message
    with pytest.raises(ExchangeError, match="demo does not list PEPE/USDT:USDT"):
        source.fetch_funding_page("PEPE/USDT:USDT", RECORDING_START, 10)


def test_tickers_rank_btc_first_and_use_the_last_24_closed_bars() -> None:
    now_ms = parse_utc("2026-04-01T09:00")
    source = DemoSource(now_ms=now_ms)
    spot = [s for s in demo_symbols() if ":" not in s]
    tickers = source.fetch_tickers_24h(spot)
    assert [t.symbol for t in tickers] == spot
    ranked = sorted(tickers, key=lambda t: -t.quote_volume)
    assert ranked[0].symbol == "BTC/USDT"
    assert ranked[1].symbol == "ETH/USDT"
    perps = source.fetch_tickers_24h([s for s in demo_symbols() if ":" in s])
    assert max(perps, key=lambda t: t.quote_volume).symbol == "BTC/USDT:USDT"

    bars = fetch_closed_candles(source, "BTC/USDT", "1h", now_ms - 24 * MS_PER_HOUR, now_ms)
    assert len(bars) == 24
    typical = (bars.high + bars.low + bars.close) / 3.0
    assert tickers[0].quote_volume == pytest.approx(float(np.sum(typical * bars.volume)))


def test_requests_are_counted_per_page() -> None:
    source = DemoSource()
    fetch_closed_candles(source, "XRP/USDT", "1h", RECORDING_START, RECORDING_END)
    assert source.request_count == 9  # 8760 bars, 1000 a page
