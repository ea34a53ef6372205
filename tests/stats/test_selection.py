"""Pair selection: planted pairs found and every rejection reason where expected, statistics
against their oracles (statsmodels coint and multipletests, numpy lstsq, pandas corr), the
recorded demo market end to end, NaN handling and bad inputs.

The synthetic universe uses a fixed ADF lag (coint_autolag "none", coint_maxlag 1) so the
statsmodels oracle stays fast; the AIC path is compared on a short sample.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.tsa.stattools import coint

from pairscan.config import StatsConfig
from pairscan.stats.meanrev import half_life, hurst
from pairscan.stats.selection import MIN_COMMON_RETURNS, PairSelection, Reason, select_pairs

FloatArray = npt.NDArray[np.float64]

N_BARS = 3_000
HALF_LIFE_BARS = 20.0
LIQUID_ADV = 5e7  # quote currency per day; the default floor is 1e6
PLANTED = {("Y1", "X1"), ("Y2", "X2"), ("Y3", "X3")}
ILLIQUID = "Y1_THIN"
CORRELATED = tuple(f"R{k}" for k in range(9))  # load fully on the market factor
UNCORRELATED = ("U0", "U1", "U2")  # load weakly: returns correlation well below 0.5
FIXED_LAG = StatsConfig(coint_autolag="none", coint_maxlag=1)
DEMO_BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX", "LTC", "BCH")
DEMO_BARS = 90 * 24


def ou_spread(rng: np.random.Generator, n_bars: int, half_life_bars: float) -> FloatArray:
    """AR(1) spread with the given half-life and 0.2 % innovations (log-price units)."""
    phi = 0.5 ** (1.0 / half_life_bars)
    eps = rng.normal(0.0, 0.002, n_bars)
    s = np.empty(n_bars)
    s[0] = eps[0]
    for t in range(1, n_bars):
        s[t] = phi * s[t - 1] + eps[t]
    return s


@functools.cache
def universe() -> tuple[FloatArray, tuple[str, ...], FloatArray]:
    """(close float64[N_BARS, 19], symbols, adv_quote): one-factor random walks at crypto-like
    log levels, three planted cointegrated pairs (OU spreads, half-life 20 bars) and a thin
    copy of Y1 that is cointegrated with X1 but below the liquidity floor."""
    rng = np.random.default_rng(20240611)
    factor = rng.normal(0.0, 0.008, N_BARS)

    def walk(loading: float, level: float) -> FloatArray:
        returns = loading * factor + rng.normal(0.0, 0.006, N_BARS)
        return level + np.cumsum(returns)

    columns: dict[str, FloatArray] = {}
    for k, name in enumerate(CORRELATED):
        columns[name] = walk(1.0, -2.0 + 1.5 * k)  # from ~0.14 to ~60,000 USDT
    for k, name in enumerate(UNCORRELATED):
        columns[name] = walk(0.15, 1.0 + 2.0 * k)
    for k, (level, beta) in enumerate([(11.0, 0.8), (8.0, 1.2), (5.0, 1.0)], start=1):
        x = walk(1.0, level)
        columns[f"X{k}"] = x
        columns[f"Y{k}"] = 0.5 + beta * x + ou_spread(rng, N_BARS, HALF_LIFE_BARS)
    columns[ILLIQUID] = 0.3 + 0.8 * columns["X1"] + ou_spread(rng, N_BARS, HALF_LIFE_BARS)
    symbols = tuple(columns)
    close = np.exp(np.column_stack([columns[s] for s in symbols]))
    adv = np.where(np.array(symbols) == ILLIQUID, 1e4, LIQUID_ADV)
    close.flags.writeable = False
    adv.flags.writeable = False
    return close, symbols, adv


@functools.cache
def run(config: StatsConfig = FIXED_LAG) -> PairSelection:
    close, symbols, adv = universe()
    return select_pairs(close, symbols, adv, config)


def pair_key(sel: PairSelection, k: int) -> frozenset[str]:
    return frozenset((str(sel.y[k]), str(sel.x[k])))


def rows_with(sel: PairSelection, name: str) -> npt.NDArray[np.bool_]:
    return np.asarray((sel.y == name) | (sel.x == name))


def reason_of(sel: PairSelection) -> dict[frozenset[str], str]:
    return {pair_key(sel, k): str(sel.reason[k]) for k in range(sel.reason.size)}


PLANTED_KEYS = {frozenset(p) for p in PLANTED}


# --- the synthetic universe: what is selected and why the rest is not -----------------------


def test_planted_pairs_are_selected_and_nothing_else() -> None:
    sel = run()
    n_symbols = len(universe()[1])
    assert sel.reason.size == n_symbols * (n_symbols - 1) // 2
    assert {frozenset(p) for p in sel.selected_pairs()} == PLANTED_KEYS
    assert sel.selected.sum() == 3
    assert set(sel.reason[sel.selected]) == {Reason.SELECTED}


def test_each_rejection_reason_where_expected() -> None:
    sel = run()
    reasons = reason_of(sel)
    thin = rows_with(sel, ILLIQUID)
    # The thin copy correlates strongly with its siblings: only the floor stops it.
    assert reasons[frozenset((ILLIQUID, "X1"))] == Reason.ILLIQUID
    assert reasons[frozenset((ILLIQUID, "Y1"))] == Reason.ILLIQUID
    assert set(sel.reason[thin]) <= {Reason.ILLIQUID, Reason.LOW_CORRELATION}
    weak = np.zeros(sel.reason.size, dtype=bool)
    for name in UNCORRELATED:
        weak |= rows_with(sel, name)
    assert set(sel.reason[weak]) == {Reason.LOW_CORRELATION}
    random = ~sel.selected & ~thin & ~weak
    assert set(sel.reason[random]) == {Reason.NOT_COINTEGRATED}
    assert sel.summary()[Reason.NOT_COINTEGRATED] > 100


def test_statistics_are_reported_up_to_the_failing_check() -> None:
    sel = run()
    low = sel.reason == Reason.LOW_CORRELATION
    assert np.isfinite(sel.corr[low]).all()
    assert np.isnan(sel.pvalue[low]).all()
    assert (sel.lag[low] == -1).all()
    illiquid = sel.reason == Reason.ILLIQUID
    assert (np.minimum(sel.adv_y[illiquid], sel.adv_x[illiquid]) < 1e6).all()
    assert np.isnan(sel.qvalue[illiquid]).all()
    failed = sel.reason == Reason.NOT_COINTEGRATED
    assert (sel.qvalue[failed] > FIXED_LAG.max_qvalue).all()
    assert np.isnan(sel.beta[failed]).all()
    assert np.isnan(sel.half_life[failed]).all()
    chosen = sel.selected
    assert (sel.qvalue[chosen] <= FIXED_LAG.max_qvalue).all()
    assert (np.abs(sel.half_life[chosen] - HALF_LIFE_BARS) < 8.0).all()
    assert (sel.hurst[chosen] < 0.5).all()


def test_ranks_are_consecutive_in_q_then_half_life_order() -> None:
    sel = run()
    chosen = np.flatnonzero(sel.selected)
    assert sorted(sel.rank[chosen]) == list(range(chosen.size))
    assert (sel.rank[~sel.selected] == -1).all()
    by_rank = chosen[np.argsort(sel.rank[chosen])]
    keys = list(zip(sel.qvalue[by_rank], sel.half_life[by_rank], strict=True))
    assert keys == sorted(keys)


def test_max_pairs_cuts_the_ranking() -> None:
    full, cut = run(), run(replace(FIXED_LAG, max_pairs=2))
    assert cut.selected_pairs() == full.selected_pairs()[:2]
    assert list(cut.rank[cut.selected]) == list(full.rank[cut.selected])
    beyond = np.flatnonzero(cut.reason == Reason.BEYOND_MAX_PAIRS)
    assert beyond.size == 1
    assert full.rank[beyond[0]] == 2
    assert cut.rank[beyond[0]] == -1


def test_half_life_band_rejects_and_still_reports() -> None:
    sel = run(replace(FIXED_LAG, half_life_max_bars=5.0))
    planted = np.array([pair_key(sel, k) in PLANTED_KEYS for k in range(sel.reason.size)])
    assert set(sel.reason[planted]) == {Reason.HALF_LIFE_OUT_OF_BAND}
    assert np.isfinite(sel.half_life[planted]).all()
    assert np.isfinite(sel.hurst[planted]).all()
    assert not sel.selected.any()
    assert sel.selected_pairs() == []


def test_hurst_ceiling_rejects() -> None:
    sel = run(replace(FIXED_LAG, max_hurst=0.05))
    planted = np.array([pair_key(sel, k) in PLANTED_KEYS for k in range(sel.reason.size)])
    assert set(sel.reason[planted]) == {Reason.HURST_TOO_HIGH}
    assert (sel.hurst[planted] >= 0.05).all()


def test_summary_and_frame() -> None:
    sel = run(replace(FIXED_LAG, max_pairs=2))
    summary = sel.summary()
    assert list(summary) == [r.value for r in Reason]
    assert sum(summary.values()) == sel.reason.size
    assert summary[Reason.SELECTED] == 2
    assert summary[Reason.BEYOND_MAX_PAIRS] == 1
    frame = sel.to_frame()
    assert len(frame) == sel.reason.size
    assert list(frame.columns[:4]) == ["y", "x", "iy", "ix"]
    assert list(frame["rank"][:2]) == [0, 1]
    assert list(zip(frame["y"][:2], frame["x"][:2], strict=True)) == sel.selected_pairs()
    assert frame["reason"][2] == Reason.BEYOND_MAX_PAIRS
    assert not frame["selected"][2:].any()


# --- oracles ---------------------------------------------------------------------------------


def test_engle_granger_matches_statsmodels_coint_in_the_kept_orientation() -> None:
    sel = run()
    logp = np.log(universe()[0])
    for k in np.flatnonzero(sel.selected):
        y, x = logp[:, sel.iy[k]], logp[:, sel.ix[k]]
        tstat, pvalue, _ = coint(y, x, trend="c", maxlag=1, autolag=None)
        assert sel.tstat[k] == pytest.approx(tstat, abs=1e-9)
        assert sel.pvalue[k] == pytest.approx(pvalue, abs=1e-6)
        assert sel.lag[k] == 1
        # The kept orientation is the one with the more negative statistic.
        assert sel.tstat[k] <= coint(x, y, trend="c", maxlag=1, autolag=None)[0] + 1e-9


def test_aic_lag_selection_matches_statsmodels_on_a_short_sample() -> None:
    close, symbols, adv = universe()
    short = close[:300]
    sel = select_pairs(short, symbols, adv, StatsConfig(coint_autolag="aic", coint_maxlag=6))
    logp = np.log(short)
    tested = np.flatnonzero(np.isfinite(sel.pvalue))
    checked = np.concatenate([np.flatnonzero(sel.selected), tested[:6]])
    assert checked.size >= 6
    for k in checked:
        tstat, pvalue, _ = coint(
            logp[:, sel.iy[k]], logp[:, sel.ix[k]], trend="c", maxlag=6, autolag="aic"
        )
        assert sel.tstat[k] == pytest.approx(tstat, abs=1e-9)
        assert sel.pvalue[k] == pytest.approx(pvalue, abs=1e-6)


def family_oracle(sel: PairSelection, close: FloatArray, config: StatsConfig) -> FloatArray:
    """statsmodels BH over the documented family: every candidate pair, a tested pair with the
    Bonferroni p-value of its two orientations (statsmodels `coint` each way), p = 1 for every
    other candidate."""
    logp = np.log(close)
    tested = np.flatnonzero(np.isfinite(sel.pvalue))
    family = np.ones(sel.y.size)
    lag = config.coint_maxlag
    autolag = None if config.coint_autolag == "none" else config.coint_autolag
    for slot, k in enumerate(tested):
        a, b = logp[:, sel.iy[k]], logp[:, sel.ix[k]]
        both = [
            coint(*legs, trend="c", maxlag=lag, autolag=autolag)[1] for legs in ((a, b), (b, a))
        ]
        family[slot] = min(1.0, 2.0 * min(both))
    q = multipletests(family, method="fdr_bh")[1]
    out = np.full(sel.y.size, np.nan)
    out[tested] = q[: tested.size]
    return out


def test_qvalues_are_bh_over_both_orientations_of_every_candidate_pair() -> None:
    sel = run()
    close = universe()[0]
    tested = np.isfinite(sel.pvalue)
    assert sel.n_tested == tested.sum()
    assert sel.family_size == sel.y.size
    prefiltered = np.isin(sel.reason, [Reason.LOW_CORRELATION, Reason.ILLIQUID])
    assert prefiltered.any()
    assert not (tested & prefiltered).any()
    np.testing.assert_allclose(
        sel.qvalue[tested], family_oracle(sel, close, FIXED_LAG)[tested], rtol=1e-9, atol=1e-12
    )
    assert np.isnan(sel.qvalue[~tested]).all()
    # The family is larger than the tested pairs alone, so no q-value is below that BH.
    narrow = multipletests(sel.pvalue[tested], method="fdr_bh")[1]
    assert (sel.qvalue[tested] >= narrow - 1e-15).all()


def test_hedge_band_rejects_small_and_negative_static_betas() -> None:
    # Y = 0.1 X + OU and Y = -0.8 X + OU: cointegrated, but the first is a one-coin bet and
    # the second would put both legs on one side.
    rng = np.random.default_rng(7)
    n = N_BARS
    factor = rng.normal(0.0, 0.008, n)
    x = 8.0 + np.cumsum(factor + rng.normal(0.0, 0.004, n))
    columns = {
        "X": x,
        "SMALL": 1.0 + 0.1 * x + ou_spread(rng, n, HALF_LIFE_BARS),
        "NEG": 12.0 - 0.8 * x + ou_spread(rng, n, HALF_LIFE_BARS),
        "GOOD": 0.5 + 0.9 * x + ou_spread(rng, n, HALF_LIFE_BARS),
    }
    close = np.exp(np.column_stack(list(columns.values())))
    # The correlation prefilter would stop NEG before the band; let it through to test it.
    config = replace(FIXED_LAG, min_return_corr=-1.0)
    sel = select_pairs(close, tuple(columns), np.full(4, LIQUID_ADV), config)
    reasons = reason_of(sel)
    assert reasons[frozenset(("X", "GOOD"))] == Reason.SELECTED
    assert reasons[frozenset(("X", "NEG"))] == Reason.HEDGE_OUT_OF_BAND
    for k in np.flatnonzero(sel.reason == Reason.HEDGE_OUT_OF_BAND):
        assert not config.min_hedge_ratio <= sel.beta[k] <= config.max_hedge_ratio
    small = next(k for k in range(sel.y.size) if pair_key(sel, k) == frozenset(("X", "SMALL")))
    # SMALL on X has beta ~0.1 (out of band); X on SMALL has a large beta: either way the
    # kept orientation is judged by the band, and a selected pair is always inside it.
    assert sel.reason[small] != Reason.SELECTED or (
        config.min_hedge_ratio <= sel.beta[small] <= config.max_hedge_ratio
    )
    assert (sel.beta[sel.selected] >= config.min_hedge_ratio).all()


def test_hedge_ratio_half_life_and_hurst_match_their_oracles() -> None:
    sel = run()
    logp = np.log(universe()[0])
    for k in np.flatnonzero(sel.selected):
        y, x = logp[:, sel.iy[k]], logp[:, sel.ix[k]]
        (beta, alpha), *_ = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)
        assert sel.beta[k] == pytest.approx(beta, rel=1e-10)
        assert sel.alpha[k] == pytest.approx(alpha, rel=1e-9, abs=1e-10)
        spread = y - alpha - beta * x
        assert sel.half_life[k] == pytest.approx(float(half_life(spread)), rel=1e-8)
        assert sel.hurst[k] == pytest.approx(float(hurst(spread, max_lag=20)), rel=1e-8)


def test_correlation_matches_pandas_pairwise_with_holes() -> None:
    close = np.array(universe()[0])
    rng = np.random.default_rng(5)
    close[rng.random(close.shape) < 0.03] = np.nan
    close[:400, 2] = np.nan  # a late listing
    _, symbols, adv = universe()
    sel = select_pairs(close, symbols, adv, FIXED_LAG)
    returns = pd.DataFrame(np.diff(np.log(close), axis=0))
    expected = returns.corr().to_numpy()
    counts = returns.notna().astype(float).T.dot(returns.notna().astype(float)).to_numpy()
    np.testing.assert_allclose(sel.corr, expected[sel.iy, sel.ix], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(sel.n_returns, counts[sel.iy, sel.ix])


# --- missing data ----------------------------------------------------------------------------


def with_columns(
    changes: dict[str, FloatArray],
) -> tuple[FloatArray, tuple[str, ...], FloatArray]:
    """A writable copy of the universe with some columns of close replaced."""
    close, symbols, adv = universe()
    out = np.array(close)
    for name, column in changes.items():
        out[:, symbols.index(name)] = column
    return out, symbols, adv


def test_a_hole_inside_the_span_makes_the_symbol_untestable() -> None:
    close, symbols, _ = universe()
    holed = np.array(close[:, symbols.index("X2")])
    holed[700:705] = np.nan
    sel = select_pairs(*with_columns({"X2": holed}), FIXED_LAG)
    reasons = reason_of(sel)
    # Engle-Granger does not bridge gaps (its lag structure would be a lie): not tested.
    assert reasons[frozenset(("Y2", "X2"))] == Reason.INSUFFICIENT_DATA
    with_x2 = rows_with(sel, "X2")
    assert set(sel.reason[with_x2]) == {
        Reason.INSUFFICIENT_DATA,
        Reason.LOW_CORRELATION,
        Reason.ILLIQUID,
    }
    involved = with_x2 & (sel.reason == Reason.INSUFFICIENT_DATA)
    assert np.isfinite(sel.corr[involved]).all()
    assert np.isnan(sel.pvalue[involved]).all()
    assert {frozenset(p) for p in sel.selected_pairs()} == PLANTED_KEYS - {frozenset(("Y2", "X2"))}


def test_a_late_listing_is_tested_on_its_shorter_span() -> None:
    close, symbols, _ = universe()
    late = {name: np.array(close[:, symbols.index(name)]) for name in ("X3", "Y3")}
    for column in late.values():
        column[:500] = np.nan
    sel = select_pairs(*with_columns(late), FIXED_LAG)
    assert frozenset(("Y3", "X3")) in {frozenset(p) for p in sel.selected_pairs()}
    k = next(k for k in range(sel.reason.size) if pair_key(sel, k) == {"Y3", "X3"})
    logp = np.log(close[500:])
    tstat, _, _ = coint(logp[:, sel.iy[k]], logp[:, sel.ix[k]], maxlag=1, autolag=None)
    assert sel.tstat[k] == pytest.approx(tstat, abs=1e-9)


def test_an_all_nan_symbol_and_unknown_adv() -> None:
    _, symbols, adv = universe()
    dead = np.full(N_BARS, np.nan)
    changed, _, _ = with_columns({"R0": dead})
    unknown = np.array(adv)
    unknown[symbols.index("X1")] = np.nan
    sel = select_pairs(changed, symbols, unknown, FIXED_LAG)
    dead_rows = rows_with(sel, "R0")
    assert set(sel.reason[dead_rows]) == {Reason.INSUFFICIENT_DATA}
    assert (sel.n_returns[dead_rows] == 0).all()
    assert np.isnan(sel.corr[dead_rows]).all()
    assert reason_of(sel)[frozenset(("Y1", "X1"))] == Reason.ILLIQUID


def test_a_flat_symbol_has_no_correlation() -> None:
    sel = select_pairs(*with_columns({"R1": np.full(N_BARS, 2.5)}), FIXED_LAG)
    flat = rows_with(sel, "R1")
    assert set(sel.reason[flat]) == {Reason.INSUFFICIENT_DATA}
    assert np.isnan(sel.corr[flat]).all()


def test_too_few_common_returns_is_insufficient_data() -> None:
    close, symbols, _ = universe()
    short = np.full(N_BARS, np.nan)
    short[-MIN_COMMON_RETURNS:] = close[-MIN_COMMON_RETURNS:, symbols.index("X1")]
    sel = select_pairs(*with_columns({"X1": short}), FIXED_LAG)
    assert set(sel.reason[rows_with(sel, "X1")]) == {Reason.INSUFFICIENT_DATA}
    assert (sel.n_returns[rows_with(sel, "X1")] == MIN_COMMON_RETURNS - 1).all()


# --- bad input -------------------------------------------------------------------------------


def bad_inputs() -> list[Any]:
    close, symbols, adv = universe()
    negative = np.array(close)
    negative[3, 1] = -1.0
    return [
        pytest.param(close[:, 0], symbols[:1], adv[:1], FIXED_LAG, "close", id="1-d close"),
        pytest.param(close[:, :1], symbols[:1], adv[:1], FIXED_LAG, "close", id="one symbol"),
        pytest.param(close[:20], symbols, adv, FIXED_LAG, "close", id="too few bars"),
        pytest.param(negative, symbols, adv, FIXED_LAG, "close", id="negative price"),
        pytest.param(close, symbols[:-1], adv, FIXED_LAG, "symbols", id="symbols length"),
        pytest.param(close, ("A",) * len(symbols), adv, FIXED_LAG, "symbols", id="duplicates"),
        pytest.param(close, symbols, adv[:-1], FIXED_LAG, "adv_quote", id="adv length"),
        pytest.param(close, symbols, -adv, FIXED_LAG, "adv_quote", id="negative adv"),
        pytest.param(
            close[:100],
            symbols,
            adv,
            replace(FIXED_LAG, coint_maxlag=60),
            "config.coint_maxlag",
            id="maxlag",
        ),
        pytest.param(
            close[:100],
            symbols,
            adv,
            replace(FIXED_LAG, hurst_max_lag=60),
            "config.hurst_max_lag",
            id="hurst lag",
        ),
    ]


@pytest.mark.parametrize(("close", "symbols", "adv", "config", "name"), bad_inputs())
def test_bad_input_names_the_argument(
    close: FloatArray, symbols: tuple[str, ...], adv: FloatArray, config: StatsConfig, name: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{name}:"):
        select_pairs(close, symbols, adv, config)


# --- the recorded demo market ----------------------------------------------------------------


@functools.cache
def demo_formation() -> tuple[FloatArray, FloatArray]:
    """Closes of the last 90 days (2,160 hourly bars) of ten spot markets aligned by timestamp,
    and each market's ADV over the last 30 days (USDT per day)."""
    data = importlib.resources.files("pairscan.demo") / "data"
    closes, values = {}, {}
    for base in DEMO_BASES:
        with (data / f"BINANCE_{base}-USDT_1h.parquet").open("rb") as handle:
            frame = pd.read_parquet(handle, columns=["timestamp", "close", "volume"])
        frame = frame.set_index("timestamp")
        closes[base] = frame["close"]
        values[base] = frame["close"] * frame["volume"]
    panel = pd.concat(closes, axis=1).sort_index().iloc[-DEMO_BARS:]
    traded = pd.concat(values, axis=1).sort_index().iloc[-30 * 24 :]
    return panel.to_numpy(np.float64), (traded.sum() / 30.0).to_numpy(np.float64)


@pytest.mark.slow  # the whole selection over every demo pair and orientation
def test_demo_market_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    close, adv = demo_formation()
    sel = select_pairs(close, DEMO_BASES, adv, StatsConfig())
    assert close.shape == (DEMO_BARS, len(DEMO_BASES))
    assert sel.reason.size == 45
    assert set(sel.reason) <= {r.value for r in Reason}
    assert sum(sel.summary().values()) == 45
    assert sorted(sel.rank[sel.selected]) == list(range(int(sel.selected.sum())))
    assert np.isfinite(sel.corr).all()
    assert (sel.n_returns == DEMO_BARS - 1).all()
    tested = np.isfinite(sel.pvalue)
    assert tested.any()
    oracle = family_oracle(sel, close, StatsConfig())
    np.testing.assert_allclose(sel.qvalue[tested], oracle[tested], rtol=1e-6, atol=1e-9)
    chosen = sel.beta[sel.selected]
    assert ((chosen >= 0.2) & (chosen <= 5.0)).all()
    assert capsys.readouterr() == ("", "")
