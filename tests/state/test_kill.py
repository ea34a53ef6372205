"""Writers of the state database killed with SIGKILL mid-run, and runs racing for one bar.

The child (`state_writer.py`) commits runs in a loop; the parent kills it after several
delays and checks that the database holds exactly one whole committed run each time. Then
several processes commit the same bar at once: exactly one applies.
"""

from __future__ import annotations

import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pairscan.state import StateStore
from tests.scripts import load_script

WRITER = Path(__file__).with_name("state_writer.py")
STARTUP_TIMEOUT_S = 60.0


_writer = load_script(WRITER)
T0: int = _writer.T0
HOUR_MS: int = _writer.HOUR_MS
PAIRS: int = _writer.PAIRS
# Kills after a delay, spread over a few commits (each ~10-30 ms: 400 records, 400 ticket rows
# and the fsyncs of synchronous=EXTRA) so they land in different phases: building the records,
# inside the transaction, while the journal is written or deleted. Where each lands depends on
# the machine's speed and load, so only what the database holds afterwards is asserted. The
# kill marked None lands inside a transaction on any machine: the writer stops there and says
# so before it is killed.
KILL_DELAYS_S = (None, 0.0, 0.007, 0.019, 0.043, 0.071, 0.13)


def read_line(proc: subprocess.Popen[bytes]) -> str:
    """The writer's next line, or "" if it says nothing within STARTUP_TIMEOUT_S. The pipe is
    unbuffered (read byte by byte), so no later line hides in a buffer `select` cannot see."""
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT_S)
    return proc.stdout.readline().decode().strip() if readable else ""


def run_and_kill(db: Path, first: int, delay_s: float | None) -> int:
    """Start a writer at run `first` and kill it `delay_s` after its first commit, or (None)
    inside the transaction of the next run; returns the newest run it reported committed."""
    command = [sys.executable, str(WRITER), "churn", str(db), str(first)]
    if delay_s is None:
        command.append(str(first + 1))
    with subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0) as proc:
        assert proc.stdout is not None
        line = read_line(proc)
        if line != "ready":
            proc.kill()
            pytest.fail(f"state writer did not start (said {line!r})")
        if delay_s is None:
            line = read_line(proc)
            if line != f"paused {first + 1}":
                proc.kill()
                pytest.fail(f"state writer did not pause in run {first + 1} (said {line!r})")
        else:
            time.sleep(delay_s)
        proc.kill()
        proc.wait()
        rest = proc.stdout.read().decode().splitlines()
        reported = [int(word.split()[1]) for word in rest]
    return max(reported, default=first)


def held_run(db: Path) -> int:
    """The run the database holds, after checking every record, ticket and run row is from
    that run and the file passes SQLite's integrity check."""
    with StateStore(db, create=False) as store:  # rolls a hot journal back
        last = store.last_bar_ms()
        assert last is not None
        k = (last - T0) // HOUR_MS
        assert store.records() == {r.key: r for r in _writer.run_records(k, last)}
        assert [run.bar_ms for run in store.runs()] == [T0 + i * HOUR_MS for i in range(k, -1, -1)]
        newest = store.runs(limit=1)[0]
        assert (newest.n_records, newest.n_open) == (PAIRS, PAIRS)
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tickets = con.execute("SELECT run, COUNT(*) FROM extra_rows GROUP BY run").fetchall()
        assert tickets == [(i, PAIRS) for i in range(k + 1)]  # extra work: whole runs only
    finally:
        con.close()
    return k


@pytest.mark.slow  # 1.5-3.5 s: seven writer processes
def test_killed_writer_leaves_exactly_one_committed_run(tmp_path: Path) -> None:
    db = tmp_path / "state" / "demo.sqlite"
    first = 0
    for delay_s in KILL_DELAYS_S:
        done = run_and_kill(db, first, delay_s)
        # A rollback journal exists only inside a transaction (DELETE mode removes it at commit).
        journal = db.with_name(f"{db.name}-journal").exists()
        held = held_run(db)
        if delay_s is None:
            # Killed inside its transaction: the journal is left, and that run is not applied.
            assert (journal, held) == (True, done), (done, held)
        # Killed after its commit but before saying so, the writer may be one run ahead.
        assert held in (done, done + 1), (delay_s, done, held)
        first = held + 1
    # A journal killed before its header was written is not hot: readers ignore it and leave
    # it; the next commit reuses and deletes it.
    with StateStore(db) as store:
        bar = T0 + first * HOUR_MS
        assert store.commit_run(
            bar, _writer.run_records(first, bar), extra=_writer.write_tickets(first)
        )
    assert held_run(db) == first
    assert sorted(p.name for p in db.parent.iterdir()) == ["demo.sqlite"]


def test_processes_committing_the_same_bar_apply_it_once(tmp_path: Path) -> None:
    db, go = tmp_path / "state.sqlite", tmp_path / "go"
    tags = (1, 2, 3)
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), "race", str(db), str(tag), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]
    try:
        go.touch()
        outputs = [proc.communicate(timeout=STARTUP_TIMEOUT_S) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    said = [out.strip() for out, _ in outputs]
    assert sorted(said) == ["applied", "skipped", "skipped"], outputs
    winner = tags[said.index("applied")]
    with StateStore(db, create=False) as store:
        assert store.records() == {r.key: r for r in _writer.run_records(winner, T0, n=50)}
        assert [run.bar_ms for run in store.runs()] == [T0]
