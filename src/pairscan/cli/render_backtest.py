"""`pairs backtest` presentation: the run's metrics, its best pairs and the sweep's ranking as
rich tables. No logic of the backtest itself (`cli.backtest` calls `jobs.backtest`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pairscan.market import format_utc

if TYPE_CHECKING:
    import pandas as pd

    from pairscan.jobs.backtest import BacktestReport
    from pairscan.jobs.backtest_sweep import SweepReport


def _pct(value: float) -> str:
    """A signed return: +3.12%."""
    return "-" if not math.isfinite(value) else f"{100.0 * value:+.2f}%"


def _share(value: float) -> str:
    """A share or a volatility: 7.79%."""
    return "-" if not math.isfinite(value) else f"{100.0 * value:.2f}%"


def _num(value: float, spec: str = ".2f") -> str:
    return "-" if not math.isfinite(value) else format(value, spec)


def print_backtest(
    console: Console, report: BacktestReport, pairs: pd.DataFrame, top: int = 10
) -> None:
    """The run's headline metrics, then the best `top` of `pairs`
    (`jobs.backtest_outputs.pair_table`). Costs are signed as paid (+); funding is negative
    when received."""
    from pairscan.jobs.backtest_outputs import account_currency
    from pairscan.text import fit_columns, plural

    m = report.result.metrics
    unit = account_currency(report.symbols)
    console.print(
        f"backtest: {escape(report.exchange)} {report.timeframe}, "
        f"{plural(len(report.symbols), 'symbol')}, "
        f"{format_utc(report.start_ms)} .. {format_utc(report.end_ms)}; fees: "
        f"{escape(report.fee_source)}; slippage: {escape(report.slippage_source)}"
    )
    table = Table(title="metrics", show_header=False)
    table.add_column("metric", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    rows = (
        ("total return", _pct(m.total_return)),
        ("annual return (CAGR)", _pct(m.annual_return)),
        ("annual vol", _share(m.annual_vol)),
        ("Sharpe / Sortino / Calmar", f"{_num(m.sharpe)} / {_num(m.sortino)} / {_num(m.calmar)}"),
        ("deflated Sharpe", _dsr_text(m.deflated_sharpe, m.n_trials)),
        ("max drawdown", _pct(m.max_drawdown)),
        ("max drawdown duration", _duration_text(m.max_drawdown_bars, m.max_drawdown_recovered)),
        ("longest underwater stretch", plural(m.longest_underwater_bars, "bar")),
        ("trades / win rate", f"{m.n_trades} / {_share(m.win_rate)}"),
        ("profit factor", _num(m.profit_factor)),
        (
            "holding bars avg / median",
            f"{_num(m.avg_holding_bars, '.1f')} / {_num(m.median_holding_bars, '.0f')}",
        ),
        ("turnover (x equity / year)", _num(m.turnover, ".1f")),
        ("exposure (share of bars)", _share(m.exposure)),
        ("fees paid", _cost_text(m.fees_paid, m.fee_bps, unit)),
        ("slippage paid", _cost_text(m.slippage_paid, m.slippage_bps, unit)),
        ("funding (+ paid, - received)", f"{m.funding_paid:+,.2f} {escape(unit)}"),
        ("pairs ever selected", str(len(report.result.pairs))),
        ("entries dropped by sizing", str(report.result.n_dropped)),
        ("entries refused by guards", _refused_text(report.result.refused)),
    )
    for name, value in rows:
        table.add_row(name, value)
    console.print(fit_columns(table, console))
    if len(pairs):
        per_pair = Table(title=f"pairs (best {min(top, len(pairs))} of {len(pairs)} traded)")
        heads = (
            "pair (y ~ x)",
            "trades",
            "net P&L",
            "win rate",
            "fees paid",
            "funding (received < 0)",
            "avg bars held",
        )
        for name in heads:
            left = name.startswith("pair")
            per_pair.add_column(name, justify="left" if left else "right", overflow="fold")
        # Rows of pair_breakdown's columns; pandas types a row's fields as any scalar.
        pair_rows: Iterable[Any] = pairs.head(top).itertuples()
        for row in pair_rows:
            per_pair.add_row(
                escape(f"{row.y} ~ {row.x}"),
                str(row.trades),
                f"{row.pnl:+,.2f}",
                _share(row.win_rate),
                f"{row.fees:,.2f}",
                f"{row.funding:+,.2f}",
                _num(row.avg_bars_held, ".1f"),
            )
        console.print(fit_columns(per_pair, console))
    else:
        console.print("no trades")
    sel = report.selection
    console.print(
        f"selection: {sel.windows_with_pairs} of {plural(sel.windows, 're-selection')} chose "
        "a pair; "
        "pairs per reason: "
        + escape(", ".join(f"{k} {v}" for k, v in sel.reasons.items() if v) or "none")
    )
    if sel.nothing_selected:
        console.print(f"no pair selected: {escape(sel.nothing_selected)}")
    for line in sel.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(line)}")


def print_sweep(console: Console, sweep: SweepReport, top: int = 20) -> None:
    """Variants ranked by Sharpe ratio (NaN last), with the deflated Sharpe of each."""
    from pairscan.text import fit_columns, plural

    order = sorted(
        range(len(sweep.reports)),
        key=lambda k: (
            -sweep.reports[k].result.metrics.sharpe
            if math.isfinite(sweep.reports[k].result.metrics.sharpe)
            else math.inf
        ),
    )
    table = Table(
        title=f"sweep: {plural(len(order), 'variant')}, ranked by Sharpe "
        f"(best {min(top, len(order))})"
    )
    for name in ("#", "variant", "return", "Sharpe", "DSR", "max DD", "trades", "win rate"):
        table.add_column(name, justify="left" if name == "variant" else "right", overflow="fold")
    for rank, k in enumerate(order[:top], start=1):
        m = sweep.reports[k].result.metrics
        table.add_row(
            str(rank),
            escape(sweep.labels[k]),
            _pct(m.total_return),
            _num(m.sharpe),
            _num(m.deflated_sharpe, ".3f"),
            _pct(m.max_drawdown),
            str(m.n_trades),
            _share(m.win_rate),
        )
    console.print(fit_columns(table, console))


def _duration_text(bars: int, recovered: bool) -> str:
    """The deepest drawdown's length: from the peak before it to the recovery, or to the
    last bar when equity never got back to that peak."""
    from pairscan.text import plural

    text = plural(bars, "bar")
    if bars == 0:
        return text
    return f"{text}, peak to recovery" if recovered else f"{text}, not recovered"


def _cost_text(paid: float, bps: float, unit: str) -> str:
    """A cost paid with its average rate per fill: `302.06 USDT (5.0 bps per fill)`."""
    rate = f" ({bps:.1f} bps per fill)" if math.isfinite(bps) else ""
    return f"{paid:,.2f} {escape(unit)}{rate}"


def _dsr_text(dsr: float, n_trials: int) -> str:
    """The deflated Sharpe ratio with the trials it counts and what that means: with one
    trial nothing is deflated, it is the probabilistic Sharpe ratio P[true SR > 0]."""
    if n_trials <= 1:
        return f"{_num(dsr, '.3f')} (1 trial: prob. true Sharpe > 0, nothing deflated)"
    return f"{_num(dsr, '.3f')} (prob. true Sharpe > the best of {n_trials} trials by luck)"


def _refused_text(refused: dict[str, int]) -> str:
    total = sum(refused.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{k} {v}" for k, v in refused.items() if v) + ")"
