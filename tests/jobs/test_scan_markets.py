"""Where `pairs scan` takes its market filters from, end to end with real parts (the CLI, real
ccxt against the local Binance-protocol server, real parquet files, `markets.json` and SQLite):
the run's own cache update, which loads the exchange's market list once and stores it, covers
the universe and the symbols of open positions outside it. No second connection loads the
markets again; a held symbol that left the universe still gets new candles, and is closed as
delisted on the very run the exchange stops listing it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from pairscan.cache import open_store
from pairscan.cache.markets import read_markets
from tests.fakes.binance import FakeBinance
from tests.fakes.chat import FakeChat
from tests.jobs.test_scan_e2e import (
    EXCHANGE,
    PERPS,
    Scan,
    assert_ok,
    bar,
    clock,
    isolated,
    make_scan,
)
from tests.jobs.test_scan_guards_e2e import _open_first_position

__all__ = ["isolated"]  # the fixture, imported so pytest finds it here

MARKETS = "/fapi/v1/exchangeInfo"  # the USD-M market list (ccxt's load_markets)
RESELECT_RUN = 165  # the run deciding 2026-04-20 00:00, the first bar of the next week


def _run(scan: Scan, k: int, *args: str) -> tuple[Result, int]:
    """Run k, and the market-list requests the server saw meanwhile."""
    before = scan.fake.state.count(MARKETS)
    result = scan.run(k, *args)
    return result, scan.fake.state.count(MARKETS) - before


def _set_universe(scan: Scan, symbols: list[str]) -> None:
    doc = yaml.safe_load(scan.config.read_text(encoding="utf-8"))
    doc["universe"]["symbols"] = symbols
    scan.config.write_text(yaml.safe_dump(doc), encoding="utf-8")


def _last_cached_bar(scan: Scan, symbol: str) -> int | None:
    with open_store("parquet", scan.data / "cache") as store:
        return store.last_timestamp(EXCHANGE, symbol, "1h")


def test_a_scan_loads_the_market_list_once_and_decides_on_what_it_stored(
    fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None
) -> None:
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat)
    for k in (0, 1):  # a first run (full history) and an hourly one
        result, lists = _run(scan, k)
        assert_ok(result)
        assert lists == 1
    stored = read_markets(scan.data / "cache", EXCHANGE)
    assert set(PERPS) <= set(stored)
    assert {stored[s].fetched_ms for s in PERPS} == {clock(1)}  # run 1's
    # A dry run: one market list too, merged into the scratch copy of markets.json.
    dry, lists = _run(scan, 2, "--dry-run", "--json")
    assert_ok(dry)
    assert lists == 1
    assert json.loads(dry.stdout)["status"] == "dry_run"
    assert read_markets(scan.data / "cache", EXCHANGE) == stored  # the real file untouched


@pytest.mark.slow  # hourly `pairs scan` runs from a fresh cache until a position opens
def test_a_held_symbol_outside_the_universe_is_updated_and_closed_the_run_it_is_delisted(
    fake_binance: FakeBinance, fake_chat: FakeChat, tmp_path: Path, isolated: None
) -> None:
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat)
    k, opened = _open_first_position(scan)
    y, x = opened["y_symbol"], opened["x_symbol"]
    # The user drops y from the universe while the position is open.
    _set_universe(scan, [s for s in PERPS if s != y])
    k += 1
    assert_ok(scan.run(k))
    assert _last_cached_bar(scan, y) == bar(k)  # new candles for the held leg
    assert (y, x) in _open_pairs(scan)
    record = _last_run(scan)
    assert record["n_symbols"] == len(PERPS) - 1  # y fetched, not part of the universe
    # At the next weekly re-selection (a dry run), y is decided but not among the candidates.
    dry = scan.run(RESELECT_RUN, "--dry-run", "--json")
    assert_ok(dry)
    report = json.loads(dry.stdout)
    assert report["new_selection"], report
    assert report["selected"]
    assert all(y not in pair for pair in report["selected"]), report["selected"]
    assert not record["symbol_errors"], record
    # The exchange stops listing y: the dry run and the run of that hour both close it.
    k += 1
    fake_binance.state.delist(y)
    dry = scan.run(k, "--dry-run", "--json")
    assert dry.exit_code == 1, dry.output  # the delisted symbol is reported
    assert _closes(json.loads(dry.stdout)["tickets"], y, x) == ["delisted"]
    result, lists = _run(scan, k)
    assert result.exit_code == 1, result.output
    # One market list, and one reload before calling a held symbol delisted (a garbage
    # answer must not close a position).
    assert lists == 2
    assert f"{y}: no longer listed by {EXCHANGE} (delisted)" in result.output
    closes = [t for t in scan.outbox() if t["bar_ms"] == bar(k)]
    assert _closes(closes, y, x) == ["delisted"]
    assert (y, x) not in _open_pairs(scan)
    assert not read_markets(scan.data / "cache", EXCHANGE)[y].info.active


def _closes(tickets: list[dict[str, Any]], y: str, x: str) -> list[str]:
    return [
        t["reason"]
        for t in tickets
        if t["action"] == "close" and (t["y_symbol"], t["x_symbol"]) == (y, x)
    ]


def _open_pairs(scan: Scan) -> set[tuple[str, str]]:
    shown = scan.cli("state", "show", "--json")
    return {(p["y_symbol"], p["x_symbol"]) for p in json.loads(shown.stdout)["open_positions"]}


def _last_run(scan: Scan) -> dict[str, Any]:
    result = scan.cli("scan", "--status", "--json")
    assert_ok(result)
    runs: list[dict[str, Any]] = json.loads(result.stdout)["runs"]
    return runs[0]
