"""The scan lock: one run at a time per data directory, released however the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pairscan.errors import LockedError
from pairscan.jobs.lock import run_lock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pairscan.jobs.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(60)
    """
)


def _hold(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def _stop(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait()
    assert child.stdout is not None
    child.stdout.close()


def test_a_second_run_stops_naming_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "demo.lock"
    child = _hold(lock)
    try:
        with (
            pytest.raises(LockedError, match=rf"pid {child.pid}\) is running") as info,
            run_lock(lock),
        ):
            pass
        assert info.value.exit_code == 3
    finally:
        _stop(child)


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock"
    child = _hold(lock)
    os.kill(child.pid, signal.SIGKILL)
    _stop(child)
    assert lock.read_text().strip() == str(child.pid)  # the file keeps the dead pid ...
    with run_lock(lock):  # ... but the kernel released the lock itself
        assert lock.read_text().strip() == str(os.getpid())


def test_the_lock_is_released_after_the_block_and_on_error(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock"
    with pytest.raises(RuntimeError), run_lock(lock):
        raise RuntimeError("boom")
    with run_lock(lock):  # run_lock never waits: it would raise LockedError if still held
        assert lock.read_text().strip() == str(os.getpid())
