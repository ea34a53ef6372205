"""Stage 3 (stats): which symbols may enter a formation window, the rule the scan and the
backtest share (coverage, a last close, ADV). Pure numpy; reads nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pairscan.market import MS_PER_DAY, FloatArray, Int64Array, trailing_adv

BoolArray = npt.NDArray[np.bool_]

# A symbol joins a formation only with real (not forward-filled) closes on this share of its
# bars: a late listing or a long outage would otherwise enter the tests with a short history.
MIN_COVERAGE = 0.95


def eligible_symbols(
    timestamps: Int64Array,
    close: FloatArray,
    real: BoolArray,
    dollar_volume: FloatArray,
    rows: slice,
    tf_ms: int,
    adv_days: int,
) -> tuple[BoolArray, FloatArray]:
    """Which symbols may enter the formation on panel rows `rows`, and their ADV at its end.

    timestamps: int64 (n_bars,) bar open times, ms, step tf_ms; close: float64 (n_bars,
    n_symbols), NaN where no bar is known; real: bool, a real (not forward-filled) candle;
    dollar_volume: float64 quote traded per bar (`market.typical_dollar_volume`; 0 on a
    forward-filled bar). Eligible: real bars on at least MIN_COVERAGE of the rows and a finite
    last close. ADV (quote per day) is `market.trailing_adv` over the last `adv_days`
    (`cache.adv_days`) of the rows, the figure `pairs cache stats` shows for a symbol whose
    cache ends at the formation's last bar; a bar with no known close counts as zero volume.
    The window never reaches before the formation (so a scan and a backtest that load different
    history agree): with adv_days longer than the formation, ADV is over the whole formation.
    Uses rows ..rows.stop-1 only. Returns (ok: bool (n_symbols,), adv: float64 (n_symbols,)).
    """
    covered = real[rows].mean(axis=0) >= MIN_COVERAGE
    last_close = close[rows][-1]
    ok = covered & np.isfinite(last_close)
    ts = timestamps[rows]
    days = min(float(adv_days), ts.shape[0] * tf_ms / MS_PER_DAY)
    # A missing bar is absent from the cache, where it counts as zero volume; a NaN volume on
    # a known bar stays NaN, as in the cache (no ADV rather than a wrong one).
    traded = np.where(np.isfinite(close[rows]), dollar_volume[rows], 0.0)
    adv = np.array([trailing_adv(ts, traded[:, k], tf_ms, days)[-1] for k in range(ok.size)])
    return ok, adv
