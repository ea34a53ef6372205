"""Every table the CLI prints fits a 100-column terminal without cutting a symbol or an id:
no `…`, each symbol and ticket id whole on one line, spot and perpetual told apart. Rendered
with the printers themselves into a recording rich console, on realistic long symbols."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from pairscan.backtest.metrics import compute_metrics
from pairscan.cli.render_backtest import print_backtest, print_sweep
from pairscan.cli.render_cache import print_state, print_stats, print_update
from pairscan.cli.render_scan import print_scan, print_status
from pairscan.jobs.cache_stats import SeriesStats, StatsReport
from pairscan.jobs.cache_update import SymbolUpdate, UpdateReport
from pairscan.jobs.scan_report import ScanReport
from pairscan.jobs.state_show import OpenPosition, StateReport
from pairscan.market import parse_utc
from pairscan.tickets import Ticket
from tests.tickets.factories import make_ticket

T0 = parse_utc("2025-05-16T00:00")
T1 = parse_utc("2026-05-15T23:00")
HOUR = 3_600_000
SHIB_PERP, SHIB_SPOT = "1000SHIB/USDT:USDT", "1000SHIB/USDT"
AVAX_PERP, AVAX_SPOT = "AVAX/USDT:USDT", "AVAX/USDT"
LTC_PERP, BTC_PERP = "LTC/USDT:USDT", "BTC/USDT:USDT"
SYMBOLS = (SHIB_PERP, SHIB_SPOT, AVAX_PERP, AVAX_SPOT, LTC_PERP, BTC_PERP)
PAIRS = ((SHIB_PERP, AVAX_PERP), (AVAX_PERP, LTC_PERP), (LTC_PERP, BTC_PERP))
PEPE_PERP = "1000PEPE/USDT:USDT"
PEPE_ERROR = "cannot read data/cache/binanceusdm/1000PEPE_USDT_USDT_1h.parquet: not parquet"


def _update_report() -> UpdateReport:
    rows = [
        SymbolUpdate(
            s,
            new_bars=8760,
            total_bars=8760,
            first_ms=T0,
            last_ms=T1,
            gaps=k % 2,
            missing_bars=3 * (k % 2),
            new_funding=1095 if ":" in s else None,
        )
        for k, s in enumerate(SYMBOLS)
    ]
    rows.append(
        SymbolUpdate(
            "DOGE/USDT:USDT",
            error="binanceusdm fetch_ohlcv DOGE/USDT:USDT failed after 3 attempts: "
            "ExchangeNotAvailable 503 Service Unavailable",
        )
    )
    rows.append(
        SymbolUpdate("XRP/USDT:USDT", 0, 8755, T0, T1 - 5 * HOUR, bars_behind=5, stale=True)
    )
    return UpdateReport("binanceusdm", "1h", T1 + HOUR, rows, requests=111, seconds=0.3)


def _stats_report() -> StatsReport:
    series = [
        SeriesStats(
            "binanceusdm",
            s,
            tf,
            T0,
            T1,
            rows=43_800 if tf == "1h" else 1_095,
            gaps=2,
            missing_bars=3,
            staleness=1.0 if tf == "1h" else 8.0,
            stale=s == BTC_PERP,
            size_bytes=1_234_567,
            adv_quote=12_345_678_901.0 if tf == "1h" else None,
            spread_bps=25.1 if tf == "1h" else None,
        )
        for s in SYMBOLS
        for tf in ("1h", "funding")
        if tf == "1h" or ":" in s
    ]
    unreadable = SeriesStats(
        "binanceusdm", PEPE_PERP, "1h", None, None, 0, 0, 0, None, True, 0, error=PEPE_ERROR
    )
    return StatsReport("binanceusdm", T1 + HOUR, [*series, unreadable])


def _positions() -> list[OpenPosition]:
    return [
        OpenPosition(
            y_symbol=y,
            x_symbol=x,
            side=side,
            entry_bar_ms=T1 - 12 * HOUR,
            entry_z=z,
            entry_alpha=0.1,
            entry_beta=1.4263,
            entry_price_y=0.01234,
            entry_price_x=9.532,
            qty_y=qty_y,
            qty_x=qty_x,
            bars_held=12,
            hold_limit=106,
            updated_bar_ms=T1,
        )
        for (y, x), side, z, qty_y, qty_x in zip(
            PAIRS,
            ("SHORT", "LONG", "LONG"),
            (2.78, -2.31, -3.05),
            (-1_234_567.0, 327.0, 12.345),
            (327.25, -77.358, -0.0123),
            strict=False,
        )
    ]


def _state_report() -> StateReport:
    return StateReport(
        exchange="binanceusdm",
        path="/home/trader/pairscan/data/state/binanceusdm.sqlite",
        exists=True,
        last_bar_ms=T1,
        last_committed_at_ms=T1 + HOUR,
        pairs_tracked=5,
        open_positions=_positions(),
    )


def _tickets() -> list[Ticket]:
    return [
        make_ticket(
            "open_short",
            y=SHIB_PERP,
            x=AVAX_PERP,
            qty=(1_234_567.0, 327.0),
            prices=(0.01234, 9.532),
            pnl_estimate_quote=None,
        ),
        make_ticket("close", y=AVAX_PERP, x=LTC_PERP, qty=(327.0, 77.358), prices=(9.532, 57.47)),
    ]


def _scan_report() -> ScanReport:
    return ScanReport(
        run_id="b26b44b5f184",
        exchange="binanceusdm",
        timeframe="1h",
        started_ms=T1 + HOUR,
        clock_ms=T1 + HOUR,
        bar_ms=T1,
        universe=list(SYMBOLS),
        selected=[list(p) for p in PAIRS],
        new_selection=True,
        selection_changes=[f"added {y} ~ {x}" for y, x in PAIRS],
        bars_decided=1,
        pairs_scanned=3,
        tickets=_tickets(),
        selection_reasons={"not_cointegrated": 12, "selected": 3},
        delivered={"console": 2, "slack": 2},
        open_positions=1,
        book={
            "open_positions": 1,
            "closed_positions": 1,
            "unrealised": -3.78,
            "realised": 12.5,
            "total": 8.72,
            "fees": 3.78,
            "funding": -0.25,
            "quote": "USDT",
        },
    )


def _runs() -> list[dict[str, object]]:
    return [
        {
            "started_ms": T1 + HOUR + 42_000,
            "bar_ms": T1,
            "status": "partial",
            "bars_decided": 1,
            "pairs_scanned": 3,
            "tickets": [t.id for t in _tickets()],
            "delivered": {"console": 2, "slack": 2, "telegram": 2},
            "symbol_errors": ["DOGE/USDT:USDT: fetch failed"],
            "channel_errors": [],
        }
    ]


def _metrics(n_trials: int = 1, seed: int = 0) -> object:
    rng = np.random.default_rng(seed)
    equity = 10_000.0 * np.cumprod(1.0 + rng.normal(0.0002, 0.004, 2_000))
    return compute_metrics(
        equity,
        bars_per_year=8760.0,
        trade_pnl=rng.normal(5.0, 20.0, 50),
        holding_bars=rng.integers(5, 60, 50).astype(np.float64),
        traded_notional=604_122.59,
        in_market=rng.random(2_000) < 0.1,
        fees_paid=302.06,
        slippage_paid=120.82,
        funding_paid=-16.73,
        n_trials=n_trials,
    )


def _backtest_report() -> SimpleNamespace:
    result = SimpleNamespace(
        metrics=_metrics(),
        pairs=PAIRS,
        n_dropped=5,
        refused={"hedge_band": 2, "short_spot": 0},
    )
    selection = SimpleNamespace(
        windows=39,
        windows_with_pairs=6,
        reasons={"not_cointegrated": 1695, "selected": 30},
        nothing_selected=None,
        warnings=(),
    )
    return SimpleNamespace(
        exchange="binanceusdm",
        timeframe="1h",
        symbols=SYMBOLS,
        start_ms=T0,
        end_ms=T1,
        fee_source="taker fee from the exchange's market info",
        slippage_source="2 bps (config)",
        result=result,
        selection=selection,
    )


def _pair_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [y for y, _ in PAIRS],
            "x": [x for _, x in PAIRS],
            "trades": [10, 6, 1],
            "pnl": [12_356.5, -236.55, 0.25],
            "win_rate": [0.9, 1 / 3, 1.0],
            "fees": [1_058.14, 41.96, 0.5],
            "funding": [-1.46, 0.07, -1_234.5],
            "avg_bars_held": [20.3, 120.25, math.nan],
        }
    )


def _sweep() -> SimpleNamespace:
    labels = [
        f"entry_z={z} window={w} hedge=kalman" for z in (1.5, 2, 2.5) for w in (168, 336, 720)
    ]
    reports = [
        SimpleNamespace(result=SimpleNamespace(metrics=_metrics(len(labels), seed=k)))
        for k in range(len(labels))
    ]
    return SimpleNamespace(labels=labels, reports=reports)


# Every table the CLI prints, with the symbols and ids each must show whole.
TABLES: dict[str, tuple[Callable[[Console], None], tuple[str, ...]]] = {
    "cache update": (lambda c: print_update(c, _update_report()), SYMBOLS),
    "cache stats": (lambda c: print_stats(c, _stats_report()), (*SYMBOLS, PEPE_PERP)),
    "state show": (
        lambda c: print_state(c, _state_report()),
        tuple(s for p in PAIRS for s in p),
    ),
    "scan": (
        lambda c: print_scan(c, _scan_report()),
        (SHIB_PERP, AVAX_PERP, LTC_PERP, *(t.id for t in _tickets())),
    ),
    "scan --status": (
        lambda c: print_status(c, _runs(), _state_report()),
        (),
    ),
    "backtest": (
        lambda c: print_backtest(c, _backtest_report(), _pair_table()),
        tuple(s for p in PAIRS for s in p),
    ),
    "backtest --sweep": (lambda c: print_sweep(c, _sweep()), tuple(_sweep().labels)),
}


def render(name: str, width: int = 100) -> str:
    """What `name` prints on a terminal of `width` columns (styles dropped)."""
    console = Console(
        width=width, file=io.StringIO(), record=True, force_terminal=True, color_system=None
    )
    TABLES[name][0](console)
    return console.export_text()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_table_fits_100_columns_with_every_symbol_and_id_whole(name: str) -> None:
    text = render(name)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, text
    assert "…" not in text, text
    for whole in TABLES[name][1]:
        # On one line, and not as the start of a longer symbol (spot inside perpetual).
        assert re.search(rf"(?<![\w/:]){re.escape(whole)}(?![\w/:])", text), (whole, text)


def test_long_messages_go_below_the_table_whole() -> None:
    # cache stats: the unreadable series keeps its row; its error line is the command's, on
    # stderr (tests/test_cli.py::test_cache_stats_reports_a_corrupt_file_and_goes_on).
    assert PEPE_ERROR not in render("cache stats", 200)
    update = render("cache update", 200)
    assert "error: DOGE/USDT:USDT: binanceusdm fetch_ohlcv DOGE/USDT:USDT failed" in update
    assert "size on disk" not in render("cache stats", 200)  # wide enough for the column
    assert "size on disk: in --json" in render("cache stats")


def test_spot_and_perpetual_stay_apart() -> None:
    text = render("cache stats")
    rows = [line for line in text.splitlines() if "1000SHIB" in line]
    assert sum(SHIB_PERP in row for row in rows) == 2  # candles and funding
    assert sum(re.search(r"1000SHIB/USDT(?!:)", row) is not None for row in rows) == 1


if __name__ == "__main__":  # a look at the tables: python -m tests.test_cli_tables [width]
    import sys

    for table in TABLES:
        print(f"===== {table}")
        print(render(table, int(sys.argv[1]) if len(sys.argv) > 1 else 100))
