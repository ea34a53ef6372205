"""The fake Binance server, checked with the real ccxt client over real HTTP (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest

from pairscan.market import MS_PER_HOUR
from tests.fakes.binance import (
    ExchangeState,
    FakeBinance,
    Fault,
    StaticTicker,
    start_fake_binance,
)

DEMO = Path(__file__).resolve().parents[2] / "src" / "pairscan" / "demo" / "data"
DEMO_BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX", "LTC", "BCH")


def client(fake: FakeBinance, cls: type[ccxt.Exchange] = ccxt.binance, **kw: Any) -> Any:
    """A real ccxt client pointed at the fake."""
    return cls(fake.ccxt_config(**kw))


def recorded(name: str) -> pd.DataFrame:
    """A demo parquet file read independently of the fake."""
    return pd.read_parquet(DEMO / f"{name}.parquet")


def since_loop(ex: Any, symbol: str, since: int, timeframe: str = "1h") -> list[list[float]]:
    """The manual pagination the fetch stage uses: next since = last open + 1 bar."""
    step = ex.parse_timeframe(timeframe) * 1000
    rows: list[list[float]] = []
    while True:
        page = ex.fetch_ohlcv(symbol, timeframe, since=since, limit=1000)
        rows.extend(page)
        if len(page) < 1000:
            return rows
        since = page[-1][0] + step


# --------------------------------------------------------------------------- markets


def test_binance_load_markets_parses_filters(fake_binance: FakeBinance) -> None:
    ex = client(fake_binance)
    markets = ex.load_markets()

    assert fake_binance.state.count() == 2
    assert {r.path for r in fake_binance.state.requests} == {
        "/api/v3/exchangeInfo",
        "/fapi/v1/exchangeInfo",
    }
    for base in DEMO_BASES:
        assert markets[f"{base}/USDT"]["spot"]
        assert markets[f"{base}/USDT:USDT"]["swap"]
    btc = markets["BTC/USDT"]
    assert btc["precision"]["amount"] == 1e-05
    assert btc["precision"]["price"] == 0.01
    assert btc["limits"]["amount"]["min"] == 1e-05
    assert btc["limits"]["cost"]["min"] == 5.0
    perp = markets["BTC/USDT:USDT"]
    assert (perp["precision"]["amount"], perp["precision"]["price"]) == (0.001, 0.1)
    assert perp["limits"]["cost"]["min"] == 100.0
    assert (perp["settle"], perp["contractSize"], perp["linear"]) == ("USDT", 1.0, True)
    assert markets["ETH/USDT:USDT"]["precision"]["price"] == 0.01
    assert markets["ETH/USDT:USDT"]["limits"]["cost"]["min"] == 20.0
    assert markets["DOGE/USDT"]["precision"]["amount"] == 1.0
    assert ex.amount_to_precision("BTC/USDT:USDT", 0.12345) == "0.123"
    assert ex.price_to_precision("DOGE/USDT", 0.1234567) == "0.12346"
    assert markets["USDC/USDT"]["active"]
    assert markets["BTCUP/USDT"]["active"]
    assert markets["LUNA/USDT"]["active"] is False


def test_binanceusdm_load_markets_uses_only_fapi(fake_binance: FakeBinance) -> None:
    ex = client(fake_binance, ccxt.binanceusdm, market_types=("linear",))
    markets = ex.load_markets()

    assert [r.path for r in fake_binance.state.requests] == ["/fapi/v1/exchangeInfo"]
    assert sorted(markets) == sorted(f"{b}/USDT:USDT" for b in DEMO_BASES)
    assert markets["SOL/USDT:USDT"]["limits"]["amount"]["min"] == 0.01
    assert markets["SOL/USDT:USDT"]["created"] == int(
        recorded("BINANCEUSDM_SOL-USDT_1h").timestamp[0]
    )


def test_status_and_delisting_show_in_markets_and_klines(fake_binance: FakeBinance) -> None:
    state = fake_binance.state
    state.set_status("XRP/USDT:USDT", "SETTLING")
    state.delist("ADA/USDT")
    ex = client(fake_binance)
    markets = ex.load_markets()

    assert markets["XRP/USDT:USDT"]["active"] is False
    assert markets["XRP/USDT"]["active"] is True
    assert "ADA/USDT" not in markets
    assert "ADA/USDT:USDT" in markets
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetKlines({"symbol": "ADAUSDT", "interval": "1h"})


def test_state_from_arrays_and_from_folder(tmp_path: Path) -> None:
    hours = (
        np.arange(48, dtype=np.int64) * MS_PER_HOUR + 1_700_000_000_000 // MS_PER_HOUR * MS_PER_HOUR
    )
    price = np.linspace(10.0, 20.0, 48)
    frame = pd.DataFrame(
        {
            "timestamp": hours,
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price,
            "volume": 2.0,
        }
    )
    state = ExchangeState(serve_open_candle=False)
    state.add_spot("FOO", frame)
    state.add_spot("BAR", ticker=StaticTicker(2.0, 1234.0))
    frame.to_parquet(tmp_path / "BINANCEUSDM_FOO-USDT_1h.parquet")
    pd.DataFrame({"timestamp": hours[::8], "funding_rate": 1e-4}).to_parquet(
        tmp_path / "BINANCEUSDM_FOO-USDT_funding.parquet"
    )
    folder_state = ExchangeState.from_folder(tmp_path, extras=False)

    with start_fake_binance(state) as fake, start_fake_binance(folder_state) as folder_fake:
        ex = client(fake)
        assert [row[0] for row in ex.fetch_ohlcv("FOO/USDT", "1h", limit=2)] == list(hours[-2:])
        tickers = ex.fetch_tickers()
        assert tickers["BAR/USDT"]["quoteVolume"] == 1234.0
        assert tickers["FOO/USDT"]["baseVolume"] == 48.0
        fx = client(folder_fake, ccxt.binanceusdm)
        assert list(fx.load_markets()) == ["FOO/USDT:USDT"]
        assert len(fx.fetch_funding_rate_history("FOO/USDT:USDT", since=0)) == 6
        assert folder_state.now_ms == int(hours[-1]) + MS_PER_HOUR


# --------------------------------------------------------------------------- klines


@pytest.mark.parametrize(
    ("symbol", "name"),
    [("ETH/USDT", "BINANCE_ETH-USDT_1h"), ("BTC/USDT:USDT", "BINANCEUSDM_BTC-USDT_1h")],
)
def test_since_loop_over_the_year_equals_recorded(
    fake_binance: FakeBinance, symbol: str, name: str
) -> None:
    expected = recorded(name)
    ex = client(fake_binance)
    ex.load_markets()

    rows = since_loop(ex, symbol, int(expected.timestamp[0]))

    got = np.asarray(rows, dtype=np.float64)
    want = expected[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    assert got.shape == want.shape == (8760, 6)
    np.testing.assert_array_equal(
        got, want
    )  # exact: every string parses back to the recorded float
    assert (
        fake_binance.state.count("/api/v3/klines" if ":" not in symbol else "/fapi/v1/klines") == 9
    )


def test_open_candle_is_the_last_row_mid_bar(fake_binance: FakeBinance) -> None:
    bars = recorded("BINANCE_ETH-USDT_1h")
    i = 5000
    bar = bars.iloc[i]
    state = fake_binance.state
    state.now_ms = int(bar.timestamp) + 20 * 60_000  # one third into bar i
    ex = client(fake_binance)
    ex.load_markets()

    rows = ex.fetch_ohlcv("ETH/USDT", "1h", limit=3)

    assert [r[0] for r in rows] == list(bars.timestamp[i - 2 : i + 1])
    assert (
        rows[:2]
        == bars.iloc[i - 2 : i][
            ["timestamp", "open", "high", "low", "close", "volume"]
        ].values.tolist()
    )
    _ts, o, h, low, c, v = rows[-1]
    assert o == bar.open
    assert h >= max(o, c)
    assert low <= min(o, c)
    assert bar.low <= low
    assert h <= bar.high
    assert v == pytest.approx(bar.volume / 3, rel=1e-3)
    raw = ex.publicGetKlines({"symbol": "ETHUSDT", "interval": "1h", "limit": 1})
    assert raw[0][6] == int(bar.timestamp) + MS_PER_HOUR - 1  # close time lies in the future

    state.serve_open_candle = False
    assert ex.fetch_ohlcv("ETH/USDT", "1h", limit=1)[0][0] == bars.timestamp[i - 1]


@pytest.mark.parametrize(("timeframe", "rule"), [("4h", "4h"), ("1d", "1D")])
def test_aggregated_intervals_match_resample(
    fake_binance: FakeBinance, timeframe: str, rule: str
) -> None:
    bars = recorded("BINANCEUSDM_ETH-USDT_1h")
    frame = bars.set_index(pd.to_datetime(bars.timestamp, unit="ms"))  # naive UTC
    expected = frame.resample(rule, origin="epoch", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    expected = expected.iloc[1:21]  # skip the first bucket (the recording starts mid-day)
    start = expected.index[0].value // 1_000_000
    ex = client(fake_binance)
    ex.load_markets()

    rows = ex.fetch_ohlcv("ETH/USDT:USDT", timeframe, since=start - MS_PER_HOUR, limit=20)

    assert [r[0] for r in rows] == [t.value // 1_000_000 for t in expected.index]
    got = np.asarray(rows)[:, 1:]
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-12)


def test_klines_window_limits_and_errors(fake_binance: FakeBinance) -> None:
    ex = client(fake_binance)
    first = int(recorded("BINANCE_BTC-USDT_1h").timestamp[0])
    query = {"symbol": "BTCUSDT", "interval": "1h"}

    assert len(ex.publicGetKlines(query)) == 500
    assert len(ex.publicGetKlines({**query, "limit": 5000})) == 1000
    assert len(ex.fapiPublicGetKlines({**query, "limit": 5000})) == 1500
    window = ex.publicGetKlines(
        {**query, "startTime": first + MS_PER_HOUR, "endTime": first + 3 * MS_PER_HOUR}
    )
    assert [row[0] for row in window] == [first + k * MS_PER_HOUR for k in (1, 2, 3)]
    assert all(len(row) == 12 and isinstance(row[1], str) for row in window)
    last_two = ex.publicGetKlines({**query, "endTime": first + 3 * MS_PER_HOUR, "limit": 2})
    assert [row[0] for row in last_two] == [first + 2 * MS_PER_HOUR, first + 3 * MS_PER_HOUR]
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        ex.publicGetKlines({**query, "interval": "7m"})
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetKlines({**query, "symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.ExchangeError, match="unknown path"):
        ex.publicGetAvgPrice({"symbol": "BTCUSDT"})
    assert fake_binance.state.requests[-1].path == "/api/v3/avgPrice"


# --------------------------------------------------------------------------- funding, tickers


def test_funding_history_paginated_equals_recorded(fake_binance: FakeBinance) -> None:
    expected = recorded("BINANCEUSDM_ETH-USDT_funding")
    ex = client(fake_binance, ccxt.binanceusdm)
    ex.load_markets()
    rows: list[dict[str, Any]] = []
    since = int(expected.timestamp[0])
    while True:
        page = ex.fetch_funding_rate_history("ETH/USDT:USDT", since=since, limit=1000)
        rows.extend(page)
        if len(page) < 1000:
            break
        since = page[-1]["timestamp"] + 1

    assert [r["timestamp"] for r in rows] == expected.timestamp.tolist()
    assert [r["fundingRate"] for r in rows] == expected.funding_rate.tolist()
    assert fake_binance.state.count("/fapi/v1/fundingRate") == 2
    assert float(rows[-1]["info"]["markPrice"]) > 0


def test_funding_respects_clock_and_latest_rows(fake_binance: FakeBinance) -> None:
    expected = recorded("BINANCEUSDM_ETH-USDT_funding")
    state = fake_binance.state
    state.now_ms = int(expected.timestamp[500]) + 1
    ex = client(fake_binance, ccxt.binanceusdm)

    latest = ex.fapiPublicGetFundingRate({"symbol": "ETHUSDT"})

    assert len(latest) == 100
    assert [r["fundingTime"] for r in latest] == expected.timestamp[401:501].tolist()


def test_tickers_give_quote_volume_of_the_last_24_closed_bars(fake_binance: FakeBinance) -> None:
    bars = recorded("BINANCE_ETH-USDT_1h").iloc[-24:]
    spot = client(fake_binance).fetch_tickers()
    perps = client(fake_binance, ccxt.binanceusdm).fetch_tickers()

    assert set(spot) == {f"{b}/USDT" for b in DEMO_BASES} | {"USDC/USDT", "BTCUP/USDT", "LUNA/USDT"}
    assert set(perps) == {f"{b}/USDT:USDT" for b in DEMO_BASES}
    eth = spot["ETH/USDT"]
    typical = (bars.open + bars.high + bars.low + bars.close) / 4
    assert eth["quoteVolume"] == pytest.approx(float((bars.volume * typical).sum()), rel=1e-9)
    assert eth["baseVolume"] == pytest.approx(float(bars.volume.sum()))
    assert (eth["open"], eth["last"]) == (bars.open.iloc[0], bars.close.iloc[-1])
    assert eth["high"] == bars.high.max()
    assert eth["low"] == bars.low.min()
    assert all(t["quoteVolume"] > 0 for t in perps.values())
    assert spot["LUNA/USDT"]["quoteVolume"] == 0.0


# --------------------------------------------------------------------------- faults

NOW_START = 1_778_000_000_000 // MS_PER_HOUR * MS_PER_HOUR

FAULT_TABLE = [
    (Fault.rate_limited(), ccxt.DDoSProtection),
    (Fault.ip_banned(), ccxt.DDoSProtection),
    (Fault.rate_limit_code(), ccxt.RateLimitExceeded),
    (Fault.server_error(), ccxt.ExchangeNotAvailable),
    (Fault.bad_gateway(), ccxt.ExchangeNotAvailable),
    (Fault.waf_forbidden(), ccxt.ExchangeNotAvailable),
    (Fault.service_unavailable(), ccxt.OperationFailed),
    (Fault.gateway_timeout(), ccxt.RequestTimeout),
    (Fault.slow(1.0), ccxt.RequestTimeout),
    (Fault.bad_symbol(), ccxt.BadSymbol),
    (Fault.bad_request(), ccxt.BadRequest),
    (Fault.not_found(), ccxt.ExchangeError),
    (Fault.drop_connection(), ccxt.NetworkError),
]


@pytest.mark.parametrize(("fault", "error"), FAULT_TABLE, ids=[f.name for f, _ in FAULT_TABLE])
def test_fault_raises_the_ccxt_exception(
    fake_binance: FakeBinance, fault: Fault, error: type[Exception]
) -> None:
    ex = client(fake_binance, timeout_ms=500)
    ex.load_markets()
    fake_binance.state.add_fault("/api/v3/klines", fault)

    with pytest.raises(error) as raised:
        ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=5)

    if error is ccxt.ExchangeError:
        assert not isinstance(raised.value, ccxt.BadRequest)
    assert fake_binance.state.requests[-1].fault == fault.name
    assert len(ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=5)) == 5  # one-shot


@pytest.mark.parametrize(
    "fault", [Fault.truncated_json(), Fault.empty_body(), Fault.html_page(), Fault.json_object()]
)
def test_garbage_200_is_silently_empty_with_since(fake_binance: FakeBinance, fault: Fault) -> None:
    ex = client(fake_binance)
    ex.load_markets()
    fake_binance.state.add_fault("/api/v3/klines", fault)

    assert ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=5) == []
    assert ex.last_http_response == fault.body.decode()


@pytest.mark.parametrize("path", ["/api/v3/klines", "/fapi/v1/fundingRate"])
def test_empty_list_200_looks_like_a_window_without_data(
    fake_binance: FakeBinance, path: str
) -> None:
    ex = client(fake_binance)
    ex.load_markets()
    fake_binance.state.add_fault(path, Fault.empty_list())

    if path.endswith("klines"):
        assert ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=5) == []
    else:
        assert ex.fetch_funding_rate_history("ETH/USDT:USDT", since=NOW_START) == []
    assert ex.last_http_response == "[]"
    assert fake_binance.state.requests[-1].fault == "200 []"


def test_earlier_window_serves_rows_before_since_which_ccxt_drops(
    fake_binance: FakeBinance,
) -> None:
    state = fake_binance.state
    ex = client(fake_binance)
    ex.load_markets()
    state.add_fault("/api/v3/klines", Fault.earlier_window(2 * MS_PER_HOUR))
    rows = ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=5)
    served = json.loads(ex.last_http_response)
    assert [r[0] for r in served] == [NOW_START + (k - 2) * MS_PER_HOUR for k in range(5)]
    assert [r[0] for r in rows] == [NOW_START, NOW_START + MS_PER_HOUR, NOW_START + 2 * MS_PER_HOUR]
    assert state.requests[-1].query["startTime"] == str(NOW_START)  # logged as sent

    state.add_fault("/api/v3/klines", Fault.earlier_window(5 * MS_PER_HOUR))
    assert ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=5) == []
    assert len(json.loads(ex.last_http_response)) == 5
    with pytest.raises(ValueError, match="shift_ms must be > 0"):
        Fault.earlier_window(0)


@pytest.mark.parametrize(
    "fault", [Fault.truncated_json(), Fault.empty_body(), Fault.html_page(), Fault.json_object()]
)
@pytest.mark.parametrize("path", ["/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"])
def test_garbage_exchange_info_silently_drops_a_market_type(
    fake_binance: FakeBinance, path: str, fault: Fault
) -> None:
    ex = client(fake_binance)
    fake_binance.state.add_fault(path, fault)

    markets = ex.load_markets()
    assert markets  # no exception: the other market type loaded
    kinds = {("swap" if m["swap"] else "spot") for m in markets.values()}
    assert kinds == ({"swap"} if path.startswith("/api/v3") else {"spot"})


def test_429_exposes_retry_after(fake_binance: FakeBinance) -> None:
    ex = client(fake_binance)
    ex.load_markets()
    fake_binance.state.add_fault("/fapi/v1/fundingRate", Fault.rate_limited(retry_after=7))

    with pytest.raises(ccxt.DDoSProtection):
        ex.fetch_funding_rate_history("ETH/USDT:USDT", since=NOW_START)
    assert ex.last_response_headers["Retry-After"] == "7"


def test_fault_filters_times_symbol_and_any_path(fake_binance: FakeBinance) -> None:
    state = fake_binance.state
    ex = client(fake_binance)
    ex.load_markets()
    state.add_fault("/api/v3/klines", Fault.server_error(), times=2, symbol="BTC/USDT")
    state.add_fault(None, Fault.bad_symbol())

    with pytest.raises(ccxt.BadSymbol):  # the any-path fault: ETH does not match the BTC filter
        ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=2)
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            ex.fetch_ohlcv("BTC/USDT", "1h", since=NOW_START, limit=2)
    assert len(ex.fetch_ohlcv("BTC/USDT", "1h", since=NOW_START, limit=2)) == 2
    assert state.pending_faults == 0
    assert state.count("/api/v3/klines", symbol="BTC/USDT") == 3
    state.clear_log()
    assert state.count() == 0


# --------------------------------------------------------------------------- standalone


def test_module_serves_from_a_subprocess() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.binance", "--port", "0", "--now", "2026-05-01T12:30Z"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        ex = ccxt.binanceusdm({"urls": {"api": {"fapiPublic": base_url + "/fapi/v1"}}})
        assert ex.fetch_time() == 1777638600000
        assert ex.fetch_ohlcv("ETH/USDT:USDT", "1h", limit=1)[0][0] == 1777636800000
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_fault_after_n_matching_requests(fake_binance: FakeBinance) -> None:
    state = fake_binance.state
    ex = client(fake_binance)
    ex.load_markets()
    state.add_fault("/api/v3/klines", Fault.server_error(), symbol="BTC/USDT", after=2)

    for _ in range(2):
        ex.fetch_ohlcv("ETH/USDT", "1h", since=NOW_START, limit=2)  # other symbols: not counted
        assert len(ex.fetch_ohlcv("BTC/USDT", "1h", since=NOW_START, limit=2)) == 2
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.fetch_ohlcv("BTC/USDT", "1h", since=NOW_START, limit=2)
    assert state.pending_faults == 0
    assert [r.fault for r in state.requests_for("/api/v3/klines", symbol="BTC/USDT")] == [
        None,
        None,
        "500 empty",
    ]
    with pytest.raises(ValueError, match="after must be >= 0"):
        state.add_fault(None, Fault.server_error(), after=-1)
