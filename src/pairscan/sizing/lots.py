"""Stage 5 (sizing): a market's lot terms as the numbers the sizing kernels read, for the scan
(one market) and the backtest (a table of the universe). One rule for "the exchange does not
say": 0, which the kernels read as no step (`floor_to_step_nb`) and no minimum (`leg_check_nb`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pairscan.market import MarketInfo

FloatArray = npt.NDArray[np.float64]


class LotTerms(NamedTuple):
    """contract_size: base units per contract (1 on spot and linear perpetuals); amount_step:
    lot step in contracts; min_amount: minimum order in contracts; min_notional: minimum order
    value in the quote currency. 0.0 where the exchange states none."""

    contract_size: float
    amount_step: float
    min_amount: float
    min_notional: float


def lot_terms(market: MarketInfo) -> LotTerms:
    """The market's lot terms, unknown ones as 0.0."""
    return LotTerms(
        float(market.contract_size),
        float(market.amount_step or 0.0),
        float(market.min_amount or 0.0),
        float(market.min_notional or 0.0),
    )


def lot_table(symbols: Sequence[str], markets: Mapping[str, MarketInfo]) -> FloatArray:
    """float64 (4, n_symbols): `lot_terms` of each symbol, rows in `LotTerms` order (the
    backtest kernels' `lots`). KeyError for a symbol with no market info."""
    lots = np.zeros((len(LotTerms._fields), len(symbols)))
    for k, symbol in enumerate(symbols):
        lots[:, k] = lot_terms(markets[symbol])
    return lots
