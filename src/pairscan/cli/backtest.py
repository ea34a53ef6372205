"""`pairs backtest` (one walk-forward run, or a `--sweep` grid): parse, call `jobs.backtest`
(`jobs.backtest_sweep`), print (`render_backtest`), write `--out` (`jobs.backtest_outputs`).
No logic of the backtest itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pairscan.cli.errors import reported_errors
from pairscan.cli.options import Globals, parse_time, stdout, symbols_option
from pairscan.cli.progress import compile_notice, counter, progress
from pairscan.text import plural


@click.command("backtest")
@symbols_option(
    "Universe (comma-separated or repeated); default: universe.symbols, else every "
    "cached perpetual (or spot symbol when no perpetual is cached)."
)
@click.option(
    "--start", default=None, callback=parse_time("--start"), help="First traded bar, UTC."
)
@click.option("--end", default=None, callback=parse_time("--end"), help="Last bar, UTC.")
@click.option(
    "--sweep",
    "sweep",
    multiple=True,
    help="KEY=V1,V2,... to run a grid (more KEY=... may follow as arguments), e.g. "
    "--sweep entry_z=1.5,2,2.5 window=168,336,720.",
)
@click.argument("more_sweep", nargs=-1)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write ledger (CSV, parquet), equity, per-pair table, metrics and PNG plots here.",
)
@click.option(
    "--top",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="With --out: plot the N best and the N worst pairs by P&L.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_obj
def backtest(
    g: Globals,
    symbols: tuple[str, ...],
    start: int | None,
    end: int | None,
    sweep: tuple[str, ...],
    more_sweep: tuple[str, ...],
    out_dir: str | None,
    top: int,
    as_json: bool,
) -> None:
    """Backtest the configured strategy (the scan's own selection, signals and sizing) on the
    cache, walk-forward, with fees, slippage and funding.

    \b
    Examples:
      pairs --exchange demo backtest
      pairs backtest --start 2026-01-01 --out report/
      pairs backtest --sweep entry_z=1.5,2,2.5 window=168,336,720
      pairs backtest --json
    """
    if more_sweep and not sweep:
        raise click.UsageError(f"unexpected argument {more_sweep[0]!r} (did you mean --sweep?)")
    # What every run of this invocation shares: the data, the period, the notices.
    run = {
        "symbols": symbols or None,
        "start_ms": start,
        "end_ms": end,
        "on_compile": compile_notice(g),
    }
    with reported_errors(g, as_json=as_json):
        if sweep:
            _backtest_sweep(g, (*sweep, *more_sweep), run, out_dir, top, as_json)
        else:
            _backtest_one(g, run, out_dir, top, as_json)


def _backtest_sweep(
    g: Globals,
    sweep: tuple[str, ...],
    run: dict[str, Any],
    out_dir: str | None,
    top: int,
    as_json: bool,
) -> None:
    """`pairs backtest --sweep`: every variant on one panel; --out writes each variant's
    files into OUT/<variant>/ (entry_z=2_window=336), as one run's."""
    from pairscan.cli.render_backtest import print_sweep
    from pairscan.cli.sweep import parse_sweep, sweep_configs, variant_dir
    from pairscan.jobs.backtest_outputs import metrics_json, write_outputs
    from pairscan.jobs.backtest_sweep import run_sweep

    variants = sweep_configs(parse_sweep(sweep), g.load)
    with progress(enabled=not as_json and g.verbosity >= 0) as on_step:
        result = run_sweep(variants, **run, on_variant=counter(on_step, "variants"))
    written = [
        path
        for label, report, (_, config) in zip(result.labels, result.reports, variants, strict=True)
        for path in (
            write_outputs(report, config, Path(out_dir) / variant_dir(label), top)
            if out_dir
            else []
        )
    ]
    if as_json:
        rows = zip(result.labels, result.reports, strict=True)
        click.echo(json.dumps([{"variant": k, **metrics_json(r)} for k, r in rows], indent=2))
        return
    print_sweep(stdout(), result)
    if written:
        click.echo(f"wrote {plural(len(written), 'file')} to {out_dir}, one folder per variant")


def _backtest_one(
    g: Globals, run: dict[str, Any], out_dir: str | None, top: int, as_json: bool
) -> None:
    """`pairs backtest`: one walk-forward run of the configured strategy; --out writes the
    ledger, metrics and plots."""
    from rich.markup import escape

    from pairscan.cli.render_backtest import print_backtest
    from pairscan.jobs.backtest import run_backtest_job
    from pairscan.jobs.backtest_outputs import metrics_json, pair_table, write_outputs

    config = g.load()
    with progress(enabled=not as_json and g.verbosity >= 0) as on_step:
        report = run_backtest_job(config, **run, on_window=counter(on_step, "walk-forward windows"))
    written = write_outputs(report, config, Path(out_dir), top) if out_dir else []
    if as_json:
        click.echo(json.dumps(metrics_json(report), indent=2))
        return
    console = stdout()
    print_backtest(console, report, pair_table(report))
    if written:
        console.print(f"wrote {plural(len(written), 'file')} to {escape(str(out_dir))}")
