"""Stage 3 (stats): hedge ratios, spreads, z-scores, mean reversion and cointegration.

Pure numerics shared unchanged by `scan` and `backtest`: numpy arrays in, arrays out. Never
imports ccxt, requests, sqlite3, pyarrow or click.
"""

from pairscan.stats.coint import (
    BothOrientations,
    EGResult,
    all_pairs,
    bh_qvalues,
    both_orientations,
    engle_granger,
    mackinnon_pvalue,
)
from pairscan.stats.meanrev import KalmanResult, half_life, hurst, kalman_hedge
from pairscan.stats.ols import (
    log_prices,
    pair_stats_last,
    rolling_pair_stats,
    rolling_pair_stats_indexed,
)
from pairscan.stats.selection import PairSelection, Reason, hedge_in_band, select_pairs

__all__ = [
    "BothOrientations",
    "EGResult",
    "KalmanResult",
    "PairSelection",
    "Reason",
    "all_pairs",
    "bh_qvalues",
    "both_orientations",
    "engle_granger",
    "half_life",
    "hedge_in_band",
    "hurst",
    "kalman_hedge",
    "log_prices",
    "mackinnon_pvalue",
    "pair_stats_last",
    "rolling_pair_stats",
    "rolling_pair_stats_indexed",
    "select_pairs",
]
