"""A real `pairs cache update` process killed with SIGKILL mid-run, for both backends.

The CLI runs as a subprocess talking HTTP to the local Binance-protocol server and is killed at
chosen points: while the server holds back the answer to one chosen request (the first pages of
a symbol, its funding), and inside the write of a symbol's candles (the child pauses there; see
`PAUSING_CLI`). Every kill waits for its point to be reached, never for time to pass, so it
lands at the same place on an idle and on a busy machine. After each kill every stored series
must read back as a gap-free, exact copy of the recording from the first bar on; a rerun must
then complete the cache with nothing lost or duplicated, and leave no temp file behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pairscan.cache import SeriesKey, open_store
from pairscan.cache.markets import MARKETS_FILE
from pairscan.demo.source import demo_symbols
from pairscan.market import MS_PER_HOUR, Candles, FundingRates, parse_utc
from tests.fakes.binance import FakeBinance, Fault

pytestmark = pytest.mark.slow

KLINES = "/api/v3/klines"
FAPI_KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
NOW = parse_utc("2026-05-16")  # the end of the recording
HISTORY_START = parse_utc("2025-05-16")  # NOW - 365 days: the recording's first bar
LAST_CLOSED = NOW - MS_PER_HOUR
BARS = (LAST_CLOSED - HISTORY_START) // MS_PER_HOUR + 1
SPOT = [s for s in demo_symbols() if ":" not in s]
PERPS = [s for s in demo_symbols() if ":" in s][:5]
SYMBOLS = SPOT + PERPS  # fetched in this order
# Every wait of the test is for an event; this bounds each, so a broken run fails rather than
# hangs. A held request is answered only after it (the kill comes long before), and the
# client's timeout is longer still, so the child stays blocked on the request until killed.
RUN_TIMEOUT_S = 60
HOLD_S = RUN_TIMEOUT_S
CLIENT_TIMEOUT_MS = 2 * RUN_TIMEOUT_S * 1000
HELD = "held until the kill"

# `python -c PAUSING_CLI <pairs arguments>` is the `pairs` CLI, except that it stops for good
# (until the test kills it) inside the write of the candles of $KILL_PROBE_SYMBOL, after
# creating the file $KILL_PROBE_MARKER: on parquet with the temp file written and fsynced,
# just before the `os.replace` that would publish it; on SQLite with the rows upserted, just
# before the COMMIT. Nothing else changes: real HTTP, real files, the real store code.
PAUSING_CLI = """
import os, runpy, sqlite3, sys, threading
from pathlib import Path

symbol = os.environ["KILL_PROBE_SYMBOL"]
marker = Path(os.environ["KILL_PROBE_MARKER"])
parquet_name = symbol.replace("/", "-") + "_1h.parquet"


def pause(where):
    marker.write_text(where, encoding="utf-8")
    threading.Event().wait()


real_replace = os.replace


def replace(src, dst, **kwargs):
    if Path(dst).name == parquet_name:
        pause(f"before os.replace({src}, {dst})")
    real_replace(src, dst, **kwargs)


class Connection(sqlite3.Connection):
    def executemany(self, sql, rows):
        rows = list(rows)
        cursor = super().executemany(sql, rows)
        if sql.lstrip().startswith("INSERT INTO candles") and rows and symbol in rows[0]:
            pause(f"before the COMMIT of {len(rows)} rows")
        return cursor


real_connect = sqlite3.connect
os.replace = replace
sqlite3.connect = lambda *args, **kwargs: real_connect(*args, factory=Connection, **kwargs)
sys.argv[0] = "pairs"
runpy.run_module("pairscan", run_name="__main__", alter_sys=True)
"""


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:
    fake_binance.state.now_ms = NOW
    return fake_binance


def write_config(fake: FakeBinance, tmp_path: Path, backend: str, symbols: list[str]) -> Path:
    doc = {
        "data_dir": str(tmp_path / "data"),
        "exchange": {
            "id": "binance",
            "ccxt_config": fake.ccxt_config(
                market_types=("spot", "linear"),
                timeout_ms=CLIENT_TIMEOUT_MS,
                enable_rate_limit=False,
            ),
            "retry_base_delay_s": 0,
        },
        "universe": {"symbols": symbols},
        "cache": {"backend": backend, "history_days": 365},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@dataclass
class Run:
    """One `pairs cache update --json` subprocess with its output files."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    first_request: int  # index in the server's request log where this run's requests begin

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8") + self.stderr.read_text(encoding="utf-8")


def start_run(
    fake: FakeBinance,
    config: Path,
    tmp_path: Path,
    name: str,
    pause_in_write_of: str | None = None,
) -> Run:
    """Start the CLI; with `pause_in_write_of`, as `PAUSING_CLI` pausing in that symbol's
    write (the marker file is `<name>.paused`)."""
    out, err = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    first = len(fake.state.requests_for())
    env = dict(os.environ)
    command = [sys.executable, "-m", "pairscan"]
    if pause_in_write_of is not None:
        env["KILL_PROBE_SYMBOL"] = pause_in_write_of
        env["KILL_PROBE_MARKER"] = str(tmp_path / f"{name}.paused")
        command = [sys.executable, "-c", PAUSING_CLI]
    args = ["--config", str(config), "--now", str(NOW), "cache", "update", "--json"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*command, *args],
            cwd=tmp_path,  # no config.yaml or .env of the repository
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    return Run(proc, out, err, first)


def stop(run: Run) -> None:
    """Kill the run if it is still alive (for `finally` blocks) and reap it."""
    if run.proc.poll() is None:
        run.proc.kill()
    run.proc.wait(timeout=10)


def run_to_completion(fake: FakeBinance, config: Path, tmp_path: Path) -> dict[str, Any]:
    run = start_run(fake, config, tmp_path, "rerun")
    try:
        code = run.proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        stop(run)
    assert code == 0, run.output()
    summary: dict[str, Any] = json.loads(run.stdout.read_text(encoding="utf-8"))
    return summary


# ---- kill points --------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """Where a run is killed: while the server holds back its answer to the request number
    `request` (0-based, counted within the run) of `symbol` to `path`; or, when `path` is
    None, inside the write of `symbol`'s candles (see `PAUSING_CLI`)."""

    name: str
    symbol: str
    path: str | None = None
    request: int = 0


def hold_request(fake: FakeBinance, point: KillPoint) -> None:
    """Queue the faults that let `point.request` requests through and hold the next."""
    assert point.path is not None
    if point.request:
        # A fault without status or delay answers normally; faults apply first-in first-out.
        passed = Fault(name="answered normally")
        fake.state.add_fault(point.path, passed, times=point.request, symbol=point.symbol)
    held = Fault(sleep_s=HOLD_S, name=HELD)
    fake.state.add_fault(point.path, held, symbol=point.symbol)


def wait_for(reached: Callable[[], bool], run: Run, what: str) -> None:
    """Poll until `reached()`; fail if the run ends first or RUN_TIMEOUT_S passes."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not reached():
        if run.proc.poll() is not None:
            pytest.fail(f"run ended (exit {run.proc.returncode}) before {what}\n{run.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {RUN_TIMEOUT_S} s: {what}\n{run.output()}")
        time.sleep(0.005)


def kill_at(fake: FakeBinance, config: Path, tmp_path: Path, index: int, point: KillPoint) -> int:
    """Start a run, SIGKILL it once it is at `point`; returns the dead process id."""
    name = f"killed-{index}"
    paused = tmp_path / f"{name}.paused"

    def reached() -> bool:
        if point.path is None:
            return paused.exists()
        return any(r.fault == HELD for r in fake.state.requests_for()[run.first_request :])

    if point.path is not None:
        hold_request(fake, point)
    pause_in = point.symbol if point.path is None else None
    run = start_run(fake, config, tmp_path, name, pause_in_write_of=pause_in)
    try:
        wait_for(reached, run, point.name)
        run.proc.send_signal(signal.SIGKILL)
        assert run.proc.wait(timeout=10) == -signal.SIGKILL, f"{point.name}\n{run.output()}"
    finally:
        stop(run)
        fake.state.clear_faults()
    return run.proc.pid


# ---- what the cache must look like ------------------------------------------------------------


def recorded_candles(fake: FakeBinance, symbol: str) -> Candles:
    bars = fake.state.market(symbol).candles
    assert bars is not None
    return bars.between(HISTORY_START, LAST_CLOSED)


def recorded_funding(fake: FakeBinance, symbol: str) -> FundingRates:
    funding = fake.state.market(symbol).funding
    assert funding is not None
    return funding.between(HISTORY_START, NOW)


def assert_exact_prefix(
    got: Candles | FundingRates, want: Candles | FundingRates, what: str
) -> None:
    """`got` is `want` from its first row up to some row: no gap, no duplicate, same values."""
    ts = got.timestamp
    assert np.all(np.diff(ts) > 0), f"{what}: timestamps not strictly ascending (duplicates?)"
    assert len(got) <= len(want), f"{what}: more rows than recorded"
    expected = {name: column[: len(got)] for name, column in want.columns().items()}
    for name, column in got.columns().items():
        np.testing.assert_array_equal(column, expected[name], err_msg=f"{what}: {name}")


def cache_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "cache").rglob("*") if p.is_file())


def temp_files(data_dir: Path) -> list[Path]:
    return [p for p in cache_files(data_dir) if ".tmp-" in p.name]


def check_consistent(
    fake: FakeBinance,
    data_dir: Path,
    backend: str,
    symbols: list[str],
    dead_pids: set[int],
    when: str,
) -> tuple[int, int]:
    """Every stored series is an exact prefix of the recording; returns (candle series that
    are complete, funding series present)."""
    complete = funded = 0
    with open_store(backend, data_dir / "cache") as store:
        keys = store.list_series()
        allowed = {SeriesKey("binance", s, "1h") for s in symbols}
        allowed |= {SeriesKey("binance", s, "funding") for s in symbols if ":" in s}
        assert set(keys) <= allowed, f"{when}: unexpected series {set(keys) - allowed}"
        for symbol in symbols:
            what = f"{when}: {symbol}"
            bars = store.read_candles("binance", symbol, "1h")
            assert_exact_prefix(bars, recorded_candles(fake, symbol), f"{what} candles")
            last = store.last_timestamp("binance", symbol, "1h")
            assert last == (int(bars.timestamp[-1]) if len(bars) else None), what
            complete += len(bars) == BARS
            if ":" in symbol:
                funding = store.read_funding("binance", symbol)
                assert_exact_prefix(funding, recorded_funding(fake, symbol), f"{what} funding")
                funded += len(funding) > 0
    if backend == "parquet":
        for path in cache_files(data_dir):
            if path.name.startswith("."):
                # Only a killed writer's temp file may be left; the next write of it removes it.
                pid = path.name.rpartition(".tmp-")[2].partition("-")[0]
                assert pid.isdigit(), f"{when}: stray file {path}"
                assert int(pid) in dead_pids, f"{when}: temp file of a live writer {path}"
            else:
                assert path.suffix == ".parquet" or path.name == MARKETS_FILE, (
                    f"{when}: stray file {path}"
                )
    else:
        names = {p.name for p in cache_files(data_dir)}
        db = "pairscan-cache.sqlite"
        allowed = {db, f"{db}-wal", f"{db}-shm", f"{db}-journal", MARKETS_FILE}
        assert names <= allowed, f"{when}: {names}"
    return complete, funded


def check_complete(fake: FakeBinance, data_dir: Path, backend: str, symbols: list[str]) -> None:
    with open_store(backend, data_dir / "cache") as store:
        for symbol in symbols:
            bars = store.read_candles("binance", symbol, "1h")
            want = recorded_candles(fake, symbol)
            assert len(bars) == len(want) == BARS, symbol
            assert_exact_prefix(bars, want, f"{symbol} candles")
            if ":" in symbol:
                funding = store.read_funding("binance", symbol)
                want_funding = recorded_funding(fake, symbol)
                assert len(funding) == len(want_funding) > 0, (
                    f"{symbol}: {len(funding)} funding events cached, "
                    f"{len(want_funding)} recorded: funding history lost"
                )
                assert_exact_prefix(funding, want_funding, f"{symbol} funding")
        expected = {SeriesKey("binance", s, "1h") for s in symbols}
        expected |= {SeriesKey("binance", s, "funding") for s in symbols if ":" in s}
        assert set(store.list_series()) == expected
    assert temp_files(data_dir) == []


def check_summary(summary: dict[str, Any], symbols: list[str]) -> None:
    assert summary["failed"] == []
    assert [row["symbol"] for row in summary["symbols"]] == symbols
    for row in summary["symbols"]:
        assert row["error"] is None
        assert row["total_bars"] == BARS, row
        assert (row["first_ms"], row["last_ms"]) == (HISTORY_START, LAST_CLOSED), row
        assert (row["gaps"], row["missing_bars"]) == (0, 0), row
        assert (row["new_funding"] is None) == (":" not in row["symbol"]), row


# ---- tests ------------------------------------------------------------------------------------

# Each run resumes where the killed one stopped. A symbol's year of candles takes nine pages of
# 1000 bars and is written once, after the last page; a perpetual's funding comes after it.
KILLS = [
    # (kill point, then: candle series complete, funding series cached)
    (KillPoint(f"in the middle of {SPOT[0]}'s pages", SPOT[0], KLINES, 4), (0, 0)),
    (KillPoint(f"in the middle of {SPOT[4]}'s pages", SPOT[4], KLINES, 4), (4, 0)),
    (KillPoint(f"inside the write of {SPOT[-1]}", SPOT[-1]), (len(SPOT) - 1, 0)),
    (
        KillPoint(f"in the middle of {PERPS[1]}'s pages", PERPS[1], FAPI_KLINES, 4),
        (len(SPOT) + 1, 1),
    ),
]


@pytest.mark.parametrize("backend", ["parquet", "sqlite"])
def test_sigkill_mid_update_leaves_a_consistent_cache_that_a_rerun_completes(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = write_config(fake, tmp_path, backend, SYMBOLS)
    data_dir = tmp_path / "data"
    dead: set[int] = set()
    for index, (point, progress) in enumerate(KILLS):
        dead.add(kill_at(fake, config, tmp_path, index, point))
        when = f"after a kill {point.name}"
        # Each run kept what the killed ones had finished, and lost only its unwritten symbol.
        assert check_consistent(fake, data_dir, backend, SYMBOLS, dead, when) == progress, when
        if point.path is None and backend == "parquet":
            # Killed between the temp file's fsync and its rename: the temp file stays behind.
            assert temp_files(data_dir), when

    summary = run_to_completion(fake, config, tmp_path)
    check_summary(summary, SYMBOLS)
    check_complete(fake, data_dir, backend, SYMBOLS)


@pytest.mark.parametrize("backend", ["parquet", "sqlite"])
def test_sigkill_while_funding_is_fetched_loses_no_funding(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    """Candles of a perpetual are written before its funding is fetched: a kill in between
    leaves complete candles and no funding, and the rerun must still fetch the whole year of
    funding (not only the funding since the refetched newest bars)."""
    symbol = PERPS[0]
    config = write_config(fake, tmp_path, backend, [symbol])
    data_dir = tmp_path / "data"
    point = KillPoint("while funding is fetched", symbol, FUNDING)
    pid = kill_at(fake, config, tmp_path, 0, point)
    assert check_consistent(fake, data_dir, backend, [symbol], {pid}, "after the kill") == (1, 0)

    summary = run_to_completion(fake, config, tmp_path)
    check_summary(summary, [symbol])
    check_complete(fake, data_dir, backend, [symbol])
