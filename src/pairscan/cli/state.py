"""`pairs state show`: parse, call `jobs.state_show`, print (`render_cache.print_state`).
Reads the state database, never creates it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from pairscan.cli.errors import reported_errors
from pairscan.cli.options import Globals, stdout

if TYPE_CHECKING:
    from pairscan.config import Config


@click.group()
def state() -> None:
    """Persisted per-pair state of the hourly scan: open positions and the last processed bar."""


@state.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@click.pass_obj
def state_show(g: Globals, as_json: bool) -> None:
    """Last processed bar and the open positions (pair, side, entry, quantities, bars held).

    Reads the state database of the configured exchange (data_dir/state/<exchange>.sqlite);
    never creates it.

    \b
    Examples:
      pairs --exchange demo state show
      pairs state show --json
    """
    from pairscan.cli.render_cache import jsonable, print_state
    from pairscan.jobs.state_show import run_state_show

    with reported_errors(g, as_json=as_json):
        config = g.load()
        report = run_state_show(config)
        if as_json:
            click.echo(json.dumps(jsonable(report), indent=2))
        else:
            print_state(stdout(), report)
            if not report.exists:
                echo_other_states(config, "state show")


def echo_other_states(config: Config, command: str) -> None:
    """After "no state for this exchange": the exchanges whose state the data directory does
    hold (the demo's, after `scripts/demo`), and the command that reads it."""
    folder = config.data_dir / "state"
    others = sorted(
        p.stem for p in folder.glob("*.sqlite") if p.is_file() and p.stem != config.exchange.id
    )
    if others:
        click.echo(
            f"{folder} holds the state of {', '.join(others)}: "
            f"pairs --exchange {others[0]} {command}"
        )
