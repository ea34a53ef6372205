"""Child process of test_kill: commits runs to a state database, until killed or done.

`churn <db> <first run> [<pause run>]`: commits run k (bar T0 + k hours) forever, every
record of run k carrying k in every field (see `run_records`), plus an `extra` table row per
pair, so a reader can tell whether what it sees is one whole run. Prints `ready` after the
first commit, then `committed k`. Run `pause run`, if given, stops for good inside its
transaction, its rows written and not committed, after printing `paused k`.

`race <db> <tag> <go file>`: waits for the go file, then commits bar T0 with records tagged
`tag`, holding the transaction open for a moment; prints `applied` or `skipped`.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pairscan.state import LONG_SPREAD, PositionRecord, StateStore

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
HOUR_MS = 3_600_000
PAIRS = 400
RACE_HOLD_S = 0.3


def run_records(k: int, bar_ms: int, n: int = PAIRS) -> list[PositionRecord]:
    """The records of run k: every number derived from k, so mixing runs is visible."""
    return [
        PositionRecord(
            y_symbol=f"Y{i:04d}/USDT",
            x_symbol=f"X{i:04d}/USDT",
            state=LONG_SPREAD,
            bars_held=k,
            cooldown=0,
            hold_limit=k + 1,
            entry_bar_ms=bar_ms - HOUR_MS * (k % 5),
            entry_z=-2.0 - k / 7,
            entry_alpha=None,
            entry_beta=1.0 + k / 3,
            qty_y=float(k) + 0.5,
            qty_x=-(float(k) + 0.25) * 3,
            entry_price_y=100.0 + k,
            entry_price_x=None,
            updated_bar_ms=bar_ms,
        )
        for i in range(n)
    ]


def write_tickets(k: int, pause: bool = False) -> Callable[[sqlite3.Connection], None]:
    def extra(con: sqlite3.Connection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS extra_rows (run INTEGER, pair INTEGER, body TEXT)")
        con.executemany(
            "INSERT INTO extra_rows VALUES (?, ?, ?)", ((k, i, "x" * 200) for i in range(PAIRS))
        )
        if pause:
            print(f"paused {k}", flush=True)
            threading.Event().wait()  # until the test kills this process

    return extra


def churn(db: Path, first: int, pause_run: int | None = None) -> None:
    with StateStore(db) as store:
        k = first
        while True:
            bar = T0 + k * HOUR_MS
            extra = write_tickets(k, pause=k == pause_run)
            applied = store.commit_run(bar, run_records(k, bar), extra=extra)
            if not applied:
                raise SystemExit(f"run {k} was not applied")
            print("ready" if k == first else f"committed {k}", flush=True)
            k += 1


def race(db: Path, tag: int, go: Path) -> None:
    with StateStore(db) as store:
        while not go.exists():
            time.sleep(0.001)

        def hold(con: sqlite3.Connection) -> None:
            time.sleep(RACE_HOLD_S)  # keep the lock while the other runs try to commit

        applied = store.commit_run(T0, run_records(tag, T0, n=50), extra=hold)
    print("applied" if applied else "skipped", flush=True)


def main() -> None:
    mode, db = sys.argv[1], Path(sys.argv[2])
    if mode == "churn":
        churn(db, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        race(db, int(sys.argv[3]), Path(sys.argv[4]))


if __name__ == "__main__":
    main()
