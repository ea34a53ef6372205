"""Benchmark of the cache stage against a naive peer measured in the same run.

Three workloads on one market of up to 20 hourly series (the recorded USDⓈ-M perpetuals of
`../shared/data` when present, else the demo market shipped with pairscan), served by the
local Binance-protocol server of `tests/fakes/binance.py` and fetched by real ccxt over HTTP:

1. cold `cache update`: 365 days of every symbol, through `run_cache_update`;
2. hourly `cache update`: the fake clock moves one hour, the job runs again;
3. read every series from the store and align them with `align_candles`.

The peer is what a typical freqtrade-style script does: ccxt `fetch_ohlcv` with ccxt's own
`paginate` per symbol into a DataFrame and `to_parquet` of the whole file (re-downloading the
year every hour), then `read_parquet` + `concat` + `reindex` + `ffill(limit=3)` to read.
Speeds are printed as ratios against that peer. ccxt's rate limiter is off (local server);
the seconds it would add are computed from ccxt's own cost table (see `rate_limit_cost`) and
checked once against a measured run with the limiter on.

    python benchmarks/bench_cache.py [--backend parquet|sqlite|both] [--symbols 20]
                                     [--json out.json] [--data ../shared/data] [--repeats 5]
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for `tests.fakes.binance`, which is not installed

import ccxt  # noqa: E402
import numpy as np  # noqa: E402
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
# Local paths of the fake -> ccxt `api` section whose cost table prices them.
CCXT_API_OF_PREFIX = {"/api/v3/": "public", "/fapi/v1/": "fapiPublic"}
ENDPOINTS = {"klines": "klines", "fundingRate": "funding", "exchangeInfo": "exchangeInfo"}

T = TypeVar("T")


class BenchmarkError(RuntimeError):
    """The benchmark did not do the work it claims to measure."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


# --------------------------------------------------------------------------- the market


@dataclass(frozen=True)
class Market:
    """The benchmark's market: which ccxt exchange, symbols and clock.

    clock_ms: the fake's clock for the cold run; the newest common bar opens then, so it is
    still open and the hourly run one hour later has a new closed bar for every symbol.
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
    check(len(chosen) > 0, f"no candle series found in {data} or the demo market")
    _fit_tick_sizes(chosen)
    clock = min(_candles(m).timestamp[-1] for m in chosen)
    market = Market(
        label=label,
        exchange_id=exchange_id,
        market_types=types,
        symbols=tuple(m.symbol for m in chosen),
        perps=frozenset(m.symbol for m in chosen if m.kind == "perp"),
        clock_ms=int(clock),
    )
    return state, market


def _candles(market: FakeMarket) -> Candles:
    if market.candles is None:
        raise BenchmarkError(f"{market.symbol} has no candles")
    return market.candles


def _fit_tick_sizes(markets: Sequence[FakeMarket]) -> None:
    """The fake rounds its still-open candle's high/low/close to the market's tick but not
    its open; where the recorded prices have more decimals than the fake's tick table
    (ENA, XTZ, SOL perps), that candle comes out with low > open, pairscan's validator
    rejects the page and the symbol fails. Give such markets a tick that fits their prices."""
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
    """(first, last) bar open of the closed bars a 365-day cold update stores at `now_ms`."""
    last = last_closed_open_ms(now_ms, TF_MS)
    return last - HISTORY_DAYS * MS_PER_DAY + TF_MS, last


def expected_bars(state: ExchangeState, symbol: str, now_ms: int) -> int:
    first, last = window(now_ms)
    ts = _candles(state.market(symbol)).timestamp
    return int(np.count_nonzero((ts >= first) & (ts <= last)))


def expected_funding(state: ExchangeState, symbol: str, since_ms: int, now_ms: int) -> int:
    funding = state.market(symbol).funding
    if funding is None:
        return 0
    ts = funding.timestamp
    return int(np.count_nonzero((ts >= since_ms) & (ts <= now_ms)))


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Requests:
    """Requests the fake served during one run, by endpoint, and their ccxt rate-limit cost.

    weight: sum of ccxt's per-request cost (Binance's request weight for USDⓈ-M).
    limiter_s: seconds ccxt's limiter would wait: before each request but an instance's
    first it sleeps until `rateLimit * cost` ms have passed since the previous one.
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
    """ccxt's cost of one logged request (klines on fapi: 1, 2, 5 or 10 by `limit`)."""
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
    counts = Counter(ENDPOINTS.get(r.path.rsplit("/", 1)[-1], r.path) for r in requests)
    costs = [rate_limit_cost(r) for r in requests]
    weight = float(sum(costs))
    limiter_ms = ccxt_binance().rateLimit * (weight - (costs[0] if costs else 0.0))
    return Requests(dict(counts), len(requests), weight, limiter_ms / 1000.0)


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
    """Every symbol holds exactly the recorded bars of since_ms..last closed bar at now_ms,
    and the recorded funding events of since_ms..now_ms."""
    last = last_closed_open_ms(now_ms, TF_MS)
    events = 0
    with open_store(config.cache.backend, config.data_dir / "cache") as store:
        for symbol in market.symbols:
            bars = store.read_candles(config.exchange.id, symbol, TIMEFRAME)
            recorded = _candles(state.market(symbol)).between(since_ms, last)
            check(
                np.array_equal(bars.timestamp, recorded.timestamp)
                and np.array_equal(bars.close, recorded.close),
                f"{symbol}: cached bars differ from the recorded ones",
            )
            if symbol in market.perps:
                cached = len(store.read_funding(config.exchange.id, symbol))
                wanted = expected_funding(state, symbol, since_ms, now_ms)
                check(cached == wanted, f"{symbol}: {cached} funding events, expected {wanted}")
                events += cached
    return events


# --------------------------------------------------------------------------- the peer


def peer_update(fake: FakeBinance, market: Market, now_ms: int, folder: Path) -> tuple[int, int]:
    """A freqtrade-style download: ccxt `paginate` from 365 days ago to now, every symbol,
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
            rows = exchange.fetch_ohlcv(symbol, TIMEFRAME, since=first, params=params)
            frame = pd.DataFrame(rows, columns=CANDLE_COLUMNS)
            # freqtrade drops the still-open candle and any duplicates before saving.
            frame = frame[frame["timestamp"] <= last].drop_duplicates("timestamp")
            frame.to_parquet(folder / f"{symbol_key(symbol)}_{TIMEFRAME}.parquet", index=False)
            bars += len(frame)
            if symbol in market.perps:
                history = exchange.fetch_funding_rate_history(symbol, since=first, params=params)
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


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    """One measured run. seconds: wall time; requests: None for reads."""

    phase: str
    who: str
    seconds: float
    requests: Requests | None = None
    bars: int = 0
    events: int | None = None
    correct: str = "yes"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["seconds"] = round(self.seconds, 4)
        return out


def best_of(repeats: int, run: Callable[[], T]) -> tuple[T, float]:
    best = float("inf")
    result: T | None = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    assert result is not None  # repeats >= 1
    return result, best


def bench_pairscan(
    state: ExchangeState,
    fake: FakeBinance,
    market: Market,
    backend: str,
    repeats: int,
    check_rate_limiter: bool,
) -> list[Result]:
    who = f"pairscan {backend}"
    n, n_perps = len(market.symbols), len(market.perps)
    results = []
    with tempfile.TemporaryDirectory(prefix=f"bench-cache-{backend}-") as tmp:
        config = job_config(Path(tmp), fake, market, backend)
        state.now_ms = market.clock_ms
        report, requests, seconds = served(state, lambda: update(config, state.now_ms))
        check(report.requests == requests.total, "the job's request count differs from the log")
        for s in report.symbols:
            wanted = expected_bars(state, s.symbol, state.now_ms)
            check(s.total_bars == wanted, f"{s.symbol}: {s.total_bars} bars, expected {wanted}")
        cold_first, _ = window(state.now_ms)
        events = check_cache(config, state, market, cold_first, state.now_ms)
        bars = sum(s.total_bars for s in report.symbols)
        results.append(Result("cold update", who, seconds, requests, bars, events))

        state.advance(MS_PER_HOUR)
        report, requests, seconds = served(state, lambda: update(config, state.now_ms))
        # One klines request per symbol, one funding request per perp, one exchangeInfo per
        # market type ccxt loads: an hourly run that pages through more is a regression.
        wanted_counts = {
            "klines": n,
            "funding": n_perps,
            "exchangeInfo": len(market.market_types),
        }
        check(
            requests.by_endpoint == {k: v for k, v in wanted_counts.items() if v},
            f"hourly update made {requests.by_endpoint}, expected {wanted_counts}",
        )
        new = [s.new_bars for s in report.symbols]
        check(new == [1] * n, f"hourly update added {new} bars, expected 1 per symbol")
        check_cache(config, state, market, cold_first, state.now_ms)
        results.append(Result("hourly update", who, seconds, requests, sum(new)))

        if check_rate_limiter:
            results.append(measure_rate_limiter(state, fake, market, Path(tmp), backend))

        panel, seconds = best_of(
            repeats, lambda: read_aligned(config, market.symbols, state.now_ms)
        )
        cells = panel.n_bars * panel.n_symbols
        check(not np.isnan(panel.close).any(), "the aligned panel has holes")
        results.append(Result("read + align", who, seconds, bars=cells))
        results[-1].extra["panel"] = panel.close
        results[-1].extra["grid_start_ms"] = int(panel.timestamps[0])
    return results


def measure_rate_limiter(
    state: ExchangeState, fake: FakeBinance, market: Market, folder: Path, backend: str
) -> Result:
    """The same hour again with ccxt's limiter on, for a few symbols: predicted vs measured.

    Re-running the hour makes the same requests as an hourly update (one klines page that
    reaches the last closed bar, one funding page)."""
    symbols = market.symbols[:RATE_LIMIT_CHECK_SYMBOLS]
    config = job_config(folder, fake, market, backend, rate_limit=True)
    _, requests, seconds = served(state, lambda: update(config, state.now_ms, symbols))
    result = Result("rate-limiter check", f"pairscan {backend}", seconds, requests)
    result.extra["symbols"] = len(symbols)
    return result


def bench_peer(
    state: ExchangeState, fake: FakeBinance, market: Market, repeats: int
) -> list[Result]:
    who = "peer (ccxt paginate)"
    first, _ = window(market.clock_ms)
    expected_events = sum(expected_funding(state, s, first, market.clock_ms) for s in market.perps)
    expected_total = sum(expected_bars(state, s, market.clock_ms) for s in market.symbols)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-cache-peer-") as tmp:
        folder = Path(tmp)
        state.now_ms = market.clock_ms
        (bars, events), requests, seconds = served(
            state, lambda: peer_update(fake, market, state.now_ms, folder)
        )
        results.append(
            Result(
                "cold update",
                who,
                seconds,
                requests,
                bars,
                events,
                correct=_peer_correct(bars, expected_total, events, expected_events),
            )
        )
        state.advance(MS_PER_HOUR)
        first, _ = window(state.now_ms)
        expected_events = sum(expected_funding(state, s, first, state.now_ms) for s in market.perps)
        expected_total = sum(expected_bars(state, s, state.now_ms) for s in market.symbols)
        (bars, events), requests, seconds = served(
            state, lambda: peer_update(fake, market, state.now_ms, folder)
        )
        results.append(
            Result(
                "hourly update",
                who,
                seconds,
                requests,
                bars,
                events,
                correct=_peer_correct(bars, expected_total, events, expected_events),
            )
        )
        frame, seconds = best_of(repeats, lambda: peer_read(folder, market.symbols))
        results.append(Result("read + align", who, seconds, bars=frame.size))
        results[-1].extra["panel"] = frame.to_numpy()
        results[-1].extra["grid_start_ms"] = int(frame.index[0].value // 1_000_000)
    return results


def _peer_correct(bars: int, expected_bars: int, events: int, expected_events: int) -> str:
    problems = []
    if bars != expected_bars:
        problems.append(f"{bars - expected_bars:+d} bars")
    if events != expected_events:
        problems.append(f"{events - expected_events:+d} funding events")
    return "no: " + ", ".join(problems) if problems else "yes"


def check_same_panel(ours: Result, peer: Result) -> None:
    """Both reads must produce the same close matrix, or the ratio compares different work."""
    a, b = ours.extra["panel"], peer.extra["panel"]
    same = (
        ours.extra["grid_start_ms"] == peer.extra["grid_start_ms"]
        and a.shape == b.shape
        and np.array_equal(a, b, equal_nan=True)
    )
    check(same, f"{ours.who} and the peer read different matrices ({a.shape} vs {b.shape})")


# --------------------------------------------------------------------------- output


def environment() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "ccxt": ccxt.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def ratio(peer: float, ours: float) -> str:
    return f"{peer / ours:.1f}x" if ours > 0 else "-"


def print_table(results: Sequence[Result], market: Market) -> None:
    peers = {r.phase: r for r in results if r.who.startswith("peer")}
    n = len(market.symbols)
    for phase in ("cold update", "hourly update"):
        print(f"\n{phase}: {n} symbols ({len(market.perps)} perps), {TIMEFRAME}")
        print(
            f"  {'':22} {'requests':>8} {'klines':>6} {'funding':>7} {'info':>4} "
            f"{'weight':>7} {'limiter s':>9} {'seconds':>8} {'bars':>7} {'events':>6} "
            f"{'correct':>8} {'peer/ours s':>11} {'peer/ours req':>13}"
        )
        for r in (r for r in results if r.phase == phase):
            q = r.requests
            assert q is not None
            peer = peers[phase]
            assert peer.requests is not None
            vs = "" if r is peer else ratio(peer.seconds, r.seconds)
            vs_req = "" if r is peer else ratio(peer.requests.total, q.total)
            events = "-" if r.events is None else str(r.events)
            print(
                f"  {r.who:22} {q.total:8d} {q.get('klines'):6d} {q.get('funding'):7d} "
                f"{q.get('exchangeInfo'):4d} {q.weight:7.0f} {q.limiter_s:9.1f} "
                f"{r.seconds:8.3f} {r.bars:7d} {events:>6} {r.correct[:3]:>8} {vs:>11} "
                f"{vs_req:>13}"
            )
        for r in (r for r in results if r.phase == phase and r.correct != "yes"):
            print(f"  ! {r.who}: {r.correct}")
    print(f"\nread + align: {n} symbols x 1 year into one matrix, best of repeats")
    print(f"  {'':22} {'seconds':>8} {'cells':>8} {'Mcells/s':>8} {'peer/ours s':>11}")
    peer = peers["read + align"]
    for r in (r for r in results if r.phase == "read + align"):
        vs = "" if r is peer else ratio(peer.seconds, r.seconds)
        rate = r.bars / r.seconds / 1e6
        print(f"  {r.who:22} {r.seconds:8.4f} {r.bars:8d} {rate:8.2f} {vs:>11}")
    for r in (r for r in results if r.phase == "rate-limiter check"):
        assert r.requests is not None
        print(
            f"\nccxt rate limiter on, {r.extra['symbols']} symbols, same hour again "
            f"({r.requests.total} requests, weight {r.requests.weight:.0f}): predicted "
            f">= {r.requests.limiter_s:.2f} s of waiting, measured {r.seconds:.2f} s in total"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--backend", choices=("parquet", "sqlite", "both"), default="parquet")
    parser.add_argument("--symbols", type=int, default=20, help="how many series (max 20)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="recorded data folder")
    parser.add_argument("--repeats", type=int, default=5, help="reads timed (best is kept)")
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= 20 or args.repeats < 1:
        parser.error("--symbols must be 1..20 and --repeats at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backends = ["parquet", "sqlite"] if args.backend == "both" else [args.backend]

    env = environment()
    print("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    state, market = build_market(args.data, args.symbols)
    first, last = window(market.clock_ms)
    print(
        f"market: {market.label}; ccxt {market.exchange_id} over HTTP to 127.0.0.1; "
        f"{len(market.symbols)} symbols; cold window {format_utc(first)} .. {format_utc(last)}, "
        f"clock {format_utc(market.clock_ms)}, then +1 h"
    )
    print(
        f"rate limiter off (local server); 'weight' = sum of ccxt's per-request cost, "
        f"'limiter s' = weight x rateLimit {ccxt_binance().rateLimit} ms: the wait ccxt's limiter "
        f"would add against Binance"
    )

    started = time.perf_counter()
    results: list[Result] = []
    with start_fake_binance(state) as fake:
        for i, backend in enumerate(backends):
            results += bench_pairscan(state, fake, market, backend, args.repeats, i == 0)
        results += bench_peer(state, fake, market, args.repeats)
    peer_read_result = next(r for r in results if r.who.startswith("peer") and "read" in r.phase)
    for r in results:
        if r.phase == "read + align" and r is not peer_read_result:
            check_same_panel(r, peer_read_result)
    print_table(results, market)
    total = time.perf_counter() - started
    print(f"\ntotal benchmark time {total:.1f} s")

    if args.json is not None:
        for r in results:
            r.extra.pop("panel", None)
        document = {
            "benchmark": "bench_cache",
            "environment": env,
            "market": {
                **dataclasses.asdict(market),
                "perps": sorted(market.perps),
                "window": [first, last],
            },
            "rate_limit_ms": ccxt_binance().rateLimit,
            "results": [r.to_json() for r in results],
            "total_seconds": round(total, 2),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
