"""Benchmark of the rolling OLS hedge ratio, spread and z-score against peers in the same run.

All pairs of 100 symbols (4,950 pairs) x 8,760 hourly bars, window 720 (z window 720), seeded
one-factor synthetic log prices at BTC level (~11). Prints pair-bars/s of pairscan's every-bar
kernels (on gathered pair columns, and indexed: pairs as column indices into the symbol matrix)
and scan-mode kernel, and ratios against statsmodels RollingOLS (default method, params only)
and a pandas rolling cov/var version, both timed per pair on a subset and scaled per pair-bar.
Checks agreement in the same run (beta vs statsmodels, and vs a fresh lstsq fit on sampled
windows; indexed kernels bit-identical to the gathered ones) and stops if it fails. Also:
compile time (cold vs cached, fresh processes), store bandwidth and the memory-bound estimate,
and the 300-symbol (44,850 pairs) scan in a fresh process with its wall time and peak RSS.

    python benchmarks/bench_rolling_ols.py        # ~1-2 min on 2 cores
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable

import numba
import numpy as np
import pandas as pd
from statsmodels.regression.rolling import RollingOLS

from pairscan.stats.kernels.pair_stats import (
    pair_stats_indexed_into_nb,
    pair_stats_last_nb,
    rolling_ols_spread_z_into_nb,
    spread_zscore_into_nb,
)
from pairscan.stats.kernels.rolling import rolling_ols_indexed_into_nb, rolling_ols_into_nb
from pairscan.stats.ols import pair_stats_last, resync_bars_for, rolling_pair_stats

N_BARS, N_SYMBOLS, WINDOW, Z_WINDOW, SEED = 8_760, 100, 720, 720, 42
SM_PAIRS, PD_PAIRS, REPEATS = 12, 200, 5


def synthetic(n_bars: int, n_symbols: int, seed: int) -> np.ndarray:
    """One-factor hourly log prices at log level ~11 (BTC ~ 60,000 USD), factor vol 0.5 %/h."""
    rng = np.random.default_rng(seed)
    factor = np.cumsum(rng.normal(0.0, 0.005, n_bars))
    load = rng.uniform(0.5, 1.5, n_symbols)
    idio = np.cumsum(rng.normal(0.0, 0.003, (n_bars, n_symbols)), axis=0)
    return 11.0 + rng.uniform(-1, 1, n_symbols) + np.outer(factor, load) + idio


def best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_child(code: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


COMPILE_CHILD = """
import time
t = time.perf_counter()
import numpy as np
from pairscan.stats.ols import pair_stats_last, rolling_pair_stats, rolling_pair_stats_indexed
lp = 11 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, (50, 3)), axis=0)
rolling_pair_stats(lp[:, :2], lp[:, 1:], 10, 10)
rolling_pair_stats_indexed(lp, np.array([0]), np.array([1]), 10, 10)
pair_stats_last(lp, np.array([0]), np.array([1]), 10, 10)
print(f"{time.perf_counter() - t:.3f}")
"""

SCAN_CHILD = """
import resource, sys, time
sys.path.insert(0, {bench_dir!r})
import numpy as np
from bench_rolling_ols import synthetic
from pairscan.stats.ols import pair_stats_last
lp = synthetic({n_bars}, 300, {seed})
iy, ix = np.triu_indices(300, 1)
t = time.perf_counter(); pair_stats_last(lp, iy, ix, {w}, {zw}); first = time.perf_counter() - t
walls = []
for _ in range(5):
    t = time.perf_counter(); out = pair_stats_last(lp, iy, ix, {w}, {zw})
    walls.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(first, min(walls), rss, len(iy), int(np.isfinite(out[3]).sum()))
"""


def main() -> None:
    threads = numba.get_num_threads()
    print(f"pairscan rolling OLS benchmark: {N_SYMBOLS} symbols, {N_BARS} bars, window {WINDOW}, ")
    print(f"z window {Z_WINDOW}, numba threads {threads}, seed {SEED}, numpy {np.__version__}")

    # Compile time in fresh processes: an empty on-disk cache, then the cache it filled.
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir}
        cold = float(run_child(COMPILE_CHILD, env))
        cached = float(run_child(COMPILE_CHILD, env))
    print(f"\nfirst call (import + 3 kernels, fresh process): cold {cold:.2f} s, ", end="")
    print(f"cached {cached:.2f} s")

    # The 300-symbol scan runs first, in a fresh process, while this one is still small: a
    # forked child's ru_maxrss can include the parent's resident set at fork time.
    bench_dir = os.path.dirname(os.path.abspath(__file__))
    first, wall, rss, p300, finite = run_child(
        SCAN_CHILD.format(bench_dir=bench_dir, n_bars=N_BARS, seed=SEED, w=WINDOW, zw=Z_WINDOW),
        {},
    ).split()

    lp = synthetic(N_BARS, N_SYMBOLS, SEED)
    iy, ix = np.triu_indices(N_SYMBOLS, 1)
    n_pairs = len(iy)
    y = np.ascontiguousarray(lp[:, iy])
    x = np.ascontiguousarray(lp[:, ix])
    pair_bars = n_pairs * N_BARS
    resync = resync_bars_for(WINDOW)

    alpha = np.zeros_like(y)
    beta = np.zeros_like(y)
    spread = np.zeros_like(y)
    z = np.zeros_like(y)
    rolling_ols_into_nb(y, x, WINDOW, WINDOW, resync, alpha, beta)
    spread_zscore_into_nb(y, x, alpha, beta, Z_WINDOW, Z_WINDOW, resync, spread, z)
    t_ols = best(lambda: rolling_ols_into_nb(y, x, WINDOW, WINDOW, resync, alpha, beta))
    t_sz = best(
        lambda: spread_zscore_into_nb(y, x, alpha, beta, Z_WINDOW, Z_WINDOW, resync, spread, z)
    )
    f_out = [np.zeros_like(y) for _ in range(4)]

    def run_fused() -> None:
        rolling_ols_spread_z_into_nb(
            y, x, WINDOW, WINDOW, resync, Z_WINDOW, Z_WINDOW, resync, *f_out
        )

    run_fused()
    t_fused = best(run_fused)
    fused_same = all(
        np.array_equal(g, w, equal_nan=True)
        for g, w in zip(f_out, (alpha, beta, spread, z), strict=True)
    )
    if not fused_same:
        raise SystemExit("agreement gate failed: fused kernel differs from ols + sz")
    t_wrap = best(lambda: rolling_pair_stats(y, x, WINDOW, Z_WINDOW), repeats=3)
    iy64, ix64 = iy.astype(np.int64), ix.astype(np.int64)

    # Indexed kernels: the same pairs as column indices into lp, no (n_bars, n_pairs) inputs.
    i_out = [np.zeros_like(y) for _ in range(4)]

    def run_ols_indexed() -> None:
        rolling_ols_indexed_into_nb(lp, iy64, ix64, WINDOW, WINDOW, resync, i_out[0], i_out[1])

    run_ols_indexed()
    t_ols_idx = best(run_ols_indexed)
    ols_idx_same = all(
        np.array_equal(g, w, equal_nan=True) for g, w in zip(i_out[:2], (alpha, beta), strict=True)
    )

    def run_fused_indexed() -> None:
        pair_stats_indexed_into_nb(
            lp, iy64, ix64, WINDOW, WINDOW, resync, Z_WINDOW, Z_WINDOW, resync, *i_out
        )

    run_fused_indexed()
    t_fused_idx = best(run_fused_indexed)
    fused_idx_same = all(
        np.array_equal(g, w, equal_nan=True)
        for g, w in zip(i_out, (alpha, beta, spread, z), strict=True)
    )
    if not (ols_idx_same and fused_idx_same):
        raise SystemExit(
            f"agreement gate failed: indexed kernels not bit-identical to the gathered ones "
            f"(alpha+beta {ols_idx_same}, fused {fused_idx_same})"
        )
    pair_stats_last_nb(lp, iy64, ix64, WINDOW, Z_WINDOW, WINDOW, Z_WINDOW, resync)
    t_scan = best(lambda: pair_stats_last(lp, iy, ix, WINDOW, Z_WINDOW))

    # Peers, per pair on a subset, scaled per pair-bar.
    sub = np.linspace(0, n_pairs - 1, SM_PAIRS).astype(int)
    sm_beta = np.empty((N_BARS, SM_PAIRS))

    def run_statsmodels() -> None:
        for k, p in enumerate(sub):
            exog = np.column_stack([np.ones(N_BARS), x[:, p]])
            sm_beta[:, k] = (
                RollingOLS(y[:, p], exog, window=WINDOW).fit(params_only=True).params[:, 1]
            )

    t_sm = best(run_statsmodels, repeats=1) / (SM_PAIRS * N_BARS)

    pd_sub = np.linspace(0, n_pairs - 1, PD_PAIRS).astype(int)

    def run_pandas() -> None:
        for p in pd_sub:
            ys, xs = pd.Series(y[:, p]), pd.Series(x[:, p])
            b = ys.rolling(WINDOW).cov(xs) / xs.rolling(WINDOW).var()
            a = ys.rolling(WINDOW).mean() - b * xs.rolling(WINDOW).mean()
            s = ys - a - b * xs
            _ = (s - s.rolling(Z_WINDOW).mean()) / s.rolling(Z_WINDOW).std()

    t_pd = best(run_pandas, repeats=1) / (PD_PAIRS * N_BARS)

    # Agreement in the same run.
    diff_sm = float(np.nanmax(np.abs(beta[:, sub] - sm_beta)))
    nan_same = bool((np.isnan(beta[:, sub]) == np.isnan(sm_beta)).all())
    rng = np.random.default_rng(SEED)
    worst = 0.0
    for _ in range(300):
        p = int(rng.integers(n_pairs))
        t = int(rng.integers(WINDOW - 1, N_BARS))
        design = np.column_stack([np.ones(WINDOW), x[t - WINDOW + 1 : t + 1, p]])
        coef = np.linalg.lstsq(design, y[t - WINDOW + 1 : t + 1, p], rcond=None)[0]
        worst = max(worst, abs(beta[t, p] - coef[1]), abs(alpha[t, p] - coef[0]))
    scan = pair_stats_last(lp, iy, ix, WINDOW, Z_WINDOW)
    diff_scan = max(
        float(np.nanmax(np.abs(g - full[-1])))
        for g, full in zip(scan, (alpha, beta, spread, z), strict=True)
    )
    if not (worst <= 1e-10 and diff_sm <= 1e-6 and nan_same and diff_scan <= 1e-9):
        raise SystemExit(f"agreement gate failed: lstsq {worst}, sm {diff_sm}, scan {diff_scan}")

    # Store bandwidth: numpy fill (one thread) and a numba prange fill (all threads).
    buf = np.ones(128 * 1024 * 1024)  # 1 GiB, touched
    bw_np = buf.nbytes / best(lambda: buf.fill(2.0))

    @numba.njit(parallel=True)
    def pfill(a: np.ndarray, v: float) -> None:
        for i in numba.prange(a.shape[0]):
            a[i] = v

    pfill(buf, 1.0)
    bw_nb = buf.nbytes / best(lambda: pfill(buf, 3.0))

    sm_rate = 1.0 / t_sm
    print(f"\nagreement: max |beta - statsmodels RollingOLS| {diff_sm:.1e} ({SM_PAIRS} pairs, NaN")
    same = "identical" if nan_same else "DIFFERENT"
    print(f"pattern {same}); max |alpha, beta - lstsq| {worst:.1e}")
    print(f"(300 sampled windows); max |scan - last row of full kernels| {diff_scan:.1e}")
    print("indexed kernels: bit-identical to the gathered kernels (alpha, beta, spread, z)")
    print(f"\nstore bandwidth: numpy fill {bw_np / 1e9:.1f} GB/s (1 thread), numba prange fill")
    print(f"{bw_nb / 1e9:.1f} GB/s ({threads} threads)\n")

    rows = [
        (
            "statsmodels RollingOLS().fit(params_only) per pair",
            SM_PAIRS,
            t_sm * SM_PAIRS * N_BARS,
            sm_rate,
        ),
        ("pandas rolling cov/var + z, per pair", PD_PAIRS, t_pd * PD_PAIRS * N_BARS, 1 / t_pd),
        ("rolling_ols_into_nb alpha+beta, preallocated", n_pairs, t_ols, pair_bars / t_ols),
        ("spread_zscore_into_nb spread+z, preallocated", n_pairs, t_sz, pair_bars / t_sz),
        (
            "every bar alpha+beta+spread+z (ols + sz)",
            n_pairs,
            t_ols + t_sz,
            pair_bars / (t_ols + t_sz),
        ),
        (
            "every bar alpha+beta+spread+z fused, preallocated",
            n_pairs,
            t_fused,
            pair_bars / t_fused,
        ),
        ("rolling_pair_stats() wrapper, fresh outputs", n_pairs, t_wrap, pair_bars / t_wrap),
        (
            "rolling_ols_indexed_into_nb alpha+beta, prealloc.",
            n_pairs,
            t_ols_idx,
            pair_bars / t_ols_idx,
        ),
        (
            "every bar fused, indexed (pair_stats_indexed_into_nb)",
            n_pairs,
            t_fused_idx,
            pair_bars / t_fused_idx,
        ),
        ("scan mode pair_stats_last (last bar only)", n_pairs, t_scan, pair_bars / t_scan),
    ]
    print(
        f"{'method':52} {'pairs':>6} {'s':>8} {'pair-bars/s':>12} {'x statsm.':>10} {'x pandas':>9}"
    )
    for name, pairs, secs, rate in rows:
        print(
            f"{name:52} {pairs:>6} {secs:>8.3f} {rate:>12.3g} {rate / sm_rate:>10.0f} "
            f"{rate * t_pd:>9.1f}"
        )
    for label, nbytes, t in (
        ("alpha+beta", 16, t_ols),
        ("alpha+beta+spread+z", 32, t_ols + t_sz),
        ("alpha+beta+spread+z fused", 32, t_fused),
        ("alpha+beta indexed", 16, t_ols_idx),
        ("alpha+beta+spread+z fused indexed", 32, t_fused_idx),
    ):
        bound = pair_bars * nbytes / bw_nb
        print(
            f"memory bound {label}: {nbytes} B written per pair-bar / {bw_nb / 1e9:.1f} GB/s = "
            f"{bound:.3f} s ({nbytes / bw_nb * 1e9:.2f} ns/pair-bar); measured {t:.3f} s = "
            f"{t / bound:.1f}x the bound"
        )
    print(f"(with the 1-thread numpy fill bandwidth the bounds are {bw_nb / bw_np:.1f}x larger)")

    p300_bars = int(p300) * N_BARS
    print(
        f"\nscan mode, 300 symbols ({p300} pairs) x {N_BARS} bars, fresh process: wall "
        f"{float(wall):.3f} s (best of 5; first call {float(first):.3f} s incl. cache load), "
        f"{p300_bars / float(wall):.3g} input pair-bars/s = "
        f"{p300_bars / float(wall) / sm_rate:.0f}x "
        f"statsmodels; peak RSS {float(rss):.0f} MiB; finite z {finite}/{p300}"
    )
    print(
        f"(scan mode reads only the last window+z_window-1 = {WINDOW + Z_WINDOW - 1} bars: "
        "the last z depends on nothing older)"
    )


if __name__ == "__main__":
    main()
