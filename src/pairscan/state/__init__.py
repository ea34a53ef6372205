"""I/O stage (state): the per-pair positions the hourly scan persists, in one SQLite file,
with the scan's bookkeeping (stored selections, the digest's days: `state.digest`).

Never imports ccxt, requests or click, and holds no trading rule: the scan steps the machine
(`pairscan.signals`) and hands the new records to `StateStore.commit_run`.
"""

from pairscan.state.records import (
    FLAT,
    LONG_SPREAD,
    SHORT_SPREAD,
    STATE_NAMES,
    PositionRecord,
    RunInfo,
    StateSnapshot,
)
from pairscan.state.schema import APPLICATION_ID, SCHEMA_VERSION
from pairscan.state.selection import StoredSelection
from pairscan.state.store import ExtraWork, StateStore, combine

__all__ = [
    "APPLICATION_ID",
    "FLAT",
    "LONG_SPREAD",
    "SCHEMA_VERSION",
    "SHORT_SPREAD",
    "STATE_NAMES",
    "ExtraWork",
    "PositionRecord",
    "RunInfo",
    "StateSnapshot",
    "StateStore",
    "StoredSelection",
    "combine",
]
