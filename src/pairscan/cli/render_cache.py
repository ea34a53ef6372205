"""`pairs cache update|stats` and `pairs state show` presentation: tables and JSON. Imported
by the commands when they print, never at start-up (rich's tables)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pairscan.market import format_utc
from pairscan.text import fit_columns, fits, plural

if TYPE_CHECKING:
    from pairscan.jobs.cache_stats import StatsReport
    from pairscan.jobs.cache_update import UpdateReport
    from pairscan.jobs.state_show import StateReport


def jsonable(report: UpdateReport | StatsReport | StateReport) -> dict[str, Any]:
    """The report as plain JSON values; its failed series (if it has any) by symbol only."""
    data: dict[str, Any] = dataclasses.asdict(report)
    failed = getattr(report, "failed", None)
    if failed is not None:
        data["failed"] = [s.symbol for s in failed]
    return data


def print_update(console: Console, report: UpdateReport) -> None:
    """One row per symbol (new bars, gaps, funding, status), a totals line, then each
    failure's message (below the table, where a long one has room)."""
    table = Table(
        title=f"cache update: {report.exchange} {report.timeframe} "
        f"(now {format_utc(report.now_ms)})"
    )
    # The symbol is never wrapped nor cut (spot and perpetual differ only at the end); the
    # other columns wrap, and fold rather than cut a word, so the table fits 100 columns.
    table.add_column("symbol", no_wrap=True)
    for name in ("new bars", "bars", "first bar", "last bar", "gaps", "funding +", "status"):
        right = name in {"new bars", "bars", "gaps", "funding +"}
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for s in report.symbols:
        table.add_row(
            escape(s.symbol),
            str(s.new_bars),
            str(s.total_bars),
            format_utc(s.first_ms),
            format_utc(s.last_ms),
            f"{s.gaps} ({plural(s.missing_bars, 'bar')})" if s.gaps else "0",
            "-" if s.new_funding is None else str(s.new_funding),
            "[red]failed[/red]"  # why: below the table, where a long message has room
            if s.error is not None
            else f"[yellow]stale ({plural(s.bars_behind or 0, 'bar')} behind)[/yellow]"
            if s.stale
            else "ok",
        )
    console.print(fit_columns(table, console))
    console.print(
        f"{plural(len(report.symbols), 'symbol')}, {len(report.failed)} failed, "
        f"{len(report.stale)} stale, {plural(report.requests, 'request')}, "
        f"{report.seconds:.1f} s"
    )
    for s in report.symbols:
        if s.error is not None:
            console.print(f"[red]error:[/red] {escape(s.symbol)}: {escape(s.error)}")


def _fmt_money(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.1f}{unit}"
    return f"{value:,.0f}"


def print_stats(console: Console, report: StatsReport) -> None:
    """One row per cached series; size on disk is dropped first on a narrow terminal."""
    table = _stats_table(report, with_size=True)
    if not fits(table, console):  # a narrow terminal: size on disk is the detail to spare
        table = _stats_table(report, with_size=False)
        table.caption = "size on disk: in --json, or on a wider terminal"
    console.print(fit_columns(table, console))
    if not report.series:
        console.print("nothing cached yet: run `pairs cache update`")


def _stats_table(report: StatsReport, *, with_size: bool) -> Table:
    table = Table(title=f"cache: {report.exchange} (now {format_utc(report.now_ms)})")
    table.add_column("symbol", no_wrap=True)  # whole: spot and perpetual differ at the end
    heads = ("tf", "first", "last", "rows", "gaps", "stale", "size", "ADV", "spread bps")
    for name in heads:
        if name != "size" or with_size:
            left = name in {"tf", "first", "last"}
            table.add_column(name, justify="left" if left else "right", overflow="fold")
    for s in report.series:
        staleness = (
            "-"
            if s.staleness is None
            else f"{s.staleness:.0f}h"
            if s.timeframe == "funding"
            else plural(round(s.staleness), "bar")
        )
        size = [f"{s.size_bytes / 1024:,.0f} KiB"] if with_size else []
        table.add_row(
            escape(s.symbol),
            s.timeframe,
            format_utc(s.first_ms),
            format_utc(s.last_ms),
            str(s.rows),
            str(s.gaps),
            f"[red]{staleness}[/red]" if s.stale else staleness,
            *size,
            _fmt_money(s.adv_quote),
            "-" if s.spread_bps is None else f"{s.spread_bps:.1f}",
        )
    return table


def _fmt_number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_state(console: Console, report: StateReport) -> None:
    """The last processed bar and a table of the open positions (or why there are none)."""
    if not report.exists:
        console.print(
            f"no state database yet for {escape(report.exchange)} ({escape(report.path)}): "
            "the first `pairs scan` creates it"
        )
        return
    console.print(
        f"state: {escape(report.exchange)}, last processed bar {format_utc(report.last_bar_ms)}, "
        f"{plural(report.pairs_tracked, 'pair')} tracked ({escape(report.path)})"
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
        table.add_column(name, justify="left" if name in heads[:3] else "right", overflow="fold")
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
    console.print(fit_columns(table, console))
