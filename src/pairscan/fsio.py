"""Small I/O helpers shared by the stages that keep files (cache, state, tickets): a
directory fsync, one-line error reasons and the SQLite error guard. No stage logic here."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


def fsync_dir(folder: Path) -> None:
    """Flush `folder`'s entries (a new or renamed file in it) to disk.

    Without this a rename or a file creation may be lost on power failure even though the
    file's own bytes were fsynced (POSIX; a no-op where directories cannot be opened).
    """
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Replace `path` by what `write(handle)` puts in a temp file beside it: the temp file is
    fsynced, `os.replace`d over `path`, then the folder is fsynced, so a reader sees the old
    file or the new one, never a mix, even when the process is killed or the machine loses
    power. The temp file (`.<name>.tmp-<pid>-<hex>`) is removed on any failure short of a
    hard kill. An `OSError` propagates, with the old file untouched."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def short_reason(exc: BaseException | str) -> str:
    """First line of an exception's message, at most 120 characters: enough to tell a
    corrupt file from a foreign one, short enough for a one-line error."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 120 else line[:117] + "..."


SqliteTranslate = Callable[[str, str], Exception]
"""(SQLite's error name, e.g. `SQLITE_CORRUPT`, or ""; the one-line reason) -> the
stage's own error, naming its file and the fix."""


@contextmanager
def sqlite_errors(translate: SqliteTranslate) -> Iterator[None]:
    """Turn any `sqlite3.DatabaseError` raised in the block into `translate(name, reason)`,
    raised without the sqlite3 traceback (a user-facing one-line error)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise translate(getattr(exc, "sqlite_errorname", ""), short_reason(exc)) from None
