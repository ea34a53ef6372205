"""Stage 3 (stats): pair selection over a formation window, with the reason each pair failed.

One module (~540 lines): the checks run in order on one per-pair table (`_Table`), each
recording its reason there; split, that table would become a public API.

Composes the existing statistics (returns correlation, Engle-Granger with BH q-values, static
OLS hedge ratio, half-life, Hurst) into one ranked table. Pure numerics: no I/O, no pandas in
loops, nothing looks beyond the last bar it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from pairscan.config import StatsConfig
from pairscan.stats.coint import all_pairs, bh_qvalues, both_orientations
from pairscan.stats.meanrev import half_life, hurst
from pairscan.stats.ols import log_prices

__all__ = [
    "MIN_COMMON_RETURNS",
    "SELECTION_KEYS",
    "PairSelection",
    "Reason",
    "hedge_in_band",
    "select_pairs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

SELECTION_KEYS = (
    "formation_days",
    "reselect_every_hours",
    "min_return_corr",
    "min_adv_quote",
    "max_qvalue",
    "min_hedge_ratio",
    "max_hedge_ratio",
    "coint_maxlag",
    "coint_autolag",
    "half_life_min_bars",
    "half_life_max_bars",
    "max_hurst",
    "hurst_max_lag",
    "max_pairs",
)
"""The `StatsConfig` keys that decide which pairs are selected when: the schedule
(`stats.schedule`), eligibility (`stats.eligibility`) and `select_pairs`. Two configs equal on
these select the same pairs on the same bars (a backtest sweep shares the selection); every
other stats key is in `stats.hedge.HEDGE_KEYS`."""

# A Pearson correlation from n returns has a standard error of about 1/sqrt(n): below 30 the
# estimate is too noisy to filter on (and far too short for a cointegration test anyway).
MIN_COMMON_RETURNS = 30


class Reason(StrEnum):
    """Why a candidate pair ended where it did; the first failing check wins.

    Checks run in this order; `SELECTED` is the reason of the pairs that passed them all.
    """

    INSUFFICIENT_DATA = "insufficient_data"
    """< MIN_COMMON_RETURNS common returns, a flat leg, or Engle-Granger could not test the pair
    (a NaN inside the pair's common span, or a span too short for the lags)."""
    LOW_CORRELATION = "low_correlation"
    """Correlation of bar log returns below `min_return_corr`."""
    ILLIQUID = "illiquid"
    """Either leg's ADV below `min_adv_quote`, or unknown (NaN)."""
    NOT_COINTEGRATED = "not_cointegrated"
    """BH q-value above `max_qvalue`."""
    HEDGE_OUT_OF_BAND = "hedge_out_of_band"
    """Static hedge ratio (beta of log y on log x over the formation window) outside
    [min_hedge_ratio, max_hedge_ratio]: too small to hedge, or negative (both legs one side)."""
    HALF_LIFE_OUT_OF_BAND = "half_life_out_of_band"
    """Half-life outside [half_life_min_bars, half_life_max_bars], +inf (no reversion) or NaN
    (overshooting AR(1) or a flat spread: no OU half-life)."""
    HURST_TOO_HIGH = "hurst_too_high"
    """Hurst exponent >= `max_hurst`, or NaN (too few bars to show it is below)."""
    BEYOND_MAX_PAIRS = "beyond_max_pairs"
    """Passed every check but ranked after the first `max_pairs`."""
    SELECTED = "selected"


# Stage codes in check order. While the checks run, stage[k] is the code of the first check
# pair k has not passed yet, so a failing pair keeps its reason and the code only grows;
# SELECTED (last) means it passed them all.
_STAGES = tuple(Reason)
_CODE = {reason: code for code, reason in enumerate(_STAGES)}


@dataclass(frozen=True)
class PairSelection:
    """One row per candidate pair (every unordered pair of symbols), in `all_pairs` order.

    Orientation: for pairs Engle-Granger tested, `y`/`x` (and `iy`/`ix`, their columns in
    `close`) are the orientation `both_orientations` kept (the lower p-value); for the others,
    the pair's order in `symbols`. Statistics not computed because an earlier check failed are
    NaN (lag -1); step 4's half-life and Hurst are computed together, so a pair that failed
    the half-life band still shows its Hurst exponent.

    - `n_returns`: int64, bar returns where both legs are finite (the correlation's sample).
    - `corr`: Pearson correlation of bar log returns over those rows.
    - `adv_y`, `adv_x`: ADV of each leg, quote currency per day, as passed in.
    - `tstat`, `pvalue`, `lag`: Engle-Granger of the kept orientation (MacKinnon p-value).
    - `qvalue`: Benjamini-Hochberg q-value of the pair's orientation-corrected p-value
      min(1, 2 pvalue) in the family of every candidate pair (`family_size` hypotheses).
    - `beta`, `alpha`: static OLS of log y on [log x, 1] over the pair's valid formation bars
      (Engle-Granger's first stage); spread = log y - alpha - beta log x, in log-price units.
    - `half_life`: of that spread, bars; `hurst`: its Hurst exponent (lags 2..hurst_max_lag).
    - `selected`: bool; `rank`: int64 0..k-1 among selected pairs, -1 otherwise.
    - `reason`: a `Reason` value as str ("selected" for selected pairs).
    """

    y: StrArray
    x: StrArray
    iy: IntArray
    ix: IntArray
    n_returns: IntArray
    corr: FloatArray
    adv_y: FloatArray
    adv_x: FloatArray
    tstat: FloatArray
    pvalue: FloatArray
    qvalue: FloatArray
    lag: IntArray
    beta: FloatArray
    alpha: FloatArray
    half_life: FloatArray
    hurst: FloatArray
    selected: BoolArray
    rank: IntArray
    reason: StrArray

    @property
    def n_tested(self) -> int:
        """Pairs Engle-Granger tested (both orientations each)."""
        return int(np.isfinite(self.pvalue).sum())

    @property
    def family_size(self) -> int:
        """Hypotheses in the BH family: every candidate pair, tested or not, each with the
        Bonferroni p-value of its two orientations (see `select_pairs`, step 3)."""
        return int(self.y.size)

    def selected_pairs(self) -> list[tuple[str, str]]:
        """(y, x) symbol names of the selected pairs in the kept orientation, best rank first;
        `to_frame` has their statistics."""
        order = np.flatnonzero(self.selected)
        order = order[np.argsort(self.rank[order], kind="stable")]
        return [(str(self.y[k]), str(self.x[k])) for k in order]

    def summary(self) -> dict[str, int]:
        """Number of pairs per reason, every reason of the vocabulary present (0 if none)."""
        values, counts = np.unique(self.reason, return_counts=True)
        found = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
        return {reason.value: found.get(reason.value, 0) for reason in Reason}

    def to_frame(self) -> pd.DataFrame:
        """One row per pair, a column per field: selected pairs first in rank order, then the
        rejected ones, those that got furthest through the checks first (then by q-value, then
        candidate order), so near misses sit just below the selection."""
        stage = np.array([_CODE[Reason(r)] for r in self.reason], dtype=np.int64)
        q = np.where(np.isnan(self.qvalue), np.inf, self.qvalue)
        # SELECTED is the last stage, so "furthest first" puts the selection on top.
        order = np.lexsort((np.arange(stage.size), q, self.rank, -stage))
        columns = {f.name: getattr(self, f.name)[order] for f in fields(self)}
        return pd.DataFrame(columns).reset_index(drop=True)


def select_pairs(
    close: npt.ArrayLike,
    symbols: Sequence[str],
    adv_quote: npt.ArrayLike,
    config: StatsConfig,
) -> PairSelection:
    """Select cointegrated, liquid, mean-reverting pairs from one formation window.

    close: float64[n_bars, n_symbols] close prices (quote currency, > 0) on one UTC bar grid,
        oldest first; NaN marks a missing bar (late listing, outage).
    symbols: n_symbols names, column order of `close`, unique.
    adv_quote: float64[n_symbols] average daily traded value of each symbol in quote currency
        as of the formation end (>= 0); NaN (unknown) fails the liquidity floor.
    config: the keys min_return_corr, min_adv_quote, max_qvalue, coint_maxlag, coint_autolag,
        half_life_min_bars, half_life_max_bars (bars), max_hurst, hurst_max_lag (bars),
        max_pairs.

    Every unordered pair (i < j) goes through, in order, the first failure being its reason:

    1. Pearson correlation of bar log returns over the rows where both are finite: fewer than
       MIN_COMMON_RETURNS such rows (or a flat leg) is "insufficient_data", a correlation below
       min_return_corr is "low_correlation".
    2. Liquidity: both legs' ADV >= min_adv_quote, else "illiquid".
    3. Engle-Granger on the survivors, in both orientations (y on x and x on y); the kept
       orientation is the one with the lower p-value, and the pair's p-value pays for that
       choice: min(1, 2 p) (Bonferroni over the two orientations). Then Benjamini-Hochberg
       over ONE family: EVERY candidate pair. A pair the prefilters stopped, or an untestable
       one, enters the family with p = 1: it counts in m but can never be rejected. That
       p-value is super-uniform under the null even though the prefilter looked at the data
       (P(p' <= u) = P(p <= u and passed) <= u), so BH's guarantee holds for the family
       actually examined. This is what keeps a 300-symbol universe (44,850 pairs) from
       passing thousands of pairs by chance; tests/stats/test_selection_fdr.py measures the
       false discovery proportion and the power on seeded universes. An untestable pair (a
       NaN inside its common span; see `engle_granger`) is "insufficient_data"; q >
       max_qvalue is "not_cointegrated".
       coint_autolag "none" means exactly coint_maxlag lags (1 if None).
    4. In the kept orientation: static OLS of log y on [log x, 1] over the formation window
       (Engle-Granger's first stage), spread = log y - alpha - beta log x. A beta outside
       [min_hedge_ratio, max_hedge_ratio] (`hedge_in_band`) is "hedge_out_of_band": below the
       band the pair is a one-coin bet, a negative beta puts both legs on one side. Then the
       full-window `half_life` (must lie in [half_life_min_bars, half_life_max_bars], else
       "half_life_out_of_band") and `hurst(max_lag=hurst_max_lag)` (must be < max_hurst, else
       "hurst_too_high"). Both use their functions' default min_nobs (about half the window),
       so a pair whose common span covers less than half the window fails here with NaN.
    5. Ranking of the pairs that passed: q-value ascending, then half-life ascending (q-values
       tie often, strong pairs all reach p = 0, and faster reversion means more round trips
       per formation window), then candidate order. The first max_pairs are selected with
       rank 0..k-1; the rest are "beyond_max_pairs".

    Look-ahead: the caller passes only the formation window's bars; every statistic here is a
    full-sample fit of exactly those rows, so nothing looks beyond the last row.

    Raises ValueError naming the argument (or config key) for a bad shape, length, value or
    setting the window cannot support.
    """
    logp, names, adv = _validate(close, symbols, adv_quote, config)
    iy, ix = all_pairs(names.size)
    n_returns, corr = _return_corr(logp, iy, ix)
    stage = _prefilter_stage(n_returns, corr, adv[iy], adv[ix], config)
    table = _Table.empty(iy, ix, n_returns, corr)
    survivors = np.flatnonzero(stage == _CODE[Reason.NOT_COINTEGRATED])
    if survivors.size:
        _cointegration(logp, table, stage, survivors, config)
        _mean_reversion(logp, table, stage, config)
    rank = _rank(table, stage, config.max_pairs)
    return table.finish(names, adv, stage, rank)


def _validate(
    close: npt.ArrayLike, symbols: Sequence[str], adv_quote: npt.ArrayLike, config: StatsConfig
) -> tuple[FloatArray, StrArray, FloatArray]:
    prices = np.asarray(close)
    if prices.ndim != 2:
        raise ValueError(
            f"close: expected a 2-D (n_bars, n_symbols) array, got shape {prices.shape}"
        )
    if not (np.issubdtype(prices.dtype, np.floating) or np.issubdtype(prices.dtype, np.integer)):
        raise ValueError(f"close: expected real prices, got dtype {prices.dtype}")
    n_bars, n_symbols = prices.shape
    if n_symbols < 2:
        raise ValueError(
            f"close: need at least 2 symbols (columns) to form a pair, got {n_symbols}"
        )
    if n_bars < MIN_COMMON_RETURNS + 1:
        raise ValueError(
            f"close: need at least {MIN_COMMON_RETURNS + 1} bars (the correlation prefilter's "
            f"minimum of {MIN_COMMON_RETURNS} returns), got {n_bars}"
        )
    try:
        logp = np.ascontiguousarray(log_prices(prices.astype(np.float64)), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"close: {str(exc).removeprefix('prices: ')}") from exc
    names = _validate_symbols(symbols, n_symbols)
    adv = _validate_adv(adv_quote, n_symbols)
    _validate_config(config, n_bars)
    return logp, names, adv


def _validate_symbols(symbols: Sequence[str], n_symbols: int) -> StrArray:
    if isinstance(symbols, str) or not all(isinstance(s, str) for s in symbols):
        raise ValueError("symbols: expected a sequence of symbol names (str)")
    if len(symbols) != n_symbols:
        raise ValueError(
            f"symbols: {len(symbols)} names for {n_symbols} columns of close; need one per column"
        )
    repeated = [name for name, count in Counter(symbols).items() if count > 1]
    if repeated:
        raise ValueError(f"symbols: names must be unique, {repeated[0]!r} appears more than once")
    return np.array(list(symbols), dtype=np.str_)


def _validate_adv(adv_quote: npt.ArrayLike, n_symbols: int) -> FloatArray:
    try:
        adv = np.asarray(adv_quote, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("adv_quote: expected a numeric array, one ADV per symbol") from exc
    if adv.shape != (n_symbols,):
        raise ValueError(
            f"adv_quote: expected shape ({n_symbols},), one ADV per column of close, "
            f"got {adv.shape}"
        )
    known = adv[~np.isnan(adv)]
    if known.size and not (np.isfinite(known).all() and known.min() >= 0.0):
        raise ValueError(
            "adv_quote: must be >= 0 and finite, quote currency per day (NaN = unknown), got "
            f"values in [{known.min()}, {known.max()}]"
        )
    return adv


def _validate_config(config: StatsConfig, n_bars: int) -> None:
    if not isinstance(config, StatsConfig):
        raise ValueError(f"config: expected a StatsConfig, got {type(config).__name__}")
    if config.coint_autolag not in ("aic", "bic", "none"):
        raise ValueError(
            f'config.coint_autolag: must be "aic", "bic" or "none", got {config.coint_autolag!r}'
        )
    lag_limit = n_bars // 2 - 1
    if config.coint_maxlag is not None and not 0 <= config.coint_maxlag <= lag_limit:
        raise ValueError(
            f"config.coint_maxlag: must be in [0, n_bars // 2 - 1] = [0, {lag_limit}] for a "
            f"{n_bars}-bar window, got {config.coint_maxlag}"
        )
    if not 3 <= config.hurst_max_lag <= n_bars // 2:
        raise ValueError(
            f"config.hurst_max_lag: must be in [3, n_bars // 2] = [3, {n_bars // 2}] for a "
            f"{n_bars}-bar window, got {config.hurst_max_lag}"
        )
    if config.max_pairs < 1:
        raise ValueError(f"config.max_pairs: must be >= 1, got {config.max_pairs}")


def _return_corr(logp: FloatArray, iy: IntArray, ix: IntArray) -> tuple[IntArray, FloatArray]:
    """Pairwise-complete Pearson correlation of bar log returns for the pairs (iy, ix), from
    four matrix products over the validity masks instead of one loop per pair.

    Equals pandas `DataFrame(returns).corr()` (pairwise complete observations)."""
    returns = np.diff(logp, axis=0)
    valid = np.isfinite(returns)
    weight = valid.astype(np.float64)
    count = weight.sum(axis=0)
    # Centring each column on its own mean first keeps the sums small; the pairwise formula
    # below re-centres exactly on the common rows.
    own_mean = np.divide(
        np.where(valid, returns, 0.0).sum(axis=0), count, out=np.zeros_like(count), where=count > 0
    )
    centred = np.where(valid, returns - own_mean, 0.0)
    n = weight.T @ weight
    s = centred.T @ weight  # s[i, j]: sum of i's returns over rows where j is valid too
    ss = (centred * centred).T @ weight
    sp = centred.T @ centred
    n_pair = n[iy, ix]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_y, s_x = s[iy, ix], s[ix, iy]
        cov = sp[iy, ix] - s_y * s_x / n_pair
        var_y = ss[iy, ix] - s_y * s_y / n_pair
        var_x = ss[ix, iy] - s_x * s_x / n_pair
        corr = cov / np.sqrt(var_y * var_x)
    # A flat leg (zero variance) has no correlation: NaN, not a rounding-noise number.
    corr = np.where((var_y > 0.0) & (var_x > 0.0), np.clip(corr, -1.0, 1.0), np.nan)
    return n_pair.round().astype(np.int64), corr


def _prefilter_stage(
    n_returns: IntArray, corr: FloatArray, adv_y: FloatArray, adv_x: FloatArray, config: StatsConfig
) -> IntArray:
    """Steps 1-2. Survivors get the code of the next check, NOT_COINTEGRATED."""
    # NaN compares False, so an unknown ADV fails the floor.
    liquid = (adv_y >= config.min_adv_quote) & (adv_x >= config.min_adv_quote)
    return np.select(
        [
            (n_returns < MIN_COMMON_RETURNS) | np.isnan(corr),
            corr < config.min_return_corr,
            ~liquid,
        ],
        [_CODE[Reason.INSUFFICIENT_DATA], _CODE[Reason.LOW_CORRELATION], _CODE[Reason.ILLIQUID]],
        default=_CODE[Reason.NOT_COINTEGRATED],
    ).astype(np.int64)


@dataclass
class _Table:
    """Mutable per-pair columns while the checks run; `finish` freezes them."""

    iy: IntArray
    ix: IntArray
    n_returns: IntArray
    corr: FloatArray
    tstat: FloatArray
    pvalue: FloatArray
    qvalue: FloatArray
    lag: IntArray
    beta: FloatArray
    alpha: FloatArray
    half_life: FloatArray
    hurst: FloatArray

    @classmethod
    def empty(cls, iy: IntArray, ix: IntArray, n_returns: IntArray, corr: FloatArray) -> _Table:
        def nan() -> FloatArray:
            return np.full(iy.size, np.nan)

        return cls(
            iy=iy.copy(),
            ix=ix.copy(),
            n_returns=n_returns,
            corr=corr,
            tstat=nan(),
            pvalue=nan(),
            qvalue=nan(),
            lag=np.full(iy.size, -1, dtype=np.int64),
            beta=nan(),
            alpha=nan(),
            half_life=nan(),
            hurst=nan(),
        )

    def finish(
        self, names: StrArray, adv: FloatArray, stage: IntArray, rank: IntArray
    ) -> PairSelection:
        reasons = np.array([r.value for r in _STAGES], dtype=np.str_)
        return PairSelection(
            y=names[self.iy],
            x=names[self.ix],
            iy=self.iy,
            ix=self.ix,
            n_returns=self.n_returns,
            corr=self.corr,
            adv_y=adv[self.iy],
            adv_x=adv[self.ix],
            tstat=self.tstat,
            pvalue=self.pvalue,
            qvalue=self.qvalue,
            lag=self.lag,
            beta=self.beta,
            alpha=self.alpha,
            half_life=self.half_life,
            hurst=self.hurst,
            selected=stage == _CODE[Reason.SELECTED],
            rank=rank,
            reason=reasons[stage],
        )


def _coint_options(config: StatsConfig) -> tuple[int | None, str | None]:
    if config.coint_autolag == "none":
        return (1 if config.coint_maxlag is None else config.coint_maxlag), None
    return config.coint_maxlag, config.coint_autolag


def _cointegration(
    logp: FloatArray, table: _Table, stage: IntArray, survivors: IntArray, config: StatsConfig
) -> None:
    """Step 3 on the survivors: EG in both orientations, BH over both orientations of every
    candidate pair (p = 1 for those not tested)."""
    maxlag, autolag = _coint_options(config)
    both = both_orientations(
        logp, table.iy[survivors], table.ix[survivors], maxlag=maxlag, autolag=autolag
    )
    eg = both.kept
    table.iy[survivors], table.ix[survivors] = eg.iy, eg.ix
    table.tstat[survivors] = eg.tstat
    table.pvalue[survivors] = eg.pvalue
    table.lag[survivors] = eg.lag
    table.qvalue[survivors] = _family_qvalues(eg.pvalue, table.iy.size)
    untested = np.isnan(eg.pvalue)
    passed = ~untested & (table.qvalue[survivors] <= config.max_qvalue)
    stage[survivors[untested]] = _CODE[Reason.INSUFFICIENT_DATA]
    stage[survivors[passed]] = _CODE[Reason.HEDGE_OUT_OF_BAND]


def _family_qvalues(kept_pvalue: FloatArray, n_candidates: int) -> FloatArray:
    """BH q-values of the tested pairs in the family of all n_candidates pairs.

    kept_pvalue: the better orientation's EG p-value of each tested pair (NaN: untestable).
    Each pair's p-value is the Bonferroni bound of its two orientations, min(1, 2 p), valid
    whatever the dependence between them; every other candidate pair enters with p = 1. BH on
    pairs (not on orientations) is what makes the false discovery rate a rate of false PAIRS:
    BH over the 2 x n orientations controls false orientations, and a true pair found both
    ways counts twice there, so its per-pair FDR ran about 10 % over (measured, see
    tests/stats/test_selection_fdr.py)."""
    n = kept_pvalue.size
    family = np.ones(n_candidates)
    family[:n] = np.minimum(1.0, 2.0 * np.nan_to_num(kept_pvalue, nan=0.5))
    q = bh_qvalues(family)[:n]
    return np.where(np.isnan(kept_pvalue), np.nan, q)


def _mean_reversion(logp: FloatArray, table: _Table, stage: IntArray, config: StatsConfig) -> None:
    """Step 4 for the cointegrated pairs: static hedge ratio and its band, then half-life and
    Hurst of the spread, all pairs at once as (n_bars, n_pairs) columns."""
    keep = np.flatnonzero(stage == _CODE[Reason.HEDGE_OUT_OF_BAND])
    if keep.size == 0:
        return
    y, x = logp[:, table.iy[keep]], logp[:, table.ix[keep]]
    alpha, beta = _static_ols(y, x)
    spread = y - alpha - beta * x
    table.alpha[keep], table.beta[keep] = alpha, beta
    # Both are cheap next to EG, so both are reported even where the half-life already failed.
    table.half_life[keep] = hl = half_life(spread)
    table.hurst[keep] = hu = hurst(spread, max_lag=config.hurst_max_lag)
    # NaN compares False: an undefined half-life or Hurst exponent does not pass.
    hedged = hedge_in_band(beta, config)
    in_band = hedged & (hl >= config.half_life_min_bars) & (hl <= config.half_life_max_bars)
    reverting = in_band & (hu < config.max_hurst)
    stage[keep[hedged]] = _CODE[Reason.HALF_LIFE_OUT_OF_BAND]
    stage[keep[in_band]] = _CODE[Reason.HURST_TOO_HIGH]
    stage[keep[reverting]] = _CODE[Reason.BEYOND_MAX_PAIRS]


def hedge_in_band(beta: npt.ArrayLike, config: StatsConfig) -> BoolArray:
    """True where a hedge ratio (log-price beta, any shape) lies in [min_hedge_ratio,
    max_hedge_ratio]: the one rule that makes a pair a hedge, used by selection on the static
    beta and by the entry gate (`signals.entry_gate`) on the rolling beta at the decision bar.
    The band is positive: a negative beta would put both legs on the same side. NaN fails."""
    b = np.asarray(beta, dtype=np.float64)
    return np.asarray((b >= config.min_hedge_ratio) & (b <= config.max_hedge_ratio))


def _static_ols(y: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """OLS of each column of y on [x, 1] over the rows where both are finite: (alpha, beta).

    For a tested pair these rows are exactly its Engle-Granger span (no NaN inside it, at
    least one leg NaN outside), so this is EG's first stage."""
    valid = np.isfinite(y) & np.isfinite(x)
    n = valid.sum(axis=0)
    y0, x0 = np.where(valid, y, 0.0), np.where(valid, x, 0.0)
    my, mx = y0.sum(axis=0) / n, x0.sum(axis=0) / n
    # Centred sums: BTC-level log prices (~11) would lose digits in raw cross-products.
    cx, cy = np.where(valid, x0 - mx, 0.0), np.where(valid, y0 - my, 0.0)
    beta = (cx * cy).sum(axis=0) / (cx * cx).sum(axis=0)
    return my - beta * mx, beta


def _rank(table: _Table, stage: IntArray, max_pairs: int) -> IntArray:
    """Step 5: rank passing pairs by (q-value, half-life, candidate order); cut at max_pairs."""
    rank = np.full(stage.size, -1, dtype=np.int64)
    passed = np.flatnonzero(stage == _CODE[Reason.BEYOND_MAX_PAIRS])
    order = passed[np.lexsort((passed, table.half_life[passed], table.qvalue[passed]))]
    best = order[:max_pairs]
    rank[best] = np.arange(best.size)
    stage[best] = _CODE[Reason.SELECTED]
    return rank
