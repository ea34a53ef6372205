"""How `pairs scan` fails: what can be checked before deciding is checked first (channel
secrets, writable folders, a lost state database), a run that fails decides nothing, exits
with the code of the table and leaves a record (`--status`, the runs log, the JSON log's last
line, a JSON error object with --json); nothing is ever a traceback. Real parts: the CLI, the
demo market or real ccxt against a closed local port, real files and SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from pairscan.cli import pairs
from pairscan.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

PERPS = ",".join(
    f"{b}/USDT:USDT"
    for b in ("ADA", "AVAX", "BCH", "BTC", "DOGE", "ETH", "LINK", "LTC", "SOL", "XRP")
)
LAST_HOUR = "2026-05-16T00:05"  # the recording's last bar closed: the demo scan opens AVAX~LTC
SECRET_NAMES = ("SLACK_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (*SECRET_NAMES, "EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    write(tmp_path, {})
    return tmp_path


def write(folder: Path, extra: dict[str, Any]) -> None:
    doc = {
        "data_dir": "data",
        "exchange": {"id": "demo"},
        "universe": {"symbols": PERPS.split(",")},
    }
    doc.update(extra)
    (folder / "config.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


def scan(*args: str, now: str = LAST_HOUR, global_args: tuple[str, ...] = ()) -> Result:
    return CliRunner().invoke(pairs, [*global_args, "--now", now, "scan", *args])


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def runs_log(folder: Path, exchange: str = "demo") -> list[dict[str, Any]]:
    path = folder / "data" / "state" / f"{exchange}-runs.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_json_stdout_is_json_only_even_with_the_console_channel(folder: Path) -> None:
    result = scan("--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)  # the console channel's ticket went to stderr
    assert report["status"] == "ok"
    assert len(report["tickets"]) == 1
    assert report["tickets"][0]["id"] in result.stderr  # printed by the console channel


def test_missing_channel_secrets_are_found_before_anything_is_decided(folder: Path) -> None:
    write(folder, {"notify": {"channels": ["console", "telegram"]}})
    result = scan()
    no_traceback(result)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "nothing was decided" in result.stderr
    assert not (folder / "data" / "state" / "demo.sqlite").exists()


@pytest.mark.parametrize("lost", ["zero-byte", "deleted"])
def test_a_lost_state_database_is_refused_not_taken_for_a_fresh_start(
    folder: Path, lost: str
) -> None:
    assert scan().exit_code == EXIT_OK
    db = folder / "data" / "state" / "demo.sqlite"
    export = folder / "data" / "tickets" / "demo" / "tickets.jsonl"
    tickets_before = export.read_text()
    assert tickets_before  # the first run opened a position
    if lost == "zero-byte":
        db.write_bytes(b"")
    else:
        db.unlink()
    result = scan(now="2026-05-16T01:05")
    no_traceback(result)
    assert result.exit_code == EXIT_FAILED, result.output
    assert "restore it from a backup" in result.stderr
    assert export.read_text() == tickets_before  # nothing decided, nothing sent again
    assert (db.exists() and db.stat().st_size) == (0 if lost == "zero-byte" else False)
    assert runs_log(folder)[-1]["status"] == "failed"


def test_a_tickets_folder_that_is_a_file_fails_before_the_cache_is_touched(folder: Path) -> None:
    assert CliRunner().invoke(pairs, ["--now", LAST_HOUR, "cache", "update"]).exit_code == 0
    cache = sorted((folder / "data" / "cache").rglob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in cache]
    tickets = folder / "data" / "tickets"
    tickets.parent.mkdir(parents=True, exist_ok=True)
    tickets.write_text("not a folder")
    result = scan()
    no_traceback(result)
    assert result.exit_code == EXIT_FAILED, result.output
    assert f"{tickets} is a file" in result.stderr
    assert [p.stat().st_mtime_ns for p in cache] == stamps
    assert not (folder / "data" / "state" / "demo.sqlite").exists()


def test_an_exchange_unreachable_for_every_symbol_fails_the_run_and_leaves_a_record(
    folder: Path,
) -> None:
    # A real ccxt against a local port nothing listens on: connection refused, no retries.
    closed = "http://127.0.0.1:9"
    urls = {"public": f"{closed}/api/v3", "fapiPublic": f"{closed}/fapi/v1"}
    write(
        folder,
        {
            "exchange": {
                "id": "binanceusdm",
                "max_retries": 0,
                "ccxt_config": {"urls": {"api": urls}, "timeout": 2000},
            }
        },
    )
    result = scan("--json", global_args=("--log-json",))
    no_traceback(result)
    assert result.exit_code == EXIT_FAILED, result.output
    error = json.loads(result.stdout)
    assert error["status"] == "failed"
    assert error["exit_code"] == EXIT_FAILED
    record = runs_log(folder, "binanceusdm")[-1]
    assert (record["status"], record["run_id"]) == ("failed", error["run_id"])
    assert record["error"]
    last = json.loads((folder / "data" / "logs" / "pairs.jsonl").read_text().splitlines()[-1])
    assert last["level"] == "ERROR"
    assert last["run_id"] == error["run_id"]
    status = CliRunner().invoke(pairs, ["scan", "--status", "--json"])
    assert json.loads(status.stdout)["runs"][0]["status"] == "failed"
    db = folder / "data" / "state" / "binanceusdm.sqlite"
    if db.exists():
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT COUNT(*) FROM tickets").fetchone() == (0,)


def test_an_unexpected_error_is_one_line_naming_where_and_the_traceback_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing real raises a bug on purpose: this one function is replaced to raise one.
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("pairscan.jobs.scan_bars.decide_and_commit", broken)
    result = scan()
    no_traceback(result)
    assert result.exit_code == EXIT_FAILED
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: unexpected RuntimeError in jobs/scan.py:"), line
    assert "(_locked_run): a bug; traceback in " in line
    assert "errors.log" in line
    log = (folder / "data" / "logs" / "errors.log").read_text()
    assert "Traceback" in log
    assert "RuntimeError: a bug" in log
    assert runs_log(folder)[-1]["status"] == "failed"


def test_ctrl_c_is_exit_130_without_a_traceback_and_recorded(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("pairscan.jobs.scan_bars.decide_and_commit", interrupted)
    result = scan()
    no_traceback(result)
    assert result.exit_code == EXIT_INTERRUPTED
    assert "interrupted" in result.stderr
    assert runs_log(folder)[-1]["status"] == "interrupted"


def test_a_corrupt_cache_file_stops_its_symbol_only(folder: Path) -> None:
    assert scan().exit_code == EXIT_OK  # opens AVAX~LTC
    bad = folder / "data" / "cache" / "demo" / "BTC-USDT-USDT_1h.parquet"
    assert bad.is_file()
    bad.write_bytes(b"PAR1 not a parquet file PAR1")
    result = scan("--json", now="2026-05-16T01:05")
    no_traceback(result)
    assert result.exit_code == 1, result.output  # partial: decided, one symbol failed
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    assert any("BTC/USDT:USDT" in e and "corrupt" in e for e in report["symbol_errors"])
    shown = CliRunner().invoke(pairs, ["state", "show", "--json"])
    state = json.loads(shown.stdout)
    assert state["last_bar_ms"] > 0
    assert [(p["y_symbol"], p["x_symbol"]) for p in state["open_positions"]] == [
        ("AVAX/USDT:USDT", "LTC/USDT:USDT")
    ]
    assert runs_log(folder)[-1]["bar_ms"] == state["last_bar_ms"]  # the new bar was decided
