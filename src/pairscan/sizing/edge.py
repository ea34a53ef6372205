"""Stage 5 (sizing): a pair's edge for the Kelly cap, measured on its own formation window.

When a pair is selected, the same rolling hedge, z-score and state machine the scan trades run
over the formation bars it was selected on; the per-bar returns of the resulting unit position
give the edge (mean) and its variance. The scan (at each re-selection) and the backtest (at
each walk-forward window) call this on the same formation matrix, so both cap sizes alike.
Pure numerics: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pairscan.config import StatsConfig
from pairscan.signals import MachineParamsT, PairState, bars_stale, entry_gate, run_machine
from pairscan.stats.ols import rolling_pair_stats

FloatArray = npt.NDArray[np.float64]

# Fewer bars in a position than this (a day of hourly bars) measure no edge: no Kelly cap.
MIN_EDGE_BARS = 24


def formation_edge(
    close: FloatArray,
    iy: npt.NDArray[np.int64],
    ix: npt.NDArray[np.int64],
    half_life_bars: FloatArray,
    stats: StatsConfig,
    params: MachineParamsT,
) -> tuple[FloatArray, FloatArray]:
    """(mean, variance) of each pair's per-bar return on gross notional over the formation.

    close: float64 (n_bars, n_symbols) formation closes, NaN where missing; iy, ix: pair columns;
    half_life_bars: (n_pairs,) for the time stop. The position held during bar t+1 is the
    machine's state after bar t (+1 long spread, -1 short); its return is
    pos * (dlog y - beta_t dlog x) / (1 + |beta_t|), before costs. NaN where the pair spent
    fewer than MIN_EDGE_BARS bars in a position (no estimate: `sizing` applies no Kelly cap).
    """
    n_pairs = iy.shape[0]
    mean = np.full(n_pairs, np.nan)
    var = np.full(n_pairs, np.nan)
    n_bars = close.shape[0]
    if n_pairs == 0 or n_bars < stats.window_bars + stats.z_window_bars:
        return mean, var
    lp = np.log(close)
    y, x = lp[:, iy], lp[:, ix]
    _, beta, _, z = rolling_pair_stats(y, x, stats.window_bars, stats.z_window_bars)
    valid = np.isfinite(y) & np.isfinite(x)
    # The entry guards the scan and the backtest apply (hedge band) shape the edge too.
    gate = entry_gate(np.zeros(z.shape, np.int64), beta, stats)
    run = run_machine(z, half_life_bars, params, gate=gate, bars_stale=bars_stale(valid))
    held = np.where(run.state == PairState.LONG_SPREAD, 1.0, 0.0) - np.where(
        run.state == PairState.SHORT_SPREAD, 1.0, 0.0
    )
    spread_ret = (y[1:] - y[:-1]) - beta[:-1] * (x[1:] - x[:-1])
    ret = held[:-1] * spread_ret / (1.0 + np.abs(beta[:-1]))
    in_position = (held[:-1] != 0.0) & np.isfinite(ret)
    for p in range(n_pairs):
        r = ret[in_position[:, p], p]
        if r.size >= MIN_EDGE_BARS:
            mean[p] = float(r.mean())
            var[p] = float(r.var(ddof=1))
    return mean, var
