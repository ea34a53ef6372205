"""`sizing.lots`: a market's lot terms as the kernels read them, one rule for scan and backtest."""

from __future__ import annotations

import numpy as np
import pytest

from pairscan.market import MarketInfo
from pairscan.sizing.lots import LotTerms, lot_table, lot_terms


def _market(
    symbol: str,
    contract_size: float = 1.0,
    amount_step: float | None = None,
    min_amount: float | None = None,
    min_notional: float | None = None,
) -> MarketInfo:
    return MarketInfo(
        symbol=symbol,
        base=symbol.split("/")[0],
        quote="USDT",
        type="swap",
        active=True,
        contract_size=contract_size,
        amount_step=amount_step,
        min_amount=min_amount,
        min_notional=min_notional,
    )


def test_unknown_terms_are_zero() -> None:
    assert lot_terms(_market("BTC/USDT:USDT")) == LotTerms(1.0, 0.0, 0.0, 0.0)


def test_known_terms_pass_through() -> None:
    m = _market(
        "ETH/USDT:USDT", contract_size=10.0, amount_step=0.001, min_amount=0.002, min_notional=5.0
    )
    assert lot_terms(m) == LotTerms(10.0, 0.001, 0.002, 5.0)


def test_table_rows_in_lot_terms_order() -> None:
    markets = {
        "A/USDT:USDT": _market("A/USDT:USDT", amount_step=0.1, min_notional=5.0),
        "B/USDT:USDT": _market("B/USDT:USDT", contract_size=100.0, min_amount=1.0),
    }
    table = lot_table(["B/USDT:USDT", "A/USDT:USDT"], markets)
    assert table.shape == (4, 2)
    assert table.dtype == np.float64
    np.testing.assert_array_equal(table[:, 0], [100.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(table[:, 1], [1.0, 0.1, 0.0, 5.0])


def test_table_refuses_a_symbol_without_market_info() -> None:
    with pytest.raises(KeyError):
        lot_table(["X/USDT:USDT"], {})
