"""Eligibility of a formation: coverage, a last close and the one ADV, the figure
`pairs cache stats` shows (`cache.liquidity.adv`), on recorded demo candles with holes."""

from __future__ import annotations

import numpy as np
import pytest

from pairscan.cache.align import align_candles
from pairscan.cache.liquidity import adv
from pairscan.market import MS_PER_DAY, MS_PER_HOUR, Candles, typical_dollar_volume
from pairscan.stats.eligibility import MIN_COVERAGE, eligible_symbols
from tests.cache.test_liquidity import btc, eth_perp, with_holes

H = MS_PER_HOUR


def panel_inputs(series: dict[str, Candles], max_ffill_bars: int = 3) -> dict[str, object]:
    panel = align_candles(series, H, max_ffill_bars=max_ffill_bars)
    return {
        "timestamps": panel.timestamps,
        "close": panel.close,
        "real": panel.real,
        "dollar_volume": typical_dollar_volume(panel.high, panel.low, panel.close, panel.volume),
        "tf_ms": H,
    }


@pytest.mark.parametrize("end_row", [2500, 4321, 8000])
@pytest.mark.parametrize("adv_days", [7, 30])
def test_adv_at_the_formation_end_is_what_cache_stats_shows(end_row: int, adv_days: int) -> None:
    """Holes (missing bars, forward-filled ones, an outage) count as zero volume either way."""
    holed = with_holes(eth_perp())
    series = {"BTC": btc(), "ETH": holed}
    inputs = panel_inputs(series)
    end_ms = int(inputs["timestamps"][end_row - 1])  # type: ignore[index]
    rows = slice(end_row - 90 * 24, end_row)
    _, got = eligible_symbols(rows=rows, adv_days=adv_days, **inputs)  # type: ignore[arg-type]
    for k, candles in enumerate(series.values()):
        cached = candles.between(end_ms=end_ms)
        want = adv(cached, H, adv_days)[-1]
        if int(cached.timestamp[-1]) == end_ms:  # the cache's last bar is the formation's
            assert got[k] == pytest.approx(want, rel=1e-12)


def test_coverage_and_a_last_close_decide_who_enters() -> None:
    n = 240
    ts = np.arange(n, dtype=np.int64) * H
    close = np.full((n, 3), 100.0)
    real = np.ones((n, 3), dtype=np.bool_)
    real[: int(n * (1 - MIN_COVERAGE)) + 1, 1] = False  # just under the coverage
    close[-1, 2] = np.nan  # no last close
    dv = np.full((n, 3), 24_000.0)  # 24,000 quote per hour: 576,000 a day
    ok, got = eligible_symbols(ts, close, real, dv, slice(0, n), H, adv_days=5)
    assert ok.tolist() == [True, False, False]
    assert got[0] == pytest.approx(576_000.0)
    # The missing last bar counts as zero volume: one hour short of five days.
    assert got[2] == pytest.approx(576_000.0 - 24_000.0 / 5)


def test_an_adv_window_longer_than_the_formation_averages_the_formation() -> None:
    n = 10 * 24
    ts = np.arange(n, dtype=np.int64) * H
    close = np.full((n, 1), 50.0)
    dv = np.linspace(1.0, 2.0, n)[:, None] * 1e4
    ok, got = eligible_symbols(ts, close, np.ones((n, 1), bool), dv, slice(0, n), H, 30)
    assert ok.tolist() == [True]
    assert got[0] == pytest.approx(dv.sum() / (n * H / MS_PER_DAY), rel=1e-12)
