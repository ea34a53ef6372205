"""`pairs scan` when a leg of an open position stops trading, end to end with real parts: the
CLI, real ccxt against the local Binance-protocol server (whose klines for that symbol stop,
and whose exchangeInfo then marks it inactive, or drops it), the local chat server and the
real SQLite state. The position must be closed by a ticket that says why, priced at the leg's
last real close, within `signals.stale_bars` bars of that leg's last real bar; no new entry may
use it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from pairscan.market import Candles
from tests.fakes.binance import FakeBinance
from tests.fakes.chat import FakeChat
from tests.jobs.test_scan_e2e import Scan, assert_ok, bar, isolated, make_scan

__all__ = ["isolated"]  # the fixture, imported so pytest finds it here

STALE_BARS = 3  # signals.stale_bars, the default
MAX_RUNS = 60  # hours of the replay searched for a first entry


def _open_first_position(scan: Scan) -> tuple[int, dict[str, Any]]:
    """Hourly runs from run 0 until one opens a position: (that run, its open ticket)."""
    for k in range(MAX_RUNS):
        assert_ok(scan.run(k))
        opens = [t for t in scan.outbox() if t["action"] != "close" and t["bar_ms"] == bar(k)]
        if opens:
            return k, opens[0]
    pytest.fail(f"no entry in the first {MAX_RUNS} hours of the replay")


def _stop_klines(fake: FakeBinance, symbol: str, last_bar_ms: int) -> float:
    """The exchange serves no bar of `symbol` after `last_bar_ms`; returns that bar's close."""
    market = fake.state.market(symbol)
    c = market.candles
    assert c is not None
    keep = c.timestamp <= last_bar_ms
    market.candles = Candles(
        c.timestamp[keep], c.open[keep], c.high[keep], c.low[keep], c.close[keep], c.volume[keep]
    )
    return float(c.close[keep][-1])


def _closes_after(scan: Scan, k_open: int) -> list[dict[str, Any]]:
    return [t for t in scan.outbox() if t["action"] == "close" and t["bar_ms"] > bar(k_open)]


def _leg(ticket: dict[str, Any], symbol: str) -> dict[str, Any]:
    legs = [leg for leg in ticket["legs"] if leg["symbol"] == symbol]
    assert len(legs) == 1, ticket
    return legs[0]


@pytest.mark.slow  # hourly `pairs scan` runs from a fresh cache, for each case
@pytest.mark.parametrize("inactive", ["", "SETTLING", "removed"])
def test_a_leg_that_stops_trading_closes_the_position_within_stale_bars(
    fake_binance: FakeBinance,
    fake_chat: FakeChat,
    tmp_path: Any,
    isolated: None,
    inactive: str,
) -> None:
    scan = make_scan(tmp_path / "run", fake_binance, fake_chat)
    k_open, opened = _open_first_position(scan)
    y, x = opened["y_symbol"], opened["x_symbol"]
    assert _leg(opened, y)["side"] != _leg(opened, x)["side"]  # a hedge: opposite sides
    dead = y
    last_real = bar(k_open + 1)  # the leg trades one more hour after the entry, then stops
    last_close = _stop_klines(fake_binance, dead, last_real)
    k = k_open + 1
    assert_ok(scan.run(k))
    if inactive == "removed":
        fake_binance.state.delist(dead)  # gone from exchangeInfo, klines answer -1121
    elif inactive:
        fake_binance.state.set_status(dead, inactive)
    closes: list[dict[str, Any]] = []
    outputs = []
    while not closes and k < k_open + 1 + STALE_BARS + 2:
        k += 1
        result = scan.run(k)
        outputs.append(result.output)
        assert result.exit_code in (0, 1), result.output
        closes = [
            t for t in _closes_after(scan, k_open) if (t["y_symbol"], t["x_symbol"]) == (y, x)
        ]
    assert closes, "\n".join(outputs)
    # Each run decided without the dead leg's candle, and said so.
    assert all(f"missing bar: {dead}: no candle for" in o for o in outputs), outputs
    close = closes[0]
    # Closed within stale_bars bars of the leg's last real bar, saying why.
    assert close["bar_ms"] <= last_real + STALE_BARS * 3_600_000, (close, last_real)
    assert close["reason"] == ("delisted" if inactive else "data_stale")
    if inactive:
        assert close["bar_ms"] == bar(k_open + 2)  # the first run that saw the status
        # A symbol the exchange dropped is not a typo: the run decides, and says so (exit 1).
        assert (result.exit_code == 1) == (inactive == "removed"), result.output
    else:
        assert close["bar_ms"] == last_real + STALE_BARS * 3_600_000
        # The run that closed it also reported the symbol stale (the update's own check).
        assert f"stale: {dead}: no new bar for {STALE_BARS} bars" in outputs[-1], outputs[-1]
    # The chats say a leg stopped trading, not just a reason code.
    said = "no longer listed" if inactive else "no new candle"
    assert any(said in text and y in text for text in fake_chat.shown("telegram"))
    # Priced at the dead leg's last real close, never a forward-filled or missing bar.
    assert _leg(close, dead)["ref_price"] == pytest.approx(last_close, rel=1e-12)
    assert np.isfinite(close["pnl_estimate_quote"])
    # Every leg of every ticket is a hedge, and nothing opens on the dead symbol afterwards.
    for _ in range(2):
        k += 1
        assert scan.run(k).exit_code in (0, 1)
    for t in scan.outbox():
        assert _leg(t, t["y_symbol"])["side"] != _leg(t, t["x_symbol"])["side"], t
        if t["bar_ms"] > last_real and t["action"] != "close":
            assert dead not in (t["y_symbol"], t["x_symbol"]), t
    shown = scan.cli("state", "show", "--json")
    open_pairs = {
        (p["y_symbol"], p["x_symbol"]) for p in json.loads(shown.stdout)["open_positions"]
    }
    assert (y, x) not in open_pairs
