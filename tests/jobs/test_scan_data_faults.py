"""`pairs scan` when the exchange answers a symbol's klines with `200 []`, end to end with real
parts (the CLI, real ccxt against the local Binance-protocol server, the local chat server,
real parquet and SQLite): the bar is never decided on the symbol's previous close in silence.
A one-shot empty answer is retried and the run is whole; one that persists fails the symbol,
named, with exit 1, and the next run recovers the bar."""

from __future__ import annotations

from pathlib import Path

from pairscan.cache import open_store
from pairscan.market import format_utc
from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.chat import FakeChat
from tests.jobs.test_scan_e2e import EXCHANGE, FAPI_KLINES, PERPS, Scan, assert_ok, bar, isolated
from tests.jobs.test_scan_e2e import make_scan as _make_scan

__all__ = ["isolated"]  # the fixture, imported so pytest finds it here

FAILING = "SOL/USDT:USDT"


def cached_last(scan: Scan, symbol: str) -> int | None:
    with open_store("parquet", scan.data / "cache") as store:
        return store.last_timestamp(EXCHANGE, symbol, "1h")


def test_klines_empty_list_for_one_symbol_is_retried_then_reported_never_decided_silently(
    fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None
) -> None:
    scan = _make_scan(tmp_path / "run", fake_binance, fake_chat)  # max_retries 2
    assert_ok(scan.run(0))
    state = fake_binance.state

    # Run 1: one `200 []` for SOL's new bar; the retry gets it and the run is whole.
    state.add_fault(FAPI_KLINES, Fault.empty_list(), symbol=FAILING)
    state.clear_log()
    result = scan.run(1)
    assert_ok(result)
    assert not [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert state.count(FAPI_KLINES, symbol=FAILING) == 3  # [], the newest bars (so a fault), retry
    assert all(cached_last(scan, s) == bar(1) for s in PERPS)
    assert scan.last_bar() == bar(1)

    # Run 2: every answer for SOL is `200 []`: the run says so, naming SOL, and exits 1.
    state.add_fault(FAPI_KLINES, Fault.empty_list(), times=100, symbol=FAILING)
    result = scan.run(2)
    state.clear_faults()
    assert_ok(result, 1)
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stdout
    assert f"{FAILING}: {EXCHANGE} fetch_ohlcv {FAILING} failed after 3 attempts" in errors[0]
    said = " ".join(result.stdout.split())  # the console wraps long lines
    assert (
        f"no candle at or after {format_utc(bar(0))} (200 []) though the exchange's clock is "
        "past it and it served no newest candle either"
    ) in said
    assert "Traceback" not in result.output
    assert cached_last(scan, FAILING) == bar(1)
    assert all(cached_last(scan, s) == bar(2) for s in PERPS if s != FAILING)

    # Run 3: the exchange answers again; the missed bar is fetched with the new one.
    assert_ok(scan.run(3))
    assert all(cached_last(scan, s) == bar(3) for s in PERPS)
