"""`run_cache_update` against the local Binance-protocol server with real ccxt over HTTP, into
real parquet files and a real SQLite database: history, incremental hours, revisions, faults,
corrupt files and the top-N universe."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from pairscan.cache.markets import read_markets
from pairscan.cli import pairs
from pairscan.config import Config, load_config
from pairscan.jobs.cache_update import UpdateReport, run_cache_update
from pairscan.jobs.common import open_cache
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, Candles, parse_utc
from tests.fakes.binance import FakeBinance, Fault

KLINES = "/api/v3/klines"
FAPI_KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
TICKERS = "/api/v3/ticker/24hr"
SPOT = ["BTC/USDT", "ETH/USDT"]
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
SYMBOLS = SPOT + PERPS
CLOCK = parse_utc("2026-05-01")  # mid-recording, so that later hours exist
HISTORY_DAYS = 60
HISTORY_START = CLOCK - HISTORY_DAYS * MS_PER_DAY
LAST_CLOSED = CLOCK - MS_PER_HOUR


@pytest.fixture(params=["parquet", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None) -> None:
    """No ./config.yaml or .env of the repository; root logger restored after CLI runs."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:
    fake_binance.state.now_ms = CLOCK
    return fake_binance


def settings(fake: FakeBinance, tmp_path: Path, backend: str, **extra: Any) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "exchange.id": "binance",
        "exchange.ccxt_config": fake.ccxt_config(),
        "exchange.retry_base_delay_s": 0,
        "universe.symbols": SYMBOLS,
        "cache.history_days": HISTORY_DAYS,
        "cache.backend": backend,
        **extra,
    }


def make_config(fake: FakeBinance, tmp_path: Path, backend: str, **extra: Any) -> Config:
    return load_config(None, env={}, overrides=settings(fake, tmp_path, backend, **extra))


def update(config: Config, fake: FakeBinance) -> UpdateReport:
    return run_cache_update(config, now_ms=fake.state.now_ms)


def klines_path(symbol: str) -> str:
    return FAPI_KLINES if ":" in symbol else KLINES


def recorded(fake: FakeBinance, symbol: str, start_ms: int, end_ms: int) -> Candles:
    bars = fake.state.market(symbol).candles
    assert bars is not None
    return bars.between(start_ms, end_ms)


def cached(config: Config, symbol: str) -> Candles:
    with open_cache(config) as store:
        return store.read_candles("binance", symbol, "1h")


def assert_same(got: Candles, want: Candles) -> None:
    assert len(got) == len(want)
    for name, column in got.columns().items():
        np.testing.assert_array_equal(column, want.columns()[name], err_msg=name)


def by_symbol(report: UpdateReport) -> dict[str, Any]:
    return {s.symbol: s for s in report.symbols}


# ---- first run and incremental hours ----------------------------------------------------------


def test_first_update_fetches_history_days_of_closed_bars_and_funding(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = make_config(fake, tmp_path, backend)
    progress: list[tuple[str, int, int]] = []
    report = run_cache_update(config, now_ms=CLOCK, on_symbol=lambda *args: progress.append(args))
    assert (report.exchange, report.timeframe, report.now_ms) == ("binance", "1h", CLOCK)
    assert report.failed == []
    assert [s.symbol for s in report.symbols] == SYMBOLS
    assert progress == [(s, i, len(SYMBOLS)) for i, s in enumerate(SYMBOLS)]
    assert report.requests == fake.state.count()  # every HTTP call, as the server saw them
    for row in report.symbols:
        assert row.new_bars == row.total_bars == HISTORY_DAYS * 24
        assert (row.first_ms, row.last_ms) == (HISTORY_START, LAST_CLOSED)
        assert (row.gaps, row.missing_bars, row.error) == (0, 0, None)
        want = recorded(fake, row.symbol, HISTORY_START, LAST_CLOSED)
        assert_same(cached(config, row.symbol), want)
        first = fake.state.requests_for(klines_path(row.symbol), symbol=row.symbol)[0]
        assert first.query["startTime"] == str(HISTORY_START)
    for symbol in SPOT:
        assert by_symbol(report)[symbol].new_funding is None
    for symbol in PERPS:
        funding = fake.state.market(symbol).funding
        assert funding is not None
        events = funding.between(HISTORY_START, CLOCK)
        assert by_symbol(report)[symbol].new_funding == len(events) == HISTORY_DAYS * 3 + 1
        with open_cache(config) as store:
            got = store.read_funding("binance", symbol)
        np.testing.assert_array_equal(got.timestamp, events.timestamp)
        np.testing.assert_array_equal(got.funding_rate, events.funding_rate)
    assert fake.state.count(FUNDING, symbol="BTC/USDT") == 1  # perps only, one page


@pytest.mark.parametrize("refetch_bars", [0, 2, 5])
def test_one_new_hour_costs_one_klines_request_per_symbol(
    fake: FakeBinance, tmp_path: Path, backend: str, refetch_bars: int
) -> None:
    config = make_config(fake, tmp_path, backend, **{"cache.refetch_bars": refetch_bars})
    update(config, fake)
    fake.state.clear_log()
    fake.state.advance(3_600_000)

    report = update(config, fake)
    assert report.failed == []
    for row in report.symbols:
        requests = fake.state.requests_for(klines_path(row.symbol), symbol=row.symbol)
        assert len(requests) == 1, row.symbol
        # The newest `refetch_bars` cached bars are asked for again (0: only new bars).
        assert requests[0].query["startTime"] == str(LAST_CLOSED - (refetch_bars - 1) * MS_PER_HOUR)
        assert row.new_bars == 1
        assert row.total_bars == HISTORY_DAYS * 24 + 1
        assert row.last_ms == CLOCK
        assert_same(cached(config, row.symbol), recorded(fake, row.symbol, HISTORY_START, CLOCK))
    for symbol in PERPS:
        (funding,) = fake.state.requests_for(FUNDING, symbol=symbol)
        assert funding.query["startTime"] == str(CLOCK + 1)  # after the last cached event
        assert by_symbol(report)[symbol].new_funding == 0
    assert fake.state.count(KLINES) + fake.state.count(FAPI_KLINES) == len(SYMBOLS)
    assert report.requests == fake.state.count()


def test_revised_bar_is_replaced_in_the_cache(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = make_config(fake, tmp_path, backend)
    update(config, fake)
    revised = {}
    for symbol in ("ETH/USDT", "BTC/USDT:USDT"):
        market = fake.state.market(symbol)
        bars = market.candles
        assert bars is not None
        row = int(np.searchsorted(bars.timestamp, LAST_CLOSED))
        assert int(bars.timestamp[row]) == LAST_CLOSED
        close = bars.close.copy()  # the recording's arrays are shared and read-only
        close[row] = bars.high[row] if bars.close[row] != bars.high[row] else bars.low[row]
        assert close[row] != bars.close[row]
        market.candles = dataclasses.replace(bars, close=close)
        revised[symbol] = float(close[row])
    fake.state.advance(MS_PER_HOUR)

    report = update(config, fake)
    assert report.failed == []
    for symbol, close in revised.items():
        got = cached(config, symbol)
        assert float(got.between(LAST_CLOSED, LAST_CLOSED).close[0]) == close
        assert by_symbol(report)[symbol].new_bars == 1  # replaced, not added
        assert_same(got, recorded(fake, symbol, HISTORY_START, CLOCK))
    unrevised = cached(config, "BTC/USDT")
    assert_same(unrevised, recorded(fake, "BTC/USDT", HISTORY_START, CLOCK))


def test_open_candle_is_never_stored(fake: FakeBinance, tmp_path: Path, backend: str) -> None:
    state = fake.state
    state.now_ms = parse_utc("2026-05-01T13:25")
    config = make_config(fake, tmp_path, backend, **{"cache.history_days": 2})
    served = state.klines("spot", {"symbol": "BTCUSDT", "interval": "1h", "limit": "2"})
    assert served[-1][0] == parse_utc("2026-05-01T13:00")  # the server does show it

    report = update(config, fake)
    assert report.failed == []
    start = parse_utc("2026-05-01T12:00") - 2 * MS_PER_DAY + MS_PER_HOUR
    for row in report.symbols:
        assert (row.first_ms, row.last_ms) == (start, parse_utc("2026-05-01T12:00"))
        assert_same(cached(config, row.symbol), recorded(fake, row.symbol, start, row.last_ms))

    state.now_ms = parse_utc("2026-05-01T14:05")
    report = update(config, fake)
    for row in report.symbols:
        assert row.new_bars == 1
        assert row.last_ms == parse_utc("2026-05-01T13:00")
        # The 13:00 bar is stored once closed, with its final values, not the partial ones.
        assert_same(cached(config, row.symbol), recorded(fake, row.symbol, start, row.last_ms))


# ---- faults -----------------------------------------------------------------------------------


def test_5xx_burst_for_one_symbol_fails_only_that_symbol(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = make_config(fake, tmp_path, backend, **{"exchange.max_retries": 2})
    fake.state.add_fault(KLINES, Fault.service_unavailable(), times=3, symbol="ETH/USDT")

    report = update(config, fake)
    assert [s.symbol for s in report.failed] == ["ETH/USDT"]
    message = by_symbol(report)["ETH/USDT"].error
    assert message.startswith("binance fetch_ohlcv ETH/USDT failed after 3 attempts: ")
    assert "Internal error; unable to process your request" in message  # Binance's -1001
    assert fake.state.count(KLINES, symbol="ETH/USDT") == 3
    assert len(cached(config, "ETH/USDT")) == 0
    for symbol in ("BTC/USDT", *PERPS):  # ETH/USDT:USDT has the same exchange id: untouched
        row = by_symbol(report)[symbol]
        assert row.error is None
        assert row.new_bars == HISTORY_DAYS * 24

    fake.state.advance(MS_PER_HOUR)
    report = update(config, fake)  # the burst is over: the next run heals it
    assert report.failed == []
    assert by_symbol(report)["ETH/USDT"].new_bars == HISTORY_DAYS * 24


def _write_cli_config(fake: FakeBinance, tmp_path: Path, backend: str) -> Path:
    doc = {
        "data_dir": "data",
        "exchange": {
            "id": "binance",
            "ccxt_config": fake.ccxt_config(),
            "max_retries": 1,
            "retry_base_delay_s": 0,
        },
        "universe": {"symbols": SYMBOLS},
        "cache": {"backend": backend, "history_days": 3},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_cli_exit_code_is_1_when_a_symbol_failed(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = _write_cli_config(fake, tmp_path, backend)
    fake.state.add_fault(FAPI_KLINES, Fault.server_error(), times=2, symbol="ETH/USDT:USDT")
    args = ["--config", str(config), "--now", str(CLOCK), "cache", "update"]

    result = CliRunner().invoke(pairs, [*args, "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["failed"] == ["ETH/USDT:USDT"]
    failed = next(s for s in summary["symbols"] if s["symbol"] == "ETH/USDT:USDT")
    assert "binance fetch_ohlcv ETH/USDT:USDT failed after 2 attempts" in failed["error"]
    assert "binance fetch_ohlcv ETH/USDT:USDT failed" in result.stderr  # logged for cron
    assert "Traceback" not in result.output
    assert all(s["new_bars"] == 72 for s in summary["symbols"] if s["error"] is None)

    table = CliRunner().invoke(pairs, args)
    assert table.exit_code == 0, table.output
    assert "4 symbols, 0 failed" in table.stdout


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.empty_body(), id="empty-200"),
        pytest.param(Fault.json_object(), id="object-200"),
        pytest.param(Fault.html_page(), id="html-200"),
        pytest.param(Fault.truncated_json(), id="truncated-200"),
    ],
)
def test_garbage_200_on_the_incremental_request_is_retried(
    fake: FakeBinance, tmp_path: Path, backend: str, fault: Fault
) -> None:
    config = make_config(
        fake, tmp_path, backend, **{"universe.symbols": ["ETH/USDT"], "cache.history_days": 2}
    )
    update(config, fake)
    fake.state.clear_log()
    fake.state.advance(MS_PER_HOUR)
    fake.state.add_fault(KLINES, fault, symbol="ETH/USDT")

    report = update(config, fake)
    (row,) = report.symbols
    assert row.error is None
    assert row.new_bars == 1  # not mistaken for "no new data"
    assert row.last_ms == CLOCK
    assert fake.state.count(KLINES, symbol="ETH/USDT") == 2
    assert fake.state.pending_faults == 0


def test_corrupt_parquet_file_fails_only_its_symbol(fake: FakeBinance, tmp_path: Path) -> None:
    config = make_config(fake, tmp_path, "parquet")
    update(config, fake)
    path = tmp_path / "data" / "cache" / "binance" / "ETH-USDT_1h.parquet"
    assert path.is_file()
    path.write_bytes(b"PAR1 this is not a parquet file PAR1")
    fake.state.advance(MS_PER_HOUR)

    report = update(config, fake)
    assert [s.symbol for s in report.failed] == ["ETH/USDT"]
    message = by_symbol(report)["ETH/USDT"].error
    assert str(path) in message
    assert 'delete it and run "pairs cache update --symbols ETH/USDT" to rebuild it' in message
    assert "\n" not in message
    for symbol in ("BTC/USDT", *PERPS):
        assert by_symbol(report)[symbol].error is None
        assert by_symbol(report)[symbol].new_bars == 1

    path.unlink()  # the advice works
    report = update(config, fake)
    assert report.failed == []
    assert by_symbol(report)["ETH/USDT"].total_bars == HISTORY_DAYS * 24


def test_corrupt_sqlite_database_names_the_file_for_every_symbol(
    fake: FakeBinance, tmp_path: Path
) -> None:
    config = make_config(fake, tmp_path, "sqlite", **{"cache.history_days": 2})
    update(config, fake)
    db = tmp_path / "data" / "cache" / "pairscan-cache.sqlite"
    assert db.is_file()
    for leftover in db.parent.glob("pairscan-cache.sqlite-*"):
        leftover.unlink()
    db.write_bytes(b"this is not an SQLite database" * 200)

    report = update(config, fake)
    assert [s.symbol for s in report.failed] == SYMBOLS  # one database holds every series
    for row in report.failed:
        assert row.error is not None
        assert str(db) in row.error
        assert "is corrupt" in row.error
        assert "rebuild" in row.error


# ---- universe ---------------------------------------------------------------------------------


def _expected_top(fake: FakeBinance, kind: str) -> list[str]:
    """Listed symbols by the server's own 24h quote volume, minus the three that must go."""
    skipped = {"USDC", "BTCUP", "LUNA"}  # stable/stable, leveraged token, not trading
    rows = fake.state.ticker_24hr("spot" if kind == "spot" else "perp", {})
    ranked = []
    for row in rows:
        market = fake.state.markets[("spot" if kind == "spot" else "perp", row["symbol"])]
        if market.base not in skipped:
            ranked.append((-float(row["quoteVolume"]), market.symbol))
    return [symbol for _, symbol in sorted(ranked)]


def test_top_n_universe_by_ticker_volume_skips_stable_leveraged_and_inactive(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    fake.state.add_listing_extras()
    usdc = fake.state.market("USDC/USDT")
    assert usdc.ticker is not None
    # The most traded market of all, yet stable/stable: never selected.
    usdc.ticker = dataclasses.replace(usdc.ticker, quote_volume=9.9e12)
    config = load_config(
        None,
        env={},
        overrides={
            **settings(fake, tmp_path, backend, **{"cache.history_days": 2}),
            "universe.symbols": [],
            "universe.top_n": 4,
        },
    )
    report = update(config, fake)
    symbols = [s.symbol for s in report.symbols]
    assert symbols == _expected_top(fake, "spot")[:4]
    assert symbols[0] == "BTC/USDT"
    for skipped in ("USDC/USDT", "BTCUP/USDT", "LUNA/USDT"):
        assert skipped not in symbols
    assert fake.state.count(TICKERS) == 1
    assert report.failed == []
    assert all(s.new_bars == 48 and s.new_funding is None for s in report.symbols)


def test_top_n_swap_universe_caches_funding(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = load_config(
        None,
        env={},
        overrides={
            **settings(fake, tmp_path, backend, **{"cache.history_days": 2}),
            "universe.symbols": [],
            "universe.top_n": 2,
            "universe.market_type": "swap",
        },
    )
    report = update(config, fake)
    assert [s.symbol for s in report.symbols] == _expected_top(fake, "perp")[:2]
    assert [s.symbol for s in report.symbols] == PERPS
    assert all(s.new_funding == 7 for s in report.symbols)  # 2 days of 8 h events, both ends


def test_a_clock_ahead_of_the_exchange_never_stores_its_open_candle(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    """Our clock (here the wall clock, months after the recording) says the exchange's
    current bar is long closed; the exchange's own clock says it is still filling."""
    fake.state.now_ms = parse_utc("2026-05-01T13:25")
    config = make_config(
        fake, tmp_path, backend, **{"cache.history_days": 2, "universe.symbols": ["BTC/USDT"]}
    )
    report = run_cache_update(config, since_ms=parse_utc("2026-04-30"))  # no now: wall clock
    assert report.failed == []
    assert report.now_ms == fake.state.now_ms
    (row,) = report.symbols
    assert row.last_ms == parse_utc("2026-05-01T12:00")


def test_an_exchange_without_server_time_falls_back_to_our_clock(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    fake.state.add_fault("/api/v3/time", Fault.not_found())
    config = make_config(fake, tmp_path, backend, **{"universe.symbols": ["BTC/USDT"]})
    report = update(config, fake)
    assert report.failed == []
    assert report.now_ms == fake.state.now_ms


# ---- nothing silent about data: empty pages, rows out of sequence, funding, staleness ---------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.empty_list(), id="200-empty-list"),
        pytest.param(Fault.earlier_window(1000 * MS_PER_HOUR), id="rows-before-since"),
    ],
)
def test_a_bad_page_mid_history_is_retried_not_taken_for_the_end(
    fake: FakeBinance, tmp_path: Path, backend: str, fault: Fault
) -> None:
    config = make_config(fake, tmp_path, backend, **{"universe.symbols": ["ETH/USDT"]})
    fake.state.add_fault(KLINES, fault, symbol="ETH/USDT", after=1)  # the second of two pages

    report = update(config, fake)
    (row,) = report.symbols
    assert (row.error, row.stale, row.bars_behind, row.status) == (None, False, 0, "ok")
    assert row.new_bars == row.total_bars == HISTORY_DAYS * 24
    assert_same(cached(config, "ETH/USDT"), recorded(fake, "ETH/USDT", HISTORY_START, LAST_CLOSED))
    assert fake.state.count(KLINES) == 4  # two pages, the retry, the newest bars in between
    assert fake.state.pending_faults == 0


@pytest.mark.parametrize(
    ("path", "symbol", "said"),
    [
        pytest.param(KLINES, "ETH/USDT", "no candle at or after", id="klines"),
        pytest.param(FUNDING, "ETH/USDT:USDT", "no funding event at or after", id="funding"),
    ],
)
def test_an_empty_list_that_persists_fails_the_symbol_and_the_cli_exits_1(
    fake: FakeBinance, tmp_path: Path, backend: str, path: str, symbol: str, said: str
) -> None:
    config = _write_cli_config(fake, tmp_path, backend)  # max_retries 1: two attempts
    fake.state.add_fault(path, Fault.empty_list(), times=100, symbol=symbol)
    args = ["--config", str(config), "--now", str(CLOCK), "cache", "update", "--json"]

    result = CliRunner().invoke(pairs, args)
    fake.state.clear_faults()
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["failed"] == [symbol]
    row = next(s for s in summary["symbols"] if s["symbol"] == symbol)
    endpoint = "fetch_ohlcv" if path == KLINES else "fetch_funding_rate_history"
    assert row["error"].startswith(f"binance {endpoint} {symbol} failed after 2 attempts: ")
    assert said in row["error"]
    assert symbol in result.stderr  # logged for cron
    assert "Traceback" not in result.output
    assert fake.state.count(path, symbol=symbol) == 4  # two attempts, each with its probe
    if path == FUNDING:  # the candles were written before the funding failed
        assert row["stale"] is False
        assert row["last_ms"] == LAST_CLOSED
    others = [s for s in summary["symbols"] if s["symbol"] != symbol]
    assert all(s["error"] is None and s["new_bars"] == 72 for s in others)

    fake.state.advance(MS_PER_HOUR)  # the fault is over: the next run heals it
    healed = CliRunner().invoke(pairs, [*args[:3], str(CLOCK + MS_PER_HOUR), *args[4:]])
    assert healed.exit_code == 0, healed.output
    with open_cache(load_config(config, env={})) as store:
        if path == FUNDING:
            got = store.read_funding("binance", symbol)
            want = fake.state.market(symbol).funding
            assert want is not None
            expected = want.between(CLOCK + MS_PER_HOUR - 3 * MS_PER_DAY, CLOCK + MS_PER_HOUR)
            assert len(got) == len(expected) > 0
        else:
            bars = store.read_candles("binance", symbol, "1h")
            assert (len(bars), int(bars.timestamp[-1])) == (72, CLOCK)  # history_days: 3


def test_the_bars_before_a_page_that_stays_empty_are_kept_and_the_symbol_fails(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = make_config(
        fake,
        tmp_path,
        backend,
        **{"universe.symbols": ["ETH/USDT"], "exchange.max_retries": 1},
    )
    fake.state.add_fault(KLINES, Fault.empty_list(), symbol="ETH/USDT", after=1, times=100)

    (row,) = update(config, fake).symbols
    fake.state.clear_faults()
    assert row.error is not None
    assert "no candle at or after" in row.error
    first_page_end = HISTORY_START + 999 * MS_PER_HOUR
    assert_same(
        cached(config, "ETH/USDT"), recorded(fake, "ETH/USDT", HISTORY_START, first_page_end)
    )
    assert row.last_ms == first_page_end  # what the cache holds, and how far behind that is
    assert row.bars_behind == (LAST_CLOSED - first_page_end) // MS_PER_HOUR
    assert row.stale

    (row,) = update(config, fake).symbols  # the fault is over: the rest arrives
    assert (row.error, row.stale, row.bars_behind) == (None, False, 0)
    assert_same(cached(config, "ETH/USDT"), recorded(fake, "ETH/USDT", HISTORY_START, LAST_CLOSED))


def test_an_empty_funding_page_on_the_first_update_is_retried(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = make_config(fake, tmp_path, backend, **{"universe.symbols": ["BTC/USDT:USDT"]})
    fake.state.add_fault(FUNDING, Fault.empty_list())

    (row,) = update(config, fake).symbols
    assert row.error is None
    assert row.new_funding == HISTORY_DAYS * 3 + 1  # not a perpetual without funding
    assert fake.state.count(FUNDING) == 3  # [], the newest events (so a fault), the retry


def test_a_perpetual_listed_hours_ago_needs_no_funding_event(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    market = fake.state.market("SOL/USDT:USDT")
    assert market.candles is not None
    market.candles = market.candles.between(CLOCK - 5 * MS_PER_HOUR, None)  # listed at 19:00
    market.funding = None  # nothing settled yet
    config = make_config(fake, tmp_path, backend, **{"universe.symbols": ["SOL/USDT:USDT"]})

    (row,) = update(config, fake).symbols
    assert (row.error, row.new_funding, row.new_bars, row.stale) == (None, 0, 5, False)
    assert row.first_ms == CLOCK - 5 * MS_PER_HOUR
    assert fake.state.count(FUNDING) == 1


def _stop_bars(fake: FakeBinance, symbol: str, last_ms: int) -> None:
    market = fake.state.market(symbol)
    assert market.candles is not None
    market.candles = market.candles.between(None, last_ms)


@pytest.mark.parametrize("status", ["BREAK", "TRADING"])
def test_a_symbol_without_new_bars_is_reported_stale_after_stale_bars(
    fake: FakeBinance, tmp_path: Path, backend: str, status: str
) -> None:
    """Its bars stop while the exchange's clock runs on: the market's end, not a fault (no
    retry, no error), reported stale after `signals.stale_bars` bars. Listed as halted
    (BREAK), at once; listed as trading, once the exchange's newest bar shows it."""
    symbols = ["BTC/USDT", "ETH/USDT"]
    config = make_config(
        fake,
        tmp_path,
        backend,
        **{"universe.symbols": symbols, "cache.history_days": 2, "exchange.max_retries": 1},
    )
    update(config, fake)
    _stop_bars(fake, "ETH/USDT", LAST_CLOSED)
    fake.state.set_status("ETH/USDT", status)
    seen = []
    for hour in range(1, 5):
        fake.state.now_ms = CLOCK + hour * MS_PER_HOUR
        fake.state.clear_log()
        report = update(config, fake)
        btc, eth = report.symbols
        assert (btc.error, btc.stale, btc.bars_behind) == (None, False, 0)
        assert eth.last_ms == LAST_CLOSED
        assert eth.bars_behind == hour
        assert eth.stale == (hour >= 3)  # signals.stale_bars, the default
        assert report.stale == ([eth] if hour >= 3 else [])
        assert eth.error is None
        # The refetched last bars, the request past them and (trading) the newest bars.
        assert fake.state.count(KLINES, symbol="ETH/USDT") == (2 if status == "BREAK" else 3)
        seen.append(eth.status)
    assert seen == ["ok", "ok", "stale", "stale"]


def test_stale_and_bars_behind_are_in_the_json_for_a_delisted_symbol(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = _write_cli_config(fake, tmp_path, backend)
    args = ["--config", str(config), "--now", str(CLOCK), "cache", "update", "--json"]
    assert CliRunner().invoke(pairs, args).exit_code == 0
    fake.state.delist("BTC/USDT")
    later = CLOCK + 4 * MS_PER_HOUR
    fake.state.now_ms = later

    result = CliRunner().invoke(pairs, [*args[:3], str(later), *args[4:]])
    assert result.exit_code == 1, result.output
    rows = {s["symbol"]: s for s in json.loads(result.stdout)["symbols"]}
    gone = rows["BTC/USDT"]
    assert "no longer listed" in gone["error"]
    assert (gone["last_ms"], gone["bars_behind"], gone["stale"]) == (LAST_CLOSED, 4, True)
    assert all(
        (r["stale"], r["bars_behind"]) == (False, 0) for s, r in rows.items() if s != "BTC/USDT"
    )
    assert "BTC/USDT: no new bar for 4 bars" in result.stderr


def test_a_network_failure_names_its_cause_in_the_symbol_error(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = make_config(
        fake,
        tmp_path,
        backend,
        **{"universe.symbols": ["ETH/USDT", "BTC/USDT"], "exchange.max_retries": 1},
    )
    fake.state.add_fault(KLINES, Fault.drop_connection(), times=2, symbol="ETH/USDT")

    report = update(config, fake)
    assert [s.symbol for s in report.failed] == ["ETH/USDT"]
    error = report.failed[0].error
    assert error is not None
    assert error.startswith(
        "binance fetch_ohlcv ETH/USDT failed after 2 attempts: NetworkError: connection closed "
        "by the server without a response; binance GET http://127.0.0.1:"
    )
    assert report.failed[0].stale  # nothing cached yet
    assert report.failed[0].bars_behind is None


def test_extra_symbols_are_fetched_besides_the_top_n_never_ranked_and_never_typos(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    """A scan's open positions outside the universe (`extra_symbols`): new candles and market
    info from the same market list, apart from the ranking; one the exchange stopped listing
    is delisted, not an unknown symbol, even with nothing cached."""
    config = load_config(
        None,
        env={},
        overrides={
            **settings(fake, tmp_path, backend, **{"cache.history_days": 2}),
            "universe.symbols": [],
            "universe.top_n": 2,
        },
    )
    top = _expected_top(fake, "spot")
    held, gone = top[-1], top[-2]
    fake.state.delist(gone)
    lists = fake.state.count("/api/v3/exchangeInfo")
    report = run_cache_update(config, now_ms=CLOCK, extra_symbols=[held, top[0], gone])
    assert [s.symbol for s in report.symbols] == [*top[:2], held, gone]
    assert report.extras == [held, gone]  # top[0] is in the universe already
    assert fake.state.count(TICKERS) == 1  # ranked once, over the listed markets only
    # One market list, and one reload before calling an extra delisted.
    assert fake.state.count("/api/v3/exchangeInfo") - lists == 2
    rows = by_symbol(report)
    assert (rows[held].new_bars, rows[held].error) == (48, None)
    assert rows[gone].error is not None
    assert "no longer listed" in rows[gone].error
    assert "the scan closes the positions on it" in rows[gone].error
    stored = read_markets(tmp_path / "data" / "cache", "binance")
    assert stored[held].fetched_ms == CLOCK
    assert gone not in stored


# ---- the scan's update: the universe plus held symbols ----------------------------------------


def test_the_scan_fails_only_when_its_universe_failed_not_its_held_extras(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """`jobs.scan_fetch.update_cache`: a scan decides nothing only when every symbol of the
    universe failed; held symbols outside it (a delisted leg, say) failing too must not make a
    small universe look dead, and must not enter the universe."""
    from pairscan.errors import ExchangeError
    from pairscan.jobs.scan_fetch import update_cache
    from pairscan.jobs.scan_report import ScanReport

    config = make_config(fake, tmp_path, "parquet", **{"exchange.max_retries": 0})
    universe, held = PERPS, ["BTC/USDT", "ETH/USDT"]

    def scan_update() -> ScanReport:
        now = fake.state.now_ms
        report = ScanReport("r", "binance", "1h", 0, now, now)
        update_cache(config, now, universe, held, report, require_fresh=True)
        return report

    for symbol in held:  # both held extras fail: as many failures as the universe has symbols
        fake.state.add_fault(KLINES, Fault.service_unavailable(), times=1, symbol=symbol)
    report = scan_update()
    assert report.universe == PERPS
    assert sorted(e.split(":")[0] for e in report.symbol_errors) == held
    assert report.partial  # reported, exit 1, but the bar is decided

    fake.state.advance(MS_PER_HOUR)
    for symbol in universe:  # now the whole universe fails: nothing is decided
        fake.state.add_fault(FAPI_KLINES, Fault.service_unavailable(), times=1, symbol=symbol)
    with pytest.raises(ExchangeError, match="every symbol of the universe failed to update"):
        scan_update()
