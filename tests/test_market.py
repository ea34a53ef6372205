"""Market records and time helpers: ccxt's timeframe conventions, UTC parsing, symbol keys."""

from __future__ import annotations

import ccxt
import pytest

from pairscan.errors import ConfigError
from pairscan.market import (
    DEFAULT_TAKER_BPS,
    MS_PER_HOUR,
    MarketInfo,
    format_utc,
    is_spot_market,
    last_closed_open_ms,
    parse_utc,
    symbol_key,
    timeframe_ms,
)


@pytest.mark.parametrize(
    "timeframe",
    [
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    ],
)
def test_timeframe_ms_matches_ccxt(timeframe: str) -> None:
    assert timeframe_ms(timeframe) == ccxt.Exchange.parse_timeframe(timeframe) * 1000


@pytest.mark.parametrize("bad", ["", "h", "0h", "1x", "1.5h", "1 h"])
def test_bad_timeframe_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="timeframe must look like"):
        timeframe_ms(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01", 1777593600000),
        ("2026-05-01T12:00", 1777593600000 + 12 * MS_PER_HOUR),
        ("2026-05-01 12:00:00Z", 1777593600000 + 12 * MS_PER_HOUR),
        ("2026-05-01T14:00+02:00", 1777593600000 + 12 * MS_PER_HOUR),
        ("1777593600000", 1777593600000),
    ],
)
def test_parse_utc_takes_naive_input_as_utc(text: str, expected: int) -> None:
    assert parse_utc(text) == expected


def test_parse_utc_names_what_was_wrong() -> None:
    with pytest.raises(ConfigError, match=r"--now must be an ISO date .* \(got 'yesterday'\)"):
        parse_utc("yesterday", what="--now")


def test_last_closed_bar() -> None:
    now = parse_utc("2026-05-01T12:30")
    assert last_closed_open_ms(now, MS_PER_HOUR) == parse_utc("2026-05-01T11:00")
    on_the_hour = parse_utc("2026-05-01T12:00")
    assert last_closed_open_ms(on_the_hour, MS_PER_HOUR) == parse_utc("2026-05-01T11:00")
    assert format_utc(on_the_hour) == "2026-05-01 12:00Z"
    assert format_utc(None) == "-"


def test_symbol_keys() -> None:
    assert symbol_key("ETH/USDT") == "ETH-USDT"
    assert symbol_key("ETH/USDT:USDT") == "ETH-USDT-USDT"
    assert symbol_key("1000SHIB/USDT:USDT") == "1000SHIB-USDT-USDT"


def _market(symbol: str, kind: str, taker: float | None = None) -> MarketInfo:
    base, _, rest = symbol.partition("/")
    return MarketInfo(symbol, base, rest.split(":")[0], kind, True, taker_fee=taker)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("symbol", "kind", "perpetual", "spot"),
    [
        ("ETH/USDT:USDT", "swap", True, False),
        ("ETH/USDT", "spot", False, True),
        ("BTC/USDT:USDT-260626", "future", False, False),  # dated future: no funding
        ("BTC/USD:BTC", "swap", True, False),  # inverse perpetual
    ],
)
def test_the_market_type_alone_says_perpetual_or_spot(
    symbol: str, kind: str, perpetual: bool, spot: bool
) -> None:
    market = _market(symbol, kind)
    assert market.is_perpetual is perpetual
    assert is_spot_market(symbol, {symbol: market}) is spot
    # A market nobody described is neither: nothing is read from the symbol's form.
    assert not is_spot_market(symbol, {})


def test_taker_fee_is_the_exchanges_else_the_default_of_its_type() -> None:
    assert _market("ETH/USDT:USDT", "swap", 0.0004).taker_fee_bps == pytest.approx(4.0)
    assert _market("ETH/USDT:USDT", "swap").taker_fee_bps == 5.0
    assert _market("ETH/USDT", "spot").taker_fee_bps == 10.0
    assert _market("BTC/USDT:USDT-260626", "future").taker_fee_bps == 5.0
    assert set(DEFAULT_TAKER_BPS) == {"spot", "swap", "future", "option", "other"}
