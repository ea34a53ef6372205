"""`pairs backtest` presentation: sweep-grid parsing and the rich tables. No logic of the
backtest itself; the command in `pairscan.cli` calls `jobs.backtest` and these printers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pairscan.errors import ConfigError
from pairscan.market import format_utc

# Short sweep names for the keys people sweep most; any dotted config key works too.
SWEEP_ALIASES = {
    "entry_z": "signals.entry_z",
    "exit_z": "signals.exit_z",
    "stop_z": "signals.stop_z",
    "cooldown": "signals.cooldown_bars",
    "max_holding_bars": "signals.max_holding_bars",
    "max_holding_half_lives": "signals.max_holding_half_lives",
    "window": "stats.window_bars",
    "z_window": "stats.z_window_bars",
    "hedge": "stats.hedge",
    "formation_days": "stats.formation_days",
    "reselect_every_hours": "stats.reselect_every_hours",
    "max_qvalue": "stats.max_qvalue",
    "max_pairs": "stats.max_pairs",
    "target_vol": "sizing.target_vol",
    "fee_bps": "backtest.fee_bps",
    "slippage_bps": "backtest.slippage_bps",
}
SWEEPABLE = ("stats", "signals", "sizing", "backtest")
MAX_VARIANTS = 1000


def parse_sweep(args: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """`KEY=V1,V2 ...` -> every combination as (label, {dotted key: value}), grid order.

    KEY is a short name (`entry_z`, `window`, see SWEEP_ALIASES) or a dotted config key of the
    stats, signals, sizing or backtest sections; values are YAML scalars (`2`, `1.5`, `null`,
    `kalman`). `sweep_configs` validates them like the config file's, naming the option.
    """
    axes: list[tuple[str, str, list[Any]]] = []
    for arg in args:
        name, sep, values = arg.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ConfigError(f"--sweep {arg!r}: expected KEY=V1,V2,... (e.g. entry_z=1.5,2,2.5)")
        key = SWEEP_ALIASES.get(name, name)
        if key.partition(".")[0] not in SWEEPABLE or "." not in key:
            short = ", ".join(sorted(SWEEP_ALIASES))
            raise ConfigError(
                f"--sweep {name}: not a sweepable key (short names: {short}; or a dotted key "
                f"of the {', '.join(SWEEPABLE)} sections)"
            )
        if any(k == key for _, k, _ in axes):
            raise ConfigError(f"--sweep {name}: given twice")
        axes.append((name, key, [yaml.safe_load(v.strip()) for v in values.split(",")]))
    n = math.prod(len(vals) for _, _, vals in axes)
    if n > MAX_VARIANTS:
        raise ConfigError(f"--sweep: {n} combinations; at most {MAX_VARIANTS} per run")
    grid = []
    for combo in itertools.product(*(vals for _, _, vals in axes)):
        label = " ".join(f"{name}={_show(v)}" for (name, _, _), v in zip(axes, combo, strict=True))
        grid.append((label, {key: v for (_, key, _), v in zip(axes, combo, strict=True)}))
    return grid


def sweep_configs(grid: Sequence[tuple[str, dict[str, Any]]], load: Any) -> list[tuple[str, Any]]:
    """The config of every variant of `parse_sweep`'s grid, loaded with `load(**overrides)`
    (`Globals.load`). The base config is loaded first, so a fault of the file is the file's;
    a fault of a swept value names the option and the value, not the config file:
    `--sweep entry_z=abc: signals.entry_z must be a number (got "abc")`, or the variant when
    only the combination is wrong (`--sweep entry_z=5 stop_z=4.5: signals needs stop_z > ...`).
    """
    from pairscan.config import config_label

    prefix = config_label(load()) + ": "
    short = {key: name for name, key in SWEEP_ALIASES.items()}
    out = []
    for label, overrides in grid:
        try:
            out.append((label, load(**overrides)))
        except ConfigError as exc:
            text = str(exc)
            text = text[len(prefix) :] if text.startswith(prefix) else text
            culprit = next(
                (f"{short.get(k, k)}={_show(v)}" for k, v in overrides.items() if f"{k} " in text),
                label,
            )
            raise ConfigError(f"--sweep {culprit}: {text}") from None
    return out


def variant_dir(label: str) -> str:
    """A sweep variant's folder under `--out`: its label with spaces and anything a file name
    should not hold as `_` (`entry_z=2 window=336` -> `entry_z=2_window=336`)."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in ".=+-") else "_" for c in label)
    return name.strip("_") or "variant"


def _show(value: Any) -> str:
    """A swept value as it would be typed (`null`, `true`, `2.5`)."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pct(value: float) -> str:
    """A signed return: +3.12%."""
    return "-" if not math.isfinite(value) else f"{100.0 * value:+.2f}%"


def _share(value: float) -> str:
    """A share or a volatility: 7.79%."""
    return "-" if not math.isfinite(value) else f"{100.0 * value:.2f}%"


def _num(value: float, spec: str = ".2f") -> str:
    return "-" if not math.isfinite(value) else format(value, spec)


def print_backtest(console: Console, report: Any, pairs: Any, top: int = 10) -> None:
    """The run's headline metrics, then the best pairs. Costs are signed as paid (+); funding
    is negative when received."""
    from pairscan.jobs.backtest import account_currency
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
        ("max drawdown duration", _duration_text(m)),
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
        for row in pairs.head(top).itertuples():
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


def print_sweep(console: Console, sweep: Any, top: int = 20) -> None:
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


def _duration_text(m: Any) -> str:
    """The deepest drawdown's length: from the peak before it to the recovery, or to the
    last bar when equity never got back to that peak."""
    from pairscan.text import plural

    bars = plural(m.max_drawdown_bars, "bar")
    if m.max_drawdown_bars == 0:
        return bars
    return f"{bars}, peak to recovery" if m.max_drawdown_recovered else f"{bars}, not recovered"


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
