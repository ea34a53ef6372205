"""Seeded synthetic universes for the false-discovery check of pair selection (stage 3), and
the measurement that runs `select_pairs` on them. Test support only: no I/O, no pytest.

A NULL universe has no cointegrated pair: every log price is its own level, plus a loading on
one common market factor (a random walk), plus its own idiosyncratic random walk. Any spread
y - a - b x therefore keeps the idiosyncratic walks of both legs (I_y - b I_x) and is I(1),
while the shared factor makes bar returns correlate well above the 0.5 prefilter, as crypto
does. (Independent walks, `factor_sd=0`, are the weaker null: the prefilter stops
almost every pair before Engle-Granger, so selection can hardly err there.)

A PLANTED universe is the same with `n_planted` cointegrated pairs added: symbol 2m + 1 is
replaced by a + b * (symbol 2m) + an Ornstein-Uhlenbeck spread, so the power of the selection
can be measured on the same background.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from pairscan.config import StatsConfig
from pairscan.stats.selection import select_pairs

__all__ = [
    "N_BARS",
    "N_SYMBOLS",
    "FdrReport",
    "Universe",
    "UniverseOutcome",
    "make_universe",
    "measure",
    "measure_one",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

N_SYMBOLS = 30
N_BARS = 90 * 24  # 90 days of 1h bars: the default formation window (stats.formation_days)
LIQUID_ADV = 5e7  # quote currency per day; the default floor (stats.min_adv_quote) is 1e6

# Separates the random streams of null and planted universes with the same seed, so a
# planted universe is not its null twin plus pairs (that would correlate the two estimates).
_NULL_STREAM = 0
_PLANTED_STREAM = 1


@dataclass(frozen=True)
class Universe:
    """One synthetic formation window, ready for `select_pairs`.

    - `close`: float64[n_bars, n_symbols] prices (exp of log levels in about [-2, 11]: from
      ~0.1 to ~60,000 quote units, like DOGE to BTC).
    - `symbols`: n_symbols names "S00", "S01", ...
    - `adv_quote`: float64[n_symbols], quote currency per day, all far above the floor.
    - `planted`: the cointegrated pairs, each a frozenset of its two names (orientation-free),
      mapped to the half-life of its spread, bars; empty for a null universe.
    """

    close: FloatArray
    symbols: tuple[str, ...]
    adv_quote: FloatArray
    planted: Mapping[frozenset[str], float]


def make_universe(
    seed: int,
    *,
    n_planted: int = 0,
    n_symbols: int = N_SYMBOLS,
    n_bars: int = N_BARS,
    factor_sd: float = 0.008,
    idio_sd: float = 0.005,
    loading_range: tuple[float, float] = (0.8, 1.2),
    half_life_range: tuple[float, float] = (10.0, 100.0),
    hedge_range: tuple[float, float] = (0.5, 1.5),
    spread_sd_range: tuple[float, float] = (0.002, 0.004),
) -> Universe:
    """A seeded universe; `n_planted=0` is a null universe (no cointegrated pair).

    seed: any int >= 0; the same (seed, n_planted > 0) gives the same universe on every run.
    factor_sd, idio_sd: per-bar sd of the log-price increments of the market factor and of
        each symbol's own walk (0.008 and 0.005: ~0.9 %/h per symbol, returns correlation
        ~0.65-0.80 between symbols with loadings in loading_range).
    n_planted: pairs (S00, S01), (S02, S03), ... made cointegrated: log S(2m+1) =
        a + b log S(2m) + s_t, with b uniform in hedge_range, a uniform in [-2, 2], and s_t an
        AR(1) (discrete OU) with half-life uniform in half_life_range (bars) and innovation sd
        uniform in spread_sd_range (log-price units), started at its stationary distribution.
    """
    if not 0 <= 2 * n_planted <= n_symbols:
        raise ValueError(f"n_planted must be in [0, n_symbols / 2], got {n_planted}")
    stream = _PLANTED_STREAM if n_planted else _NULL_STREAM
    rng = np.random.default_rng([seed, stream])
    factor = np.cumsum(rng.normal(0.0, factor_sd, n_bars))
    loading = rng.uniform(*loading_range, n_symbols)
    idio = np.cumsum(rng.normal(0.0, idio_sd, (n_bars, n_symbols)), axis=0)
    level = rng.uniform(-2.0, 11.0, n_symbols)
    logp = level + factor[:, None] * loading + idio
    symbols = tuple(f"S{k:02d}" for k in range(n_symbols))
    planted: dict[frozenset[str], float] = {}
    for m in range(n_planted):
        lead, follow = 2 * m, 2 * m + 1
        half_life_bars = float(rng.uniform(*half_life_range))
        spread = _ou_path(
            rng,
            n_bars,
            half_life_bars=half_life_bars,
            innovation_sd=rng.uniform(*spread_sd_range),
        )
        logp[:, follow] = rng.uniform(-2.0, 2.0) + rng.uniform(*hedge_range) * logp[:, lead]
        logp[:, follow] += spread
        planted[frozenset((symbols[lead], symbols[follow]))] = half_life_bars
    return Universe(
        close=np.exp(logp),
        symbols=symbols,
        adv_quote=np.full(n_symbols, LIQUID_ADV),
        planted=MappingProxyType(planted),
    )


def _ou_path(
    rng: np.random.Generator, n_bars: int, *, half_life_bars: float, innovation_sd: float
) -> FloatArray:
    """AR(1) s_t = phi s_{t-1} + e_t with phi = 2^(-1/half_life_bars), e_t ~ N(0, sd^2)."""
    phi = 0.5 ** (1.0 / half_life_bars)
    shocks = rng.normal(0.0, innovation_sd, n_bars)
    # Start at the stationary distribution so the first bars carry no transient.
    shocks[0] /= np.sqrt(1.0 - phi * phi)
    path = np.empty(n_bars)
    path[0] = shocks[0]
    for t in range(1, n_bars):
        path[t] = phi * path[t - 1] + shocks[t]
    return path


@dataclass(frozen=True)
class UniverseOutcome:
    """What `select_pairs` did on one universe: R selected pairs, V of them false (not
    planted, orientation-free), S = R - V true, of `n_planted`; `n_tested` pairs reached
    Engle-Granger (the rest were stopped by the prefilters); `family_size` hypotheses;
    `planted_half_lives` and `found_half_lives` (bars) of the planted pairs and of those
    selected, for power by half-life."""

    n_selected: int
    n_false: int
    n_true: int
    n_planted: int
    n_tested: int
    family_size: int
    planted_half_lives: tuple[float, ...] = ()
    found_half_lives: tuple[float, ...] = ()

    @property
    def fdp(self) -> float:
        """False discovery proportion V / max(R, 1): 0 when nothing is selected."""
        return self.n_false / max(self.n_selected, 1)


@dataclass(frozen=True)
class FdrReport:
    """Per-universe outcomes and their aggregates over the universes measured.

    - `mean_fdp`: mean of V / max(R, 1) over universes, an estimate of the false discovery
      rate of the selected pairs. (BH bounds the FDR of its hypotheses, the pairs, by
      m0 / m x max_qvalue for independent or positively dependent p-values; the selection's
      later checks only drop some of BH's pairs.)
    - `p_any_selected`: share of universes with R >= 1; in null universes every selection is
      false, so this is the family-wise error rate and equals `mean_fdp`.
    - `power`: selected planted pairs / planted pairs, pooled over universes (NaN if none).
    """

    outcomes: tuple[UniverseOutcome, ...]

    @property
    def n_universes(self) -> int:
        return len(self.outcomes)

    @property
    def mean_fdp(self) -> float:
        return float(np.mean([o.fdp for o in self.outcomes]))

    @property
    def p_any_selected(self) -> float:
        return float(np.mean([o.n_selected > 0 for o in self.outcomes]))

    @property
    def power(self) -> float:
        planted = sum(o.n_planted for o in self.outcomes)
        return sum(o.n_true for o in self.outcomes) / planted if planted else float("nan")

    def power_between(self, low_bars: float, high_bars: float) -> float:
        """Power over the planted pairs whose spread half-life is in [low_bars, high_bars)."""
        planted = sum(
            low_bars <= h < high_bars for o in self.outcomes for h in o.planted_half_lives
        )
        found = sum(low_bars <= h < high_bars for o in self.outcomes for h in o.found_half_lives)
        return found / planted if planted else float("nan")

    @property
    def mean_selected(self) -> float:
        return float(np.mean([o.n_selected for o in self.outcomes]))

    @property
    def mean_tested(self) -> float:
        return float(np.mean([o.n_tested for o in self.outcomes]))

    def fdp_standard_error(self) -> float:
        """Standard error of `mean_fdp` (sample sd / sqrt(n)): how far the estimate may sit
        from the true FDR by chance alone."""
        fdp = np.array([o.fdp for o in self.outcomes])
        return float(fdp.std(ddof=1) / np.sqrt(fdp.size)) if fdp.size > 1 else float("nan")


def measure_one(universe: Universe, config: StatsConfig) -> UniverseOutcome:
    """Run `select_pairs` on one universe and count true and false discoveries."""
    selection = select_pairs(universe.close, universe.symbols, universe.adv_quote, config)
    chosen = {frozenset(pair) for pair in selection.selected_pairs()}
    found = chosen & universe.planted.keys()
    n_true = len(found)
    return UniverseOutcome(
        n_selected=len(chosen),
        n_false=len(chosen) - n_true,
        n_true=n_true,
        n_planted=len(universe.planted),
        n_tested=selection.n_tested,
        family_size=selection.family_size,
        planted_half_lives=tuple(universe.planted.values()),
        found_half_lives=tuple(universe.planted[pair] for pair in found),
    )


def measure(universes: Iterable[Universe], config: StatsConfig) -> FdrReport:
    """`measure_one` over every universe (generated lazily if an iterator is passed)."""
    return FdrReport(tuple(measure_one(u, config) for u in universes))
