"""Fetch stage against a local Binance-protocol server: real ccxt, real HTTP, recorded data."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import numpy as np
import pytest

from pairscan.config import ExchangeConfig, UniverseConfig
from pairscan.errors import ConfigError, ExchangeError
from pairscan.fetch import fetch_closed_candles, fetch_funding_history, resolve_universe
from pairscan.fetch.ccxt_source import CcxtSource
from pairscan.market import MS_PER_HOUR, parse_utc
from tests.fakes.binance import FakeBinance, Fault

KLINES = "/api/v3/klines"
FAPI_KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
START = parse_utc("2025-05-16")


class SleepLog:
    """Records backoff delays instead of waiting them out (the delays are what is tested)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


def make_source(
    fake: FakeBinance, sleeps: SleepLog, exchange: str = "binance", **overrides: object
) -> CcxtSource:
    config = ExchangeConfig(
        id=exchange,
        ccxt_config=fake.ccxt_config(**overrides.pop("ccxt", {})),  # type: ignore[arg-type]
        max_retries=int(overrides.pop("max_retries", 3)),  # type: ignore[call-overload]
        retry_base_delay_s=0.5,
        retry_max_delay_s=30.0,
    )
    return CcxtSource(config, sleep=sleeps, rng=random.Random(7))


@pytest.fixture
def spot(fake_binance: FakeBinance, sleeps: SleepLog) -> Iterator[CcxtSource]:
    source = make_source(fake_binance, sleeps)
    yield source
    source.close()


def recorded(fake: FakeBinance, symbol: str) -> np.ndarray:
    bars = fake.state.market(symbol).candles
    assert bars is not None
    return np.column_stack(
        [bars.timestamp, bars.open, bars.high, bars.low, bars.close, bars.volume]
    )


def as_rows(candles: object) -> np.ndarray:
    c = candles
    return np.column_stack([c.timestamp, c.open, c.high, c.low, c.close, c.volume])  # type: ignore[attr-defined]


def test_year_of_spot_candles_equals_the_recording(
    fake_binance: FakeBinance, spot: CcxtSource
) -> None:
    got = fetch_closed_candles(spot, "ETH/USDT", "1h", START, fake_binance.state.now_ms)
    np.testing.assert_array_equal(as_rows(got), recorded(fake_binance, "ETH/USDT"))
    assert len(got) == 8760
    assert fake_binance.state.count(KLINES) == 9  # 1000 bars a page


def test_perpetual_candles_via_binanceusdm(fake_binance: FakeBinance, sleeps: SleepLog) -> None:
    source = make_source(fake_binance, sleeps, "binanceusdm", ccxt={"market_types": ("linear",)})
    try:
        got = fetch_closed_candles(source, "ETH/USDT:USDT", "1h", START, fake_binance.state.now_ms)
    finally:
        source.close()
    np.testing.assert_array_equal(as_rows(got), recorded(fake_binance, "ETH/USDT:USDT"))
    pages = fake_binance.state.count(FAPI_KLINES)
    assert pages == -(-8760 // source.ohlcv_page_limit("ETH/USDT:USDT"))


def test_open_candle_is_never_returned(fake_binance: FakeBinance, spot: CcxtSource) -> None:
    state = fake_binance.state
    state.now_ms = parse_utc("2026-05-10T13:25")
    got = fetch_closed_candles(spot, "BTC/USDT", "1h", parse_utc("2026-05-09"), state.now_ms)
    assert int(got.timestamp[-1]) == parse_utc("2026-05-10T12:00")
    served = state.requests_for(KLINES)[-1]
    assert served.query["symbol"] == "BTCUSDT"


def test_aggregated_timeframe_stops_at_last_closed_bar(
    fake_binance: FakeBinance, spot: CcxtSource
) -> None:
    fake_binance.state.now_ms = parse_utc("2026-05-10T13:25")
    got = fetch_closed_candles(
        spot, "BTC/USDT", "4h", parse_utc("2026-05-01"), fake_binance.state.now_ms
    )
    assert int(got.timestamp[-1]) == parse_utc("2026-05-10T08:00")
    assert np.all(np.diff(got.timestamp) == 4 * MS_PER_HOUR)


def test_funding_history_equals_the_recording(fake_binance: FakeBinance, spot: CcxtSource) -> None:
    got = fetch_funding_history(spot, "ETH/USDT:USDT", START, fake_binance.state.now_ms)
    want = fake_binance.state.market("ETH/USDT:USDT").funding
    assert want is not None
    np.testing.assert_array_equal(got.timestamp, want.timestamp)
    np.testing.assert_array_equal(got.funding_rate, want.funding_rate)
    assert fake_binance.state.count(FUNDING) == 2  # 1000 + 95 events: the short page ends it


# ---- faults: each maps to a retry or a clear error -------------------------------------------

TRANSIENT = [
    pytest.param(Fault.rate_limited(retry_after=3), 3.0, id="429-retry-after"),
    pytest.param(Fault.rate_limit_code(), None, id="200-code-1003"),
    pytest.param(Fault.server_error(), None, id="500"),
    pytest.param(Fault.bad_gateway(), None, id="502-html"),
    pytest.param(Fault.service_unavailable(), None, id="503-1001"),
    pytest.param(Fault.gateway_timeout(), None, id="504"),
    pytest.param(Fault.waf_forbidden(), None, id="403-html"),
    pytest.param(Fault.drop_connection(), None, id="dropped-connection"),
    pytest.param(Fault.truncated_json(), None, id="200-truncated-json"),
    pytest.param(Fault.empty_body(), None, id="200-empty-body"),
    pytest.param(Fault.html_page(), None, id="200-html"),
    pytest.param(Fault.json_object(), None, id="200-json-object"),
]


@pytest.mark.parametrize(("fault", "min_delay"), TRANSIENT)
def test_transient_fault_is_retried_and_data_is_complete(
    fake_binance: FakeBinance,
    spot: CcxtSource,
    sleeps: SleepLog,
    fault: Fault,
    min_delay: float | None,
) -> None:
    state = fake_binance.state
    state.add_fault(KLINES, fault, symbol="ETHUSDT")
    got = fetch_closed_candles(spot, "ETH/USDT", "1h", START, state.now_ms)
    np.testing.assert_array_equal(as_rows(got), recorded(fake_binance, "ETH/USDT"))
    assert state.count(KLINES) == 10  # nine pages plus the one retried
    assert len(sleeps.delays) == 1
    assert 0.5 * 0.75 <= sleeps.delays[0] <= 30.0
    if min_delay is not None:
        assert sleeps.delays[0] >= min_delay  # Retry-After honoured


def test_timeout_is_retried(fake_binance: FakeBinance, sleeps: SleepLog) -> None:
    # The timeout leaves the retried (normal) answer ample time on a busy machine; only the
    # slow answer, 3x longer, must exceed it.
    source = make_source(fake_binance, sleeps, ccxt={"timeout_ms": 1500})
    state = fake_binance.state
    state.now_ms = parse_utc("2026-05-10")
    state.add_fault(KLINES, Fault.slow(4.5))
    try:
        got = fetch_closed_candles(source, "BTC/USDT", "1h", parse_utc("2026-05-09"), state.now_ms)
    finally:
        source.close()
    assert len(got) == 24
    assert len(sleeps.delays) == 1


PERMANENT = [
    pytest.param(Fault.bad_symbol(), "BadSymbol", id="400-1121"),
    pytest.param(Fault.bad_request(), "BadRequest", id="400-1100"),
    pytest.param(Fault.not_found(), "ExchangeError", id="404-code"),
]


@pytest.mark.parametrize(("fault", "kind"), PERMANENT)
def test_permanent_fault_fails_fast_naming_exchange_endpoint_symbol(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog, fault: Fault, kind: str
) -> None:
    state = fake_binance.state
    state.add_fault(KLINES, fault)
    with pytest.raises(ExchangeError) as info:
        fetch_closed_candles(spot, "ETH/USDT", "1h", START, state.now_ms)
    message = str(info.value)
    assert message.startswith("binance fetch_ohlcv ETH/USDT failed")
    assert kind in message
    assert not info.value.transient
    assert state.count(KLINES) == 1
    assert sleeps.delays == []


def test_retries_are_bounded_and_the_error_says_so(
    fake_binance: FakeBinance, sleeps: SleepLog
) -> None:
    source = make_source(fake_binance, sleeps, max_retries=2)
    state = fake_binance.state
    state.add_fault(KLINES, Fault.server_error(), times=10)
    try:
        with pytest.raises(
            ExchangeError,
            match=r"binance fetch_ohlcv SOL/USDT failed after 3 attempts: ExchangeNotAvailable",
        ):
            fetch_closed_candles(source, "SOL/USDT", "1h", START, state.now_ms)
    finally:
        source.close()
    assert state.count(KLINES) == 3
    assert sleeps.delays[1] > sleeps.delays[0]  # exponential


def test_long_retry_after_is_not_slept_through(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    fake_binance.state.add_fault(KLINES, Fault.ip_banned(retry_after=600))
    with pytest.raises(ExchangeError, match="asks to wait 600 s"):
        fetch_closed_candles(spot, "ETH/USDT", "1h", START, fake_binance.state.now_ms)
    assert sleeps.delays == []


def test_garbage_funding_body_is_retried(fake_binance: FakeBinance, spot: CcxtSource) -> None:
    state = fake_binance.state
    state.add_fault(FUNDING, Fault.json_object())
    got = fetch_funding_history(spot, "BTC/USDT:USDT", START, state.now_ms)
    assert len(got) == 1095
    assert state.count(FUNDING) == 3


def test_unknown_symbol_is_a_clear_error(fake_binance: FakeBinance, spot: CcxtSource) -> None:
    config = UniverseConfig(symbols=("ETH/USDT", "ETH/USTD"))
    with pytest.raises(ExchangeError, match=r"binance does not list ETH/USTD \(did you mean"):
        resolve_universe(spot, config)
    with pytest.raises(ExchangeError, match="BadSymbol"):
        fetch_closed_candles(spot, "NOPE/USDT", "1h", START, fake_binance.state.now_ms)
    assert fake_binance.state.count(KLINES) == 0  # ccxt knows from the markets: no request


def test_unsupported_timeframe_names_the_key(spot: CcxtSource) -> None:
    with pytest.raises(ConfigError, match=r'cache.timeframe must be one of .* "7h"'):
        spot.fetch_ohlcv_page("ETH/USDT", "7h", START, 10)


def test_secrets_never_appear_in_errors_or_logs(
    fake_binance: FakeBinance, sleeps: SleepLog, caplog: pytest.LogCaptureFixture
) -> None:
    key, secret = "APIKEY-7f3a9c2e1b", "SECRET-d41d8cd98f00b204"
    config = ExchangeConfig(
        id="binance", ccxt_config=fake_binance.ccxt_config(), max_retries=1, retry_base_delay_s=0.0
    )
    source = CcxtSource(config, secrets=(key, secret), sleep=sleeps)
    fake_binance.state.add_fault(
        KLINES, Fault.http(500, f"internal error for {key} {secret}"), times=5
    )
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ExchangeError) as info:
            fetch_closed_candles(source, "ETH/USDT", "1h", START, fake_binance.state.now_ms)
    finally:
        source.close()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("pairscan")]
    assert ours  # the retry was logged
    text = str(info.value) + " ".join(ours)
    assert "ExchangeNotAvailable" in str(info.value)
    assert key not in text
    assert secret not in text


def test_top_n_universe_skips_stable_leveraged_and_inactive(
    fake_binance: FakeBinance, spot: CcxtSource
) -> None:
    fake_binance.state.add_listing_extras()
    fake_binance.state.set_status("XRP/USDT", "BREAK")
    ranked = resolve_universe(spot, UniverseConfig(top_n=5, exclude=("DOGE/USDT",)))
    assert len(ranked) == 5
    assert ranked[0] == "BTC/USDT"
    for banned in ("USDC/USDT", "BTCUP/USDT", "LUNA/USDT", "XRP/USDT", "DOGE/USDT"):
        assert banned not in ranked
    assert all(not s.endswith(":USDT") for s in ranked)
    swaps = resolve_universe(spot, UniverseConfig(top_n=3, market_type="swap"))
    assert swaps == ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


def test_markets_carry_exchange_filters(spot: CcxtSource) -> None:
    markets = spot.load_markets()
    btc = markets["BTC/USDT"]
    assert btc.type == "spot"
    assert btc.amount_step == pytest.approx(1e-5)
    assert btc.min_notional == pytest.approx(5.0)
    perp = markets["BTC/USDT:USDT"]
    assert perp.is_perpetual
    assert perp.settle == "USDT"
    assert perp.amount_step == pytest.approx(0.001)


def test_garbage_market_list_is_reloaded_before_a_symbol_is_called_unknown(
    fake_binance: FakeBinance, spot: CcxtSource
) -> None:
    # ccxt parses a garbage spot exchangeInfo into "no spot markets" without an error.
    fake_binance.state.add_fault("/api/v3/exchangeInfo", Fault.html_page())
    symbols = resolve_universe(spot, UniverseConfig(symbols=("ETH/USDT", "BTC/USDT:USDT")))
    assert symbols == ["ETH/USDT", "BTC/USDT:USDT"]
    assert fake_binance.state.count("/api/v3/exchangeInfo") == 2


def test_garbage_tickers_are_retried_not_ranked(
    fake_binance: FakeBinance, spot: CcxtSource, sleeps: SleepLog
) -> None:
    fake_binance.state.add_fault("/api/v3/ticker/24hr", Fault.json_object())
    ranked = resolve_universe(spot, UniverseConfig(top_n=2))
    assert ranked == ["BTC/USDT", "ETH/USDT"]
    assert len(sleeps.delays) == 1


def test_binance_loads_spot_and_usdm_markets_only_by_default(
    fake_binance: FakeBinance, sleeps: SleepLog
) -> None:
    config = fake_binance.ccxt_config()
    del config["options"]["fetchMarkets"]  # as a user's config would look
    source = CcxtSource(ExchangeConfig(id="binance", ccxt_config=config), sleep=sleeps)
    try:
        markets = source.load_markets()
    finally:
        source.close()
    assert "ETH/USDT" in markets
    assert "ETH/USDT:USDT" in markets
    paths = [r.path for r in fake_binance.state.requests]
    assert paths == ["/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"]  # no COIN-M /dapi
