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
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pairscan import __version__
from pairscan.config import Config, env_secret_values, load_config
from pairscan.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    PairscanError,
)
from pairscan.fetch.retry import redact
from pairscan.jobs.common import RUN_ID
from pairscan.market import format_utc, parse_utc

_LOG_WIDTH = 140  # tables printed into cron logs or pipes: do not wrap at 80 columns
_MAX_LOG_CHARS = 2000


def _stdout() -> Console:
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
        extra = {k: v for k, v in overrides.items() if v is not None}
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
      pairs state show                            # open positions of the hourly scan
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
    from pairscan.jobs.cache_update import run_cache_update

    with _reported_errors(g, as_json=as_json):
        config = g.load(**{"cache.timeframe": timeframe})
        with _progress(enabled=not as_json and g.verbosity >= 0) as on_symbol:
            report = run_cache_update(
                config, now_ms=g.now_ms, symbols=symbols, since_ms=since, on_symbol=on_symbol
            )
        if as_json:
            click.echo(json.dumps(_jsonable(report), indent=2))
        else:
            _print_update(report)
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
    """
    from pairscan.jobs.cache_stats import run_cache_stats

    with _reported_errors(g, as_json=as_json):
        report = run_cache_stats(g.load(), now_ms=g.now_ms)
        if as_json:
            click.echo(json.dumps(_jsonable(report), indent=2))
        else:
            _print_stats(report)


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
    from pairscan.jobs.state_show import run_state_show

    with _reported_errors(g, as_json=as_json):
        report = run_state_show(g.load())
        if as_json:
            click.echo(json.dumps(_jsonable(report), indent=2))
        else:
            _print_state(report)


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
      pairs --exchange demo --now 2026-05-01T10:05 scan --dry-run
      pairs --exchange binanceusdm scan --json
      pairs scan --status
    """
    from pairscan.cli_scan import print_scan, print_status, scan_json
    from pairscan.jobs.scan import last_runs, run_scan
    from pairscan.jobs.state_show import run_state_show

    with _reported_errors(g, as_json=as_json):
        config = g.load()
        if status:
            runs, positions = last_runs(config), run_state_show(config)
            if as_json:
                click.echo(json.dumps({"runs": runs, "state": _jsonable(positions)}, indent=2))
            else:
                print_status(_stdout(), runs, positions)
            return
        # --json: stdout is the JSON document alone; what the run prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            report = run_scan(config, now_ms=g.now_ms, symbols=symbols, dry_run=dry_run)
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
@click.option("--top", default=3, show_default=True, help="Pairs plotted with --out.")
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
    from pairscan.cli_backtest import parse_sweep, print_backtest, print_sweep
    from pairscan.jobs.backtest import metrics_json, run_backtest_job, run_sweep, write_outputs

    if more_sweep and not sweep:
        raise click.UsageError(f"unexpected argument {more_sweep[0]!r} (did you mean --sweep?)")
    with _reported_errors(g, as_json=as_json):
        if sweep:
            grid = parse_sweep((*sweep, *more_sweep))
            variants = [(label, g.load(**overrides)) for label, overrides in grid]
            with _progress(enabled=not as_json and g.verbosity >= 0) as on_step:
                result = run_sweep(
                    variants,
                    symbols=symbols or None,
                    start_ms=start,
                    end_ms=end,
                    now_ms=g.now_ms,
                    on_variant=None
                    if on_step is None
                    else (lambda d, n: on_step("variants", d, n)),
                )
            if as_json:
                click.echo(
                    json.dumps(
                        [
                            {"variant": label, **metrics_json(r)}
                            for label, r in zip(result.labels, result.reports, strict=True)
                        ],
                        indent=2,
                    )
                )
            else:
                print_sweep(_stdout(), result)
            return
        config = g.load()
        report = run_backtest_job(
            config, symbols=symbols or None, start_ms=start, end_ms=end, now_ms=g.now_ms
        )
        written = write_outputs(report, config, Path(out_dir), top) if out_dir else []
        if as_json:
            click.echo(json.dumps(metrics_json(report), indent=2))
            return
        from pairscan.backtest.report import ledger_frame, pair_breakdown

        console = _stdout()
        print_backtest(console, report, pair_breakdown(ledger_frame(report.result)))
        if written:
            console.print(f"wrote {len(written)} files to {escape(str(out_dir))}")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
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


def _jsonable(report: Any) -> dict[str, Any]:
    data: dict[str, Any] = dataclasses.asdict(report)
    failed = getattr(report, "failed", None)
    if failed is not None:
        data["failed"] = [s.symbol for s in failed]
    return data


def _print_update(report: Any) -> None:
    table = Table(
        title=f"cache update: {report.exchange} {report.timeframe} "
        f"(now {format_utc(report.now_ms)})"
    )
    for name in (
        "symbol",
        "new bars",
        "bars",
        "first bar",
        "last bar",
        "gaps",
        "funding +",
        "status",
    ):
        table.add_column(
            name, justify="right" if name in {"new bars", "bars", "gaps", "funding +"} else "left"
        )
    for s in report.symbols:
        table.add_row(
            escape(s.symbol),
            str(s.new_bars),
            str(s.total_bars),
            format_utc(s.first_ms),
            format_utc(s.last_ms),
            f"{s.gaps} ({s.missing_bars} bars)" if s.gaps else "0",
            "-" if s.new_funding is None else str(s.new_funding),
            f"[red]{escape(s.error)}[/red]"
            if s.error is not None
            else f"[yellow]stale ({s.bars_behind} bars)[/yellow]"
            if s.stale
            else "ok",
        )
    console = _stdout()
    console.print(table)
    console.print(
        f"{len(report.symbols)} symbols, {len(report.failed)} failed, {len(report.stale)} "
        f"stale, {report.requests} requests, {report.seconds:.1f} s"
    )


def _fmt_money(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.1f}{unit}"
    return f"{value:,.0f}"


def _print_stats(report: Any) -> None:
    table = Table(title=f"cache: {report.exchange} (now {format_utc(report.now_ms)})")
    heads = ("symbol", "tf", "first", "last", "rows", "gaps", "stale", "size", "ADV", "spread bps")
    for name in heads:
        table.add_column(
            name, justify="left" if name in {"symbol", "tf", "first", "last"} else "right"
        )
    for s in report.series:
        unit = "h" if s.timeframe == "funding" else " bars"
        staleness = "-" if s.staleness is None else f"{s.staleness:.0f}{unit}"
        table.add_row(
            escape(s.symbol),
            s.timeframe,
            format_utc(s.first_ms),
            format_utc(s.last_ms),
            str(s.rows),
            str(s.gaps),
            f"[red]{staleness}[/red]" if s.stale else staleness,
            f"{s.size_bytes / 1024:,.0f} KiB",
            _fmt_money(s.adv_quote),
            "-" if s.spread_bps is None else f"{s.spread_bps:.1f}",
        )
    console = _stdout()
    console.print(table)
    if not report.series:
        console.print("nothing cached yet: run `pairs cache update`")


def _fmt_number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_state(report: Any) -> None:
    console = _stdout()
    if not report.exists:
        console.print(
            f"no state database yet for {escape(report.exchange)} ({escape(report.path)}): "
            "the first `pairs scan` creates it"
        )
        return
    console.print(
        f"state: {escape(report.exchange)}, last processed bar {format_utc(report.last_bar_ms)}, "
        f"{report.pairs_tracked} pairs tracked ({escape(report.path)})"
    )
    if not report.open_positions:
        console.print("no open positions")
        return
    table = Table(title=f"open positions ({len(report.open_positions)})")
    heads = (
        "pair (y ~ x)",
        "side",
        "entry",
        "entry z",
        "beta",
        "qty y",
        "qty x",
        "bars held",
        "hold limit",
    )
    for name in heads:
        table.add_column(name, justify="left" if name in heads[:3] else "right")
    for p in report.open_positions:
        table.add_row(
            escape(f"{p.y_symbol} ~ {p.x_symbol}"),
            p.side,
            format_utc(p.entry_bar_ms),
            _fmt_number(p.entry_z, "+.2f"),
            _fmt_number(p.entry_beta, ".4f"),
            _fmt_number(p.qty_y, ".10g"),  # quantities are orders: no rounding
            _fmt_number(p.qty_x, ".10g"),
            str(p.bars_held),
            str(p.hold_limit) if p.hold_limit else "none",
        )
    console.print(table)


def main() -> None:
    """Console-script entry point. Ctrl-C before a command runs (while Python imports) ends
    quietly with 130 too."""
    try:
        pairs(prog_name="pairs")
    except KeyboardInterrupt:
        click.echo("error: interrupted: nothing more was done", err=True)
        sys.exit(EXIT_INTERRUPTED)
