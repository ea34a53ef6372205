"""`backtest.costs`: the slippage model, taker fees, funding on the bar grid, fixed costs."""

from __future__ import annotations

import numpy as np
import pytest

from pairscan.backtest.costs import (
    FALLBACK_SLIPPAGE_BPS,
    fixed_cost_source,
    funding_by_bar,
    slippage_from_spread,
    taker_fees_bps,
    with_fixed_costs,
)
from pairscan.backtest.engine import MarketPanel
from pairscan.market import DEFAULT_TAKER_BPS, MarketInfo

HOUR = 3_600_000


def test_slippage_is_half_the_spread_with_a_fallback() -> None:
    spread = np.array([[4.0, np.nan], [np.inf, 10.0], [0.0, -np.inf]])
    got = slippage_from_spread(spread)
    assert got.shape == spread.shape
    np.testing.assert_array_equal(
        got,
        [[2.0, FALLBACK_SLIPPAGE_BPS], [FALLBACK_SLIPPAGE_BPS, 5.0], [0.0, FALLBACK_SLIPPAGE_BPS]],
    )


def _market(symbol: str, kind: str, taker_fee: float | None) -> MarketInfo:
    return MarketInfo(
        symbol=symbol,
        base=symbol.split("/")[0],
        quote="USDT",
        type=kind,  # type: ignore[arg-type]
        active=True,
        taker_fee=taker_fee,
    )


def test_taker_fees_are_each_markets_own_or_its_type_default() -> None:
    markets = {
        "A/USDT:USDT": _market("A/USDT:USDT", "swap", 0.0004),
        "B/USDT": _market("B/USDT", "spot", None),
        "C/USDT:USDT": _market("C/USDT:USDT", "swap", None),
    }
    got = taker_fees_bps(["C/USDT:USDT", "A/USDT:USDT", "B/USDT"], markets)
    np.testing.assert_allclose(got, [DEFAULT_TAKER_BPS["swap"], 4.0, DEFAULT_TAKER_BPS["spot"]])
    with pytest.raises(KeyError):
        taker_fees_bps(["D/USDT"], markets)


def test_funding_belongs_to_the_bar_whose_open_ends_its_interval() -> None:
    """open(t-1) < E <= open(t): on an open it is that bar's; between opens, the next bar's;
    at or before the first open and after the last, nobody's."""
    opens = np.arange(5, dtype=np.int64) * HOUR
    events = np.array([0, 1 * HOUR, 1 * HOUR + 1, 2 * HOUR, 4 * HOUR, 4 * HOUR + 1])
    rates = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    np.testing.assert_array_equal(funding_by_bar(opens, events, rates), [0, 2, 12, 0, 16])


def test_funding_by_bar_with_no_events() -> None:
    opens = np.arange(3, dtype=np.int64) * HOUR
    got = funding_by_bar(opens, np.zeros(0, dtype=np.int64), np.zeros(0))
    np.testing.assert_array_equal(got, np.zeros(3))


def _panel() -> MarketPanel:
    n, k = 3, 2
    return MarketPanel(
        timestamps=np.arange(n, dtype=np.int64) * HOUR,
        symbols=("A", "B"),
        tf_ms=HOUR,
        open=np.ones((n, k)),
        close=np.ones((n, k)),
        real=np.ones((n, k), dtype=np.bool_),
        dollar_volume=np.ones((n, k)),
        funding=np.zeros((n, k)),
        lots=np.zeros((4, k)),
        fee_bps=np.array([4.0, 10.0]),
        slippage_bps=np.full((n, k), 3.0),
        spot=np.zeros(k, dtype=np.bool_),
    )


def test_fixed_costs_replace_the_markets_own() -> None:
    panel = _panel()
    assert with_fixed_costs(panel, None, None) is panel
    fees = with_fixed_costs(panel, 7.0, None)
    np.testing.assert_array_equal(fees.fee_bps, [7.0, 7.0])
    assert fees.slippage_bps is panel.slippage_bps
    slip = with_fixed_costs(panel, None, 1.5)
    np.testing.assert_array_equal(slip.slippage_bps, np.full((3, 2), 1.5))
    assert slip.fee_bps is panel.fee_bps
    both = with_fixed_costs(panel, 0.0, 0.0)
    assert not both.fee_bps.any()
    assert not both.slippage_bps.any()


def test_fixed_cost_source_names_the_config() -> None:
    assert fixed_cost_source(5.0) == "5 bps (config)"
    assert fixed_cost_source(2.5) == "2.5 bps (config)"
