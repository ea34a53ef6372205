"""A real `pairs cache update` process killed with SIGKILL mid-run, for both backends.

The CLI runs as a subprocess talking HTTP to the local Binance-protocol server and is killed at
several points (a fixed time into the run, around a symbol's write, in the middle of a symbol's
pages). After each kill every stored series must read back as a gap-free, exact copy of the
recording from the first bar on; a rerun must then complete the cache with nothing lost or
duplicated, and leave no temp file behind.
"""

from __future__ import annotations

import json
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
from pairscan.demo import demo_symbols
from pairscan.market import MS_PER_HOUR, Candles, FundingRates, parse_utc
from tests.fakes.binance import FakeBinance, Fault, LoggedRequest

pytestmark = pytest.mark.slow

KLINES = "/api/v3/klines"
FAPI_KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
NOW = parse_utc("2026-05-16")  # the end of the recording
HISTORY_START = parse_utc("2025-05-16")  # NOW - 365 days: the recording's first bar
LAST_CLOSED = NOW - MS_PER_HOUR
BARS = (LAST_CLOSED - HISTORY_START) // MS_PER_HOUR + 1
PAGE_BARS = 1000  # Binance klines per request
SPOT = [s for s in demo_symbols() if ":" not in s]
PERPS = [s for s in demo_symbols() if ":" in s][:5]
SYMBOLS = SPOT + PERPS  # in this order: the timed kills land among the spot symbols
# Server-side delay of every klines answer during the timed kills. The spot symbols alone
# then take at least 10 x 9 pages x 40 ms = 3.6 s, more than the 0.3 + 0.8 + 1.5 s that the
# timed kills let the runs progress: each kill lands mid-run, before the first perpetual,
# which the event kills then interrupt at chosen points.
SLOW_KLINES_S = 0.04
RUN_TIMEOUT_S = 60


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
                market_types=("spot", "linear"), enable_rate_limit=False
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


def start_run(fake: FakeBinance, config: Path, tmp_path: Path, name: str) -> Run:
    out, err = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    first = len(fake.state.requests_for())
    args = [sys.executable, "-m", "pairscan", "--config", str(config), "--now", str(NOW)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*args, "cache", "update", "--json"],
            cwd=tmp_path,  # no config.yaml or .env of the repository
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


def exchange_id(symbol: str) -> str:
    return symbol.split(":")[0].replace("/", "")


def klines_from(symbol: str, page: int) -> Callable[[LoggedRequest], bool]:
    """A klines request of `symbol` for page `page` (0-based) of its history, or later bars
    (an already complete symbol asks only for its newest bars)."""
    path = FAPI_KLINES if ":" in symbol else KLINES
    first_bar = HISTORY_START + page * PAGE_BARS * MS_PER_HOUR

    def match(request: LoggedRequest) -> bool:
        return (
            request.path == path
            and request.query.get("symbol") == exchange_id(symbol)
            and int(request.query.get("startTime", -1)) >= first_bar
        )

    return match


def any_klines(request: LoggedRequest) -> bool:
    return request.path in (KLINES, FAPI_KLINES)


@dataclass(frozen=True)
class KillPoint:
    """Kill `delay_s` after the server sees the first request matching `after` in the run,
    or earlier, as soon as a parquet temp file matching `temp_glob` appears (mid-write)."""

    name: str
    after: Callable[[LoggedRequest], bool]
    delay_s: float
    temp_glob: str | None = None


LAST_PAGE = (BARS - 1) // PAGE_BARS
# Killed while every klines answer is slowed down (see SLOW_KLINES_S).
TIMED_KILLS = [
    KillPoint("0.3 s into the first run", any_klines, 0.3),
    KillPoint("0.8 s into a resumed run", any_klines, 0.8),
    KillPoint("1.5 s into a resumed run", any_klines, 1.5),
]


def event_kills(backend: str) -> list[KillPoint]:
    """Kill points at full speed, found in the server's request log."""
    # After the last page is requested, parsing, merging and the write of the year of bars
    # take some tens of milliseconds: on parquet the kill waits for the writer's temp file,
    # on SQLite (no file to watch) it comes 20 ms after the request.
    write_kill = KillPoint(
        f"around the write of {SPOT[-1]}",
        klines_from(SPOT[-1], LAST_PAGE),
        0.08 if backend == "parquet" else 0.02,
        temp_glob=f".{SPOT[-1].replace('/', '-')}_1h.parquet.tmp-*",
    )
    return [
        write_kill,
        KillPoint(f"in the middle of {PERPS[1]}'s pages", klines_from(PERPS[1], 4), 0.005),
    ]


def wait_for_request(fake: FakeBinance, run: Run, match: Callable[[LoggedRequest], bool]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(match(r) for r in fake.state.requests_for()[run.first_request :]):
            return
        if run.proc.poll() is not None:
            pytest.fail(
                f"run ended (exit {run.proc.returncode}) before the kill point\n{run.output()}"
            )
        time.sleep(0.002)
    pytest.fail(f"the kill point was not reached within {RUN_TIMEOUT_S} s\n{run.output()}")


def kill_at(fake: FakeBinance, config: Path, tmp_path: Path, index: int, point: KillPoint) -> int:
    """Start a run, SIGKILL it at `point`; returns the dead process id."""
    run = start_run(fake, config, tmp_path, f"killed-{index}")
    try:
        wait_for_request(fake, run, point.after)
        deadline = time.monotonic() + point.delay_s
        cache = tmp_path / "data" / "cache"
        while time.monotonic() < deadline:
            if point.temp_glob and any(cache.rglob(point.temp_glob)):
                break
            time.sleep(0.001)
        assert run.proc.poll() is None, f"{point.name}: the run had already ended\n{run.output()}"
        run.proc.send_signal(signal.SIGKILL)
        assert run.proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(run)
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
                assert path.suffix == ".parquet", f"{when}: stray file {path}"
    else:
        names = {p.name for p in cache_files(data_dir)}
        db = "pairscan-cache.sqlite"
        assert names <= {db, f"{db}-wal", f"{db}-shm", f"{db}-journal"}, f"{when}: {names}"
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


@pytest.mark.parametrize("backend", ["parquet", "sqlite"])
def test_sigkill_mid_update_leaves_a_consistent_cache_that_a_rerun_completes(
    fake: FakeBinance, tmp_path: Path, backend: str
) -> None:
    config = write_config(fake, tmp_path, backend, SYMBOLS)
    data_dir = tmp_path / "data"
    for path in (KLINES, FAPI_KLINES):
        fake.state.add_fault(path, Fault.slow(SLOW_KLINES_S), times=10_000)

    progress, dead = [], set()
    write_kill, *_ = later_kills = event_kills(backend)
    for index, point in enumerate(TIMED_KILLS + later_kills):
        if point is write_kill:
            fake.state.clear_faults()
        dead.add(kill_at(fake, config, tmp_path, index, point))
        when = f"after a kill {point.name}"
        progress.append(check_consistent(fake, data_dir, backend, SYMBOLS, dead, when))
        if point is write_kill and backend == "parquet":
            assert temp_files(data_dir), "the kill did not land mid-write"
    complete = [done for done, _ in progress]
    # Each resumed run kept what the killed ones had finished, and the kills were mid-run.
    assert complete == sorted(complete), progress
    assert 0 < complete[-1] < len(SYMBOLS), progress
    assert progress[-1][1] >= 1, progress  # a perpetual had completed with its funding

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
    fake.state.add_fault(FUNDING, Fault.slow(1.5), symbol=symbol)

    def funding_request(request: LoggedRequest) -> bool:
        return request.path == FUNDING and request.query.get("symbol") == exchange_id(symbol)

    pid = kill_at(
        fake, config, tmp_path, 0, KillPoint("while funding is fetched", funding_request, 0)
    )
    assert check_consistent(fake, data_dir, backend, [symbol], {pid}, "after the kill") == (1, 0)

    fake.state.clear_faults()
    summary = run_to_completion(fake, config, tmp_path)
    check_summary(summary, [symbol])
    check_complete(fake, data_dir, backend, [symbol])
