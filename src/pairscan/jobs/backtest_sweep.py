"""`pairs backtest --sweep`: a grid of strategy variants backtested on one cached panel.

The grid itself is parsed in `cli.sweep`; here every variant runs on the panel read once, with
selections and hedge ratios shared between variants that agree on them, and the deflated
Sharpe ratios count every variant as a trial.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pairscan.backtest.costs import fixed_cost_source, with_fixed_costs
from pairscan.backtest.engine import (
    BacktestResult,
    pair_columns,
    run_backtest,
    select_walk_forward,
)
from pairscan.backtest.metrics import bar_returns, deflated_sharpes_of_trials
from pairscan.backtest.walkforward import WalkForward
from pairscan.config import Config
from pairscan.errors import ConfigError
from pairscan.jit import first_compile_notice
from pairscan.jobs.backtest import BacktestReport, backtest_report
from pairscan.jobs.backtest_market import LoadedMarket, load_market
from pairscan.stats.hedge import HEDGE_KEYS, hedge_and_z
from pairscan.stats.selection import SELECTION_KEYS

# Sections a sweep may vary: the strategy and its costs, not the data it runs on.
SWEEPABLE_SECTIONS = ("stats", "signals", "sizing", "backtest")


@dataclass(frozen=True)
class SweepReport:
    """Every variant's report, in grid order, and the grid's labels (`entry_z=2 window=336`)."""

    labels: tuple[str, ...]
    reports: tuple[BacktestReport, ...]


def run_sweep(
    variants: Sequence[tuple[str, Config]],
    *,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    on_variant: Callable[[int, int], None] | None = None,
    on_compile: Callable[[str], None] | None = None,
) -> SweepReport:
    """Backtest every (label, config) variant on one panel over one traded period.

    The panel is read once (with the longest formation window among the variants, so every
    variant trades the same bars); selections and hedge ratios are computed once per distinct
    setting and shared. Deflated Sharpe ratios account for all variants as trials, with the
    variance of their per-bar Sharpe ratios (Bailey and Lopez de Prado 2014).
    """
    if not variants:
        raise ConfigError("a sweep needs at least one variant")
    _check_same_data(variants)
    widest = max((c for _, c in variants), key=lambda c: c.stats.formation_days)
    # The shared panel carries the market's own costs (taker fees, half the spread estimate);
    # a variant that sets a number replaces them (`costs.with_fixed_costs`), one that sets
    # null keeps them.
    own_costs = dataclasses.replace(widest.backtest, fee_bps=None, slippage_bps=None)
    market = load_market(
        dataclasses.replace(widest, backtest=own_costs),
        symbols=symbols,
        start_ms=start_ms,
        end_ms=end_ms,
    )
    walks: dict[tuple[object, ...], WalkForward] = {}
    hedges: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}
    results: list[BacktestResult] = []
    with first_compile_notice(on_compile):
        for k, (_, config) in enumerate(variants):
            sel_key = tuple(getattr(config.stats, n) for n in SELECTION_KEYS)
            if sel_key not in walks:
                walks[sel_key] = select_walk_forward(
                    market.panel, config.stats, market.first_row, config.cache.adv_days
                )
            walk = walks[sel_key]
            hedge_key = (sel_key, *(getattr(config.stats, n) for n in HEDGE_KEYS))
            if hedge_key not in hedges:
                iy, ix = pair_columns(market.panel, walk)
                hedges[hedge_key] = hedge_and_z(np.log(market.panel.close), iy, ix, config.stats)
            bt = config.backtest
            panel = with_fixed_costs(market.panel, bt.fee_bps, bt.slippage_bps)
            results.append(
                run_backtest(
                    panel,
                    config,
                    trade_from_row=market.first_row,
                    walk=walk,
                    hedge=hedges[hedge_key],
                )
            )
            if on_variant is not None:
                on_variant(k + 1, len(variants))
    results = _deflate(results)
    reports = tuple(
        backtest_report(c, _cost_sources(market, c), r)
        for (_, c), r in zip(variants, results, strict=True)
    )
    return SweepReport(tuple(label for label, _ in variants), reports)


def _check_same_data(variants: Sequence[tuple[str, Config]]) -> None:
    first = variants[0][1]
    for label, config in variants[1:]:
        for section in ("exchange", "universe", "cache", "data_dir"):
            if getattr(config, section) != getattr(first, section):
                raise ConfigError(
                    f"sweep variant {label!r} changes `{section}`: a sweep varies only "
                    f"{', '.join(SWEEPABLE_SECTIONS)} keys"
                )


def _cost_sources(market: LoadedMarket, config: Config) -> LoadedMarket:
    """The shared market with where this variant's fees and slippage came from."""
    bt = config.backtest
    return dataclasses.replace(
        market,
        fee_source=market.fee_source if bt.fee_bps is None else fixed_cost_source(bt.fee_bps),
        slippage_source=market.slippage_source
        if bt.slippage_bps is None
        else fixed_cost_source(bt.slippage_bps),
    )


def _deflate(results: list[BacktestResult]) -> list[BacktestResult]:
    """Each variant with its deflated Sharpe ratio recomputed with all variants as the trials
    (`metrics.deflated_sharpes_of_trials`)."""
    dsr = deflated_sharpes_of_trials([bar_returns(r.equity) for r in results])
    return [
        dataclasses.replace(
            r, metrics=dataclasses.replace(r.metrics, deflated_sharpe=d, n_trials=len(results))
        )
        for r, d in zip(results, dsr, strict=True)
    ]
