"""The book leverage cap is one rule: the same new entries through the scan's path
(`sizing.apply_book_caps` on `size_pair` tickets) and the backtest's (the simulator's entry
step) are kept, scaled or dropped alike, to the same quantities."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pairscan.backtest.kernels import B_PEND, B_POS_Y, B_QX, B_QY, _decide_entries
from pairscan.config import SizingConfig
from pairscan.signals import Action
from pairscan.sizing import SIDE_LONG, SIDE_SHORT, PairSize, apply_book_caps
from tests.sizing.test_pair import CONFIG, PRICE_X, PRICE_Y, ticket

# (side, beta, spread_vol): entries best-ranked first; the NaN vol is dropped by the sizer.
ENTRIES = (
    (SIDE_LONG, 0.5, None),
    (SIDE_SHORT, 1.2, None),
    (SIDE_LONG, 0.5, math.nan),
    (SIDE_LONG, -0.8, None),
    (SIDE_SHORT, 0.3, None),
)


def scan_tickets(config: SizingConfig) -> list[PairSize]:
    out = []
    for k, (side, beta, vol) in enumerate(ENTRIES):
        extra = {} if vol is None else {"spread_vol": vol}
        out.append(
            ticket(
                f"Y{k}/USDT:USDT", f"X{k}/USDT:USDT", side=side, beta=beta, config=config, **extra
            )
        )
    return out


def backtest_rule(
    tickets: list[PairSize], open_gross: float, config: SizingConfig
) -> tuple[np.ndarray, int]:
    """The simulator's entry step on the same entries (pair k: columns 2k, 2k+1), with one
    open position of gross `open_gross` as the last pair. Returns book rows (qy, qx) per entry
    and the number dropped."""
    n = len(tickets)
    n_symbols = 2 * n + 2
    my, mx = tickets[0].market_y, tickets[0].market_x
    lots = np.empty((4, n_symbols))
    lots[:, 0::2] = np.array([[1.0], [my.amount_step], [my.min_amount], [my.min_notional]])
    lots[:, 1::2] = np.array([[1.0], [mx.amount_step], [mx.min_amount], [mx.min_notional]])
    close = np.tile([PRICE_Y, PRICE_X], n + 1)[None, :].astype(np.float64)
    iy = np.arange(0, n_symbols, 2, dtype=np.int64)
    ix = iy + 1
    action = np.full(n + 1, Action.HOLD, np.int64)
    action[:n] = [Action.OPEN_LONG if t.side == SIDE_LONG else Action.OPEN_SHORT for t in tickets]
    # The sizer's y-leg target (vol target and pair/Kelly caps); 0 where it dropped the pair.
    notional_y = np.array([0.0 if t.dropped else t.target_notional_y for t in tickets] + [0.0])
    beta = np.array([t.beta for t in tickets] + [1.0])
    book = np.zeros((7, n + 1))
    book[B_POS_Y, n] = open_gross / PRICE_Y  # the open position, x leg flat
    dropped = _decide_entries(
        0,
        np.arange(n + 1, dtype=np.int64),
        close,
        iy,
        ix,
        action,
        beta,
        notional_y,
        lots,
        book,
        close[0],
        config.max_leverage * config.capital_quote,
        config.min_order_quote,
    )
    assert np.all(book[B_PEND, :n][book[B_QY, :n] != 0.0] == 1.0)
    return book[[B_QY, B_QX], :n].T, dropped


@pytest.mark.parametrize("open_gross", [0.0, 1000.0, 4000.0, 9990.0, 12_000.0])
@pytest.mark.parametrize("max_leverage", [1.0, 2.0])
def test_scan_and_backtest_apply_the_same_book_cap(open_gross: float, max_leverage: float) -> None:
    config = replace(CONFIG, max_leverage=max_leverage)
    tickets = scan_tickets(config)
    scan = apply_book_caps(tickets, open_gross, config)
    qty, n_dropped = backtest_rule(tickets, open_gross, config)
    for k, got in enumerate(scan):
        sent = (0.0, 0.0) if got.dropped is not None else (got.qty_y, got.qty_x)
        assert tuple(qty[k]) == sent, (k, got.dropped)
    assert n_dropped == sum(t.dropped is not None for t in scan)
    outcomes = {
        "dropped" if t.dropped else "kept" if t is s else "scaled"
        for t, s in zip(scan, tickets, strict=True)
    }
    if open_gross == 0.0 and max_leverage == 1.0:
        assert outcomes == {"kept", "scaled", "dropped"}  # every branch of the rule is exercised
