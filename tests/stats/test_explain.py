"""Why a selection came out empty: each binding cause in the order a user would fix it, and the
universe warnings (spot legs, a liquidity floor read in another quote currency); then the scan
through the CLI on the demo market, where the cache is too young for a selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pairscan.cli import pairs
from pairscan.market import MarketInfo, parse_utc
from pairscan.stats.explain import (
    SelectionFacts,
    first_selection_ms,
    sum_reasons,
    universe_warnings,
    why_empty,
)
from pairscan.stats.schedule import Schedule
from pairscan.stats.selection import Reason

WEEKLY = Schedule.of(90, 168)
START = parse_utc("2025-05-16T00:00Z")


def facts(**changes: object) -> SelectionFacts:
    base: dict[str, object] = {
        "symbols": ("A/USDT:USDT", "B/USDT:USDT", "C/USDT:USDT"),
        "n_cached": 3,
        "n_eligible": 3,
        "reasons": sum_reasons([{"not_cointegrated": 2, "illiquid": 1}]),
        "first_bar_ms": START,
        "last_bar_ms": parse_utc("2026-01-01T00:00Z"),
        "min_adv_quote": 1e6,
    }
    base.update(changes)
    return SelectionFacts(**base)  # type: ignore[arg-type]


def test_nothing_to_explain_when_a_pair_was_selected() -> None:
    assert why_empty(facts(), WEEKLY, selected=1) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"n_cached": 0, "first_bar_ms": None, "last_bar_ms": None},
            "nothing cached for the 3 symbols: run `pairs cache update` first",
        ),
        (
            {"n_cached": 0, "first_bar_ms": None},
            "0 of the 3 symbols have cached bars up to 2026-01-01 00:00Z: a pair needs two",
        ),
        ({"n_cached": 1}, "1 of the 3 symbols has cached bars up to 2026-01-01 00:00Z"),
        ({"symbols": ("A/USDT:USDT",), "n_cached": 1}, "one symbol only (A/USDT:USDT)"),
        # One symbol in the universe, nothing read: the universe is the cause, not the cache.
        ({"symbols": ("A/USDT:USDT",), "n_cached": 0}, "one symbol only (A/USDT:USDT)"),
        (
            {"last_bar_ms": parse_utc("2025-07-01T00:00Z")},
            "not enough history: a selection needs 90 days (stats.formation_days) before its "
            "boundary and the cache starts 2025-05-16 00:00Z; the first selection will be at "
            "2025-08-18 00:00Z",
        ),
        ({"n_eligible": 1}, "1 of 3 symbols had real (not forward-filled) bars"),
        ({}, "no pair passed: 2 of 3 candidate pairs stopped at not_cointegrated"),
        (
            {"reasons": sum_reasons([{"illiquid": 3}]), "symbols": ("A/BTC", "B/BTC", "C/BTC")},
            "stopped at illiquid (the liquidity floor stats.min_adv_quote 1e+06 BTC per day",
        ),
    ],
)
def test_the_binding_cause(changes: dict[str, object], expected: str) -> None:
    text = why_empty(facts(**changes), WEEKLY, selected=0)
    assert text is not None
    assert text.startswith(expected) or expected in text, text


def test_first_selection_is_the_first_boundary_with_a_whole_formation_window() -> None:
    first = first_selection_ms(START, WEEKLY)
    assert WEEKLY.boundary_of(first) == first
    assert WEEKLY.formation(first)[0] >= START
    assert WEEKLY.formation(first - WEEKLY.every_ms)[0] < START


def test_sum_reasons_has_every_reason() -> None:
    total = sum_reasons([{"selected": 1}, {"selected": 2, "illiquid": 4}])
    assert set(total) == {r.value for r in Reason}
    assert (total["selected"], total["illiquid"], total["hurst_too_high"]) == (3, 4, 0)


def test_warnings_name_spot_legs_and_a_foreign_quote_currency() -> None:
    spot = MarketInfo("ETH/BTC", "ETH", "BTC", "spot", True)
    symbols = ("ETH/BTC", "BTC/USDT:USDT", "SOL/USDT:USDT")
    lines = universe_warnings(symbols, {"ETH/BTC": spot}, "USDT")
    assert len(lines) == 2
    assert "1 of 3 symbols are spot markets (e.g. ETH/BTC)" in lines[0]
    assert "quoted in BTC (not universe.quote USDT)" in lines[1]
    assert universe_warnings(symbols[1:], {}, "USDT") == []


def test_a_scan_on_a_young_cache_says_when_the_first_selection_will_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    monkeypatch.chdir(tmp_path)
    universe = "BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT"
    (tmp_path / "config.yaml").write_text("data_dir: data\n", encoding="utf-8")
    args = ["--exchange", "demo", "--now", "2025-06-10T05:05", "scan", "--symbols", universe]
    result = CliRunner().invoke(pairs, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["selected"] == []
    assert "the first selection will be at 2025-08-18 00:00Z" in report["nothing_selected"]
    shown = CliRunner().invoke(
        pairs, ["--exchange", "demo", "--now", "2025-06-10T06:05", *args[4:]]
    )
    assert "no pair selected: not enough history" in shown.output
