"""The `pairs` command line: parse -> typed Config -> one jobs.* call -> render -> exit code.

No trading or data logic lives here. Every error prints one line and exits with a code of
`errors.EXIT_CODES`, never a traceback: pairscan's own errors name what to fix; anything
unexpected names where it failed and where its traceback was written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pairscan import __version__
from pairscan.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    PairscanError,
)
from pairscan.redaction import redact
from pairscan.run_id import RUN_ID
from pairscan.text import plural

if TYPE_CHECKING:
    from rich.console import Console

    from pairscan.config import Config

# Start-up: `pairs --help` and usage errors must answer in well under 0.3 s, so nothing
# heavy (pandas, numpy, numba, ccxt, rich's tables) is imported at module level; each
# command imports what it needs (tests/test_startup.py checks the module list).

_LOG_WIDTH = 140  # tables printed into cron logs or pipes: do not wrap at 80 columns
_MAX_LOG_CHARS = 2000


def _stdout() -> Console:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=_LOG_WIDTH)


@dataclass(frozen=True)
class Globals:
    """Options of the `pairs` group, applied when a subcommand loads the config."""

    config_path: str | None
    exchange: str | None
    now_ms: int | None
    verbosity: int
    log_json: bool = False
    # The configs this invocation loaded (their data_dir is where a traceback is written).
    loaded: list[Config] = dataclasses.field(default_factory=list, compare=False)

    def load(self, **overrides: Any) -> Config:
        from pairscan.config import load_config

        extra = dict(overrides)  # a None is a value (`--sweep slippage_bps=null`), not "unset"
        if self.exchange:
            extra["exchange.id"] = self.exchange
        config = load_config(self.config_path, overrides=extra)
        self.loaded.append(config)
        if self.log_json and not any(
            isinstance(h, RotatingFileHandler) for h in logging.getLogger().handlers
        ):
            _add_json_log(config.data_dir / "logs" / "pairs.jsonl")
        _install_redaction(config.secret_values())
        return config


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets, max_chars=_MAX_LOG_CHARS)
        record.args = None
        record.run_id = RUN_ID.get()
        return True


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, run id, message."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname,
                "logger": record.name,
                "run_id": getattr(record, "run_id", RUN_ID.get()),
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


class _JsonLogHandler(RotatingFileHandler):
    """The `--log-json` file handler (a type of its own, so that only it is closed when the
    logging is set up again in the same process)."""


def _add_json_log(path: Path) -> None:
    """JSON lines to `path`, rotated at 5 MB (5 files kept), beside the stderr log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _JsonLogHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(_JsonFormatter())
    logging.getLogger().addHandler(handler)


def _setup_logging(verbosity: int) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s [%(run_id)s] %(name)s: %(message)s",
            defaults={"run_id": "-"},
        )
    )
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, _JsonLogHandler):  # a previous invocation's file (CliRunner)
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # ccxt and urllib3 log request URLs (signed queries included) at DEBUG.
    for noisy in ("ccxt", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))


def _install_redaction(secrets: tuple[str, ...]) -> None:
    for handler in logging.getLogger().handlers:
        handler.filters[:] = [_RedactingFilter(secrets)]


def _parse_time(option: str) -> Callable[[click.Context, click.Parameter, str | None], int | None]:
    def convert(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return None
        from pairscan.market import parse_utc

        try:
            return parse_utc(value, what=option)
        except PairscanError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


@contextmanager
def _reported_errors(g: Globals, *, as_json: bool = False) -> Iterator[None]:
    """Turn every error into one line on stderr and an exit code of `EXIT_CODES` (with
    `--json`, also a JSON error object on stdout). pairscan's errors carry their own code;
    Ctrl-C is 130; anything unexpected is EXIT_FAILED, its traceback written to the data
    directory's logs/errors.log (and shown with -vv). Messages may quote a pasted secret:
    every one is redacted."""
    try:
        yield
    except PairscanError as exc:
        _fail(g, str(exc), exc.exit_code, as_json)
    except KeyboardInterrupt:
        _fail(g, "interrupted: nothing more was done", EXIT_INTERRUPTED, as_json)
    except (click.exceptions.Exit, click.ClickException):
        raise
    except Exception as exc:
        where = _write_traceback(g, exc)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        _fail(
            g,
            f"unexpected {type(exc).__name__} in {_origin(exc)}"
            + (f": {detail}" if detail else "")
            + f"; traceback in {where}",
            EXIT_FAILED,
            as_json,
        )


def _fail(g: Globals, message: str, code: int, as_json: bool) -> None:
    from pairscan.config import env_secret_values

    secrets = tuple(env_secret_values(g.config_path)) + tuple(
        s for c in g.loaded for s in c.secret_values()
    )
    text = redact(message, secrets, max_chars=_MAX_LOG_CHARS)
    click.echo(f"error: {text}", err=True)
    if as_json:
        status = "interrupted" if code == EXIT_INTERRUPTED else "failed"
        error = {"status": status, "error": text, "exit_code": code, "run_id": RUN_ID.get()}
        click.echo(json.dumps(error, indent=2))
    sys.exit(code)


def _origin(exc: BaseException) -> str:
    """Where pairscan's code was when it failed: `cache/parquet_store.py:177 (_read)`."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}pairscan{os.sep}" in f.filename] or frames
    if not ours:
        return "pairscan"
    frame = ours[-1]
    path = frame.filename.split(f"{os.sep}pairscan{os.sep}")[-1]
    return f"{path}:{frame.lineno} ({frame.name})"


def _write_traceback(g: Globals, exc: BaseException) -> str:
    """Log the traceback (shown on stderr with -vv) and append it, redacted, to
    data_dir/logs/errors.log when a config was loaded. Returns where it went."""
    logging.getLogger(__name__).debug("unexpected error", exc_info=exc)
    text = "".join(traceback.format_exception(exc))
    if not g.loaded:
        return "the log with -vv"
    secrets = g.loaded[-1].secret_values()
    path = g.loaded[-1].data_dir / "logs" / "errors.log"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            # Line by line: redact() folds a text to one line, a traceback needs its lines.
            lines = (redact(line, secrets, max_chars=10_000) for line in text.splitlines())
            handle.write(f"--- {stamp} run {RUN_ID.get()}\n" + "\n".join(lines) + "\n")
    except OSError:
        return "the log with -vv"
    return f"{path} (or rerun with -vv)"


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
    callback=_parse_time("--now"),
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
    _setup_logging(verbosity)
    _install_redaction(env_secret_values(config_path))  # until the config adds its own
    ctx.obj = Globals(config_path, exchange, now, verbosity, log_json)


@pairs.group()
def cache() -> None:
    """Local candle and funding cache: update it from the exchange, inspect it."""


def _split_symbols(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    return tuple(s for chunk in value for s in chunk.replace(",", " ").split() if s)


@cache.command("update")
@click.option(
    "--symbols",
    multiple=True,
    callback=_split_symbols,
    help="Symbols to update (comma-separated or repeated); default: the universe.",
)
@click.option("--timeframe", default=None, help="Candle timeframe (overrides cache.timeframe).")
@click.option(
    "--since",
    default=None,
    callback=_parse_time("--since"),
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
    from pairscan.cli_cache import jsonable, print_update
    from pairscan.jobs.cache_update import run_cache_update

    with _reported_errors(g, as_json=as_json):
        config = g.load(**({"cache.timeframe": timeframe} if timeframe else {}))
        with _progress(enabled=not as_json and g.verbosity >= 0) as on_symbol:
            report = run_cache_update(
                config, now_ms=g.now_ms, symbols=symbols, since_ms=since, on_symbol=on_symbol
            )
        if as_json:
            click.echo(json.dumps(jsonable(report), indent=2))
        else:
            print_update(_stdout(), report)
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
    from pairscan.cli_cache import jsonable, print_stats
    from pairscan.jobs.cache_stats import run_cache_stats

    with _reported_errors(g, as_json=as_json):
        report = run_cache_stats(g.load(), now_ms=g.now_ms)
        if as_json:
            click.echo(json.dumps(jsonable(report), indent=2))
        else:
            print_stats(_stdout(), report)
        for s in report.failed:
            click.echo(f"error: {s.symbol} {s.timeframe}: {s.error}", err=True)
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)


@pairs.group()
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
    from pairscan.cli_cache import jsonable, print_state
    from pairscan.jobs.state_show import run_state_show

    with _reported_errors(g, as_json=as_json):
        config = g.load()
        report = run_state_show(config)
        if as_json:
            click.echo(json.dumps(jsonable(report), indent=2))
        else:
            print_state(_stdout(), report)
            if not report.exists:
                _echo_other_states(config, "state show")


def _echo_other_states(config: Config, command: str) -> None:
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


@pairs.command("scan")
@click.option(
    "--symbols",
    multiple=True,
    callback=_split_symbols,
    help="Universe for this run (comma-separated or repeated); default: the configured one.",
)
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
    from pairscan.cli_cache import jsonable
    from pairscan.cli_scan import print_scan, print_status, scan_json
    from pairscan.jobs.scan import last_runs, run_scan
    from pairscan.jobs.state_show import run_state_show

    with _reported_errors(g, as_json=as_json):
        config = g.load()
        if status:
            runs, positions = last_runs(config), run_state_show(config)
            if as_json:
                click.echo(json.dumps({"runs": runs, "state": jsonable(positions)}, indent=2))
            else:
                print_status(_stdout(), runs, positions)
                if not runs and not positions.exists:
                    _echo_other_states(config, "scan --status")
            return
        # --json: stdout is the JSON document alone; what the run prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            report = run_scan(
                config,
                now_ms=g.now_ms,
                symbols=symbols,
                dry_run=dry_run,
                on_compile=_compile_notice(g),
            )
        if as_json:
            click.echo(json.dumps(scan_json(report), indent=2))
        else:
            print_scan(_stdout(), report)
    sys.exit(EXIT_PARTIAL if report.partial else EXIT_OK)


@pairs.command("backtest")
@click.option(
    "--symbols",
    multiple=True,
    callback=_split_symbols,
    help="Universe (comma-separated or repeated); default: universe.symbols, else every "
    "cached perpetual (or spot symbol when no perpetual is cached).",
)
@click.option(
    "--start", default=None, callback=_parse_time("--start"), help="First traded bar, UTC."
)
@click.option("--end", default=None, callback=_parse_time("--end"), help="Last bar, UTC.")
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
        "now_ms": g.now_ms,
        "on_compile": _compile_notice(g),
    }
    with _reported_errors(g, as_json=as_json):
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
    from pairscan.cli_backtest import parse_sweep, print_sweep, sweep_configs, variant_dir
    from pairscan.jobs.backtest import metrics_json, run_sweep, write_outputs

    variants = sweep_configs(parse_sweep(sweep), g.load)
    with _progress(enabled=not as_json and g.verbosity >= 0) as on_step:
        result = run_sweep(variants, **run, on_variant=_counter(on_step, "variants"))
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
    print_sweep(_stdout(), result)
    if written:
        click.echo(f"wrote {plural(len(written), 'file')} to {out_dir}, one folder per variant")


def _backtest_one(
    g: Globals, run: dict[str, Any], out_dir: str | None, top: int, as_json: bool
) -> None:
    """`pairs backtest`: one walk-forward run of the configured strategy; --out writes the
    ledger, metrics and plots."""
    from rich.markup import escape

    from pairscan.backtest.report import ledger_frame, pair_breakdown
    from pairscan.cli_backtest import print_backtest
    from pairscan.jobs.backtest import metrics_json, run_backtest_job, write_outputs

    config = g.load()
    with _progress(enabled=not as_json and g.verbosity >= 0) as on_step:
        report = run_backtest_job(
            config, **run, on_window=_counter(on_step, "walk-forward windows")
        )
    written = write_outputs(report, config, Path(out_dir), top) if out_dir else []
    if as_json:
        click.echo(json.dumps(metrics_json(report), indent=2))
        return
    console = _stdout()
    print_backtest(console, report, pair_breakdown(ledger_frame(report.result)))
    if written:
        console.print(f"wrote {plural(len(written), 'file')} to {escape(str(out_dir))}")


def _counter(
    on_step: Callable[[str, int, int], None] | None, label: str
) -> Callable[[int, int], None] | None:
    """A (done, total) callback feeding the progress bar under `label` (None: no bar)."""
    if on_step is None:
        return None
    step = on_step
    return lambda done, total: step(label, done, total)


def _compile_notice(g: Globals) -> Callable[[str], None] | None:
    """Where the one-line "Numba is compiling" notice goes: stderr, unless -q."""
    if g.verbosity < 0:
        return None
    return lambda text: click.echo(f"note: {text}", err=True)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("symbols", total=None)

        def advance(symbol: str, done: int, total: int) -> None:
            progress.update(task, description=symbol, completed=done, total=total)

        yield advance


def main() -> None:
    """Console-script entry point. Ctrl-C before a command runs (while Python imports) ends
    quietly with 130 too."""
    try:
        pairs(prog_name="pairs")
    except KeyboardInterrupt:
        click.echo("error: interrupted: nothing more was done", err=True)
        sys.exit(EXIT_INTERRUPTED)
