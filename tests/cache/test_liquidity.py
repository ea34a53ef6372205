"""Liquidity metrics on recorded demo candles against plain-loop, pandas and hand oracles."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from importlib.resources import as_file, files

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pairscan.cache.liquidity import (
    LiquiditySnapshot,
    abdi_ranaldo_bps,
    adv,
    corwin_schultz_bps,
    dollar_volume,
    liquidity_frame,
    liquidity_snapshot,
    liquidity_table,
    rolling_vwap,
    spread_bps,
)
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, Candles, FloatArray

H = MS_PER_HOUR
RTOL = 1e-9


@cache
def demo_candles(name: str) -> Candles:
    """Recorded 1h candles shipped with the package (8760 contiguous bars)."""
    with as_file(files("pairscan") / "demo" / "data" / f"{name}.parquet") as path:
        frame = pd.read_parquet(path)
    return Candles(**{column: frame[column].to_numpy() for column in frame.columns})


def btc() -> Candles:
    return demo_candles("BINANCE_BTC-USDT_1h")


def eth_perp() -> Candles:
    return demo_candles("BINANCEUSDM_ETH-USDT_1h")


def with_holes(candles: Candles, seed: int = 7) -> Candles:
    """Drop ~3 % of bars at random plus one 40-bar outage; zero the volume of two bars."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(candles)) > 0.03
    keep[300:340] = False
    kept = candles.take(keep)
    volume = kept.volume.copy()
    volume[[100, 101]] = 0.0
    return Candles(kept.timestamp, kept.open, kept.high, kept.low, kept.close, volume)


def assert_close(actual: FloatArray, expected: FloatArray, rtol: float = RTOL) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0.0, equal_nan=True)


# ---- oracles: plain loops over bars, written from the definitions ----


def loop_dollar_volume(c: Candles) -> list[float]:
    return [
        (h + lo + cl) / 3.0 * v
        for h, lo, cl, v in zip(c.high, c.low, c.close, c.volume, strict=True)
    ]


def loop_vwap(c: Candles, window_bars: int) -> list[float]:
    ts = c.timestamp.tolist()
    out = []
    for t in range(len(ts)):
        rows = [s for s in range(t + 1) if ts[s] > ts[t] - window_bars * H]
        notional = math.fsum((c.high[s] + c.low[s] + c.close[s]) / 3 * c.volume[s] for s in rows)
        volume = math.fsum(c.volume[s] for s in rows)
        warm = ts[t] - (window_bars - 1) * H >= ts[0]
        out.append(notional / volume if warm and volume > 0 else math.nan)
    return out


def loop_ar_pair(c: Candles, s: int) -> float:
    eta_prev = (math.log(c.high[s - 1]) + math.log(c.low[s - 1])) / 2
    eta_now = (math.log(c.high[s]) + math.log(c.low[s])) / 2
    close_prev = math.log(c.close[s - 1])
    return 4 * (close_prev - eta_prev) * (close_prev - eta_now)


def loop_cs_pair(c: Candles, s: int) -> float:
    beta = math.log(c.high[s] / c.low[s]) ** 2 + math.log(c.high[s - 1] / c.low[s - 1]) ** 2
    gamma = math.log(max(c.high[s], c.high[s - 1]) / min(c.low[s], c.low[s - 1])) ** 2
    k = 3 - 2 * math.sqrt(2)
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
    return max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0)


def loop_spread(
    c: Candles, window_bars: int, pair: Callable[[Candles, int], float], root: bool
) -> list[float]:
    ts = c.timestamp.tolist()
    out = []
    for t in range(len(ts)):
        values = [
            pair(c, s)
            for s in range(1, t + 1)
            if ts[s] > ts[t] - window_bars * H
            and ts[s] - ts[s - 1] == H
            and c.volume[s] > 0
            and c.volume[s - 1] > 0
        ]
        if ts[t] - window_bars * H < ts[0] or 2 * len(values) < window_bars:
            out.append(math.nan)
            continue
        mean = math.fsum(values) / len(values)
        out.append(1e4 * (math.sqrt(max(mean, 0.0)) if root else mean))
    return out


# ---- dollar volume and ADV ----


def test_dollar_volume_is_typical_price_times_base_volume() -> None:
    candles = with_holes(btc())
    assert_close(dollar_volume(candles), np.array(loop_dollar_volume(candles)), rtol=1e-15)


def test_adv_matches_pandas_time_window_and_zero_filled_grid() -> None:
    candles = with_holes(btc())
    days = 30
    result = adv(candles, H, days)

    index = pd.to_datetime(candles.timestamp, unit="ms", utc=True)
    per_bar = pd.Series(loop_dollar_volume(candles), index=index)
    warm = candles.timestamp + H - days * MS_PER_DAY >= candles.timestamp[0]
    by_time = per_bar.rolling(f"{days}D").sum().to_numpy() / days
    assert_close(result, np.where(warm, by_time, np.nan))

    grid = pd.date_range(index[0], index[-1], freq="1h")
    by_count = per_bar.reindex(grid, fill_value=0.0).rolling(days * 24).sum() / days
    assert_close(result, by_count.reindex(index).to_numpy())


def test_adv_counts_a_missing_bar_as_zero_instead_of_shrinking_the_window() -> None:
    rows = [[h * H, 10.0, 10.0, 10.0, 10.0, 1.0] for h in (0, 1, 2, 5, 6, 7, 8)]
    result = adv(Candles.from_rows(rows), H, 4 / 24)
    # 4-hour window: bar 5h sees opens 2h..5h (bars 2 and 5), bar 8h sees 5..8.
    assert np.isnan(result[:3]).all()
    assert result[3:].tolist() == [20.0 * 6, 20.0 * 6, 30.0 * 6, 40.0 * 6]


def test_adv_btc_level_sums_keep_their_digits_over_a_long_history() -> None:
    # 300 000 bars of ~1e8 quote volume: a single running cumsum reaches 3e13 and keeps only
    # ~1e-3 of absolute precision; the blocked prefix sums must stay at window scale.
    rng = np.random.default_rng(3)
    n = 300_000
    volume = rng.lognormal(mean=6.5, sigma=1.0, size=n)
    price = 100_000.0 + rng.normal(0.0, 50.0, size=n)
    ts = np.arange(n, dtype=np.int64) * H
    candles = Candles(ts, price, price, price, price, volume)
    result = adv(candles, H, 1)
    dv = price * volume
    for t in rng.integers(23, n, size=200).tolist():
        assert result[t] == pytest.approx(math.fsum(dv[t - 23 : t + 1]), rel=1e-13)


# ---- VWAP ----


def test_rolling_vwap_matches_loop_on_real_bars_with_holes() -> None:
    candles = with_holes(eth_perp().take(slice(0, 1200)))
    result = rolling_vwap(candles, 48, tf_ms=H)
    assert_close(result, np.array(loop_vwap(candles, 48)))


def test_rolling_vwap_is_nan_where_the_window_has_no_volume() -> None:
    rows = [[h * H, 5.0, 6.0, 4.0, 5.0, v] for h, v in enumerate([2.0, 0.0, 0.0, 3.0])]
    result = rolling_vwap(Candles.from_rows(rows), 2, tf_ms=H)
    assert np.isnan(result[0])  # warm-up
    assert result[1] == 5.0
    assert np.isnan(result[2])
    assert result[3] == 5.0


# ---- spread estimators ----

# (high, low, close) of four consecutive hourly bars with volume.
HAND_BARS = [(101.0, 99.0, 100.9), (101.5, 99.5, 99.6), (100.8, 98.9, 100.6), (102.0, 100.3, 100.2)]


def hand_candles() -> Candles:
    return Candles.from_rows([[i * H, c, h, lo, c, 1.0] for i, (h, lo, c) in enumerate(HAND_BARS)])


def test_abdi_ranaldo_hand_computed_four_bars() -> None:
    products = []
    for s in (1, 2, 3):
        h0, l0, c0 = HAND_BARS[s - 1]
        h1, l1, _ = HAND_BARS[s]
        eta0 = (math.log(h0) + math.log(l0)) / 2
        eta1 = (math.log(h1) + math.log(l1)) / 2
        products.append(4 * (math.log(c0) - eta0) * (math.log(c0) - eta1))
    mean = sum(products) / 3
    assert mean > 0
    result = abdi_ranaldo_bps(hand_candles(), 3, tf_ms=H)
    assert np.isnan(result[:3]).all()
    assert result[3] == pytest.approx(math.sqrt(mean) * 1e4, rel=1e-12)
    # Window of 2 pairs at bar 3: pairs (1,2) and (2,3) average below zero, so 0 bps.
    assert (products[1] + products[2]) / 2 < 0
    assert abdi_ranaldo_bps(hand_candles(), 2, tf_ms=H)[3] == 0.0


def test_corwin_schultz_hand_computed_four_bars() -> None:
    k = 3 - 2 * math.sqrt(2)
    spreads = []
    for s in (1, 2, 3):
        h0, l0, _ = HAND_BARS[s - 1]
        h1, l1, _ = HAND_BARS[s]
        beta = math.log(h1 / l1) ** 2 + math.log(h0 / l0) ** 2
        gamma = math.log(max(h0, h1) / min(l0, l1)) ** 2
        alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
        spreads.append(max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0))
    result = corwin_schultz_bps(hand_candles(), 3, tf_ms=H)
    assert np.isnan(result[:3]).all()
    assert result[3] == pytest.approx(sum(spreads) / 3 * 1e4, rel=1e-12)


@pytest.mark.parametrize(
    ("estimator", "pair", "root"),
    [("abdi_ranaldo", loop_ar_pair, True), ("corwin_schultz", loop_cs_pair, False)],
)
def test_spread_matches_loop_on_real_bars_with_holes(
    estimator: str, pair: Callable[[Candles, int], float], root: bool
) -> None:
    candles = with_holes(eth_perp().take(slice(0, 1500)))
    result = spread_bps(candles, 24, estimator, tf_ms=H)  # type: ignore[arg-type]
    expected = np.array(loop_spread(candles, 24, pair, root))
    assert_close(result, expected)
    assert np.isfinite(result).sum() > 1000


def test_spread_excludes_pairs_across_a_gap_and_needs_half_the_window() -> None:
    hours = [0, 1, 2, 3, 4, 5, 8, 9, 10, 11]  # bars 6 and 7 missing
    candles = Candles.from_rows(
        [[h * H, 100.0, 101.0 + h % 3, 99.0, 100.0 + h % 2, 1.0] for h in hours]
    )
    result = corwin_schultz_bps(candles, 4, tf_ms=H)
    # Window ending at 8h holds slots 5..8: pair (4,5) only; (5,8) straddles the gap -> 1 < 2.
    assert np.isnan(result[hours.index(8)])
    # Ending at 9h: slots 6..9 hold pair (8,9) only -> NaN; at 10h: (8,9), (9,10) -> valid.
    assert np.isnan(result[hours.index(9)])
    solo = corwin_schultz_bps(candles.take(slice(6, 9)), 1, tf_ms=H)
    expected = (solo[1] + solo[2]) / 2
    assert result[hours.index(10)] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("estimator", ["abdi_ranaldo", "corwin_schultz"])
def test_spread_dispatch_equals_named_estimator(estimator: str) -> None:
    candles = btc().take(slice(0, 500))
    named = abdi_ranaldo_bps if estimator == "abdi_ranaldo" else corwin_schultz_bps
    np.testing.assert_array_equal(
        spread_bps(candles, 48, estimator, tf_ms=H),  # type: ignore[arg-type]
        named(candles, 48, tf_ms=H),
    )


# ---- look-ahead: bars after t never change a value at bars <= t ----


def all_metrics(candles: Candles) -> dict[str, FloatArray]:
    return {
        "dollar_volume": dollar_volume(candles),
        "adv": adv(candles, H, 2),
        "vwap": rolling_vwap(candles, 12, tf_ms=H),
        "abdi_ranaldo": abdi_ranaldo_bps(candles, 12, tf_ms=H),
        "corwin_schultz": corwin_schultz_bps(candles, 12, tf_ms=H),
    }


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, 8000),
    cut=st.integers(1, 400),
    drop_seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.5, 2.0),
    append=st.booleans(),
)
def test_future_bars_never_change_history(
    start: int, cut: int, drop_seed: int, scale: float, append: bool
) -> None:
    base = with_holes(btc().take(slice(start, start + 500)), seed=drop_seed)
    cut = min(cut, len(base) - 1)
    history = base.take(slice(0, cut))
    future = base.take(slice(cut, None))
    if append:  # distorted future bars after the cut
        future = Candles(
            future.timestamp,
            future.open * scale,
            future.high * scale * 1.01,
            future.low * scale,
            future.close * scale,
            future.volume / scale,
        )
    else:  # a different future: drop every other later bar
        future = future.take(slice(None, None, 2))
    extended = Candles(
        *(
            np.concatenate([a, b])
            for a, b in zip(history.columns().values(), future.columns().values(), strict=True)
        )
    )
    before = all_metrics(history)
    after = all_metrics(extended)
    for name, values in before.items():
        # Sums are regrouped in blocks sized by the longest window, hence rtol, not equality.
        assert_close(after[name][:cut], values, rtol=1e-12)


# ---- snapshot, table, frame and argument checks ----


def test_snapshot_is_the_frame_row_at_as_of() -> None:
    candles = btc()
    frame = liquidity_frame(candles, H, adv_days=7)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert list(frame.columns) == [
        "dollar_volume",
        "adv",
        "vwap",
        "abdi_ranaldo_bps",
        "corwin_schultz_bps",
    ]
    as_of = int(candles.timestamp[5000]) + 1800_000
    snap = liquidity_snapshot(candles, H, symbol="BTC/USDT", adv_days=7, as_of_ms=as_of)
    row = frame.iloc[5000]
    assert snap.symbol == "BTC/USDT"
    assert snap.last_bar_ms == candles.timestamp[5000]
    assert snap.window_bars == 7 * 24
    assert snap.adv == row["adv"]
    assert snap.vwap == row["vwap"]
    assert snap.abdi_ranaldo_bps == row["abdi_ranaldo_bps"]
    assert snap.corwin_schultz_bps == row["corwin_schultz_bps"]
    assert snap.last_dollar_volume == row["dollar_volume"]
    assert 1e8 < snap.adv < 1e11


def test_table_keeps_mapping_order_and_handles_an_empty_symbol() -> None:
    table = liquidity_table({"ETH/USDT:USDT": eth_perp(), "NEW/USDT": Candles.empty()}, H)
    assert [s.symbol for s in table] == ["ETH/USDT:USDT", "NEW/USDT"]
    assert math.isfinite(table[0].adv)
    assert table[0].window_bars == 720
    empty = table[1]
    assert isinstance(empty, LiquiditySnapshot)
    assert empty.last_bar_ms is None
    assert math.isnan(empty.adv)
    assert math.isnan(empty.corwin_schultz_bps)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: adv(c, 0, 30), "tf_ms"),
        (lambda c: adv(c, H, 0), "days"),
        (lambda c: adv(c, H, float("inf")), "days"),
        (lambda c: adv(c, 2 * MS_PER_DAY, 1), "shorter than one bar"),
        (lambda c: rolling_vwap(c, 0, tf_ms=H), "window_bars"),
        (lambda c: corwin_schultz_bps(c, 24, tf_ms=-1), "tf_ms"),
        (lambda c: spread_bps(c, 24, "roll", tf_ms=H), "estimator"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_name_the_argument(call: Callable[[Candles], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(btc())


def test_empty_candles_give_empty_series() -> None:
    empty = Candles.empty()
    for values in all_metrics(empty).values():
        assert values.shape == (0,)
