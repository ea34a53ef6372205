"""The `pairs` command line: parse -> typed Config -> one jobs.* call -> render -> exit code.

No trading or data logic lives here, and nothing past `pairscan.jobs` is imported (an
import-linter contract). One module per command group (`cache`, `state`, `scan`,
`backtest`), their printers in `render_*`; every error prints one line and exits with a code
of `errors.EXIT_CODES`, never a traceback (`cli.errors`).
"""

from __future__ import annotations

import sys

import click

from pairscan import __version__
from pairscan.cli.backtest import backtest
from pairscan.cli.cache import cache
from pairscan.cli.logging_setup import install_redaction, setup_logging
from pairscan.cli.options import Globals, parse_time
from pairscan.cli.scan import scan
from pairscan.cli.state import state
from pairscan.errors import EXIT_INTERRUPTED

# Start-up: `pairs --help` and usage errors must answer in well under 0.3 s, so nothing
# heavy (pandas, numpy, numba, ccxt, rich's tables) is imported at module level by this
# package; each command imports what it needs (tests/test_startup.py checks the module list).

__all__ = ["main", "pairs"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pairs")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: ./config.yaml if present, else built-in defaults).",
)
@click.option(
    "--exchange",
    default=None,
    help="ccxt exchange id (binance, binanceusdm, bybit, ...) or 'demo'; overrides exchange.id.",
)
@click.option(
    "--now",
    "now",
    default=None,
    callback=parse_time("--now"),
    help="The run's clock, UTC (e.g. 2026-05-01T12:00). Default: wall clock; "
    "on the demo market, the end of the recording.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--log-json",
    is_flag=True,
    help="Also log JSON lines to data_dir/logs/pairs.jsonl (rotated at 5 MB, 5 kept).",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def pairs(
    ctx: click.Context,
    config_path: str | None,
    exchange: str | None,
    now: int | None,
    verbose: int,
    log_json: bool,
    quiet: bool,
) -> None:
    """pairscan: find and trade mean-reverting crypto pairs.

    \b
    Examples:
      pairs --exchange demo cache update          # recorded demo market, no network
      pairs cache update --symbols BTC/USDT,ETH/USDT --since 2025-01-01
      pairs cache stats --json
      pairs --exchange demo state show            # open positions of the hourly scan
      pairs --exchange demo backtest --out report/
      pairs --exchange demo scan                  # the hourly job: tickets to the console

    \b
    Exit codes:
      0    ok
      1    partial: decided and committed; some symbols or channels failed (retried)
      2    bad config or usage; nothing written
      3    locked: another scan holds the data directory; this run did nothing
      4    failed: the run decided nothing (exchange unreachable, state/cache fault, bug)
      130  interrupted (Ctrl-C)
    """
    from pairscan.config import env_secret_values

    verbosity = -1 if quiet else verbose
    setup_logging(verbosity)
    install_redaction(env_secret_values(config_path))  # until the config adds its own
    ctx.obj = Globals(config_path, exchange, now, verbosity, log_json)


for _command in (cache, state, scan, backtest):
    pairs.add_command(_command)


def main() -> None:
    """Console-script entry point. Ctrl-C before a command runs (while Python imports) ends
    quietly with 130 too."""
    try:
        pairs(prog_name="pairs")
    except KeyboardInterrupt:
        click.echo("error: interrupted: nothing more was done", err=True)
        sys.exit(EXIT_INTERRUPTED)
