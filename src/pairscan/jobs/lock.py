"""One scan at a time per data directory: an advisory `flock` on a lock file holding the
owner's PID.

The kernel releases a `flock` when its process exits, however it exits (kill -9, OOM, reboot),
so a crashed run never leaves a lock that blocks the next hourly run, and there is no "is the
PID still alive" guess to race on. A second run while the first holds the lock stops at once
(exit code 3) naming the owner's PID. POSIX only (cron, systemd).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pairscan.errors import LockedError


def _owner(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold the lock at `path` for the block; raise `LockedError` when another process holds
    it. The file stays (an empty lock file is harmless); only the lock is released."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another pairs scan (pid {_owner(fd)}) is running on this data directory "
                f"(lock {path}); this run did nothing"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
