"""`pairs scan`: the hourly job, one straight line from the exchange to delivered tickets.

lock -> (hour already decided: only retry deliveries) -> cache update -> selection in force
(stored, or made and stored) -> last-bar statistics
-> one state-machine step per pair -> sizes -> tickets and new states in ONE transaction ->
deliver pending tickets per channel -> export -> run record -> unlock. A rerun of an hour
already processed decides nothing again and only retries undelivered tickets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict

from pairscan.config import Config, NotifyConfig
from pairscan.errors import LockedError
from pairscan.jit import first_compile_notice
from pairscan.jobs.common import (
    cache_exchange_id,
    open_state,
    run_clock_ms,
    state_db_path,
)
from pairscan.jobs.lock import run_lock
from pairscan.jobs.preflight import (
    channels_or_fail,
    check_state_not_lost,
    check_writable,
    runs_log_path,
    tickets_dir,
)
from pairscan.jobs.scan_report import MAX_TICKET_AGE_MS, ScanReport
from pairscan.market import format_utc, last_closed_open_ms, timeframe_ms
from pairscan.notify import Channel, fan_out
from pairscan.redaction import redact
from pairscan.run_id import RUN_ID
from pairscan.state import StateStore
from pairscan.state.digest import digest_due
from pairscan.tickets import export_new, outgoing

log = logging.getLogger(__name__)


def run_scan(
    config: Config,
    *,
    now_ms: int | None = None,
    symbols: Sequence[str] = (),
    dry_run: bool = False,
    on_compile: Callable[[str], None] | None = None,
) -> ScanReport:
    """One hourly scan (see the module docstring). `dry_run` computes and reports the tickets
    the run would make, on the bars it would fetch, but writes and sends nothing: the new bars
    go to a throwaway copy of the cache, the state is only read, and no lock is taken (a dry
    run must never make the hourly run exit 3). `on_compile` gets one line when Numba has to
    compile kernels first (`jit.first_compile_notice`)."""
    clock = run_clock_ms(config, now_ms)
    tf_ms = timeframe_ms(config.cache.timeframe)
    report = ScanReport(
        run_id=uuid.uuid4().hex[:12],
        exchange=cache_exchange_id(config),
        timeframe=config.cache.timeframe,
        started_ms=int(time.time() * 1000),
        clock_ms=clock,
        bar_ms=last_closed_open_ms(clock, tf_ms),
    )
    RUN_ID.set(report.run_id)
    if dry_run:
        _dry_run(config, clock, symbols, report, on_compile)
        report.finished_ms = int(time.time() * 1000)
        return report
    try:
        _locked_run(config, clock, symbols, report, on_compile)
    except LockedError:
        raise  # the run holding the lock keeps the record
    except BaseException as exc:
        _record_failure(config, report, exc)
        raise
    report.finished_ms = int(time.time() * 1000)
    _record_run(config, report)
    return report


def _locked_run(
    config: Config,
    clock: int,
    symbols: Sequence[str],
    report: ScanReport,
    on_compile: Callable[[str], None] | None,
) -> None:
    """The hourly run under the lock: what can be checked before deciding is checked first
    (`jobs.preflight`), so a run that could not announce or keep its decisions decides none."""
    check_writable(config)
    with run_lock(config.data_dir / "state" / f"{report.exchange}.lock"):
        check_state_not_lost(config)
        channels = channels_or_fail(config)
        held: list[str] = []
        if state_db_path(config).is_file():
            # One connection answers "already decided?" and, when it is, retries deliveries.
            with open_state(config) as state:
                if _hour_done(state, config.notify, report.bar_ms):
                    # Nothing to fetch or decide: only what is still undelivered goes out,
                    # without the data and statistics stack (a cron retry answers in a
                    # fraction of a second).
                    report.status = "already_processed"
                    last = state.last_bar_ms()
                    if last is not None and last > report.bar_ms:
                        report.warnings.append(_state_ahead(report, last, replayed=False))
                    _send_pending(state, config, clock, report, channels)
                    return
                held = state.open_symbols()
        from pairscan.jobs.scan_bars import book_and_digest, decide_and_commit
        from pairscan.jobs.scan_fetch import update_cache

        universe = update_cache(config, clock, symbols, held, report, require_fresh=True)
        with open_state(config) as state, first_compile_notice(on_compile):
            decide_and_commit(config, state, universe, report, dry_run=False)
            _send_pending(state, config, clock, report, channels)
            book_and_digest(config, state, channels, report)


def _dry_run(
    config: Config,
    clock: int,
    symbols: Sequence[str],
    report: ScanReport,
    on_compile: Callable[[str], None] | None,
) -> None:
    """Decide the newest bar on a throwaway copy of the cache, reading the state when there
    is one (never creating or writing it): the held symbols are fetched as the hourly run
    would fetch them."""
    from pairscan.jobs.scan_bars import decide_and_commit
    from pairscan.jobs.scan_fetch import scratch_cache, update_cache

    exists = state_db_path(config).is_file()
    with (
        open_state(config, create=False) if exists else contextlib.nullcontext() as state,
        scratch_cache(config) as scratch,
        first_compile_notice(on_compile),
    ):
        held = state.open_symbols() if state is not None else []
        universe = update_cache(scratch, clock, symbols, held, report, require_fresh=False)
        last = state.last_bar_ms() if state is not None else None
        if last is not None and last > report.bar_ms:
            # A replay of an hour before the state's: its positions are of a later time, so
            # the hour is decided as a first run would, and said.
            decide_and_commit(scratch, None, universe, report, dry_run=True)
            report.warnings.append(_state_ahead(report, last, replayed=True))
        else:
            decide_and_commit(scratch, state, universe, report, dry_run=True)


def _state_ahead(report: ScanReport, last_ms: int, *, replayed: bool) -> str:
    """One line for a run whose bar is older than the state's last processed bar (a `--now`
    in the past): what the run did about it."""
    head = (
        f"the {report.exchange} state is ahead of this run: its last processed bar is "
        f"{format_utc(last_ms)}, this run's {format_utc(report.bar_ms)}"
    )
    if replayed:
        return f"{head}; decided as a first run would, from no open positions"
    return f"{head}; nothing decided (`scan --dry-run` replays a past hour)"


def _hour_done(state: StateStore, notify: NotifyConfig, bar_ms: int) -> bool:
    """The state has decided the run's bar (`bar_ms`, UTC ms) already and no digest is due:
    the run only retries deliveries. (The exchange's clock can only move the bar earlier, so
    the cache update, which a full run does first, could not change this answer.)"""
    last = state.last_bar_ms()
    return last is not None and bar_ms <= last and not digest_due(state, notify, bar_ms)


def _send_pending(
    state: StateStore, config: Config, clock: int, report: ScanReport, channels: list[Channel]
) -> None:
    """Every pending ticket to every channel, the export files, and the open positions'
    count into the report: what every run that is not a dry run does after deciding (or
    finding its hour decided already)."""
    _deliver(state, clock, report, channels)
    export_new(state, tickets_dir(config))
    report.open_positions = len(state.open_positions())


def _record_failure(config: Config, report: ScanReport, exc: BaseException) -> None:
    """A failed or interrupted run leaves a record (`pairs scan --status`) and a last log line
    with its run id, both naming the error (redacted)."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    report.status = "interrupted" if interrupted else "failed"
    text = "interrupted (SIGINT)" if interrupted else (str(exc) or type(exc).__name__)
    report.error = redact(text, config.secret_values(), max_chars=2000)
    report.finished_ms = int(time.time() * 1000)
    log.error("scan %s: %s", report.status, report.error)
    try:
        _record_run(config, report)
    except OSError as write_error:  # the data directory itself may be what failed
        log.error("could not write the run record: %s", write_error)


def _deliver(state: StateStore, clock: int, report: ScanReport, channels: list[Channel]) -> None:
    """Every pending ticket to every configured channel (`notify.fan_out`): tickets older
    than MAX_TICKET_AGE_MS are kept but no longer sent."""
    started = time.perf_counter()
    done = fan_out(channels, outgoing(state, at_ms=clock, since_ms=clock - MAX_TICKET_AGE_MS))
    report.delivered.update(done.sent)
    report.channel_errors.extend(done.errors)  # "slack: HTTP 503 ...": each names its channel
    report.seconds["deliver"] = time.perf_counter() - started


def _record_run(config: Config, report: ScanReport) -> None:
    """Append one JSON line per run (a single write under PIPE_BUF: never a torn line)."""
    summary = {
        k: v
        for k, v in asdict(report).items()
        if k not in ("tickets", "universe", "markets", "closes")
    }
    summary["tickets"] = [t.id for t in report.tickets]
    summary["n_symbols"] = len(report.universe)
    line = (json.dumps(summary, sort_keys=True) + "\n").encode("utf-8")
    path = runs_log_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def last_runs(config: Config, n: int = 10) -> list[dict[str, object]]:
    """The newest `n` run records, newest first (for `pairs scan --status`)."""
    path = runs_log_path(config)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-n:]
    out = []
    for line in reversed(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
