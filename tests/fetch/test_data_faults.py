"""Faults that look like data, against the local Binance-protocol server with real ccxt over
real HTTP: an empty page or rows before `since` where the exchange's clock says bars exist, an
empty or short funding page where an event is due, a garbage market list, and network failures
that must name their cause. Each is retried with the backoff, then raised naming the symbol;
the legitimate look-alikes (an inactive market's last bar, a young listing, a perpetual without
its first funding event yet) are not."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from pairscan.config import ExchangeConfig
from pairscan.errors import ExchangeError
from pairscan.fetch import IncompleteHistoryError, fetch_closed_candles, fetch_funding_history
from pairscan.fetch.ccxt_source import CcxtSource
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, Candles, format_utc
from tests.fakes.binance import CCXT_API_PATHS, FakeBinance, Fault
from tests.fetch.test_ccxt_source import START, SleepLog, as_rows, make_source, recorded

KLINES = "/api/v3/klines"
FUNDING = "/fapi/v1/fundingRate"
SPOT_INFO = "/api/v3/exchangeInfo"
FAPI_INFO = "/fapi/v1/exchangeInfo"
PAGE = 1000  # Binance klines per request
THIRD_PAGE = START + 2 * PAGE * MS_PER_HOUR  # where the third request of a year starts


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def spot(fake_binance: FakeBinance, sleeps: SleepLog) -> Iterator[CcxtSource]:
    source = make_source(fake_binance, sleeps)
    yield source
    source.close()


def kline(open_ms: int) -> list[Any]:
    """One Binance kline row (values plausible, only the open time matters here)."""
    return [open_ms, "10.0", "11.0", "9.0", "10.5", "1.0", open_ms + MS_PER_HOUR - 1, "10.0"]


def keep_bars(fake: FakeBinance, symbol: str, start_ms: int | None, end_ms: int | None) -> Candles:
    """The exchange serves only the bars of `symbol` in [start, end]; returns them."""
    market = fake.state.market(symbol)
    assert market.candles is not None
    market.candles = market.candles.between(start_ms, end_ms)
    return market.candles


# ---- candles: an empty or out-of-sequence page is a fault -------------------------------------

OUT_OF_SEQUENCE = [
    pytest.param(Fault.empty_list(), id="200-empty-list"),
    pytest.param(Fault.earlier_window(PAGE * MS_PER_HOUR), id="rows-before-since"),
    pytest.param(
        Fault.http(200, [kline(THIRD_PAGE), kline(THIRD_PAGE + 90 * 60_000)], name="off-grid"),
        id="rows-off-the-bar-grid",
    ),
]


@pytest.mark.parametrize("fault", OUT_OF_SEQUENCE)
def test_a_bad_page_mid_history_is_retried_and_the_history_is_whole(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog, fault: Fault
) -> None:
    state = fake_binance.state
    state.add_fault(KLINES, fault, symbol="ETH/USDT", after=2)  # the third page
    got = fetch_closed_candles(spot, "ETH/USDT", "1h", START, state.now_ms)
    np.testing.assert_array_equal(as_rows(got), recorded(fake_binance, "ETH/USDT"))
    paged = [r for r in state.requests_for(KLINES) if "startTime" in r.query]
    assert len(paged) == 10  # nine pages plus the one retried
    assert len(sleeps.delays) == 1  # the ordinary backoff
    assert state.pending_faults == 0
    # Where no row came, the exchange's newest bars (asked for without a start) show that
    # bars exist after the page's start: a fault, not the market's end.
    probes = state.count(KLINES) - len(paged)
    assert probes == (0 if fault.name == "off-grid" else 1)


def test_a_short_page_is_not_taken_for_the_end(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    state = fake_binance.state
    # The third page starts 400 bars early: ccxt keeps its last 600 rows, a short page.
    state.add_fault(KLINES, Fault.earlier_window(400 * MS_PER_HOUR), symbol="ETH/USDT", after=2)
    got = fetch_closed_candles(spot, "ETH/USDT", "1h", START, state.now_ms)
    np.testing.assert_array_equal(as_rows(got), recorded(fake_binance, "ETH/USDT"))
    third, fourth = state.requests_for(KLINES)[2:4]
    assert int(fourth.query["startTime"]) == int(third.query["startTime"]) + 600 * MS_PER_HOUR
    assert state.count(KLINES) == 10  # one more page, no retry
    assert sleeps.delays == []


def newest_bar(fake: FakeBinance, symbol_id: str) -> int:
    """Open time of the newest bar the fake serves for a spot symbol (asked without a start)."""
    rows = fake.state.klines("spot", {"symbol": symbol_id, "interval": "1h", "limit": "1"})
    return int(rows[-1][0])


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        pytest.param(
            Fault.empty_list(),
            "(200 []) though the exchange's clock is past it and it served no newest candle either",
            id="200-empty-list",
        ),
        pytest.param(
            Fault.earlier_window(PAGE * MS_PER_HOUR),
            f"({PAGE} rows, all before it from {format_utc(THIRD_PAGE - PAGE * MS_PER_HOUR)}) "
            "though the exchange's newest candle is at {newest}",
            id="rows-before-since",
        ),
    ],
)
def test_a_page_that_stays_empty_fails_naming_symbol_and_time_after_bounded_retries(
    fake_binance: FakeBinance, sleeps: SleepLog, fault: Fault, detail: str
) -> None:
    source = make_source(fake_binance, sleeps, max_retries=2)
    state = fake_binance.state
    state.add_fault(KLINES, fault, symbol="ETH/USDT", after=2, times=100)
    try:
        with pytest.raises(ExchangeError) as info:
            fetch_closed_candles(source, "ETH/USDT", "1h", START, state.now_ms)
    finally:
        source.close()
    assert str(info.value) == (
        "binance fetch_ohlcv ETH/USDT failed after 3 attempts: BadResponseError: "
        f"binance fetch_ohlcv ETH/USDT 1h: no candle at or after {format_utc(THIRD_PAGE)} "
        + detail.format(newest=format_utc(newest_bar(fake_binance, "ETHUSDT")))
    )
    assert info.value.transient
    assert state.count(KLINES) == 2 + 3 * 2  # two pages, then three attempts, each probed
    assert len(sleeps.delays) == 2
    # The two pages that did arrive come with the error, for the caller to keep.
    assert isinstance(info.value, IncompleteHistoryError)
    partial = info.value.partial
    assert isinstance(partial, Candles)
    np.testing.assert_array_equal(as_rows(partial), recorded(fake_binance, "ETH/USDT")[: 2 * PAGE])


@pytest.mark.parametrize("trading", [False, True])
def test_bars_that_stop_end_the_history_without_a_retry(
    fake_binance: FakeBinance,
    spot: CcxtSource,
    sleeps: SleepLog,
    caplog: pytest.LogCaptureFixture,
    trading: bool,
) -> None:
    """A market whose bars stop while the exchange's clock runs on (halted, delisting): its
    history ends at its last bar, at once when the exchange lists it as inactive, else once
    the exchange's own newest bar shows that nothing came after (a warning says so)."""
    state = fake_binance.state
    last = state.now_ms - 30 * MS_PER_HOUR
    kept = keep_bars(fake_binance, "ETH/USDT", None, last)
    since = last - 9 * MS_PER_HOUR
    got = fetch_closed_candles(spot, "ETH/USDT", "1h", since, state.now_ms, trading=trading)
    np.testing.assert_array_equal(as_rows(got), as_rows(kept.between(since, None)))
    # One page of the last ten bars, the request past them, and (trading) the newest bars.
    assert state.count(KLINES) == (3 if trading else 2)
    assert sleeps.delays == []
    warned = [
        r.getMessage() for r in caplog.records if "lists the market as trading" in r.getMessage()
    ]
    assert len(warned) == (1 if trading else 0)
    if trading:
        assert f"newest is at {format_utc(last)}" in warned[0]


def test_a_young_listing_starts_at_its_first_bar_without_a_fault(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    state = fake_binance.state
    listed = state.now_ms - 50 * MS_PER_HOUR
    kept = keep_bars(fake_binance, "SOL/USDT", listed, None)
    got = fetch_closed_candles(spot, "SOL/USDT", "1h", START, state.now_ms)
    # Binance answers a start before the listing with the first bars after it.
    np.testing.assert_array_equal(as_rows(got), as_rows(kept))
    assert int(got.timestamp[0]) == listed
    assert state.count(KLINES) == 1
    assert sleeps.delays == []


def test_a_bar_dropped_as_unsound_is_a_gap_not_a_missing_answer(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    state = fake_binance.state
    market = state.market("ETH/USDT")
    bars = market.candles
    assert bars is not None
    last = int(bars.timestamp[-1])  # the last closed bar at the fake's clock
    assert last == state.now_ms - MS_PER_HOUR
    high = bars.high.copy()  # the recording's arrays are shared and read-only
    high[-1] = bars.low[-1] / 2  # high below low: impossible
    market.candles = dataclasses.replace(bars, high=high)
    got = fetch_closed_candles(spot, "ETH/USDT", "1h", last, state.now_ms)
    assert len(got) == 0
    assert state.count(KLINES) == 1
    assert sleeps.delays == []


# ---- funding: an empty or short page where an event is due is a fault ------------------------


def test_an_empty_funding_page_where_events_are_due_is_retried(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    state = fake_binance.state
    state.add_fault(FUNDING, Fault.empty_list())
    got = fetch_funding_history(spot, "BTC/USDT:USDT", START, state.now_ms, trading_since_ms=START)
    want = state.market("BTC/USDT:USDT").funding
    assert want is not None
    np.testing.assert_array_equal(got.timestamp, want.timestamp)
    np.testing.assert_array_equal(got.funding_rate, want.funding_rate)
    assert state.count(FUNDING) == 4  # [], the newest events (after it: a fault), 1000 + 95
    assert len(sleeps.delays) == 1


def test_a_short_funding_page_does_not_end_the_history_while_events_are_overdue(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    state = fake_binance.state
    want = state.market("BTC/USDT:USDT").funding
    assert want is not None
    first = int(want.timestamp[0])
    one = [{"symbol": "BTCUSDT", "fundingTime": first, "fundingRate": "0.0001", "markPrice": ""}]
    state.add_fault(FUNDING, Fault.http(200, one, name="one event"))
    got = fetch_funding_history(spot, "BTC/USDT:USDT", START, state.now_ms, trading_since_ms=START)
    np.testing.assert_array_equal(got.timestamp, want.timestamp)
    assert state.count(FUNDING) == 3  # the short page, then 1000 + 94 events
    assert sleeps.delays == []


def test_funding_that_stops_for_longer_than_the_longest_interval_ends_with_a_warning(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog, caplog: pytest.LogCaptureFixture
) -> None:
    state = fake_binance.state
    market = state.market("ETH/USDT:USDT")
    assert market.funding is not None
    market.funding = market.funding.between(None, state.now_ms - MS_PER_DAY)
    last = int(market.funding.timestamp[-1])
    got = fetch_funding_history(
        spot, "ETH/USDT:USDT", last - 2 * MS_PER_DAY, state.now_ms, trading_since_ms=START
    )
    np.testing.assert_array_equal(
        got.timestamp, market.funding.between(last - 2 * MS_PER_DAY).timestamp
    )
    # The short page, the next (an event is overdue), and the newest events: none after.
    assert state.count(FUNDING) == 3
    assert sleeps.delays == []
    assert any(
        f"no funding event since {format_utc(last + 1)}" in r.getMessage() for r in caplog.records
    )


def test_an_empty_funding_answer_that_persists_fails_after_bounded_retries(
    fake_binance: FakeBinance, sleeps: SleepLog
) -> None:
    state = fake_binance.state
    state.add_fault(FUNDING, Fault.empty_list(), times=100)
    source = make_source(fake_binance, sleeps, max_retries=1)
    try:
        with pytest.raises(ExchangeError) as info:
            fetch_funding_history(
                source, "ETH/USDT:USDT", START, state.now_ms, trading_since_ms=START
            )
    finally:
        source.close()
    assert not isinstance(info.value, IncompleteHistoryError)  # the first page failed
    assert str(info.value) == (
        "binance fetch_funding_rate_history ETH/USDT:USDT failed after 2 attempts: "
        "BadResponseError: binance fetch_funding_rate_history ETH/USDT:USDT: no funding event "
        f"at or after {format_utc(START)} (200 []) though the exchange's clock is past it and "
        "it served no newest funding event either"
    )
    assert state.count(FUNDING) == 4
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("hours", [2, 8])
def test_a_perpetual_younger_than_a_funding_interval_has_no_event_and_that_is_fine(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog, hours: int
) -> None:
    state = fake_binance.state
    state.market("SOL/USDT:USDT").funding = None  # listed `hours` ago: nothing settled yet
    got = fetch_funding_history(
        spot,
        "SOL/USDT:USDT",
        state.now_ms - 60 * MS_PER_DAY,
        state.now_ms,
        trading_since_ms=state.now_ms - hours * MS_PER_HOUR,
    )
    assert len(got) == 0
    assert state.count(FUNDING) == 1
    assert sleeps.delays == []


# ---- markets: a garbage exchangeInfo is retried like any garbage 200 -------------------------

GARBAGE_MARKET_LISTS = [
    pytest.param(Fault.truncated_json(), id="truncated-json"),
    pytest.param(Fault.empty_body(), id="empty-body"),
    pytest.param(Fault.html_page(), id="html"),
    pytest.param(Fault.json_object(), id="object-without-symbols"),
]


@pytest.mark.parametrize("path", [SPOT_INFO, FAPI_INFO])
@pytest.mark.parametrize("fault", GARBAGE_MARKET_LISTS)
def test_a_garbage_market_list_is_retried_and_every_market_type_loads(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog, path: str, fault: Fault
) -> None:
    state = fake_binance.state
    state.add_fault(path, fault)
    markets = spot.load_markets()
    assert {m.type for m in markets.values()} == {"spot", "swap"}
    assert len(markets) == len(state.listed("spot")) + len(state.listed("perp"))
    assert state.count(path) == 2
    assert len(sleeps.delays) == 1


def test_a_well_formed_market_list_without_markets_stands(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    """An exchange (a testnet, a region) may list no market of a type: not garbage."""
    state = fake_binance.state
    state.add_fault(SPOT_INFO, Fault.http(200, {"timezone": "UTC", "symbols": []}))
    markets = spot.load_markets()
    assert {m.type for m in markets.values()} == {"swap"}
    assert state.count(SPOT_INFO) == 1
    assert sleeps.delays == []


def test_a_market_list_that_stays_garbage_fails_naming_the_endpoint(
    fake_binance: FakeBinance, sleeps: SleepLog
) -> None:
    source = make_source(fake_binance, sleeps, max_retries=1)
    fake_binance.state.add_fault(FAPI_INFO, Fault.html_page(), times=2)
    try:
        with pytest.raises(ExchangeError) as info:
            source.load_markets()
    finally:
        source.close()
    assert str(info.value).startswith(
        "binance load_markets failed after 2 attempts: BadResponseError: binance load_markets "
        "/fapi/v1/exchangeInfo: 200 response is not JSON (<!DOCTYPE html>"
    )


# ---- network failures name their cause, never a secret -----------------------------------------


def _source_at(base: str, sleeps: SleepLog, secret: str = "") -> CcxtSource:
    config = ExchangeConfig(
        id="binance",
        ccxt_config={
            "urls": {"api": {key: base + path for key, path in CCXT_API_PATHS.items()}},
            "timeout": 2000,
            "enableRateLimit": False,
        },
        max_retries=1,
        retry_base_delay_s=0.0,
    )
    return CcxtSource(config, secrets=(secret,) if secret else (), sleep=sleeps)


def test_connection_refused_is_named_and_the_key_in_the_url_is_not(sleeps: SleepLog) -> None:
    key = "APIKEY-7f3a9c2e1b55"
    with socket.socket() as unused:  # bound, never listening: every connect is refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        source = _source_at(f"http://127.0.0.1:{port}/{key}", sleeps, key)
        try:
            with pytest.raises(ExchangeError) as info:
                source.load_markets()
        finally:
            source.close()
    message = str(info.value)
    assert message.startswith(
        "binance load_markets failed after 2 attempts: NetworkError: connection refused: [Errno "
    ), message
    assert "Connection refused; binance GET http://127.0.0.1:" in message
    assert key not in message


def test_an_unresolvable_host_is_named_a_dns_failure(sleeps: SleepLog) -> None:
    source = _source_at("http://pairscan-test.invalid", sleeps)  # .invalid never resolves
    try:
        with pytest.raises(ExchangeError, match=r"NetworkError: DNS lookup failed: \[Errno "):
            source.load_markets()
    finally:
        source.close()


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        pytest.param(
            Fault.slow(2.0), "RequestTimeout: no answer within 0.3 s (read timeout)", id="timeout"
        ),
        pytest.param(
            Fault.drop_connection(),
            "NetworkError: connection closed by the server without a response",
            id="dropped",
        ),
    ],
)
def test_a_network_failure_names_its_cause(
    fake_binance: FakeBinance, sleeps: SleepLog, fault: Fault, cause: str
) -> None:
    source = make_source(fake_binance, sleeps, max_retries=0, ccxt={"timeout_ms": 300})
    source.load_markets()
    fake_binance.state.add_fault(KLINES, fault)
    try:
        with pytest.raises(ExchangeError) as info:
            source.fetch_ohlcv_page("ETH/USDT", "1h", START, 5)
    finally:
        source.close()
    assert str(info.value).startswith(
        f"binance fetch_ohlcv ETH/USDT failed after 1 attempt: {cause}; "
    )


def test_an_http_error_status_gets_no_invented_cause(
    fake_binance: FakeBinance, sleeps: SleepLog
) -> None:
    source = make_source(fake_binance, sleeps, max_retries=0)
    fake_binance.state.add_fault(KLINES, Fault.server_error())
    try:
        with pytest.raises(ExchangeError) as info:
            source.fetch_ohlcv_page("ETH/USDT", "1h", START, 5)
    finally:
        source.close()
    message = str(info.value)
    assert message.startswith("binance fetch_ohlcv ETH/USDT failed after 1 attempt: ")
    assert "ExchangeNotAvailable: binance GET http://127.0.0.1:" in message
    assert "refused" not in message
    assert "timeout" not in message
