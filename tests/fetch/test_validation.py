"""Row validation, backoff policy and redaction: the pure parts of the fetch stage."""

from __future__ import annotations

import random

import pytest

from pairscan.errors import BadResponseError
from pairscan.fetch import RetryPolicy, redact, validate_funding_rows, validate_ohlcv_rows
from pairscan.fetch.retry import parse_retry_after
from pairscan.fetch.universe import is_leveraged_token

GOOD = [[1_000, 10.0, 11.0, 9.0, 10.5, 3.0], [2_000, 10.5, 10.5, 10.0, 10.2, 0.0]]


def test_good_rows_pass() -> None:
    rows = validate_ohlcv_rows(GOOD, "x")
    assert rows.shape == (2, 6)
    assert validate_ohlcv_rows([], "x").shape == (0, 6)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        pytest.param([[None] * 6], "not a number", id="ccxt-junk-from-text-body"),
        pytest.param([[2, None, None, None, None, None]], "not a number", id="ccxt-junk-from-html"),
        pytest.param([[1_000, 10.0, 11.0, 9.0]], "not a 6-field row", id="short-row"),
        pytest.param([[1_000, "10", 11.0, 9.0, 10.5, 1.0]], "not a number", id="string-price"),
        pytest.param([[1_000, True, 11.0, 9.0, 10.5, 1.0]], "not a number", id="bool"),
        pytest.param([[1_000, float("nan"), 11.0, 9.0, 10.5, 1.0]], "not finite", id="nan"),
        pytest.param([GOOD[1], GOOD[0]], "not strictly ascending", id="descending"),
        pytest.param([GOOD[0], GOOD[0]], "not strictly ascending", id="duplicate"),
        pytest.param({"code": -1}, "expected a list", id="object"),
    ],
)
def test_junk_rows_are_bad_responses(rows: object, reason: str) -> None:
    with pytest.raises(BadResponseError, match=reason):
        validate_ohlcv_rows(rows, "binance fetch_ohlcv ETH/USDT 1h")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param([1_500, 10.0, 9.5, 9.0, 10.5, 1.0], id="high-below-close"),
        pytest.param([1_500, 10.0, 11.0, 10.6, 10.5, 1.0], id="low-above-close"),
        pytest.param([1_500, 0.0, 11.0, 0.0, 10.5, 1.0], id="zero-price"),
        pytest.param([1_500, 10.0, 11.0, 9.0, 10.5, -1.0], id="negative-volume"),
    ],
)
def test_unsound_bar_is_dropped_with_a_warning_not_retried(
    bad: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    rows = validate_ohlcv_rows([GOOD[0], bad, GOOD[1]], "binance fetch_ohlcv ETH/USDT 1h")
    assert rows[:, 0].tolist() == [1_000, 2_000]
    assert "dropped 1 unsound candle" in caplog.text


def test_funding_rows() -> None:
    events = validate_funding_rows(
        [{"timestamp": 8, "fundingRate": 0.0001}, {"timestamp": 9, "fundingRate": -0.0002}], "x"
    )
    assert events.timestamp.tolist() == [8, 9]
    with pytest.raises(BadResponseError, match="no numeric fundingRate"):
        validate_funding_rows([{"timestamp": 8, "fundingRate": None}], "x")
    with pytest.raises(BadResponseError, match="no timestamp"):
        validate_funding_rows([{"fundingRate": 0.1}], "x")


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=8, base_delay_s=1.0, max_delay_s=10.0)
    rng = random.Random(1)
    delays = [policy.delay_s(i, None, rng) for i in range(8)]
    assert 0.75 <= delays[0] <= 1.25
    assert 1.5 <= delays[1] <= 2.5
    assert max(delays) <= 10.0
    assert policy.delay_s(0, 7.0, rng) >= 7.0
    assert policy.retry_after_too_long(11.0)
    assert not policy.retry_after_too_long(10.0)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


def test_redact_removes_queries_credentials_and_secrets() -> None:
    text = (
        "GET https://api.binance.com/api/v3/account?timestamp=1&signature=abcdef 401 "
        "via http://user:pa55word@proxy:8080 token 123456:ABC-DEF"
    )
    cleaned = redact(text, ["123456:ABC-DEF"])
    assert "signature" not in cleaned
    assert "pa55word" not in cleaned
    assert "123456:ABC-DEF" not in cleaned
    assert "api.binance.com/api/v3/account?…" in cleaned
    assert len(redact("x" * 1000, [])) == 300


@pytest.mark.parametrize(
    ("base", "leveraged"),
    [
        ("BTCUP", True),
        ("BTCDOWN", True),
        ("ETH3L", True),
        ("ETH5S", True),
        ("XRPBULL", True),
        ("JUP", False),
        ("SUPER", False),
        ("BTC", False),
        ("ZK3S", False),
    ],
)
def test_leveraged_tokens_need_a_listed_root(base: str, leveraged: bool) -> None:
    assert is_leveraged_token(base, {"BTC", "ETH", "XRP", "J", "SUP"}) is leveraged
