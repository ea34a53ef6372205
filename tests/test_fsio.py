"""`pairscan.fsio`: the one-line reasons and the SQLite error guard the cache and the state
database share."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from pairscan.fsio import fsync_dir, short_reason, sqlite_errors


def test_short_reason_is_the_first_line_cut_at_120_characters() -> None:
    assert short_reason(ValueError("bad header\nsecond line")) == "bad header"
    assert short_reason(ValueError("")) == "ValueError"
    long = short_reason("x" * 200)
    assert len(long) == 120
    assert long.endswith("...")


def test_sqlite_errors_become_the_stages_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "not.db"
    path.write_bytes(b"this is not a database, just forty-odd bytes of text" * 4)
    seen: list[str] = []

    def translate(name: str, reason: str) -> Exception:
        seen.append(name)
        return RuntimeError(f"{path.name}: {reason}")

    with (
        closing(sqlite3.connect(path)) as con,
        pytest.raises(RuntimeError, match=r"not\.db: file is not a database") as info,
        sqlite_errors(translate),
    ):
        con.execute("SELECT 1 FROM sqlite_master")
    assert info.value.__suppress_context__  # no sqlite3 traceback behind the one line
    assert seen[0].startswith("SQLITE_NOTADB")


def test_fsync_dir_accepts_a_folder(tmp_path: Path) -> None:
    (tmp_path / "new").write_text("x")
    fsync_dir(tmp_path)
