"""`pairs cache update|stats`: parse, call `jobs.cache_update` / `jobs.cache_stats`, print
(`render_cache`), exit code. No logic of the cache itself."""

from __future__ import annotations

import json
import sys

import click

from pairscan.cli.errors import reported_errors
from pairscan.cli.options import Globals, parse_time, stdout, symbols_option
from pairscan.cli.progress import progress
from pairscan.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL


@click.group()
def cache() -> None:
    """Local candle and funding cache: update it from the exchange, inspect it."""


@cache.command("update")
@symbols_option("Symbols to update (comma-separated or repeated); default: the universe.")
@click.option("--timeframe", default=None, help="Candle timeframe (overrides cache.timeframe).")
@click.option(
    "--since",
    default=None,
    callback=parse_time("--since"),
    help="(Re)fetch from this UTC date; default: incremental from the last cached bar.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def cache_update(
    g: Globals, symbols: tuple[str, ...], timeframe: str | None, since: int | None, as_json: bool
) -> None:
    """Fetch new closed candles (and funding for perpetuals) into the cache.

    \b
    Examples:
      pairs --exchange demo cache update
      pairs --exchange binanceusdm cache update --symbols BTC/USDT:USDT,ETH/USDT:USDT
      pairs cache update --timeframe 4h --since 2024-01-01 --json
    """
    from pairscan.cli.render_cache import jsonable, print_update
    from pairscan.jobs.cache_update import run_cache_update

    with reported_errors(g, as_json=as_json):
        config = g.load(**({"cache.timeframe": timeframe} if timeframe else {}))
        with progress(enabled=not as_json and g.verbosity >= 0) as on_symbol:
            report = run_cache_update(
                config, now_ms=g.now_ms, symbols=symbols, since_ms=since, on_symbol=on_symbol
            )
        if as_json:
            click.echo(json.dumps(jsonable(report), indent=2))
        else:
            print_update(stdout(), report)
    # Nothing updated at all is a failed run, not a partial one.
    everything_failed = bool(report.symbols) and len(report.failed) == len(report.symbols)
    sys.exit(EXIT_FAILED if everything_failed else EXIT_PARTIAL if report.failed else EXIT_OK)


@cache.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_obj
def cache_stats(g: Globals, as_json: bool) -> None:
    """Per cached series: first/last bar, bars, gaps, staleness, size, ADV and spread.

    \b
    Examples:
      pairs --exchange demo cache stats
      pairs cache stats --json

    A series that cannot be read (a corrupt file) gets a row and an error line; the others
    are still shown, and the exit code is 1.
    """
    from pairscan.cli.render_cache import jsonable, print_stats
    from pairscan.jobs.cache_stats import run_cache_stats

    with reported_errors(g, as_json=as_json):
        report = run_cache_stats(g.load(), now_ms=g.now_ms)
        if as_json:
            click.echo(json.dumps(jsonable(report), indent=2))
        else:
            print_stats(stdout(), report)
        for s in report.failed:
            click.echo(f"error: {s.symbol} {s.timeframe}: {s.error}", err=True)
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)
