"""Backtest metrics: returns, risk, drawdowns, trade statistics and the deflated Sharpe ratio.

Pure numpy/scipy-free arithmetic on an equity curve (one value per bar, quote currency) and a
trade ledger's per-trade figures. No I/O. Annualisation assumes markets that trade every hour
of the year (crypto): `bars_per_year = 365 * 24 h / timeframe`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


@dataclass(frozen=True)
class Metrics:
    """Summary of one backtest. Returns are fractions (0.12 = 12 %); durations in bars unless
    the name says days; money in the quote currency."""

    total_return: float
    annual_return: float  # geometric (CAGR)
    annual_vol: float
    sharpe: float  # annualised, zero risk-free rate, from per-bar simple returns
    sortino: float  # annualised; downside deviation of per-bar returns below 0
    calmar: float  # annual_return / |max_drawdown|
    max_drawdown: float  # most negative equity / running peak - 1 (e.g. -0.08)
    # The deepest drawdown's duration: bars from the peak before it to the recovery (equity
    # back at or above that peak), or to the last bar when it never recovered.
    max_drawdown_bars: int
    max_drawdown_recovered: bool
    longest_underwater_bars: int  # the longest drawdown of all, peak to recovery (or end)
    n_trades: int
    win_rate: float  # share of closed trades with net P&L > 0
    profit_factor: float  # gross profit / gross loss of closed trades (inf when no loss)
    avg_holding_bars: float
    median_holding_bars: float
    turnover: float  # traded notional / average equity, annualised
    exposure: float  # share of bars with any open position
    traded_notional: float  # quote notional of every fill, both legs, entries and exits
    fees_paid: float  # positive = paid
    slippage_paid: float  # positive = paid
    funding_paid: float  # positive = paid, negative = received
    fee_bps: float  # fees per fill, bps of the filled notional (notional-weighted mean)
    slippage_bps: float  # slippage per fill, bps of the filled notional
    deflated_sharpe: float  # probability the true Sharpe is > 0 given the trials (0..1)
    n_trials: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def bar_returns(equity: FloatArray) -> FloatArray:
    """Simple returns per bar of an equity curve (length n - 1)."""
    eq = np.asarray(equity, dtype=np.float64)
    out: FloatArray = eq[1:] / eq[:-1] - 1.0
    return out


class Drawdown(NamedTuple):
    """An equity curve's drawdowns. Durations count bars from the peak a drawdown starts at
    to its recovery (the first bar back at or above that peak), or to the last bar when it
    never recovered: equity 100, 90, 95, 100 is one drawdown of 3 bars."""

    per_bar: FloatArray  # equity / running peak - 1, (n_bars,), 0 at a peak
    max_drawdown: float  # the minimum of per_bar (e.g. -0.08); 0 when never below a peak
    max_drawdown_bars: int  # the deepest drawdown's duration (0 when there is none)
    max_drawdown_recovered: bool  # the deepest drawdown ended back at its peak
    longest_underwater_bars: int  # the longest drawdown's duration, however shallow


def drawdown(equity: FloatArray) -> Drawdown:
    """The drawdowns of `equity` (n_bars,), quote currency. The deepest drawdown is the one
    holding the lowest bar (the first, on a tie); it is often not the longest one (a sharp
    fall soon recovered, then a long shallow sag), so both durations are given."""
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return Drawdown(np.zeros(0), 0.0, 0, True, 0)
    peak = np.maximum.accumulate(eq)
    dd: FloatArray = eq / peak - 1.0
    trough = int(np.argmin(dd))
    if dd[trough] >= 0.0:
        return Drawdown(dd, 0.0, 0, True, 0)
    is_peak = dd >= 0.0
    at_peak = np.flatnonzero(is_peak)
    # A drawdown starts at a bar at its peak followed by one below it, and ends at the next
    # bar at the peak (or at the last bar, unrecovered).
    follows_below = np.append(~is_peak[1:], False)
    starts = np.flatnonzero(is_peak & follows_below)
    next_peak = np.searchsorted(at_peak, starts, side="right")
    recovered = next_peak < at_peak.size
    ends = np.where(recovered, at_peak[np.minimum(next_peak, at_peak.size - 1)], eq.size - 1)
    durations = ends - starts
    deepest = int(np.searchsorted(starts, trough, side="right")) - 1
    return Drawdown(
        dd,
        float(dd[trough]),
        int(durations[deepest]),
        bool(recovered[deepest]),
        int(durations.max()),
    )


def sharpe_ratio(returns: FloatArray, bars_per_year: float) -> float:
    """Annualised Sharpe ratio of per-bar returns (zero risk-free rate, ddof=1); NaN when the
    returns do not vary."""
    if returns.size < 2:
        return math.nan
    sd = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / sd * math.sqrt(bars_per_year) if sd > 0 else math.nan


def sortino_ratio(returns: FloatArray, bars_per_year: float) -> float:
    """Annualised Sortino ratio: mean over the root mean square of min(r, 0) (target 0)."""
    if returns.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return (
        float(np.mean(returns)) / downside * math.sqrt(bars_per_year) if downside > 0 else math.nan
    )


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum of n_trials Sharpe ratios that are all zero in truth, whose estimates
    have variance `sharpe_variance` (Bailey and Lopez de Prado 2014, eq. of SR*)."""
    if n_trials <= 1 or sharpe_variance <= 0.0:
        return 0.0
    z1 = _N.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe_ratio(
    returns: FloatArray, n_trials: int = 1, trial_sharpe_variance: float = 0.0
) -> float:
    """Probability that the strategy's true per-bar Sharpe ratio exceeds the best one expected
    from `n_trials` skill-less configurations (Bailey and Lopez de Prado 2014).

    Sharpe ratios here are per bar (not annualised), as in the paper. `trial_sharpe_variance`
    is the variance of the per-bar Sharpe ratios of the configurations tried (a sweep gives
    it); with one trial this is the probabilistic Sharpe ratio against 0. Accounts for the
    skewness and kurtosis of the returns.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 3:
        return math.nan
    sd = float(np.std(r, ddof=1))
    if sd == 0.0:
        return math.nan
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / m2**1.5
    kurt = float(np.mean(centred**4)) / m2**2  # not excess
    sr = float(np.mean(r)) / sd
    return deflated_sharpe_from_moments(sr, r.size, skew, kurt, n_trials, trial_sharpe_variance)


def deflated_sharpes_of_trials(returns: Sequence[FloatArray]) -> list[float]:
    """Each trial's deflated Sharpe ratio with every trial counted (a sweep's variants):
    `deflated_sharpe_ratio` with n_trials = len(returns) and the sample variance (ddof 1) of
    the trials' finite per-bar Sharpe ratios (0 with fewer than two). returns: one per-bar
    simple-return series per trial (`bar_returns` of its equity)."""
    per_bar = []
    for r in returns:
        sd = float(np.std(r, ddof=1)) if r.size > 1 else 0.0
        per_bar.append(float(np.mean(r)) / sd if sd > 0 else np.nan)
    finite = [v for v in per_bar if np.isfinite(v)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    return [deflated_sharpe_ratio(r, len(returns), variance) for r in returns]


def deflated_sharpe_from_moments(
    sharpe: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    n_trials: int,
    trial_sharpe_variance: float,
) -> float:
    """The deflated Sharpe ratio from a per-bar Sharpe ratio, the number of returns, their
    skewness and (non-excess) kurtosis: Phi((SR - SR*) sqrt(n-1) / sqrt(1 - skew SR +
    (kurt-1)/4 SR^2)), SR* = `expected_max_sharpe(n_trials, trial_sharpe_variance)`."""
    sr0 = expected_max_sharpe(n_trials, trial_sharpe_variance)
    denom = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if denom <= 0.0 or n_obs < 2:
        return math.nan
    return _N.cdf((sharpe - sr0) * math.sqrt(n_obs - 1.0) / math.sqrt(denom))


def compute_metrics(
    equity: FloatArray,
    *,
    bars_per_year: float,
    trade_pnl: FloatArray,
    holding_bars: FloatArray,
    traded_notional: float,
    in_market: npt.NDArray[np.bool_],
    fees_paid: float,
    slippage_paid: float,
    funding_paid: float,
    n_trials: int = 1,
    trial_sharpe_variance: float = 0.0,
) -> Metrics:
    """Every metric of one run.

    equity: (n_bars,) account value at each bar's close, quote currency, starting capital
    first. trade_pnl / holding_bars: per closed trade, net P&L (after fees, slippage,
    funding) and bars held. in_market: (n_bars,) bool, any position open at the close.
    """
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1 or eq.size < 2:
        raise ValueError("equity: need at least 2 bars")
    if not (eq > 0).all():
        raise ValueError("equity: must stay positive (the account was wiped out)")
    rets = bar_returns(eq)
    years = (eq.size - 1) / bars_per_year
    total = float(eq[-1] / eq[0] - 1.0)
    annual = (1.0 + total) ** (1.0 / years) - 1.0 if years > 0 else math.nan
    dd = drawdown(eq)
    max_dd = dd.max_drawdown
    pnl = np.asarray(trade_pnl, dtype=np.float64)
    gains, losses = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    hold = np.asarray(holding_bars, dtype=np.float64)
    return Metrics(
        total_return=total,
        annual_return=annual,
        annual_vol=float(np.std(rets, ddof=1)) * math.sqrt(bars_per_year)
        if rets.size > 1
        else math.nan,
        sharpe=sharpe_ratio(rets, bars_per_year),
        sortino=sortino_ratio(rets, bars_per_year),
        calmar=annual / abs(max_dd) if max_dd < 0 else math.nan,
        max_drawdown=max_dd,
        max_drawdown_bars=dd.max_drawdown_bars,
        max_drawdown_recovered=dd.max_drawdown_recovered,
        longest_underwater_bars=dd.longest_underwater_bars,
        n_trades=int(pnl.size),
        win_rate=float((pnl > 0).mean()) if pnl.size else math.nan,
        profit_factor=gains / losses if losses > 0 else (math.inf if gains > 0 else math.nan),
        avg_holding_bars=float(hold.mean()) if hold.size else math.nan,
        median_holding_bars=float(np.median(hold)) if hold.size else math.nan,
        turnover=traded_notional / float(eq.mean()) / years if years > 0 else math.nan,
        exposure=float(np.asarray(in_market, dtype=bool).mean()),
        traded_notional=traded_notional,
        fees_paid=fees_paid,
        slippage_paid=slippage_paid,
        funding_paid=funding_paid,
        fee_bps=fees_paid / traded_notional * 1e4 if traded_notional > 0 else math.nan,
        slippage_bps=slippage_paid / traded_notional * 1e4 if traded_notional > 0 else math.nan,
        deflated_sharpe=deflated_sharpe_ratio(rets, n_trials, trial_sharpe_variance),
        n_trials=n_trials,
    )
