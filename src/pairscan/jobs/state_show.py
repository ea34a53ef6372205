"""`pairs state show`: the last processed bar and the open positions of the state database.

Reads only: never creates the database, never fetches, never steps the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from pairscan.config import Config
from pairscan.jobs.common import cache_exchange_id, open_state, state_db_path
from pairscan.state import LONG_SPREAD, SHORT_SPREAD, PositionRecord

SIDES = {LONG_SPREAD: "LONG", SHORT_SPREAD: "SHORT"}


@dataclass(frozen=True)
class OpenPosition:
    """One open pair trade. `side` is LONG (long y, short x: the spread was low) or SHORT;
    times in UTC ms (bar open), quantities signed (+ long, - short), `hold_limit` in bars
    (0 = none)."""

    y_symbol: str
    x_symbol: str
    side: str
    entry_bar_ms: int | None
    entry_z: float | None
    entry_alpha: float | None
    entry_beta: float | None
    entry_price_y: float | None
    entry_price_x: float | None
    qty_y: float
    qty_x: float
    bars_held: int
    hold_limit: int
    updated_bar_ms: int

    @classmethod
    def of(cls, record: PositionRecord) -> OpenPosition:
        return cls(
            y_symbol=record.y_symbol,
            x_symbol=record.x_symbol,
            side=SIDES[record.state],
            entry_bar_ms=record.entry_bar_ms,
            entry_z=record.entry_z,
            entry_alpha=record.entry_alpha,
            entry_beta=record.entry_beta,
            entry_price_y=record.entry_price_y,
            entry_price_x=record.entry_price_x,
            qty_y=record.qty_y,
            qty_x=record.qty_x,
            bars_held=record.bars_held,
            hold_limit=record.hold_limit,
            updated_bar_ms=record.updated_bar_ms,
        )


@dataclass(frozen=True)
class StateReport:
    """What the state database holds; `exists` is False before the first scan, and then
    every other field is empty."""

    exchange: str
    path: str
    exists: bool
    last_bar_ms: int | None
    last_committed_at_ms: int | None
    pairs_tracked: int
    open_positions: list[OpenPosition]


def run_state_show(config: Config) -> StateReport:
    """Read the configured exchange's state database, if there is one."""
    path = state_db_path(config)
    exchange = cache_exchange_id(config)
    if not path.is_file():
        return StateReport(exchange, str(path), False, None, None, 0, [])
    with open_state(config, create=False) as store:
        snapshot = store.snapshot()
        last_runs = store.runs(limit=1)
    positions = [OpenPosition.of(r) for r in snapshot.records.values() if r.is_open]
    return StateReport(
        exchange=exchange,
        path=str(path),
        exists=True,
        last_bar_ms=snapshot.last_bar_ms,
        last_committed_at_ms=last_runs[0].committed_at_ms if last_runs else None,
        pairs_tracked=len(snapshot.records),
        open_positions=positions,
    )
