"""Backtest costs on the bar grid: slippage from the spread estimate, taker fees per symbol,
funding events aligned to the bar that charges them, and a config's fixed costs.

Pure numpy: the job reads the cache (spread estimates, funding events, market info) and calls
these; no I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from pairscan.backtest.engine import MarketPanel
from pairscan.market import MarketInfo

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FALLBACK_SLIPPAGE_BPS = 2.0
"""Slippage per fill (bps of the filled notional) at a bar whose spread estimate is missing
(warm-up, too few valid bars): a liquid perpetual's typical half spread."""


def slippage_from_spread(spread_bps: npt.ArrayLike) -> FloatArray:
    """Slippage per fill in bps of notional: half the estimated bid-ask spread (bps of the mid;
    a taker crosses from the mid to the far side), `FALLBACK_SLIPPAGE_BPS` where the estimate
    is not finite. Any shape in, the same shape out; causal when the estimate is."""
    est = np.asarray(spread_bps, dtype=np.float64)
    out: FloatArray = np.where(np.isfinite(est), est / 2.0, FALLBACK_SLIPPAGE_BPS)
    return out


def taker_fees_bps(symbols: Sequence[str], markets: Mapping[str, MarketInfo]) -> FloatArray:
    """float64 (n_symbols,): each market's taker fee per fill in bps of notional
    (`MarketInfo.taker_fee_bps`, the exchange's or its market type's default; the paper book
    charges the same). KeyError for a symbol with no market info."""
    return np.array([markets[s].taker_fee_bps for s in symbols], dtype=np.float64)


def funding_by_bar(bar_open_ms: IntArray, event_ms: IntArray, rates: FloatArray) -> FloatArray:
    """float64 (n_bars,): the summed funding rates (fraction of notional, > 0 paid by a long)
    charged at the start of each bar. An event at time E (UTC ms) belongs to the bar t with
    open(t-1) < E <= open(t) (Binance's events fall on bar opens, so on the bar they open);
    events at or before the first open, or after the last, are not charged.

    bar_open_ms: int64 (n_bars,) increasing bar open times; event_ms, rates: (n_events,)."""
    out = np.zeros(len(bar_open_ms))
    rows = np.searchsorted(bar_open_ms, event_ms, side="left")
    keep = (rows > 0) & (rows < len(bar_open_ms))
    np.add.at(out, rows[keep], np.asarray(rates, dtype=np.float64)[keep])
    return out


def with_fixed_costs(
    panel: MarketPanel, fee_bps: float | None, slippage_bps: float | None
) -> MarketPanel:
    """The panel with a flat taker fee and/or slippage (bps per fill, `backtest.fee_bps` and
    `backtest.slippage_bps`) on every symbol and bar in place of the market's own; None keeps
    the panel's."""
    if fee_bps is not None:
        panel = dataclasses.replace(panel, fee_bps=np.full(len(panel.symbols), fee_bps))
    if slippage_bps is not None:
        panel = dataclasses.replace(panel, slippage_bps=np.full(panel.close.shape, slippage_bps))
    return panel


def fixed_cost_source(bps: float) -> str:
    """How a report names a cost set in the config: "5 bps (config)"."""
    return f"{bps:g} bps (config)"
