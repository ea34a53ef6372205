"""What one `pairs scan` run did (`ScanReport`), and the run's limits shared by its halves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pairscan.market import MS_PER_HOUR, MarketInfo
from pairscan.tickets import Ticket, render_console

if TYPE_CHECKING:
    from rich.table import Table

# Tickets older than this are not sent to a channel that never got them (a channel added
# later, or one down for two days): a stale instruction is worse than none.
MAX_TICKET_AGE_MS = 48 * MS_PER_HOUR
# Bars a run catches up after missed runs (a week of hourly bars); older ones are skipped.
MAX_CATCHUP_BARS = 168


@dataclass
class ScanReport:
    """What one run did. Times UTC ms; `bar_ms` is the open time of the decided bar."""

    run_id: str
    exchange: str
    timeframe: str
    started_ms: int
    clock_ms: int  # the run's clock (--now, or the wall clock): tickets are stamped with it
    bar_ms: int
    status: str = "ok"  # ok | already_processed | dry_run | failed | interrupted
    error: str | None = None  # why a failed run failed (redacted)
    finished_ms: int = 0
    universe: list[str] = field(default_factory=list)
    symbol_errors: list[str] = field(default_factory=list)
    selection_boundary_ms: int | None = None
    selected: list[list[str]] = field(default_factory=list)
    new_selection: bool = False
    # vs the previous selection, in the digest's words (`tickets.digest.selection_diff`)
    selection_changes: list[str] = field(default_factory=list)
    bars_decided: int = 0  # more than 1 when missed runs were caught up
    pairs_scanned: int = 0
    tickets: list[Ticket] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # entries a guard refused, with the reason
    selection_reasons: dict[str, int] = field(default_factory=dict)  # pairs per reason
    nothing_selected: str | None = None  # the binding cause when the selection is empty
    warnings: list[str] = field(default_factory=list)
    # Legs of tracked pairs without a real candle at a decided bar: no entry on them, open
    # positions hold until signals.stale_bars, then close (data_stale).
    missing_bars: list[str] = field(default_factory=list)
    # Symbols without a new bar for signals.stale_bars bars (the exchange's clock).
    stale_symbols: list[str] = field(default_factory=list)
    delivered: dict[str, int] = field(default_factory=dict)
    channel_errors: list[str] = field(default_factory=list)
    open_positions: int = 0
    book: dict[str, object] = field(default_factory=dict)  # the paper book's totals
    markets: dict[str, MarketInfo] = field(default_factory=dict, repr=False)
    # Real closes at `bar_ms` from the panel the run decided on (the paper book marks at them,
    # without reading every series again); not part of the run record.
    closes: dict[str, float] = field(default_factory=dict, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        return bool(self.symbol_errors or self.channel_errors)


def tickets_table(tickets: Sequence[Ticket]) -> Table:
    """The tickets as the console channel shows them (`tickets.render_console`), for the
    run summary `pairs scan` prints: the CLI imports nothing past `jobs`."""
    return render_console(tickets)
