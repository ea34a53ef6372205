"""`pairs scan` (the hourly job) and `pairs scan --status`: parse, call `jobs.scan`, print
(`render_scan`), exit code. No trading logic."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from pairscan.cli.errors import reported_errors
from pairscan.cli.options import Globals, stdout, symbols_option
from pairscan.cli.progress import compile_notice
from pairscan.cli.state import echo_other_states
from pairscan.errors import EXIT_OK, EXIT_PARTIAL


@click.command("scan")
@symbols_option("Universe for this run (comma-separated or repeated); default: the configured one.")
@click.option(
    "--dry-run", is_flag=True, help="Compute and print the tickets; write and send nothing."
)
@click.option("--status", is_flag=True, help="Show the last runs and open positions; no scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_obj
def scan(g: Globals, symbols: tuple[str, ...], dry_run: bool, status: bool, as_json: bool) -> None:
    """The hourly job: update the cache, decide the last closed bar for every selected pair
    and open position, save the tickets, send them to the configured channels.

    Exit codes: 0 ok, 1 partial (decided and committed; a symbol or a channel failed and is
    retried next run), 2 bad config or usage, 3 another scan holds the lock, 4 failed
    (decided nothing), 130 interrupted. With --json, stdout holds only JSON (tickets printed
    by the console channel go to stderr) and a failed run prints a JSON error object.

    \b
    Examples:
      pairs --exchange demo scan                   # recorded market, console tickets
      pairs --exchange demo --now 2026-05-09T14:05 scan --dry-run   # replay a past hour
      pairs --exchange binanceusdm scan --json
      pairs --exchange demo scan --status
    """
    from pairscan.cli.render_scan import print_scan, scan_json
    from pairscan.jobs.scan import run_scan

    with reported_errors(g, as_json=as_json):
        if status:
            _status(g, as_json)
            return
        config = g.load()
        # --json: stdout is the JSON document alone; what the run prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            report = run_scan(
                config,
                now_ms=g.now_ms,
                symbols=symbols,
                dry_run=dry_run,
                on_compile=compile_notice(g),
            )
        if as_json:
            click.echo(json.dumps(scan_json(report), indent=2))
        else:
            print_scan(stdout(), report)
    sys.exit(EXIT_PARTIAL if report.partial else EXIT_OK)


def _status(g: Globals, as_json: bool) -> None:
    """`pairs scan --status`: the last runs' records and the open positions; no scan."""
    from pairscan.cli.render_cache import jsonable
    from pairscan.cli.render_scan import print_status
    from pairscan.jobs.scan import last_runs
    from pairscan.jobs.state_show import run_state_show

    config = g.load()
    runs, positions = last_runs(config), run_state_show(config)
    if as_json:
        click.echo(json.dumps({"runs": runs, "state": jsonable(positions)}, indent=2))
    else:
        print_status(stdout(), runs, positions)
        if not runs and not positions.exists:
            echo_other_states(config, "scan --status")
