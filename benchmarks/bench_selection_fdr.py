"""Benchmark of pair selection's false discovery rate and power on seeded synthetic universes.

Each universe is 30 symbols x 90 days of 1h bars (2,160 bars, the default formation window),
so `select_pairs` runs Benjamini-Hochberg over 435 hypotheses (every candidate pair, each with
the Bonferroni p-value of its two Engle-Granger orientations). Three kinds, from
`tests/stats/null_universe.py`:

- null, common factor: random-walk log prices sharing one market factor; returns correlate
  ~0.6-0.8 (past the 0.5 prefilter, as crypto does) but no pair is cointegrated. Every
  selection is a false discovery, so mean FDP = P(any selected) = BH's family-wise error here.
- null, independent walks: no factor; the correlation prefilter stops nearly every pair, so
  this row shows how little the prefilter alone leaves to chance.
- planted: the common-factor null plus `--planted` cointegrated pairs (OU spread, half-life
  10..100 bars, hedge ratio 0.5..1.5): mean FDP and power (planted pairs selected / planted).

Prints, per kind: universes, hypotheses per universe, pairs Engle-Granger tested (the others
were stopped by the prefilters) and selected per universe, mean FDP with its standard error,
P(any selected), power and seconds; then power by the planted spreads' half-life and the seeds
with false discoveries. The claim under test is mean FDP <= stats.max_qvalue (0.05 by default)
within sampling error.

    python benchmarks/bench_selection_fdr.py [--universes 500] [--planted-universes 200]
        [--independent-universes 100] [--planted 5] [--first-seed 0] [--autolag aic]

About 70 s on 2 cores with the defaults (AIC lag selection: ~0.09 s per universe).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numba

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.stats

from tests.stats.null_universe import (
    N_BARS,
    N_SYMBOLS,
    FdrReport,
    Universe,
    make_universe,
    measure,
)

from pairscan.config import StatsConfig

# Independent walks get the total per-bar volatility of a common-factor symbol with loading 1
# (sqrt(0.008^2 + 0.005^2)), so only the correlation differs between the two nulls.
INDEPENDENT_SD = 0.0094
HALF_LIFE_EDGES = (10.0, 20.0, 30.0, 45.0, 60.0, 80.0, 100.0)


def universes(
    first_seed: int, count: int, *, n_planted: int = 0, independent: bool = False
) -> Iterator[Universe]:
    """Universes for seeds first_seed .. first_seed + count - 1, generated one at a time."""
    for seed in range(first_seed, first_seed + count):
        if independent:
            yield make_universe(seed, factor_sd=0.0, idio_sd=INDEPENDENT_SD)
        else:
            yield make_universe(seed, n_planted=n_planted)


def row(label: str, report: FdrReport, seconds: float) -> str:
    power = f"{report.power:.3f}" if report.n_universes and report.power == report.power else "-"
    family = report.outcomes[0].family_size if report.outcomes else 0
    return (
        f"{label:<28}{report.n_universes:>6}{family:>7}{report.mean_tested:>8.0f}"
        f"{report.mean_selected:>8.2f}"
        f"{report.mean_fdp:>9.4f} ± {report.fdp_standard_error():<7.4f}"
        f"{report.p_any_selected:>8.3f}{power:>8}{seconds:>8.1f}"
    )


def false_seeds(first_seed: int, report: FdrReport) -> str:
    hits = [
        f"{first_seed + k} ({o.n_false}/{o.n_selected})"
        for k, o in enumerate(report.outcomes)
        if o.n_false
    ]
    return ", ".join(hits) if hits else "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--universes", type=int, default=500, help="common-factor null universes")
    ap.add_argument("--planted-universes", type=int, default=200)
    ap.add_argument("--independent-universes", type=int, default=100)
    ap.add_argument("--planted", type=int, default=5, help="cointegrated pairs per universe")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--autolag", choices=("aic", "bic", "none"), default="aic")
    args = ap.parse_args()
    if min(args.universes, args.planted_universes, args.independent_universes) < 0:
        sys.exit("universe counts must be >= 0")
    if not 1 <= 2 * args.planted <= N_SYMBOLS:
        sys.exit(f"--planted must be between 1 and {N_SYMBOLS // 2}")

    # autolag "none" with the default coint_maxlag (None) tests exactly 1 lag.
    config = StatsConfig(coint_autolag=args.autolag)
    print(
        f"Selection FDR: {N_SYMBOLS} symbols x {N_BARS:,} bars per universe; "
        f"max_qvalue {config.max_qvalue}, autolag {args.autolag}, first seed {args.first_seed}; "
        f"numba {numba.__version__} ({numba.get_num_threads()} threads), "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    # Compile or load the kernels outside the timings.
    t0 = time.perf_counter()
    measure(universes(args.first_seed, 1, n_planted=1), config)
    print(f"  warm-up (kernels compiled or loaded): {time.perf_counter() - t0:.1f} s\n")

    kinds = (
        ("null, common factor", args.universes, 0, False),
        ("null, independent walks", args.independent_universes, 0, True),
        (f"planted ({args.planted} pairs)", args.planted_universes, args.planted, False),
    )
    print(
        f"{'universes':<28}{'n':>6}{'hyp.':>7}{'tested':>8}{'sel.':>8}{'mean FDP ± se':>19}"
        f"{'P(any)':>8}{'power':>8}{'s':>8}"
    )
    reports: list[tuple[str, FdrReport]] = []
    for label, count, n_planted, independent in kinds:
        if count == 0:
            continue
        t0 = time.perf_counter()
        batch = universes(args.first_seed, count, n_planted=n_planted, independent=independent)
        report = measure(batch, config)
        print(row(label, report, time.perf_counter() - t0), flush=True)
        reports.append((label, report))

    for label, report in reports:
        if report.outcomes and report.outcomes[0].n_planted:
            by_bin = ", ".join(
                f"{lo:.0f}-{hi:.0f}: {report.power_between(lo, hi):.2f}"
                for lo, hi in itertools.pairwise(HALF_LIFE_EDGES)
            )
            print(f"\n  power by spread half-life (bars), {label}: {by_bin}")

    print()
    for label, report in reports:
        print(f"  seeds with false discoveries, {label} (false/selected): ")
        print(f"    {false_seeds(args.first_seed, report)}")
    print()
    # One-sided test of "FDR <= max_qvalue" at about 2.5 %, as in tests/stats/test_selection_fdr.py.
    for label, report in reports:
        bound = report.mean_fdp - 2.0 * report.fdp_standard_error()
        verdict = "consistent with" if bound <= config.max_qvalue else "ABOVE"
        print(
            f"  {label}: mean FDP {report.mean_fdp:.4f}, mean - 2 se {bound:.4f}: {verdict} "
            f"FDR <= max_qvalue {config.max_qvalue}"
        )


if __name__ == "__main__":
    main()
