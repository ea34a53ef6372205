"""`pairs backtest --out` and `--json`: a finished run as files (ledger, equity, per-pair
table, metrics, PNG plots) and as plain JSON values."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from pairscan.backtest.pair_plot import ranked_pair_figure
from pairscan.backtest.plots import RankedPair, best_and_worst, equity_figure, save_png
from pairscan.backtest.report import equity_frame, ledger_frame, pair_breakdown
from pairscan.config import Config
from pairscan.jobs.backtest import BacktestReport
from pairscan.market import format_utc, symbol_key
from pairscan.stats.explain import quote_of


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
    """<rank>_<y>_<x>.png (rank: best1, worst1, ..., `RankedPair.rank`): the pair's
    `pair_plot.ranked_pair_figure`."""
    fig = ranked_pair_figure(
        report.result,
        report.panel,
        ledger,
        ranked,
        (config.signals, config.stats),
        account_currency(report.symbols),
    )
    y, x = ranked.pair
    path = out_dir / f"{ranked.rank}_{symbol_key(y)}_{symbol_key(x)}.png"
    return _atomic(path, lambda p: save_png(fig, p))


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
