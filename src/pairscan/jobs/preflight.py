"""What the hourly scan checks before it decides anything: a run that cannot announce, store or
keep its decisions must fail first, with one line saying what to fix, and decide nothing.

Checks: every configured channel can be built (its secrets are set), the data directory and
its folders are writable, and the state database was not lost (an empty or missing file while
the data directory shows earlier runs is a restore job, not a fresh start).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pairscan.config import Config
from pairscan.errors import ConfigError, StateError
from pairscan.jobs.common import cache_exchange_id, state_db_path
from pairscan.notify import Channel, build_channels

# SQLite's file header; a state database shorter than one page header is no database.
_SQLITE_MAGIC = b"SQLite format 3\x00"


def runs_log_path(config: Config) -> Path:
    """One JSON line per scan run (`pairs scan --status` reads it)."""
    return config.data_dir / "state" / f"{cache_exchange_id(config)}-runs.jsonl"


def tickets_dir(config: Config) -> Path:
    return config.data_dir / "tickets" / cache_exchange_id(config)


def channels_or_fail(config: Config) -> list[Channel]:
    """The configured channels; a channel that cannot be built (missing or malformed secrets)
    is a configuration error found before the run decides anything (exit 2)."""
    channels, errors = build_channels(config)
    if errors:
        raise ConfigError(
            "; ".join(errors) + " (set the secrets in the environment or .env, or remove the "
            "channel from notify.channels); nothing was decided"
        )
    return channels


def check_writable(config: Config) -> None:
    """The data directory and the folders a scan writes (cache, state, tickets, logs) exist or
    can be created, are folders, and take a new file. A failure names the path and the fix."""
    folders = [
        config.data_dir,
        config.data_dir / "cache",
        config.data_dir / "state",
        tickets_dir(config).parent,
        tickets_dir(config),
        config.data_dir / "logs",
    ]
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise StateError(
                f"{folder} is a file, but pairscan keeps a folder there: move the file aside; "
                "nothing was decided"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".pairscan-write-check-"):
                pass
        except OSError as exc:
            raise StateError(
                f"cannot write in {folder} ({exc.strerror or type(exc).__name__}): fix its "
                "permissions or data_dir; nothing was decided"
            ) from None


def check_state_not_lost(config: Config) -> None:
    """Refuse to start from an empty state when the data directory shows earlier runs: the
    state database holds the open positions, and a fresh start would send their OPEN tickets
    again (or never close them)."""
    db = state_db_path(config)
    if _looks_like_a_database(db):
        return
    evidence = _earlier_runs(config)
    if not evidence:
        return
    what = "missing" if not db.exists() else "empty or truncated"
    raise StateError(
        f"the state database {db} is {what}, but this data directory shows earlier runs "
        f"({evidence}): restore it from a backup (it is one self-contained file: cp the "
        "backup over it). To start afresh on purpose, move these aside first: "
        f"{runs_log_path(config)} and {tickets_dir(config)}. Nothing was decided or sent"
    )


def _looks_like_a_database(db: Path) -> bool:
    try:
        with db.open("rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except FileNotFoundError:
        return False
    except OSError:
        return True  # unreadable: the state store says so with its own message


def _earlier_runs(config: Config) -> str:
    """What in the data directory proves scans ran here before ('' when nothing does)."""
    found = []
    runs = _committed_runs(runs_log_path(config))
    if runs:
        found.append(f"{runs} committed runs in {runs_log_path(config).name}")
    export = tickets_dir(config) / "tickets.jsonl"
    if export.is_file() and export.stat().st_size > 0:
        found.append(f"tickets exported to {export}")
    return ", ".join(found)


def _committed_runs(path: Path) -> int:
    """Runs in the runs log that committed a bar (status ok)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return 0
    count = 0
    for line in lines:
        try:
            count += json.loads(line).get("status") == "ok"
        except (json.JSONDecodeError, AttributeError):
            continue
    return count
