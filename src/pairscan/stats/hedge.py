"""Stage 3 (stats): the hedge dispatcher, rolling OLS or Kalman by `stats.hedge`, the one the
scan (at its last bar) and the backtest (over the whole panel) both call. Pure numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pairscan.config import StatsConfig
from pairscan.stats.meanrev import kalman_hedge
from pairscan.stats.ols import pair_stats_last, rolling_pair_stats_indexed

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HEDGE_KEYS = ("hedge", "window_bars", "z_window_bars", "kalman_delta", "kalman_obs_var")
"""The `StatsConfig` keys `hedge_stats` reads: two configs equal on these (and on the pairs,
`stats.selection.SELECTION_KEYS`) give the same hedge ratios and z-scores."""


def hedge_stats(
    log_close: FloatArray, iy: IntArray, ix: IntArray, stats: StatsConfig, *, last_bar: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(alpha, beta, z) of each pair by the configured hedge method; causal.

    log_close: float64 (n_bars, n_symbols) log closes, NaN where unknown; pair p regresses
    column iy[p] on column ix[p]. alpha in log-price units, beta unitless, z in standard
    deviations of the spread. last_bar=False: each (n_bars, n_pairs), every bar (the backtest).
    last_bar=True: each (n_pairs,), the last bar only (the scan); the OLS path then computes that
    row alone (`pair_stats_last`, equal to the full run's last row to ~1e-10) and gives NaN z
    while the panel is shorter than window_bars + z_window_bars - 1 (no decision yet).
    """
    if stats.hedge == "kalman":
        return _kalman(log_close, iy, ix, stats, last_bar)
    if not last_bar:
        # Reads x and y from the symbol columns: no (n_bars, n_pairs) copies of the inputs.
        alpha, beta, _, z = rolling_pair_stats_indexed(
            log_close, iy, ix, stats.window_bars, stats.z_window_bars
        )
        return alpha, beta, z
    if iy.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    n = log_close.shape[0]
    window, z_window = min(stats.window_bars, n), min(stats.z_window_bars, n)
    alpha, beta, _, z = pair_stats_last(log_close, iy, ix, window, z_window)
    if n < stats.window_bars + stats.z_window_bars - 1:  # not enough history: no decision
        z = np.full_like(z, np.nan)
    return alpha, beta, z


def hedge_and_z(
    log_close: FloatArray, iy: IntArray, ix: IntArray, stats: StatsConfig
) -> tuple[FloatArray, FloatArray]:
    """(beta, z), each (n_bars, n_pairs), at every bar: `hedge_stats` for the backtest."""
    _, beta, z = hedge_stats(log_close, iy, ix, stats, last_bar=False)
    return beta, z


def _kalman(
    log_close: FloatArray, iy: IntArray, ix: IntArray, stats: StatsConfig, last_bar: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Each pair's filter over the whole panel (a filter has no shortcut to its last bar)."""
    shape = (iy.size,) if last_bar else (log_close.shape[0], iy.size)
    alpha, beta, z = np.empty(shape), np.empty(shape), np.empty(shape)
    for j, (a, b) in enumerate(zip(iy, ix, strict=True)):
        k = kalman_hedge(
            log_close[:, a], log_close[:, b], delta=stats.kalman_delta, obs_var=stats.kalman_obs_var
        )
        rows = -1 if last_bar else slice(None)
        alpha[..., j], beta[..., j], z[..., j] = k.alpha[rows], k.beta[rows], k.zscore[rows]
    return alpha, beta, z
