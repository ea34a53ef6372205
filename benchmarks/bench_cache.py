"""Benchmark of the cache stage against a naive peer measured in the same run.

Three workloads on one market of up to 20 hourly series (the recorded USDⓈ-M perpetuals of
`../shared/data` when present, else the demo market shipped with pairscan), served by the
local Binance-protocol server of `tests/fakes/binance/` and fetched by real ccxt over HTTP:

1. cold `cache update`: 365 days of every symbol, through `run_cache_update`;
2. hourly `cache update`: the fake clock moves one hour, the job runs again;
3. read the last 365 days of every series from the store and align them (`align_candles`).

The peer is what a typical freqtrade-style script does: ccxt `fetch_ohlcv` with ccxt's own
`paginate` per symbol into a DataFrame and `to_parquet` of the whole file (re-downloading the
year every hour), then `read_parquet` + `concat` + `reindex` + `ffill(limit=3)` to read.
Speeds are printed as ratios against that peer. ccxt's rate limiter is off (local server);
the wait it would add is computed from ccxt's own cost table (`rate_limit_cost`) and checked
once against a run with the limiter on. Every run is checked against the recorded data, so a
benchmark that silently does other work fails instead of printing a number.

    python benchmarks/bench_cache.py [--backend parquet|sqlite|both] [--symbols 20]
                                     [--json out.json] [--data ../shared/data] [--repeats 5]
                                     [--update-repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for `tests.fakes.binance`, which is not installed

import ccxt  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow  # noqa: E402
from tests.fakes.binance import (  # noqa: E402
    ExchangeState,
    FakeBinance,
    FakeMarket,
    LoggedRequest,
    start_fake_binance,
)

from pairscan.cache import open_store  # noqa: E402
from pairscan.cache.align import AlignedPanel, align_candles  # noqa: E402
from pairscan.config import Config, load_config  # noqa: E402
from pairscan.jobs.cache_update import UpdateReport, run_cache_update  # noqa: E402
from pairscan.market import (  # noqa: E402
    MS_PER_DAY,
    MS_PER_HOUR,
    Candles,
    format_utc,
    last_closed_open_ms,
    symbol_key,
)

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
TIMEFRAME = "1h"
TF_MS = MS_PER_HOUR
HISTORY_DAYS = 365
MAX_FFILL_BARS = 3
REFETCH_BARS = 2
HTTP_TIMEOUT_MS = 30_000
RATE_LIMIT_CHECK_SYMBOLS = 5
CANDLE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
# Path prefix on the fake -> the ccxt `api` section whose cost table prices it.
CCXT_API_OF_PREFIX = {"/api/v3/": "public", "/fapi/v1/": "fapiPublic"}
ENDPOINT_NAMES = {
    "klines": "klines",
    "fundingRate": "funding",
    "exchangeInfo": "exchangeInfo",
    "time": "time",
}

T = TypeVar("T")


class BenchmarkError(RuntimeError):
    """The benchmark did not do the work it claims to measure."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


# --------------------------------------------------------------------------- the market


@dataclass(frozen=True)
class Market:
    """The benchmark's market: ccxt exchange, symbols and the fake's clock.

    clock_ms: the fake's clock for the cold run. The newest bar every symbol has opens then,
    so it is still open, and one hour later every symbol has exactly one new closed bar.
    """

    label: str
    exchange_id: str
    market_types: tuple[str, ...]
    symbols: tuple[str, ...]
    perps: frozenset[str]
    clock_ms: int


def build_market(data: Path, n_symbols: int) -> tuple[ExchangeState, Market]:
    """The recorded USDⓈ-M perps of `data` when it has any, else the packaged demo market."""
    perp_files = sorted(data.glob("BINANCEUSDM_*_1h.parquet")) if data.is_dir() else []
    types: tuple[str, ...]
    if perp_files:
        state = ExchangeState.from_folder(data, extras=False)
        listed = state.listed("perp")
        exchange_id, types, label = "binanceusdm", ("linear",), f"{data}: USDⓈ-M perpetuals"
    else:
        state = ExchangeState.demo(extras=False)
        # Spot and perp of one base side by side, so --symbols 4 still mixes both kinds.
        listed = sorted(state.listed("spot") + state.listed("perp"), key=lambda m: m.base)
        exchange_id, types = "binance", ("spot", "linear")
        label = "pairscan demo market (spot + USDⓈ-M perpetuals)"
    chosen = [m for m in listed if m.candles is not None and len(m.candles)][:n_symbols]
    check(len(chosen) > 0, f"no candle series found in {data} or in the demo market")
    _fit_tick_sizes(chosen)
    market = Market(
        label=label,
        exchange_id=exchange_id,
        market_types=types,
        symbols=tuple(m.symbol for m in chosen),
        perps=frozenset(m.symbol for m in chosen if m.kind == "perp"),
        clock_ms=min(int(_candles(m).timestamp[-1]) for m in chosen),
    )
    return state, market


def _candles(market: FakeMarket) -> Candles:
    if market.candles is None:
        raise BenchmarkError(f"{market.symbol} has no candles")
    return market.candles


def _fit_tick_sizes(markets: Sequence[FakeMarket]) -> None:
    """The fake rounds its still-open candle's high/low/close to the market's tick but not
    its open. Where the recorded prices have more decimals than the fake's tick table (ENA,
    XTZ, SOL perps) that candle comes out with low > open, pairscan rightly rejects the page
    and the symbol fails. Give such markets a tick that fits their recorded prices."""
    for market in markets:
        candles = _candles(market)
        prices = np.concatenate([candles.open, candles.high, candles.low, candles.close])
        decimals = market.filters.price_decimals
        while decimals < 8 and bool(np.any(np.round(prices, decimals) != prices)):
            decimals += 1
        if decimals != market.filters.price_decimals:
            tick = f"{10.0**-decimals:.{decimals}f}"
            market.filters = dataclasses.replace(market.filters, tick_size=tick)


def window(now_ms: int) -> tuple[int, int]:
    """(first, last) bar open of the 365 days of closed bars before `now_ms`."""
    last = last_closed_open_ms(now_ms, TF_MS)
    return last - HISTORY_DAYS * MS_PER_DAY + TF_MS, last


def expected_bars(state: ExchangeState, symbol: str, now_ms: int) -> int:
    first, last = window(now_ms)
    return len(_candles(state.market(symbol)).between(first, last))


def expected_funding(state: ExchangeState, symbol: str, now_ms: int) -> int:
    first, _ = window(now_ms)
    funding = state.market(symbol).funding
    return 0 if funding is None else len(funding.between(first, now_ms))


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Requests:
    """Requests the fake served during one run, by endpoint, and their ccxt rate-limit cost.

    weight: sum of ccxt's per-request cost (for USDⓈ-M this is Binance's request weight).
    limiter_s: what ccxt's limiter would wait: before every request but an instance's first
    it sleeps until `rateLimit * cost` ms have passed since the previous request.
    """

    by_endpoint: dict[str, int]
    total: int
    weight: float
    limiter_s: float

    def get(self, endpoint: str) -> int:
        return self.by_endpoint.get(endpoint, 0)


@functools.cache
def ccxt_binance() -> Any:
    """An offline ccxt.binance, for its cost table (`api`) and `rateLimit` (ms per cost unit)."""
    return ccxt.binance()


def rate_limit_cost(request: LoggedRequest) -> float:
    """ccxt's cost of one logged request (fapi klines: 1, 2, 5 or 10 by `limit`)."""
    for prefix, api in CCXT_API_OF_PREFIX.items():
        if request.path.startswith(prefix):
            path = request.path[len(prefix) :]
            table = ccxt_binance()
            config = table.api[api]["get"][path]
            params: dict[str, Any] = {
                k: int(v) if k == "limit" else v for k, v in request.query.items()
            }
            return float(table.calculate_rate_limiter_cost(api, "GET", path, params, config))
    raise BenchmarkError(f"no ccxt cost known for {request.path}")


def summarize(requests: Sequence[LoggedRequest]) -> Requests:
    counts = Counter(ENDPOINT_NAMES.get(r.path.rsplit("/", 1)[-1], r.path) for r in requests)
    costs = [rate_limit_cost(r) for r in requests]
    weight = float(sum(costs))
    waited_ms = ccxt_binance().rateLimit * (weight - (costs[0] if costs else 0.0))
    return Requests(dict(counts), len(requests), weight, waited_ms / 1000.0)


def served(state: ExchangeState, run: Callable[[], T]) -> tuple[T, Requests, float]:
    """Run `run` with a fresh request log: (its result, the requests it made, seconds)."""
    state.clear_log()
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    return result, summarize(state.requests_for()), seconds


# --------------------------------------------------------------------------- pairscan


def job_config(
    folder: Path, fake: FakeBinance, market: Market, backend: str, *, rate_limit: bool = False
) -> Config:
    # An empty config file: a config.yaml in the working directory must not change the run.
    config_file = folder / "config.yaml"
    config_file.write_text("{}\n", encoding="utf-8")
    ccxt_config = fake.ccxt_config(
        market_types=market.market_types,
        timeout_ms=HTTP_TIMEOUT_MS,
        enable_rate_limit=rate_limit,
    )
    return load_config(
        config_file,
        env={},
        overrides={
            "data_dir": str(folder / "data"),
            "exchange.id": market.exchange_id,
            "exchange.ccxt_config": ccxt_config,
            # A retry would change the request counts and hide a failure: none on localhost.
            "exchange.max_retries": 0,
            "universe.symbols": list(market.symbols),
            "cache.backend": backend,
            "cache.timeframe": TIMEFRAME,
            "cache.history_days": HISTORY_DAYS,
            "cache.refetch_bars": REFETCH_BARS,
            "cache.max_ffill_bars": MAX_FFILL_BARS,
            "cache.funding": True,
        },
    )


def update(config: Config, now_ms: int, symbols: Sequence[str] = ()) -> UpdateReport:
    report = run_cache_update(config, now_ms=now_ms, symbols=symbols)
    failed = "; ".join(f"{s.symbol}: {s.error}" for s in report.failed)
    check(not failed, f"cache update failed: {failed}")
    return report


def read_aligned(config: Config, symbols: Sequence[str], now_ms: int) -> AlignedPanel:
    """The last 365 days of every series from the store on one grid: what a scan or a
    backtest starts from."""
    first, last = window(now_ms)
    with open_store(config.cache.backend, config.data_dir / "cache") as store:
        series = {
            s: store.read_candles(config.exchange.id, s, TIMEFRAME, first, last) for s in symbols
        }
    return align_candles(series, TF_MS, first, last, max_ffill_bars=config.cache.max_ffill_bars)


def check_cache(
    config: Config, state: ExchangeState, market: Market, since_ms: int, now_ms: int
) -> int:
    """Every symbol holds exactly the recorded bars from since_ms to the last closed bar at
    now_ms and the recorded funding events from since_ms to now_ms. Returns the events."""
    last = last_closed_open_ms(now_ms, TF_MS)
    events = 0
    with open_store(config.cache.backend, config.data_dir / "cache") as store:
        for symbol in market.symbols:
            bars = store.read_candles(config.exchange.id, symbol, TIMEFRAME)
            recorded = _candles(state.market(symbol)).between(since_ms, last)
            ours, theirs = bars.columns(), recorded.columns()
            check(
                all(np.array_equal(ours[c], theirs[c]) for c in CANDLE_COLUMNS),
                f"{symbol}: the {len(bars)} cached bars differ from the {len(recorded)} recorded",
            )
            funding = state.market(symbol).funding
            if symbol in market.perps and funding is not None:
                cached = store.read_funding(config.exchange.id, symbol)
                wanted = funding.between(since_ms, now_ms)
                check(
                    np.array_equal(cached.timestamp, wanted.timestamp)
                    and np.array_equal(cached.funding_rate, wanted.funding_rate),
                    f"{symbol}: the {len(cached)} cached funding events differ from the "
                    f"{len(wanted)} recorded",
                )
                events += len(cached)
    return events


# --------------------------------------------------------------------------- the peer


def peer_update(fake: FakeBinance, market: Market, now_ms: int, folder: Path) -> tuple[int, int]:
    """A freqtrade-style download: ccxt `paginate` from 365 days ago to now for every symbol,
    each file rewritten whole. Returns (bars, funding events) written."""
    exchange = getattr(ccxt, market.exchange_id)(
        fake.ccxt_config(market_types=market.market_types, timeout_ms=HTTP_TIMEOUT_MS)
    )
    first, last = window(now_ms)
    bars = events = 0
    try:
        exchange.load_markets()
        for symbol in market.symbols:
            params = {"paginate": True, "until": now_ms}
            rows = exchange.fetch_ohlcv(symbol, TIMEFRAME, since=first, params=dict(params))
            frame = pd.DataFrame(rows, columns=CANDLE_COLUMNS)
            # freqtrade drops the still-open candle and any duplicates before saving.
            frame = frame[frame["timestamp"] <= last].drop_duplicates("timestamp")
            frame.to_parquet(folder / f"{symbol_key(symbol)}_{TIMEFRAME}.parquet", index=False)
            bars += len(frame)
            if symbol in market.perps:
                history = exchange.fetch_funding_rate_history(
                    symbol, since=first, params=dict(params)
                )
                funding = pd.DataFrame(
                    {
                        "timestamp": [h["timestamp"] for h in history],
                        "funding_rate": [h["fundingRate"] for h in history],
                    }
                )
                funding.to_parquet(folder / f"{symbol_key(symbol)}_funding.parquet", index=False)
                events += len(funding)
    finally:
        session = getattr(exchange, "session", None)
        if session is not None:
            session.close()
    return bars, events


def peer_read(folder: Path, symbols: Sequence[str]) -> pd.DataFrame:
    """Closes of every symbol on the hourly grid, holes forward-filled up to 3 bars."""
    closes = []
    for symbol in symbols:
        frame = pd.read_parquet(folder / f"{symbol_key(symbol)}_{TIMEFRAME}.parquet")
        frame.index = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
        closes.append(frame["close"].rename(symbol))
    wide = pd.concat(closes, axis=1)
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq="h")
    return wide.reindex(grid).ffill(limit=MAX_FFILL_BARS)


def peer_problems(
    state: ExchangeState, market: Market, now_ms: int, bars: int, events: int
) -> tuple[str, ...]:
    """How the peer's files differ from the recorded window (it re-downloads all of it)."""
    want_bars = sum(expected_bars(state, s, now_ms) for s in market.symbols)
    want_events = sum(expected_funding(state, s, now_ms) for s in market.perps)
    problems = []
    if bars != want_bars:
        problems.append(f"{bars - want_bars:+d} bars of {want_bars}")
    if events != want_events:
        problems.append(f"{events - want_events:+d} funding events of {want_events}")
    return tuple(problems)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Result:
    """One measured run. seconds: wall time (the best of the repeats for reads).

    bars: bars written (updates), cells of the aligned matrix (reads) or symbols (limiter
    check); events: funding events cached; problems: how the written data differs from the
    recording (empty: it does not).
    """

    phase: str
    who: str
    seconds: float
    requests: Requests | None = None
    bars: int = 0
    events: int | None = None
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["seconds"] = round(self.seconds, 4)
        return out


@dataclass(frozen=True)
class Panel:
    """The close matrix a read produced, to check that both sides did the same work."""

    first_ms: int
    close: npt.NDArray[np.float64]


def best_of(repeats: int, run: Callable[[], T]) -> tuple[T, float]:
    """(result of the last run, fastest wall time) over `repeats` >= 1 runs."""
    started = time.perf_counter()
    result = run()
    best = time.perf_counter() - started
    for _ in range(repeats - 1):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return result, best


def fastest(runs: Sequence[Result]) -> Result:
    """The fastest of repeated update runs, which must all have made the same requests."""
    first = _requests(runs[0])
    for run in runs[1:]:
        check(
            _requests(run).by_endpoint == first.by_endpoint,
            f"{run.who} {run.phase}: requests differ between repeats",
        )
    return min(runs, key=lambda r: r.seconds)


def bench_pairscan(
    state: ExchangeState,
    fake: FakeBinance,
    market: Market,
    backend: str,
    update_repeats: int,
    read_repeats: int,
    check_rate_limiter: bool,
) -> tuple[list[Result], Panel]:
    """Cold + hourly update `update_repeats` times, each in a fresh cache (the fastest of each
    counts), the limiter check, then the read of the last cache `read_repeats` times."""
    who = f"pairscan {backend}"
    n = len(market.symbols)
    cold, hourly = [], []
    with tempfile.TemporaryDirectory(prefix=f"bench-cache-{backend}-") as tmp:
        for repeat in range(update_repeats):
            folder = Path(tmp) / f"run-{repeat}"
            folder.mkdir()
            config = job_config(folder, fake, market, backend)
            state.now_ms = market.clock_ms
            cold_first, _ = window(state.now_ms)
            report, requests, seconds = served(
                state, functools.partial(update, config, state.now_ms)
            )
            check(report.requests == requests.total, "the job's request count differs from log")
            events = check_cache(config, state, market, cold_first, state.now_ms)
            bars = sum(s.new_bars for s in report.symbols)
            cold.append(Result("cold update", who, seconds, requests, bars, events))

            state.advance(MS_PER_HOUR)
            report, requests, seconds = served(
                state, functools.partial(update, config, state.now_ms)
            )
            # One klines request per symbol, one funding request per perp, one exchangeInfo
            # per market type ccxt loads, one server-time request (pairscan never treats a
            # bar as closed before the exchange's clock does): paging through more is a bug.
            wanted = {
                "klines": n,
                "funding": len(market.perps),
                "exchangeInfo": len(market.market_types),
                "time": 1,
            }
            check(
                requests.by_endpoint == {k: v for k, v in wanted.items() if v},
                f"hourly update made {requests.by_endpoint} requests, expected {wanted}",
            )
            new = [s.new_bars for s in report.symbols]
            check(new == [1] * n, f"hourly update added {new} bars, expected 1 per symbol")
            check_cache(config, state, market, cold_first, state.now_ms)
            new_events = sum(s.new_funding or 0 for s in report.symbols)
            hourly.append(Result("hourly update", who, seconds, requests, sum(new), new_events))
        results = [fastest(cold), fastest(hourly)]

        if check_rate_limiter:
            results.append(measure_rate_limiter(state, fake, market, folder, backend))

        def read() -> AlignedPanel:
            return read_aligned(config, market.symbols, state.now_ms)

        panel, seconds = best_of(read_repeats, read)
        check(not np.isnan(panel.close).any(), "the aligned matrix has holes")
        results.append(Result("read + align", who, seconds, bars=panel.close.size))
    return results, Panel(int(panel.timestamps[0]), panel.close)


def measure_rate_limiter(
    state: ExchangeState, fake: FakeBinance, market: Market, folder: Path, backend: str
) -> Result:
    """The same hour again with ccxt's limiter on, for a few symbols: predicted vs measured.

    Re-running the hour makes the requests of an hourly update (one klines page reaching the
    last closed bar per symbol, one funding page per perp, exchangeInfo)."""
    symbols = market.symbols[:RATE_LIMIT_CHECK_SYMBOLS]
    config = job_config(folder, fake, market, backend, rate_limit=True)
    _, requests, seconds = served(state, lambda: update(config, state.now_ms, symbols))
    return Result("limiter check", f"pairscan {backend}", seconds, requests, len(symbols))


def bench_peer(
    state: ExchangeState,
    fake: FakeBinance,
    market: Market,
    update_repeats: int,
    read_repeats: int,
) -> tuple[list[Result], Panel]:
    """The peer's cold + hourly download `update_repeats` times, then its read."""
    who = "peer (ccxt paginate)"
    runs: dict[str, list[Result]] = {"cold update": [], "hourly update": []}
    with tempfile.TemporaryDirectory(prefix="bench-cache-peer-") as tmp:
        for repeat in range(update_repeats):
            folder = Path(tmp) / f"run-{repeat}"
            folder.mkdir()
            for phase, clock in (
                ("cold update", market.clock_ms),
                ("hourly update", market.clock_ms + MS_PER_HOUR),
            ):
                state.now_ms = clock
                (bars, events), requests, seconds = served(
                    state, functools.partial(peer_update, fake, market, clock, folder)
                )
                problems = peer_problems(state, market, clock, bars, events)
                runs[phase].append(Result(phase, who, seconds, requests, bars, events, problems))
        results = [fastest(r) for r in runs.values()]
        frame, seconds = best_of(read_repeats, lambda: peer_read(folder, market.symbols))
        results.append(Result("read + align", who, seconds, bars=frame.size))
    first_ms = int(frame.index[0].value // 1_000_000)  # ns -> ms
    return results, Panel(first_ms, frame.to_numpy(dtype=np.float64))


def check_same_panel(who: str, ours: Panel, peer: Panel) -> None:
    """Both reads must produce the same close matrix, or the ratio compares different work."""
    same = (
        ours.first_ms == peer.first_ms
        and ours.close.shape == peer.close.shape
        and np.array_equal(ours.close, peer.close, equal_nan=True)
    )
    check(same, f"{who} and the peer read different close matrices")


# --------------------------------------------------------------------------- output


def environment() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "ccxt": ccxt.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
    }


def ratio(peer: float, ours: float) -> str:
    return f"{peer / ours:.1f}x" if ours > 0 else "-"


def _requests(result: Result) -> Requests:
    if result.requests is None:
        raise BenchmarkError(f"{result.who} {result.phase} has no request log")
    return result.requests


def print_tables(
    results: Sequence[Result], market: Market, update_repeats: int, read_repeats: int
) -> None:
    peers = {r.phase: r for r in results if r.who.startswith("peer")}
    n = len(market.symbols)
    for phase in ("cold update", "hourly update"):
        peer = peers[phase]
        print(
            f"\n{phase}: {n} symbols ({len(market.perps)} perps) x {TIMEFRAME}, "
            f"fastest of {update_repeats} runs"
        )
        print(
            f"  {'':20} {'requests':>8} {'klines':>6} {'funding':>7} {'info':>4} {'weight':>6} "
            f"{'limiter s':>9} {'seconds':>7} {'bars':>6} {'events':>6} {'ok':>3} "
            f"{'x s':>5} {'x req':>5} {'x lim':>5}"
        )
        for r in (r for r in results if r.phase == phase):
            q, pq = _requests(r), _requests(peer)
            vs = ("", "", "")
            if r is not peer:
                vs = (
                    ratio(peer.seconds, r.seconds),
                    ratio(pq.total, q.total),
                    ratio(pq.limiter_s, q.limiter_s),
                )
            events = "-" if r.events is None else str(r.events)
            print(
                f"  {r.who:20} {q.total:8d} {q.get('klines'):6d} {q.get('funding'):7d} "
                f"{q.get('exchangeInfo'):4d} {q.weight:6.0f} {q.limiter_s:9.1f} "
                f"{r.seconds:7.3f} {r.bars:6d} {events:>6} {'no' if r.problems else 'yes':>3} "
                f"{vs[0]:>5} {vs[1]:>5} {vs[2]:>5}"
            )
        for r in (r for r in results if r.phase == phase and r.problems):
            print(f"  ! {r.who} wrote {', '.join(r.problems)}")
    peer = peers["read + align"]
    print(
        f"\nread + align: {n} symbols x 365 days into one close matrix, "
        f"fastest of {read_repeats} reads"
    )
    print(f"  {'':20} {'seconds':>7} {'cells':>6} {'Mcells/s':>8} {'x s':>5}")
    for r in (r for r in results if r.phase == "read + align"):
        speedup = "" if r is peer else ratio(peer.seconds, r.seconds)
        rate = r.bars / r.seconds / 1e6
        print(f"  {r.who:20} {r.seconds:7.4f} {r.bars:6d} {rate:8.2f} {speedup:>5}")
    for r in (r for r in results if r.phase == "limiter check"):
        q = _requests(r)
        print(
            f"\nccxt limiter check ({r.who}, limiter on, {r.bars} symbols, the same hour again): "
            f"{q.total} requests of weight {q.weight:.0f}; predicted wait {q.limiter_s:.2f} s, "
            f"measured {r.seconds:.2f} s in all"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=("parquet", "sqlite", "both"), default="parquet")
    parser.add_argument("--symbols", type=int, default=20, help="how many series (1-20)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="recorded data folder")
    parser.add_argument("--repeats", type=int, default=5, help="timed reads; the best counts")
    parser.add_argument(
        "--update-repeats", type=int, default=3, help="cold + hourly update runs; the best counts"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= 20 or args.repeats < 1 or args.update_repeats < 1:
        parser.error("--symbols must be 1..20 and the repeats at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backends = ["parquet", "sqlite"] if args.backend == "both" else [args.backend]

    env = environment()
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    state, market = build_market(args.data, args.symbols)
    first, last = window(market.clock_ms)
    print(
        f"market: {market.label}; ccxt {market.exchange_id} over HTTP to 127.0.0.1; cold "
        f"window {format_utc(first)} .. {format_utc(last)} (clock {format_utc(market.clock_ms)})"
        f", then the clock moves 1 h"
    )
    print(
        "ccxt's rate limiter is off (local server). weight: sum of ccxt's per-request costs; "
        f"limiter s: what ccxt's limiter would wait against Binance (cost x rateLimit "
        f"{ccxt_binance().rateLimit} ms per request); x: peer / pairscan, above 1 = pairscan "
        "faster or lighter"
    )

    started = time.perf_counter()
    results: list[Result] = []
    panels: dict[str, Panel] = {}
    with start_fake_binance(state) as fake:
        for i, backend in enumerate(backends):
            runs, panels[backend] = bench_pairscan(
                state,
                fake,
                market,
                backend,
                args.update_repeats,
                args.repeats,
                check_rate_limiter=i == 0,
            )
            results += runs
        runs, peer_panel = bench_peer(state, fake, market, args.update_repeats, args.repeats)
        results += runs
    for backend, panel in panels.items():
        check_same_panel(f"pairscan {backend}", panel, peer_panel)
    print_tables(results, market, args.update_repeats, args.repeats)
    total = time.perf_counter() - started
    print(f"\ntotal benchmark time {total:.1f} s")

    if args.json is not None:
        document = {
            "benchmark": "bench_cache",
            "environment": env,
            "market": {**dataclasses.asdict(market), "perps": sorted(market.perps)},
            "window_ms": [first, last],
            "rate_limit_ms": ccxt_binance().rateLimit,
            "results": [r.to_json() for r in results],
            "total_seconds": round(total, 2),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
