"""The formation edge for the Kelly cap: the per-bar return of the machine's unit position,
recomputed by a plain loop."""

from __future__ import annotations

import math

import numpy as np

from pairscan.config import SignalsConfig, StatsConfig
from pairscan.signals import Gate, PairState, machine_params, run_machine
from pairscan.sizing.edge import MIN_EDGE_BARS, formation_edge
from pairscan.stats import rolling_pair_stats


def _market(seed: int, n: int = 1_200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = np.cumsum(rng.normal(0.0, 0.01, n))
    ou = np.zeros(n)
    for t in range(1, n):
        ou[t] = 0.9 * ou[t - 1] + rng.normal(0.0, 0.004)
    return np.exp(
        np.column_stack(
            [5.0 + common + ou, 3.0 + common, 4.0 + np.cumsum(rng.normal(0.0, 0.01, n))]
        )
    )


def test_edge_equals_a_plain_loop_over_the_positions() -> None:
    close = _market(5)
    stats = StatsConfig(window_bars=240, z_window_bars=48)
    params = machine_params(SignalsConfig())
    iy, ix = np.array([0, 2]), np.array([1, 1])
    mean, var = formation_edge(close, iy, ix, np.array([7.0, 7.0]), stats, params)
    lp = np.log(close)
    _, beta, _, z = rolling_pair_stats(lp[:, iy], lp[:, ix], 240, 48)
    # The hedge band, written out: entries only where 0.2 <= beta <= 5 (StatsConfig defaults).
    gate = np.where((beta >= 0.2) & (beta <= 5.0), Gate.OK, Gate.HEDGE_BAND)
    state = run_machine(z, np.array([7.0, 7.0]), params, gate=gate).state
    for p in range(2):
        rets = []
        for t in range(close.shape[0] - 1):
            pos = {PairState.LONG_SPREAD: 1.0, PairState.SHORT_SPREAD: -1.0}.get(
                int(state[t, p]), 0.0
            )
            if pos == 0.0:
                continue
            dy = math.log(close[t + 1, iy[p]] / close[t, iy[p]])
            dx = math.log(close[t + 1, ix[p]] / close[t, ix[p]])
            rets.append(pos * (dy - beta[t, p] * dx) / (1.0 + abs(beta[t, p])))
        assert len(rets) >= MIN_EDGE_BARS
        assert math.isclose(mean[p], float(np.mean(rets)), rel_tol=1e-9)
        assert math.isclose(var[p], float(np.var(rets, ddof=1)), rel_tol=1e-9)
    assert mean[0] > 0.0  # the mean-reverting pair earns on its own formation


def test_no_edge_without_enough_history_or_positions() -> None:
    close = _market(6, n=200)
    stats = StatsConfig(window_bars=240, z_window_bars=48)
    mean, var = formation_edge(
        close, np.array([0]), np.array([1]), np.array([7.0]), stats, machine_params(SignalsConfig())
    )
    assert np.isnan(mean).all()
    assert np.isnan(var).all()
