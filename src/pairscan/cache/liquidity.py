"""Cache stage: liquidity of one symbol as causal time series (dollar volume, ADV, VWAP, spreads).

Pure numpy in and out (pandas only in `liquidity_frame`); no I/O. A value at bar t uses bars ..t.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from pairscan.market import (
    MS_PER_DAY,
    Candles,
    FloatArray,
    Int64Array,
    trailing_adv,
    typical_dollar_volume,
    window_finite_sums,
    window_starts,
)

SpreadEstimator = Literal["abdi_ranaldo", "corwin_schultz"]
SPREAD_ESTIMATORS: tuple[str, ...] = get_args(SpreadEstimator)

BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]

_BPS = 1e4
# Corwin & Schultz (2012), eq. (14): the constant 3 - 2*sqrt(2).
_CS_K = 3.0 - 2.0 * math.sqrt(2.0)


def dollar_volume(candles: Candles) -> FloatArray:
    """Quote-currency volume per bar (`market.typical_dollar_volume`): typical price
    (high + low + close) / 3 × base volume. Returns float64[n]; the value at bar t uses bar t.
    """
    return typical_dollar_volume(candles.high, candles.low, candles.close, candles.volume)


def adv(candles: Candles, tf_ms: int, days: float) -> FloatArray:
    """Average daily dollar volume over the trailing `days` days, in quote currency per day:
    `market.trailing_adv` on the symbol's candles, the definition the pair selection's
    eligibility uses too (`stats.eligibility`), after checking the arguments.

    Returns float64[n]; the value at bar t covers the bars with open time in
    (open_t - days, open_t], a missing bar counting as zero volume; NaN during warm-up and
    where a bar in the window has a non-finite dollar volume.
    Example: 1h bars, days=30 -> bars t-719..t; the first 719 values are NaN.
    """
    _check_tf(tf_ms)
    if isinstance(days, bool) or not isinstance(days, int | float | np.number) or not days > 0:
        raise ValueError(f"days must be a positive number of days, e.g. 30 (got {days!r})")
    if not math.isfinite(days):
        raise ValueError(f"days must be finite (got {days!r})")
    span_ms = round(days * MS_PER_DAY)
    if span_ms < tf_ms:
        raise ValueError(f"days={days!r} is shorter than one bar of {tf_ms} ms; use more days")
    return trailing_adv(_timestamps(candles), dollar_volume(candles), tf_ms, days)


def rolling_vwap(candles: Candles, window_bars: int, *, tf_ms: int) -> FloatArray:
    """Volume-weighted typical price over the last `window_bars` bars of clock time.

    Returns float64[n], quote currency. The value at bar t uses the bars with open time in
    (open_t - window_bars × tf_ms, open_t], i.e. bars t-window_bars+1..t when none is missing;
    missing bars contribute nothing. NaN during warm-up (the first window_bars-1 bars of
    history), where the window's volume is 0, and where a window value is non-finite.
    """
    _check_tf(tf_ms)
    _check_window(window_bars)
    ts = _timestamps(candles)
    if ts.shape[0] == 0:
        return np.empty(0, dtype=np.float64)
    starts = window_starts(ts, window_bars * tf_ms)
    volume = np.asarray(candles.volume, dtype=np.float64)
    notional, n_notional = window_finite_sums(dollar_volume(candles), starts)
    volume_sum, n_volume = window_finite_sums(volume, starts)
    n_rows = np.arange(ts.shape[0]) - starts + 1
    ok = (n_notional == n_rows) & (n_volume == n_rows) & (volume_sum > 0.0)
    ok &= ts - (window_bars - 1) * tf_ms >= ts[0]
    out = np.full(ts.shape[0], np.nan)
    np.divide(notional, volume_sum, out=out, where=ok)
    return out


def abdi_ranaldo_bps(candles: Candles, window_bars: int, *, tf_ms: int) -> FloatArray:
    """Abdi-Ranaldo close-high-low bid-ask spread, rolling over `window_bars` bars, in bps.

    Abdi, F. and Ranaldo, A. (2017), "A Simple Estimation of Bid-Ask Spreads from Daily Close,
    High, and Low Prices", Review of Financial Studies 30(12), 4437-4480.

    With log prices c and mid-range η = (log high + log low) / 2, each pair of consecutive bars
    (t-1, t) gives s² = 4 (c_{t-1} − η_{t-1})(c_{t-1} − η_t). The estimate at bar t averages the
    valid pairs whose second bar opens in (open_t − window_bars × tf_ms, open_t], then
    S = sqrt(max(mean, 0)) × 1e4 bps: the paper's basic "monthly" estimator with a negative
    window average set to zero, not its two-day corrected variant. Returns float64[n]; the value
    at bar t uses bars ..t. Pair validity, warm-up and the half-window rule are as in
    `spread_bps`.
    """
    _check_tf(tf_ms)
    _check_window(window_bars)
    valid = _valid_pairs(candles, tf_ms)
    log_high, log_low, log_close = (
        np.log(np.where(valid_bar, price, 1.0)) for valid_bar, price in _positive_prices(candles)
    )
    mid = (log_high + log_low) / 2.0
    products = np.full(valid.shape[0], np.nan)
    products[1:] = 4.0 * (log_close[:-1] - mid[:-1]) * (log_close[:-1] - mid[1:])
    products[~valid] = np.nan
    mean = _rolling_pair_mean(products, _timestamps(candles), window_bars, tf_ms)
    return np.sqrt(np.maximum(mean, 0.0)) * _BPS


def corwin_schultz_bps(candles: Candles, window_bars: int, *, tf_ms: int) -> FloatArray:
    """Corwin-Schultz high-low bid-ask spread, rolling over `window_bars` bars, in bps.

    Corwin, S. A. and Schultz, P. (2012), "A Simple Way to Estimate Bid-Ask Spreads from Daily
    High and Low Prices", Journal of Finance 67(2), 719-760.

    Each pair of consecutive bars (t-1, t) gives β = ln(H_t/L_t)² + ln(H_{t-1}/L_{t-1})²,
    γ = ln(max(H_t, H_{t-1}) / min(L_t, L_{t-1}))², α = (√(2β) − √β)/(3 − 2√2) − √(γ/(3 − 2√2))
    and S = 2(e^α − 1)/(1 + e^α). Negative two-bar estimates are set to zero before averaging,
    the paper's main choice (dropping them would bias the average up). The paper's overnight
    adjustment is not applied: crypto trades 24/7, so there is no close-to-open gap. The
    estimate at bar t averages the valid pairs whose second bar opens in
    (open_t − window_bars × tf_ms, open_t], × 1e4 bps. Returns float64[n]; the value at bar t
    uses bars ..t. Pair validity, warm-up and the half-window rule are as in `spread_bps`.
    """
    _check_tf(tf_ms)
    _check_window(window_bars)
    valid = _valid_pairs(candles, tf_ms)
    (ok_high, high), (ok_low, low), _ = _positive_prices(candles)
    high = np.where(ok_high, high, 1.0)
    low = np.where(ok_low, low, 1.0)
    range_sq = np.log(high / low) ** 2
    beta = range_sq[1:] + range_sq[:-1]
    gamma = np.log(np.maximum(high[1:], high[:-1]) / np.minimum(low[1:], low[:-1])) ** 2
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / _CS_K - np.sqrt(gamma / _CS_K)
    pair_spread = np.full(valid.shape[0], np.nan)
    pair_spread[1:] = np.maximum(2.0 * np.expm1(alpha) / (1.0 + np.exp(alpha)), 0.0)
    pair_spread[~valid] = np.nan
    return _rolling_pair_mean(pair_spread, _timestamps(candles), window_bars, tf_ms) * _BPS


def spread_bps(
    candles: Candles, window_bars: int, estimator: SpreadEstimator, *, tf_ms: int
) -> FloatArray:
    """Rolling bid-ask spread in bps (1 bp = 0.01 % of the mid price) by the named estimator.

    Returns float64[n]; the value at bar t uses the pairs of consecutive bars (s-1, s) whose
    second bar opens in (open_t − window_bars × tf_ms, open_t], so bars ..t only.
    A pair is excluded (counted as missing) when the two bars are not consecutive (a missing
    bar lies between them), when either bar has zero volume (an exchange-synthesised bar with
    no trades says nothing about quotes), or when a price is non-positive or non-finite. Flat
    bars with volume are kept: all trades at one price is genuine information.
    NaN during warm-up (the first window_bars bars of history, since a pair needs a previous
    bar) and where fewer than half of the window's window_bars pairs are valid.
    """
    if estimator == "abdi_ranaldo":
        return abdi_ranaldo_bps(candles, window_bars, tf_ms=tf_ms)
    if estimator == "corwin_schultz":
        return corwin_schultz_bps(candles, window_bars, tf_ms=tf_ms)
    raise ValueError(f"estimator must be one of {', '.join(SPREAD_ESTIMATORS)} (got {estimator!r})")


@dataclass(frozen=True)
class LiquiditySnapshot:
    """Latest liquidity of one symbol, at its last bar (NaN where still in warm-up).

    adv: quote currency per day over `adv_days`; vwap: quote currency over `window_bars` bars;
    spreads: bps over `window_bars` bars; last_dollar_volume: quote currency of the last bar.
    """

    symbol: str
    last_bar_ms: int | None
    adv: float
    adv_days: float
    window_bars: int
    vwap: float
    abdi_ranaldo_bps: float
    corwin_schultz_bps: float
    last_dollar_volume: float


def liquidity_snapshot(
    candles: Candles,
    tf_ms: int,
    *,
    symbol: str = "",
    adv_days: float = 30.0,
    window_bars: int | None = None,
    as_of_ms: int | None = None,
) -> LiquiditySnapshot:
    """Liquidity of one symbol at its last bar opening at or before `as_of_ms` (default: all).

    `window_bars` (VWAP and spreads) defaults to the bars in `adv_days` (720 for 1h, 30 days).
    Uses bars ..as_of_ms only, so a backtest can ask what was liquid at a past date.
    """
    window = _default_window(tf_ms, adv_days, window_bars)
    if as_of_ms is not None:
        candles = candles.between(end_ms=as_of_ms)
    columns = _liquidity_columns(candles, tf_ms, adv_days, window)
    last = {
        name: float(values[-1]) if len(values) else math.nan for name, values in columns.items()
    }
    return LiquiditySnapshot(
        symbol=symbol,
        last_bar_ms=int(candles.timestamp[-1]) if len(candles) else None,
        adv=last["adv"],
        adv_days=adv_days,
        window_bars=window,
        vwap=last["vwap"],
        abdi_ranaldo_bps=last["abdi_ranaldo_bps"],
        corwin_schultz_bps=last["corwin_schultz_bps"],
        last_dollar_volume=last["dollar_volume"],
    )


def liquidity_table(
    series: Mapping[str, Candles],
    tf_ms: int,
    *,
    adv_days: float = 30.0,
    window_bars: int | None = None,
    as_of_ms: int | None = None,
) -> tuple[LiquiditySnapshot, ...]:
    """One `liquidity_snapshot` per symbol, in the mapping's order (for `pairs cache stats`)."""
    return tuple(
        liquidity_snapshot(
            candles,
            tf_ms,
            symbol=symbol,
            adv_days=adv_days,
            window_bars=window_bars,
            as_of_ms=as_of_ms,
        )
        for symbol, candles in series.items()
    )


def liquidity_frame(
    candles: Candles, tf_ms: int, *, adv_days: float = 30.0, window_bars: int | None = None
) -> pd.DataFrame:
    """All metrics of one symbol as a DataFrame indexed by bar open time (UTC DatetimeIndex).

    Columns: dollar_volume, adv (quote per day over `adv_days`), vwap, abdi_ranaldo_bps,
    corwin_schultz_bps (over `window_bars`, default the bars in `adv_days`). Row t uses bars ..t.
    """
    window = _default_window(tf_ms, adv_days, window_bars)
    columns = _liquidity_columns(candles, tf_ms, adv_days, window)
    index = pd.DatetimeIndex(pd.to_datetime(_timestamps(candles), unit="ms", utc=True))
    return pd.DataFrame(columns, index=index.rename("timestamp"))


def _liquidity_columns(
    candles: Candles, tf_ms: int, adv_days: float, window_bars: int
) -> dict[str, FloatArray]:
    return {
        "dollar_volume": dollar_volume(candles),
        "adv": adv(candles, tf_ms, adv_days),
        "vwap": rolling_vwap(candles, window_bars, tf_ms=tf_ms),
        "abdi_ranaldo_bps": abdi_ranaldo_bps(candles, window_bars, tf_ms=tf_ms),
        "corwin_schultz_bps": corwin_schultz_bps(candles, window_bars, tf_ms=tf_ms),
    }


def _default_window(tf_ms: int, adv_days: float, window_bars: int | None) -> int:
    _check_tf(tf_ms)
    if window_bars is not None:
        _check_window(window_bars)
        return int(window_bars)
    return max(1, int(adv_days * MS_PER_DAY // tf_ms))


def _check_tf(tf_ms: int) -> None:
    if isinstance(tf_ms, bool) or not isinstance(tf_ms, int | np.integer) or tf_ms <= 0:
        raise ValueError(
            f"tf_ms must be the bar length in milliseconds, > 0, e.g. 3600000 for 1h "
            f"(got {tf_ms!r})"
        )


def _check_window(window_bars: int) -> None:
    if (
        isinstance(window_bars, bool)
        or not isinstance(window_bars, int | np.integer)
        or window_bars < 1
    ):
        raise ValueError(f"window_bars must be an integer >= 1 (got {window_bars!r})")


def _timestamps(candles: Candles) -> Int64Array:
    return np.asarray(candles.timestamp, dtype=np.int64)


def _positive_prices(candles: Candles) -> tuple[tuple[BoolArray, FloatArray], ...]:
    """(is finite and > 0, price) for high, low and close, so logs never warn."""
    out = []
    for price in (candles.high, candles.low, candles.close):
        values = np.asarray(price, dtype=np.float64)
        out.append((np.isfinite(values) & (values > 0.0), values))
    return tuple(out)


def _valid_pairs(candles: Candles, tf_ms: int) -> BoolArray:
    """valid[t]: bars t-1 and t are consecutive, traded and have positive finite prices."""
    ts = _timestamps(candles)
    bar_ok = np.asarray(candles.volume, dtype=np.float64) > 0.0
    for ok, _ in _positive_prices(candles):
        bar_ok &= ok
    valid = np.zeros(ts.shape[0], dtype=np.bool_)
    valid[1:] = (np.diff(ts) == tf_ms) & bar_ok[1:] & bar_ok[:-1]
    return valid


def _rolling_pair_mean(
    per_pair: FloatArray, ts: Int64Array, window_bars: int, tf_ms: int
) -> FloatArray:
    """Mean of the finite per-pair values over the window_bars pair slots ending at bar t.

    NaN in warm-up (the window reaches back to or before the first bar, where no pair exists)
    or when fewer than half of the window_bars slots hold a valid pair.
    """
    if ts.shape[0] == 0:
        return np.empty(0, dtype=np.float64)
    span_ms = window_bars * tf_ms
    sums, counts = window_finite_sums(per_pair, window_starts(ts, span_ms))
    ok = (2 * counts >= window_bars) & (counts > 0) & (ts - span_ms >= ts[0])
    out = np.full(ts.shape[0], np.nan)
    np.divide(sums, counts, out=out, where=ok)
    return out
