"""`pairs backtest`: read the cache into a market panel and run the backtest engine on it.

The only place where the backtest meets I/O: cached candles, funding and market info (lot
sizes, minimum notional, taker fees, stored by `pairs cache update`). It never touches the
network: run `pairs cache update` first.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pairscan.backtest.engine import (
    BacktestResult,
    MarketPanel,
    pair_columns,
    run_backtest,
    select_walk_forward,
)
from pairscan.backtest.metrics import bar_returns, deflated_sharpe_ratio
from pairscan.backtest.plots import (
    PairSeries,
    RankedPair,
    best_and_worst,
    equity_figure,
    pair_figure,
    pair_plot_marks,
    pair_view,
    save_png,
)
from pairscan.backtest.report import equity_frame, ledger_frame, pair_breakdown
from pairscan.backtest.walkforward import WalkForward
from pairscan.cache import Store, read_panel
from pairscan.cache.align import AlignedPanel
from pairscan.cache.liquidity import spread_bps
from pairscan.config import Config, StatsConfig
from pairscan.errors import ConfigError
from pairscan.jit import first_compile_notice
from pairscan.jobs.common import cache_exchange_id, cached_markets, open_cache
from pairscan.market import (
    MS_PER_DAY,
    Candles,
    MarketInfo,
    format_utc,
    is_spot_market,
    symbol_key,
    timeframe_ms,
    typical_dollar_volume,
)
from pairscan.stats.explain import (
    SelectionFacts,
    quote_of,
    sum_reasons,
    universe_warnings,
    why_empty,
)
from pairscan.stats.hedge import hedge_and_z
from pairscan.stats.schedule import Schedule
from pairscan.text import plural

# Slippage when `backtest.slippage_bps` is null and a bar's spread estimate is missing.
FALLBACK_SLIPPAGE_BPS = 2.0


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


def cached_universe(
    store: Store, exchange: str, timeframe: str, markets: Mapping[str, MarketInfo]
) -> tuple[str, ...]:
    """Cached symbols at this timeframe: the perpetuals (by their cached market info) when any
    are cached (a spread needs a short leg, which perpetuals give without borrowing), else
    every cached symbol."""
    symbols = sorted({k.symbol for k in store.list_series(exchange) if k.timeframe == timeframe})
    perps = [s for s in symbols if s in markets and markets[s].is_perpetual]
    return tuple(perps or symbols)


@dataclass(frozen=True)
class LoadedMarket:
    """The panel a backtest (or a sweep of them) runs on, and what it was built from."""

    panel: MarketPanel
    first_row: int
    symbols: tuple[str, ...]
    fee_source: str
    slippage_source: str
    warnings: tuple[str, ...] = ()


def load_market(
    config: Config,
    *,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    now_ms: int | None = None,
) -> LoadedMarket:
    """Cached candles, funding, market filters and costs of the universe as one panel, with
    no network: the market filters and fees are those `pairs cache update` stored
    (`jobs.common.cached_markets`, which refuses a symbol it has none of).

    symbols: the universe (default `universe.symbols`, else every cached symbol, see
    `cached_universe`). start_ms/end_ms: the traded period (bar open times, inclusive);
    default from the first bar with a full formation window of history to the last cached
    bar. History before start_ms is read for formation and warm-up. now_ms: accepted with
    the other commands' options; nothing here reads a clock.
    """
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ConfigError(f"--start {format_utc(start_ms)} is after --end {format_utc(end_ms)}")
    exchange = cache_exchange_id(config)
    timeframe = config.cache.timeframe
    tf_ms = timeframe_ms(timeframe)
    history_ms = config.stats.formation_days * MS_PER_DAY
    with open_cache(config) as store:
        universe = tuple(
            symbols
            or config.universe.symbols
            or cached_universe(store, exchange, timeframe, cached_markets(config))
        )
        if not universe:
            raise ConfigError(_nothing_cached(store, exchange, timeframe))
        if len(universe) < 2:
            raise ConfigError(f"one symbol only ({universe[0]}): a pair needs two; add symbols")
        warmup_ms = history_ms + config.stats.window_bars * tf_ms
        aligned = read_panel(
            store,
            exchange,
            universe,
            timeframe,
            start_ms=None if start_ms is None else start_ms - warmup_ms,
            end_ms=end_ms,
            max_ffill_bars=config.cache.max_ffill_bars,
        )
        if aligned.n_bars == 0:
            raise ConfigError(_no_bars(store, exchange, universe, timeframe, start_ms, end_ms))
        _check_columns(aligned)
        markets = cached_markets(config, universe)
        funding = _funding_panel(store, exchange, aligned, markets)
    fee_bps, fee_source = _fees(config, universe, markets)
    slippage, slippage_source = _slippage(config, aligned)
    panel = MarketPanel(
        timestamps=aligned.timestamps,
        symbols=aligned.symbols,
        tf_ms=tf_ms,
        open=aligned.open,
        close=aligned.close,
        real=aligned.real,
        dollar_volume=typical_dollar_volume(
            aligned.high, aligned.low, aligned.close, aligned.volume
        ),
        funding=funding,
        lots=_lots(universe, markets),
        fee_bps=fee_bps,
        slippage_bps=slippage,
        spot=np.array([is_spot_market(s, markets) for s in universe], dtype=np.bool_),
    )
    first = _first_traded_row(aligned, start_ms, history_ms)
    warnings = tuple(universe_warnings(universe, markets, config.universe.quote))
    return LoadedMarket(panel, first, universe, fee_source, slippage_source, warnings)


def _nothing_cached(store: Store, exchange: str, timeframe: str) -> str:
    """Why the default universe (the cached symbols) is empty: the cache of this exchange is
    empty, or it holds other timeframes only."""
    held = sorted({k.timeframe for k in store.list_series(exchange)} - {"funding"})
    if not held:
        return f"nothing cached for exchange {exchange}: run `pairs cache update` first"
    return (
        f"no cached symbols at {timeframe} on {exchange}; the cache holds {', '.join(held)}: "
        f"set cache.timeframe to one of them, or run `pairs cache update --timeframe {timeframe}`"
    )


def _no_bars(
    store: Store,
    exchange: str,
    universe: Sequence[str],
    timeframe: str,
    start_ms: int | None,
    end_ms: int | None,
) -> str:
    """Why the requested period has no cached bar, with what the cache does hold."""
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        return f"--start {format_utc(start_ms)} is after --end {format_utc(end_ms)}"
    lasts = [store.last_timestamp(exchange, s, timeframe) for s in universe]
    known = [t for t in lasts if t is not None]
    if not known:
        return (
            f"nothing cached for {', '.join(universe)} at {timeframe} on {exchange}: run "
            f"`pairs cache update --symbols {','.join(universe)}` first"
        )
    span = f"the cache of {', '.join(universe)} ends {format_utc(max(known))}"
    if start_ms is not None and start_ms > max(known):
        return f"--start {format_utc(start_ms)} is after the cached data: {span}"
    return f"no cached bars of {', '.join(universe)} in the requested period; {span}"


def run_backtest_job(
    config: Config,
    *,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    now_ms: int | None = None,
    on_window: Callable[[int, int], None] | None = None,
    on_compile: Callable[[str], None] | None = None,
) -> BacktestReport:
    """Backtest the configured strategy on cached data (see `load_market` for the arguments);
    `on_window(done, total)` reports the walk-forward selections (a progress bar),
    `on_compile` gets one line when Numba compiles kernels first."""
    market = load_market(config, symbols=symbols, start_ms=start_ms, end_ms=end_ms, now_ms=now_ms)
    with first_compile_notice(on_compile):
        result = run_backtest(
            market.panel, config, trade_from_row=market.first_row, on_window=on_window
        )
    return _report(config, market, result)


def _report(config: Config, market: LoadedMarket, result: BacktestResult) -> BacktestReport:
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


def _first_traded_row(aligned: AlignedPanel, start_ms: int | None, history_ms: int) -> int:
    first_possible = int(aligned.timestamps[0]) + history_ms
    start = first_possible if start_ms is None else max(start_ms, first_possible)
    row = int(np.searchsorted(aligned.timestamps, start))
    if row >= aligned.n_bars - 1:
        first, last = (
            format_utc(int(aligned.timestamps[0])),
            format_utc(int(aligned.timestamps[-1])),
        )
        raise ConfigError(
            f"not enough history: the first {history_ms // MS_PER_DAY} days "
            f"(stats.formation_days) from {first} are needed for selection before trading, "
            f"and the cache ends {last}"
        )
    return row


def _check_columns(aligned: AlignedPanel) -> None:
    empty = [s for k, s in enumerate(aligned.symbols) if not np.isfinite(aligned.close[:, k]).any()]
    if empty:
        raise ConfigError(
            f"nothing cached for {', '.join(empty)} at this timeframe: run "
            f"`pairs cache update --symbols {','.join(empty)}` first"
        )


def _funding_panel(
    store: Store, exchange: str, aligned: AlignedPanel, markets: Mapping[str, MarketInfo]
) -> np.ndarray:
    """Funding rates charged at the start of each bar: an event at time E belongs to the bar
    t with open(t-1) < E <= open(t) (Binance's events fall on bar opens). Perpetuals only."""
    out = np.zeros((aligned.n_bars, aligned.n_symbols))
    ts = aligned.timestamps
    for k, symbol in enumerate(aligned.symbols):
        if not markets[symbol].is_perpetual:
            continue
        events = store.read_funding(exchange, symbol, int(ts[0]) + 1, int(ts[-1]))
        rows = np.searchsorted(ts, events.timestamp, side="left")
        keep = (rows > 0) & (rows < aligned.n_bars)
        np.add.at(out[:, k], rows[keep], events.funding_rate[keep])
    return out


def _lots(universe: Sequence[str], markets: Mapping[str, MarketInfo]) -> np.ndarray:
    """float64[4, n_symbols]: contract size, lot step, minimum amount, minimum notional (0 when
    the exchange does not say)."""
    lots = np.zeros((4, len(universe)))
    for k, symbol in enumerate(universe):
        m = markets[symbol]
        lots[:, k] = (
            m.contract_size,
            m.amount_step or 0.0,
            m.min_amount or 0.0,
            m.min_notional or 0.0,
        )
    return lots


def _fees(
    config: Config, universe: Sequence[str], markets: Mapping[str, MarketInfo]
) -> tuple[np.ndarray, str]:
    """Taker fee per fill of each symbol in bps: `backtest.fee_bps`, else the market's own
    (`MarketInfo.taker_fee_bps`, with its documented default per market type)."""
    if config.backtest.fee_bps is not None:
        return np.full(
            len(universe), config.backtest.fee_bps
        ), f"{config.backtest.fee_bps:g} bps (config)"
    fees = np.array([markets[s].taker_fee_bps for s in universe])
    return fees, "taker fee from the exchange's market info"


def _slippage(config: Config, aligned: AlignedPanel) -> tuple[np.ndarray, str]:
    shape = (aligned.n_bars, aligned.n_symbols)
    if config.backtest.slippage_bps is not None:
        return np.full(
            shape, config.backtest.slippage_bps
        ), f"{config.backtest.slippage_bps:g} bps (config)"
    out = np.empty(shape)
    for k in range(aligned.n_symbols):
        candles = Candles(
            aligned.timestamps,
            aligned.open[:, k],
            aligned.high[:, k],
            aligned.low[:, k],
            aligned.close[:, k],
            aligned.volume[:, k],
        )
        est = spread_bps(
            candles,
            config.cache.spread_window_bars,
            config.cache.spread_estimator,
            tf_ms=aligned.tf_ms,
        )
        # Half the spread: a taker crosses from the mid to the far side.
        out[:, k] = np.where(np.isfinite(est), est / 2.0, FALLBACK_SLIPPAGE_BPS)
    return out, f"half the {config.cache.spread_estimator} spread estimate (causal)"


# Keys of `stats` that decide which pairs are selected (a sweep reuses the selection across
# variants that agree on them) and those that decide the hedge ratio and z.
_SELECTION_KEYS = (
    "formation_days",
    "reselect_every_hours",
    "min_return_corr",
    "min_adv_quote",
    "max_qvalue",
    "min_hedge_ratio",
    "max_hedge_ratio",
    "coint_maxlag",
    "coint_autolag",
    "half_life_min_bars",
    "half_life_max_bars",
    "max_hurst",
    "hurst_max_lag",
    "max_pairs",
)
_HEDGE_KEYS = ("hedge", "window_bars", "z_window_bars", "kalman_delta", "kalman_obs_var")
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
    now_ms: int | None = None,
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
    # a variant that sets a number replaces them (`_with_costs`), one that sets null keeps them.
    own_costs = dataclasses.replace(widest.backtest, fee_bps=None, slippage_bps=None)
    market = load_market(
        dataclasses.replace(widest, backtest=own_costs),
        symbols=symbols,
        start_ms=start_ms,
        end_ms=end_ms,
        now_ms=now_ms,
    )
    walks: dict[tuple[object, ...], WalkForward] = {}
    hedges: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}
    results: list[BacktestResult] = []
    with first_compile_notice(on_compile):
        for k, (_, config) in enumerate(variants):
            sel_key = tuple(getattr(config.stats, n) for n in _SELECTION_KEYS)
            if sel_key not in walks:
                walks[sel_key] = select_walk_forward(
                    market.panel, config.stats, market.first_row, config.cache.adv_days
                )
            walk = walks[sel_key]
            hedge_key = (sel_key, *(getattr(config.stats, n) for n in _HEDGE_KEYS))
            if hedge_key not in hedges:
                iy, ix = pair_columns(market.panel, walk)
                hedges[hedge_key] = hedge_and_z(np.log(market.panel.close), iy, ix, config.stats)
            panel = _with_costs(market, config)
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
        _report(c, _cost_sources(market, c), r) for (_, c), r in zip(variants, results, strict=True)
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
        fee_source=market.fee_source if bt.fee_bps is None else f"{bt.fee_bps:g} bps (config)",
        slippage_source=market.slippage_source
        if bt.slippage_bps is None
        else f"{bt.slippage_bps:g} bps (config)",
    )


def _with_costs(market: LoadedMarket, config: Config) -> MarketPanel:
    """The shared panel with this variant's fees and slippage, when it sets its own."""
    bt = config.backtest
    panel = market.panel
    if bt.fee_bps is not None:
        panel = dataclasses.replace(panel, fee_bps=np.full(len(market.symbols), bt.fee_bps))
    if bt.slippage_bps is not None:
        panel = dataclasses.replace(panel, slippage_bps=np.full(panel.close.shape, bt.slippage_bps))
    return panel


def _deflate(results: list[BacktestResult]) -> list[BacktestResult]:
    """Recompute each variant's deflated Sharpe ratio with all variants as the trials."""
    per_bar = []
    for r in results:
        rets = bar_returns(r.equity)
        sd = float(np.std(rets, ddof=1)) if rets.size > 1 else 0.0
        per_bar.append(float(np.mean(rets)) / sd if sd > 0 else np.nan)
    finite = [v for v in per_bar if np.isfinite(v)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    n = len(results)
    out = []
    for r in results:
        dsr = deflated_sharpe_ratio(bar_returns(r.equity), n, variance)
        metrics = dataclasses.replace(r.metrics, deflated_sharpe=dsr, n_trials=n)
        out.append(dataclasses.replace(r, metrics=metrics))
    return out


def write_outputs(
    report: BacktestReport, config: Config, out_dir: Path, top_pairs: int = 3
) -> list[Path]:
    """Write the run's files into out_dir (created): ledger.csv and ledger.parquet (one row
    per trade), equity.csv (per bar), pairs.csv (per-pair breakdown), metrics.json, and PNG
    plots: equity.png (`plots.equity_figure`) and, for the `top_pairs` pairs with the most
    P&L and the `top_pairs` with the least, best<i>_<y>_<x>.png and worst<i>_<y>_<x>.png
    (`plots.pair_figure`; best1 has the most P&L, worst1 the least; a pair is drawn once, so
    fewer than 2 * top_pairs traded pairs give fewer files, `plots.best_and_worst`).
    Each file is written to a temporary name and renamed, so a reader never sees half a file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = report.result
    ledger = ledger_frame(result)
    equity = equity_frame(result)
    pairs = pair_breakdown(ledger)
    currency = account_currency(report.symbols)
    written = [
        _atomic(out_dir / "ledger.csv", lambda p: ledger.to_csv(p, index=False)),
        _atomic(out_dir / "ledger.parquet", lambda p: ledger.to_parquet(p, index=False)),
        _atomic(out_dir / "equity.csv", lambda p: equity.to_csv(p)),
        _atomic(out_dir / "pairs.csv", lambda p: pairs.to_csv(p, index=False)),
        _atomic(
            out_dir / "metrics.json",
            lambda p: p.write_text(json.dumps(metrics_json(report), indent=2), encoding="utf-8"),
        ),
    ]
    title = f"{report.exchange} {report.timeframe} backtest: {len(report.symbols)} symbols"
    fig = equity_figure(equity, result.metrics, currency, title)
    written.append(_atomic(out_dir / "equity.png", lambda p: save_png(fig, p)))
    for ranked in best_and_worst(pairs, top_pairs):
        written.append(_plot_pair(report, ledger, ranked, config, out_dir))
    return written


def pair_table(report: BacktestReport) -> pd.DataFrame:
    """The run's per-pair breakdown (`backtest.report.pair_breakdown` of its ledger, best
    P&L first), as pairs.csv holds it and `pairs backtest` prints it."""
    return pair_breakdown(ledger_frame(report.result))


def account_currency(symbols: Sequence[str]) -> str:
    """The currency the books are kept in: the universe's one quote (settle) currency, e.g.
    USDT; "mixed quote" when symbols differ (the simulator converts nothing)."""
    quotes = {quote_of(s) for s in symbols}
    return quotes.pop() if len(quotes) == 1 else "mixed quote"


def _plot_pair(
    report: BacktestReport,
    ledger: pd.DataFrame,
    ranked: RankedPair,
    config: Config,
    out_dir: Path,
) -> Path:
    """<rank>_<y>_<x>.png (rank: best1, worst1, ..., `RankedPair.rank`): the pair around its
    selected periods (`plots.pair_view`), its legs' closes from the panel and the hedge ratio
    and z the run traded on, with the machine's decisions at their decision bars and its
    selected periods shaded; the title counts the trades the ledger filled (an entry the sizer
    dropped is still drawn as a decision) and their P&L."""
    result, panel, pair = report.result, report.panel, ranked.pair
    k = result.pairs.index(pair)
    traded = slice(result.first_row, None)
    decisions = (
        result.machine.action[traded, k],
        result.machine.reason[traded, k],
        result.walk.gate[traded, k],
    )
    view = pair_view(*decisions)
    rows = slice(result.first_row + view.start, result.first_row + view.stop)
    times = pd.to_datetime(result.timestamps[view], unit="ms", utc=True)
    series = PairSeries(
        names=pair,
        times=times,
        close_y=panel.close[rows, panel.symbols.index(pair[0])],
        close_x=panel.close[rows, panel.symbols.index(pair[1])],
        beta=result.beta[rows, k],
        z=result.z[rows, k],
    )
    marks = pair_plot_marks(times, series.z, *(d[view] for d in decisions))
    trades = ledger[(ledger["y"] == pair[0]) & (ledger["x"] == pair[1])]
    title = (
        f"{pair[0]} on {pair[1]} ({ranked.kind} #{ranked.place} by P&L): "
        f"P&L {trades['pnl'].sum():+,.2f} {account_currency(report.symbols)}, "
        f"{plural(len(trades), 'trade')} filled\n"
        f"{times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M} UTC"
    )
    sig, stats = config.signals, config.stats
    fig = pair_figure(
        series,
        marks,
        (sig.entry_z, sig.exit_z, sig.stop_z),
        (stats.min_hedge_ratio, stats.max_hedge_ratio),
        _hedge_label(stats),
        title,
    )
    path = out_dir / f"{ranked.rank}_{symbol_key(pair[0])}_{symbol_key(pair[1])}.png"
    return _atomic(path, lambda p: save_png(fig, p))


def _hedge_label(stats: StatsConfig) -> str:
    if stats.hedge == "kalman":
        return f"Kalman beta (delta {stats.kalman_delta:g})"
    return f"rolling OLS beta ({stats.window_bars} bars)"


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)
    return path


def metrics_json(report: BacktestReport) -> dict[str, object]:
    """The run's summary as plain JSON values (NaN and inf as null)."""
    m = report.result.metrics.as_dict()
    clean = {
        k: (float(v) if math.isfinite(float(v)) else None) if isinstance(v, float) else v
        for k, v in m.items()
    }
    return {
        "exchange": report.exchange,
        "timeframe": report.timeframe,
        "symbols": list(report.symbols),
        "start": format_utc(report.start_ms),
        "end": format_utc(report.end_ms),
        "fees": report.fee_source,
        "slippage": report.slippage_source,
        "pairs_selected": len(report.result.pairs),
        "entries_dropped_by_sizing": report.result.n_dropped,
        "entries_refused": dict(report.result.refused),
        "selection": {
            "windows": report.selection.windows,
            "windows_with_pairs": report.selection.windows_with_pairs,
            "pairs_per_reason": report.selection.reasons,
            "nothing_selected": report.selection.nothing_selected,
        },
        "warnings": list(report.selection.warnings),
        "deflated_sharpe_trials": report.result.metrics.n_trials,
        "metrics": clean,
    }
