"""`pairs backtest`: one walk-forward run of the configured strategy on the cached market.

The market comes from `backtest_market.load_market` (no network), the run from the backtest
engine; a `--sweep` grid is `backtest_sweep`, the files `--out` writes are `backtest_outputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pairscan.backtest.engine import BacktestResult, MarketPanel, run_backtest
from pairscan.config import Config
from pairscan.jit import first_compile_notice
from pairscan.jobs.backtest_market import LoadedMarket, load_market
from pairscan.jobs.common import cache_exchange_id
from pairscan.stats.explain import SelectionFacts, sum_reasons, why_empty
from pairscan.stats.schedule import Schedule


@dataclass(frozen=True)
class BacktestReport:
    """A finished run: the result, the symbols and period it covered, where costs came from,
    and the panel it ran on (its closes are what the pair plots draw)."""

    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    start_ms: int
    end_ms: int
    result: BacktestResult
    fee_source: str
    slippage_source: str
    selection: SelectionOutcome
    panel: MarketPanel


@dataclass(frozen=True)
class SelectionOutcome:
    """The walk-forward selections in numbers: windows, those that selected a pair, pairs per
    rejection reason over all windows, the binding cause when none ever selected a pair
    (`stats.explain.why_empty`, the scan's rule too), and warnings about the universe."""

    windows: int
    windows_with_pairs: int
    reasons: dict[str, int]
    nothing_selected: str | None
    warnings: tuple[str, ...]


def run_backtest_job(
    config: Config,
    *,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    on_window: Callable[[int, int], None] | None = None,
    on_compile: Callable[[str], None] | None = None,
) -> BacktestReport:
    """Backtest the configured strategy on cached data (see `load_market` for the arguments);
    `on_window(done, total)` reports the walk-forward selections (a progress bar),
    `on_compile` gets one line when Numba compiles kernels first."""
    market = load_market(config, symbols=symbols, start_ms=start_ms, end_ms=end_ms)
    with first_compile_notice(on_compile):
        result = run_backtest(
            market.panel, config, trade_from_row=market.first_row, on_window=on_window
        )
    return backtest_report(config, market, result)


def backtest_report(config: Config, market: LoadedMarket, result: BacktestResult) -> BacktestReport:
    """The report of `result`, a run of `config` on `market` (a sweep makes one per variant)."""
    return BacktestReport(
        exchange=cache_exchange_id(config),
        timeframe=config.cache.timeframe,
        symbols=market.symbols,
        start_ms=int(result.timestamps[0]),
        end_ms=int(result.timestamps[-1]),
        result=result,
        fee_source=market.fee_source,
        slippage_source=market.slippage_source,
        selection=selection_outcome(market, result, config),
        panel=market.panel,
    )


def selection_outcome(
    market: LoadedMarket, result: BacktestResult, config: Config
) -> SelectionOutcome:
    """The run's walk-forward selections summed up, with why none selected a pair if so."""
    windows = result.walk.windows
    reasons = sum_reasons(w.selection.summary() for w in windows)
    facts = SelectionFacts.of(
        market.symbols,
        market.panel.timestamps,
        market.panel.real,
        max((len(w.eligible) for w in windows), default=0),
        reasons,
        config.stats.min_adv_quote,
    )
    sched = Schedule.of(config.stats.formation_days, config.stats.reselect_every_hours)
    return SelectionOutcome(
        windows=len(windows),
        windows_with_pairs=sum(bool(w.selection.selected.any()) for w in windows),
        reasons=reasons,
        nothing_selected=why_empty(facts, sched, len(result.pairs)),
        warnings=market.warnings,
    )
