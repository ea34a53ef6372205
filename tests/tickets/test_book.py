"""The paper book on hand-computed examples: long and short spreads, a negative beta, fees
per fill and funding paid by longs and received by shorts."""

from __future__ import annotations

import pytest

from pairscan.tickets import PaperBook, Ticket, build_paper_book
from tests.tickets.factories import BAR, make_ticket

H = 3_600_000


def _long_eth_btc() -> Ticket:
    # Buy 2 ETH @ 2000 (4000 USDT), sell 0.05 BTC @ 80000 (4000 USDT).
    return make_ticket(
        "open_long", y="ETH/USDT:USDT", x="BTC/USDT:USDT", qty=(2.0, 0.05), prices=(2000.0, 80000.0)
    )


def _short_sol_doge() -> tuple[Ticket, Ticket]:
    # beta < 0: a short spread sells both. Sell 10 SOL @ 150 (1500), sell 5000 DOGE @ 0.15 (750).
    pair = {"y": "SOL/USDT:USDT", "x": "DOGE/USDT:USDT", "hedge_ratio": -0.5}
    opened = make_ticket("open_short", qty=(10.0, 5000.0), prices=(150.0, 0.15), **pair)
    closed = make_ticket(
        "close",
        closes="short",
        bar_ms=BAR + 10 * H,
        qty=(10.0, 5000.0),
        prices=(140.0, 0.18),
        **pair,
    )
    return opened, closed


FEES = {"ETH/USDT:USDT": 5.0, "BTC/USDT:USDT": 4.0, "SOL/USDT:USDT": 10.0, "DOGE/USDT:USDT": 10.0}


def _funding(t0: int) -> dict[str, list[tuple[int, float]]]:
    return {
        # before the long was opened: not counted; then a long pays a positive rate
        "ETH/USDT:USDT": [(t0 - 1, 0.01), (t0 + H, 0.0001)],
        # the short BTC leg receives a positive rate
        "BTC/USDT:USDT": [(t0 + H, 0.0002)],
        # the short SOL leg receives 0.1 %; after the close: not counted
        "SOL/USDT:USDT": [(t0 + 2 * H, 0.001), (t0 + 20 * H, 0.05)],
        # a negative rate: the short DOGE leg pays it
        "DOGE/USDT:USDT": [(t0 + 2 * H, -0.002)],
    }


def _book(**changes: object) -> PaperBook:
    long_ = _long_eth_btc()
    opened, closed = _short_sol_doge()
    tickets = [long_, opened, closed]
    args: dict[str, object] = {
        "tickets": tickets,
        "delivered": {t.id for t in tickets},
        "closes": {"ETH/USDT:USDT": 2100.0, "BTC/USDT:USDT": 82000.0},
        "fee_bps": FEES,
        "funding": _funding(long_.created_ms),
    }
    args.update(changes)
    return build_paper_book(**args)  # type: ignore[arg-type]


def test_an_open_long_spread_marked_to_the_last_closes() -> None:
    (position,) = _book().open_positions
    y, x = position.legs
    # ETH: +4000 x (2100/2000 - 1) = +200; BTC short: -4000 x (82000/80000 - 1) = -100
    assert (y.price_pnl_quote, x.price_pnl_quote) == pytest.approx((200.0, -100.0), rel=1e-12)
    # entry fills only: 4000 x 5 bps + 4000 x 4 bps
    assert (y.fees_quote, x.fees_quote) == pytest.approx((2.0, 1.6), rel=1e-12)
    # ETH long pays 4000 x 0.0001 = 0.4; BTC short receives 4000 x 0.0002 = 0.8
    assert (y.funding_quote, x.funding_quote) == pytest.approx((0.4, -0.8), rel=1e-12)
    assert position.pnl_quote == pytest.approx(100.0 - 3.6 + 0.4, rel=1e-12)  # 96.8
    assert position.is_open
    assert position.direction == "long"
    assert position.gross_quote == pytest.approx(4200.0 + 4100.0, rel=1e-12)


def test_a_closed_short_spread_with_negative_beta() -> None:
    (position,) = _book().closed_positions
    y, x = position.legs
    assert (y.side, x.side) == ("sell", "sell")
    # SOL short: -1500 x (140/150 - 1) = +100; DOGE short: -750 x (0.18/0.15 - 1) = -150
    assert (y.price_pnl_quote, x.price_pnl_quote) == pytest.approx((100.0, -150.0), rel=1e-12)
    # 10 bps of both fills: SOL 1500 + 1400, DOGE 750 + 900
    assert (y.fees_quote, x.fees_quote) == pytest.approx((2.9, 1.65), rel=1e-12)
    # SOL short receives 1500 x 0.001; DOGE short pays the negative rate: 750 x 0.002
    assert (y.funding_quote, x.funding_quote) == pytest.approx((-1.5, 1.5), rel=1e-12)
    assert position.pnl_quote == pytest.approx(-50.0 - 4.55, rel=1e-12)
    assert position.close_reason == "mean_reversion"
    assert (y.mark_price, x.mark_price) == (140.0, 0.18)


def test_totals_since_inception() -> None:
    book = _book()
    assert book.unrealised_quote == pytest.approx(96.8, rel=1e-12)
    assert book.realised_quote == pytest.approx(-54.55, rel=1e-12)
    assert book.total_pnl_quote == pytest.approx(42.25, rel=1e-12)
    assert book.fees_quote == pytest.approx(3.6 + 4.55, rel=1e-12)
    assert book.funding_quote == pytest.approx(-0.4, rel=1e-12)
    assert book.open_gross_quote == pytest.approx(8300.0, rel=1e-12)
    assert (book.quote, book.notes) == ("USDT", ())


def test_only_delivered_tickets_count() -> None:
    long_ = _long_eth_btc()
    opened, closed = _short_sol_doge()
    # The short's open never reached a channel: its delivered close has nothing to close.
    book = _book(delivered={long_.id, closed.id})
    assert [p.open_id for p in book.open_positions] == [long_.id]
    assert book.closed_positions == ()
    assert book.notes == (
        f"SOL/USDT:USDT ~ DOGE/USDT:USDT: close {closed.id} at 2026-05-16 09:00Z without a "
        "delivered open: ignored",
    )
    # Its close not delivered yet: the short is still open on paper (marked, no prices).
    book = _book(delivered={opened.id}, closes={"SOL/USDT:USDT": 140.0})
    (position,) = book.open_positions
    assert position.open_id == opened.id
    assert position.legs[0].price_pnl_quote == pytest.approx(100.0, rel=1e-12)
    assert position.legs[1].mark_price is None
    assert position.legs[1].price_pnl_quote == 0.0
    assert "no last close for DOGE/USDT:USDT: SOL/USDT:USDT ~ DOGE/USDT:USDT marked at entry" in (
        book.notes
    )
    assert build_paper_book([long_], set(), {}).open_positions == ()


def test_missing_fee_rates_and_funding_cutoff() -> None:
    long_ = _long_eth_btc()
    book = _book(fee_bps={}, as_of_ms=long_.created_ms + H - 1)
    (position,) = book.open_positions
    assert position.fees_quote == 0.0
    assert position.funding_quote == 0.0
    assert "no fee rate for ETH/USDT:USDT: its fills count no fee" in book.notes


def test_a_second_open_of_an_open_pair_is_ignored() -> None:
    first = _long_eth_btc()
    again = make_ticket("open_short", bar_ms=BAR + H, qty=(2.0, 0.05), prices=(2000.0, 80000.0))
    book = build_paper_book([first, again], {first.id, again.id}, {})
    assert [p.open_id for p in book.open_positions] == [first.id]
    assert "while" in book.notes[0]
    assert again.id in book.notes[0]
