"""`pairs scan` presentation: the run summary, the tickets table and `--status`."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pairscan.market import format_utc


def scan_json(report: Any) -> dict[str, Any]:
    data: dict[str, Any] = dataclasses.asdict(report)
    data.pop("markets", None)
    # Objects, not JSON text inside the JSON.
    data["tickets"] = [t.to_dict() if hasattr(t, "to_dict") else t for t in report.tickets]
    data["partial"] = report.partial
    return data


def print_scan(console: Console, report: Any) -> None:
    from pairscan.tickets import render_console

    head = {
        "ok": "scan",
        "already_processed": "scan (bar already processed: only undelivered tickets retried)",
        "dry_run": "scan --dry-run (nothing written or sent)",
    }[report.status]
    console.print(
        f"{head}: {escape(report.exchange)} {report.timeframe}, bar {format_utc(report.bar_ms)}, "
        f"{len(report.universe)} symbols, {report.pairs_scanned} pairs scanned, "
        f"{len(report.selected)} selected"
        + (" (new selection)" if report.new_selection else "")
        + (f", {report.bars_decided} bars caught up" if report.bars_decided > 1 else "")
        + f", run {report.run_id}"
    )
    for change in report.selection_changes:
        console.print(f"selection: {escape(change)}")
    if report.tickets:
        console.print(render_console(report.tickets))
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
        console.print(f"delivered: {sent}; open positions: {report.open_positions}")
    book = report.book
    if book:
        quote = book.get("quote") or ""
        console.print(
            f"paper book: {book['open_positions']} open, {book['closed_positions']} closed; "
            f"P&L {book['total']:+,.2f} {quote} (unrealised {book['unrealised']:+,.2f}, "
            f"realised {book['realised']:+,.2f}, fees {book['fees']:,.2f}, "
            f"funding {book['funding']:,.2f})"
        )
    for line in (*report.symbol_errors, *report.channel_errors):
        console.print(f"[red]error:[/red] {escape(line)}")


def print_status(console: Console, runs: list[dict[str, Any]], state: Any) -> None:
    table = Table(title=f"last scans ({len(runs)})")
    for name in ("started", "bar", "status", "bars", "pairs", "tickets", "delivered", "errors"):
        table.add_column(name)
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
    console.print(table if runs else "no scan has run yet")
    if runs:
        last = runs[0]
        if last.get("error"):
            console.print(f"[red]last run {last.get('status')}:[/red] {escape(str(last['error']))}")
        for line in (*last.get("stale_symbols", []), *last.get("missing_bars", [])):
            console.print(f"[yellow]last run:[/yellow] {escape(str(line))}")
    if state.exists:
        console.print(
            f"state: last processed bar {format_utc(state.last_bar_ms)}, "
            f"{len(state.open_positions)} open positions (pairs state show)"
        )
