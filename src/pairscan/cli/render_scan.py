"""`pairs scan` presentation: the run summary, the tickets table and `--status`. Imported by
the command when it prints, never at start-up (rich's tables)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pairscan.market import format_utc

if TYPE_CHECKING:
    from pairscan.jobs.scan_report import ScanReport
    from pairscan.jobs.state_show import StateReport


def scan_json(report: ScanReport) -> dict[str, Any]:
    """The run record as plain JSON values: tickets as objects, without the markets and
    closes the run read."""
    data: dict[str, Any] = dataclasses.asdict(report)
    data.pop("markets", None)
    data.pop("closes", None)
    # Objects, not JSON text inside the JSON.
    data["tickets"] = [t.to_dict() if hasattr(t, "to_dict") else t for t in report.tickets]
    data["partial"] = report.partial
    return data


def _headline(report: ScanReport) -> str:
    """The run's one-line summary: what was decided, on what, by which run."""
    from pairscan.text import plural

    where = f"{escape(report.exchange)} {report.timeframe}, bar {format_utc(report.bar_ms)}"
    if report.status == "already_processed":
        # Nothing was fetched or decided: no universe or pair counts to show.
        return (
            f"scan: {where} already decided; only undelivered tickets were retried, "
            f"run {report.run_id}"
        )
    head = "scan --dry-run (nothing written or sent)" if report.status == "dry_run" else "scan"
    return (
        f"{head}: {where}, {plural(len(report.universe), 'symbol')}, "
        f"{plural(report.pairs_scanned, 'pair')} scanned, {len(report.selected)} selected"
        + (" (new selection)" if report.new_selection else "")
        + (f", {report.bars_decided} bars caught up" if report.bars_decided > 1 else "")
        + f", run {report.run_id}"
    )


def print_scan(console: Console, report: ScanReport) -> None:
    """The headline, the tickets table, then what was not sent or selected, warnings, the
    deliveries, the paper book and errors, one line each."""
    from pairscan.jobs.scan_report import tickets_table
    from pairscan.text import fit_columns, plural

    console.print(_headline(report))
    for change in report.selection_changes:
        console.print(f"selection: {escape(change)}")
    if report.tickets:
        console.print(fit_columns(tickets_table(report.tickets), console))
    elif report.status != "already_processed":
        console.print("no new tickets")
    for line in report.dropped:
        console.print(f"entry not sent: {escape(line)}")
    for line in report.refused:
        console.print(f"entry refused: {escape(line)}")
    counts = ", ".join(f"{k} {v}" for k, v in report.selection_reasons.items() if v)
    if counts:
        console.print(f"selection pairs per reason: {escape(counts)}")
    if report.nothing_selected:
        console.print(f"no pair selected: {escape(report.nothing_selected)}")
    for line in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(line)}")
    for line in report.stale_symbols:
        console.print(f"[yellow]stale:[/yellow] {escape(line)}")
    for line in report.missing_bars:
        console.print(f"[yellow]missing bar:[/yellow] {escape(line)}")
    if report.delivered:
        sent = ", ".join(f"{k} {v}" for k, v in report.delivered.items())
        console.print(f"delivered: {sent}; {plural(report.open_positions, 'open position')}")
    book: dict[str, Any] = report.book  # numbers and the quote currency (jobs.scan_bars)
    if book:
        quote = book.get("quote") or ""
        console.print(
            f"paper book: {book['open_positions']} open, {book['closed_positions']} closed; "
            f"P&L {book['total']:+,.2f} {quote} (unrealised {book['unrealised']:+,.2f}, "
            f"realised {book['realised']:+,.2f}, fees paid {book['fees']:,.2f}, funding "
            f"{'received' if book['funding'] < 0 else 'paid'} {abs(book['funding']):,.2f})"
        )
    for line in (*report.symbol_errors, *report.channel_errors):
        console.print(f"[red]error:[/red] {escape(line)}")


def print_status(console: Console, runs: list[dict[str, Any]], state: StateReport) -> None:
    """`scan --status`: the last runs (newest first, as `jobs.scan.last_runs` reads them),
    the last run's error and stale data, and the open positions in one line each."""
    from pairscan.text import fit_columns, plural

    table = Table(title=f"last scans ({len(runs)})")
    for name in ("started", "bar", "status", "bars", "pairs", "tickets", "delivered", "errors"):
        table.add_column(name, overflow="fold")
    for run in runs:
        errors = len(run.get("symbol_errors", [])) + len(run.get("channel_errors", []))
        delivered = ", ".join(f"{k} {v}" for k, v in run.get("delivered", {}).items())
        table.add_row(
            format_utc(run.get("started_ms")),
            format_utc(run.get("bar_ms")),
            str(run.get("status")),
            str(run.get("bars_decided", "-")),
            str(run.get("pairs_scanned")),
            str(len(run.get("tickets", []))),
            delivered or "-",
            f"[red]{errors}[/red]" if errors else "0",
        )
    console.print(
        fit_columns(table, console)
        if runs
        else f"no scan has run yet for exchange {escape(state.exchange)}"
    )
    if runs:
        last = runs[0]
        if last.get("error"):
            console.print(f"[red]last run {last.get('status')}:[/red] {escape(str(last['error']))}")
        for line in (*last.get("stale_symbols", []), *last.get("missing_bars", [])):
            console.print(f"[yellow]last run:[/yellow] {escape(str(line))}")
    if state.exists:
        n = len(state.open_positions)
        console.print(
            f"state: last processed bar {format_utc(state.last_bar_ms)}, {n} open "
            f"position{'' if n == 1 else 's'}" + (" (details: pairs state show):" if n else "")
        )
        for p in state.open_positions:
            entry_z = "-" if p.entry_z is None else f"{p.entry_z:+.2f}"
            console.print(
                f"  {p.side} {escape(p.y_symbol)} ~ {escape(p.x_symbol)} since "
                f"{format_utc(p.entry_bar_ms)}, entry z {entry_z}, "
                f"{plural(p.bars_held, 'bar')} held"
            )
