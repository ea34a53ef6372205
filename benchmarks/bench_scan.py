"""Benchmark of one hourly `pairs scan` on 100 perpetuals, split by stage.

100 synthetic USDⓈ-M perpetuals (one market factor plus mean-reverting parts, so that the
default selection keeps its 50 pairs out of 4,950 candidates) x 120 days of hourly bars and
8-hourly funding, served by the local Binance-protocol server of `tests/fakes/binance/` and
fetched by real ccxt over HTTP. The cache is warmed by a first scan; then the clock moves one
hour and the scan runs again (the selection in force is reused), and once more at a weekly
re-selection boundary (4,950 pairs re-tested). Prints wall seconds per stage (fetch = the
incremental cache update, requests to the local server included; decide = panel read,
selection, statistics, state machine, sizing, tickets and the commit; deliver = the console
channel) and the request count.

    python benchmarks/bench_scan.py          # ~1 min on 2 cores
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.fakes

from tests.fakes.binance import ExchangeState, start_fake_binance

from pairscan.config import load_config
from pairscan.jobs.scan import run_scan
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, parse_utc

N_SYMBOLS, DAYS, SEED = 100, 120, 11
# Monday 00:00 is a weekly re-selection boundary; the warm-up scan runs a day after one.
FIRST_BAR = parse_utc("2026-01-05T00:00Z")


def synthetic_market(now_ms: int) -> ExchangeState:
    rng = np.random.default_rng(SEED)
    n = DAYS * 24
    stamps = FIRST_BAR + MS_PER_HOUR * np.arange(n, dtype=np.int64)
    factor = np.cumsum(rng.normal(0.0, 0.006, n))
    state = ExchangeState(now_ms=now_ms)
    for k in range(N_SYMBOLS):
        ar = np.zeros(n)
        shocks = rng.normal(0.0, 0.004, n)
        for t in range(1, n):
            ar[t] = 0.96 * ar[t - 1] + shocks[t]
        group = k % 10  # ten clusters of close substitutes
        close = np.exp(np.log(rng.uniform(0.5, 500)) + factor * (0.8 + 0.04 * group) + ar)
        opens = np.concatenate([[close[0]], close[:-1]])
        wick = np.abs(rng.normal(0.0, 0.002, n))
        bars = pd.DataFrame(
            {
                "timestamp": stamps,
                "open": opens,
                "high": np.maximum(opens, close) * (1 + wick),
                "low": np.minimum(opens, close) * (1 - wick),
                "close": close,
                "volume": rng.uniform(5e5, 5e6, n) / close,
            }
        )
        funding = pd.DataFrame(
            {"timestamp": stamps[::8], "funding_rate": rng.normal(1e-4, 5e-5, n // 8 + (n % 8 > 0))}
        )
        state.add_perp(f"S{k:03d}", bars, funding)
    return state


def main() -> None:
    warm_ms = FIRST_BAR + (DAYS - 9) * MS_PER_DAY + 5 * 60_000  # a Tuesday, 00:05
    state = synthetic_market(warm_ms)
    symbols = [f"S{k:03d}/USDT:USDT" for k in range(N_SYMBOLS)]
    with start_fake_binance(state) as fake, tempfile.TemporaryDirectory() as tmp:
        ccxt_config = fake.ccxt_config(market_types=("linear",))
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(
            "data_dir: data\n"
            "exchange: {id: binanceusdm, max_retries: 0}\n"
            f"universe: {{symbols: [{', '.join(symbols)}]}}\n"
            f"cache: {{history_days: {DAYS}}}\n",
            encoding="utf-8",
        )
        import yaml

        raw = yaml.safe_load(config_path.read_text())
        raw["exchange"]["ccxt_config"] = ccxt_config
        config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        config = load_config(config_path, env={})
        rows = []
        for label, now in (
            ("warm-up (cold cache, new selection)", warm_ms),
            ("hourly scan, warm cache, selection reused", warm_ms + MS_PER_HOUR),
            ("hourly scan, warm cache, selection reused", warm_ms + 2 * MS_PER_HOUR),
            ("hourly scan at a weekly re-selection", warm_ms + 6 * MS_PER_DAY),
        ):
            state.now_ms = now
            before = len(state.requests)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                report = run_scan(config, now_ms=now)
            wall = time.perf_counter() - started
            rows.append((label, wall, report, len(state.requests) - before))
    print(f"{N_SYMBOLS} perpetuals ({N_SYMBOLS * (N_SYMBOLS - 1) // 2} candidate pairs), 1h bars\n")
    print(
        f"{'run':44} {'wall s':>7} {'fetch':>6} {'decide':>7} {'deliver':>8} {'requests':>9} "
        f"{'selected':>9} {'tickets':>8}"
    )
    for label, wall, report, requests in rows:
        s = report.seconds
        print(
            f"{label:44} {wall:>7.2f} {s.get('fetch', 0):>6.2f} {s.get('decide', 0):>7.2f} "
            f"{s.get('deliver', 0):>8.2f} {requests:>9} {len(report.selected):>9} "
            f"{len(report.tickets):>8}"
        )


if __name__ == "__main__":
    main()
