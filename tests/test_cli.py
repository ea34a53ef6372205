"""`pairs` end to end with click's CliRunner on the demo exchange: real config files, a real
cache in a temp folder, JSON and table output, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result

from pairscan.cli import pairs
from pairscan.demo.source import DemoSource, demo_symbols
from pairscan.market import MS_PER_HOUR, parse_utc
from pairscan.state import FLAT, LONG_SPREAD, SHORT_SPREAD, PositionRecord, StateStore

REPO = Path(__file__).resolve().parents[1]
SPOT = [s for s in demo_symbols() if ":" not in s]
PERPS = [s for s in demo_symbols() if ":" in s]
RECORDING_START = parse_utc("2025-05-16")
LAST_RECORDED_BAR = parse_utc("2026-05-15T23:00")


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None) -> None:
    """Own working directory, no colour codes, and the root logger restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def make_config(folder: Path, extra: str = "") -> Path:
    path = folder / "config.yaml"
    path.write_text(f"data_dir: data\n{extra}", encoding="utf-8")
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(pairs, ["--config", str(config), "--exchange", "demo", *args])


def run_json(config: Path, *args: str) -> dict[str, Any]:
    result = run(config, *args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def without(data: dict[str, Any], *keys: str, row_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in keys}
    for name in ("symbols", "series"):
        if name in out:
            out[name] = [{k: v for k, v in row.items() if k not in row_keys} for row in out[name]]
    return out


# ---- cache update / stats ---------------------------------------------------------------------


def test_update_then_stats_json(tmp_path: Path) -> None:
    """The demo's own universe is its ten perpetuals (a spread needs a short leg), ranked by
    24h volume, with their funding; spot stays reachable with --symbols."""
    config = make_config(tmp_path)
    update = run_json(config, "cache", "update")
    assert update["exchange"] == "demo"
    assert update["timeframe"] == "1h"
    assert update["now_ms"] == parse_utc("2026-05-16")
    assert update["failed"] == []
    tickers = DemoSource().fetch_tickers_24h(PERPS)
    by_volume = [t.symbol for t in sorted(tickers, key=lambda t: (-t.quote_volume, t.symbol))]
    assert [s["symbol"] for s in update["symbols"]] == by_volume  # top_n by 24h volume
    assert by_volume[0] == "BTC/USDT:USDT"
    for row in update["symbols"]:
        assert row["new_bars"] == row["total_bars"] == 8760
        assert (row["first_ms"], row["last_ms"]) == (RECORDING_START, LAST_RECORDED_BAR)
        assert (row["gaps"], row["missing_bars"], row["error"]) == (0, 0, None)
        assert row["new_funding"] == 1095  # every 8 h over the recorded year
    assert (tmp_path / "data" / "cache" / "demo" / "BTC-USDT-USDT_1h.parquet").is_file()

    stats = run_json(config, "cache", "stats")
    assert stats["exchange"] == "demo"
    series = [s for s in stats["series"] if s["timeframe"] != "funding"]
    assert sorted(s["symbol"] for s in series) == sorted(PERPS)
    assert len(stats["series"]) == 2 * len(PERPS)  # candles and funding
    for row in series:
        assert row["timeframe"] == "1h"
        assert row["rows"] == 8760
        assert (row["first_ms"], row["last_ms"]) == (RECORDING_START, LAST_RECORDED_BAR)
        assert row["staleness"] == 0
        assert row["stale"] is False
        assert row["size_bytes"] > 0
        assert row["adv_quote"] > 0
        assert row["spread_bps"] >= 0

    again = run_json(config, "cache", "update")
    assert all(row["new_bars"] == 0 for row in again["symbols"])
    assert all(row["total_bars"] == 8760 for row in again["symbols"])


def test_update_of_a_perpetual_caches_funding(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    update = run_json(config, "cache", "update", "--symbols", "BTC/USDT:USDT")
    (row,) = update["symbols"]
    assert row["symbol"] == "BTC/USDT:USDT"
    assert row["new_bars"] == 8760
    assert row["new_funding"] == 1095  # every 8 h over the recorded year

    stats = run_json(config, "cache", "stats")
    kinds = [(s["symbol"], s["timeframe"]) for s in stats["series"]]
    assert kinds == [("BTC/USDT:USDT", "1h"), ("BTC/USDT:USDT", "funding")]  # candles first
    funding = stats["series"][1]
    assert funding["rows"] == 1095
    assert funding["last_ms"] == parse_utc("2026-05-15T16:00")
    assert funding["stale"] is False


def test_symbols_option_takes_commas_and_repeats(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    update = run_json(
        config,
        "cache",
        "update",
        "--symbols",
        "ETH/USDT,SOL/USDT",
        "--symbols",
        "ADA/USDT",
        "--since",
        "2026-05-15",
    )
    assert [s["symbol"] for s in update["symbols"]] == ["ETH/USDT", "SOL/USDT", "ADA/USDT"]
    assert all(s["new_bars"] == 24 for s in update["symbols"])
    assert all(s["first_ms"] == parse_utc("2026-05-15") for s in update["symbols"])


def test_now_replays_the_past_hour_by_hour(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    symbols = "BTC/USDT,ETH/USDT:USDT"
    first = run_json(config, "--now", "2026-03-01T12:30", "cache", "update", "--symbols", symbols)
    assert first["now_ms"] == parse_utc("2026-03-01T12:30")
    bars_to_11 = (parse_utc("2026-03-01T11:00") - RECORDING_START) // MS_PER_HOUR + 1
    for row in first["symbols"]:
        # At 12:30 the 12:00 bar is still open: the last closed bar opened at 11:00.
        assert row["last_ms"] == parse_utc("2026-03-01T11:00")
        assert row["new_bars"] == row["total_bars"] == bars_to_11
    events_to_08 = (parse_utc("2026-03-01T08:00") - RECORDING_START) // (8 * MS_PER_HOUR) + 1
    assert first["symbols"][1]["new_funding"] == events_to_08

    second = run_json(config, "--now", "2026-03-01T15:00", "cache", "update", "--symbols", symbols)
    for row in second["symbols"]:
        # At 15:00 sharp the 14:00 bar has just closed: 12:00, 13:00 and 14:00 are new.
        assert row["new_bars"] == 3
        assert row["last_ms"] == parse_utc("2026-03-01T14:00")
        assert row["total_bars"] == bars_to_11 + 3
    assert second["symbols"][1]["new_funding"] == 0  # next event at 16:00

    third = run_json(config, "--now", "2026-03-01T16:59", "cache", "update", "--symbols", symbols)
    assert [row["new_bars"] for row in third["symbols"]] == [1, 1]
    assert third["symbols"][1]["new_funding"] == 1  # the 16:00 event
    assert all(row["last_ms"] == parse_utc("2026-03-01T15:00") for row in third["symbols"])

    stats = run_json(config, "--now", "2026-03-01T20:00", "cache", "stats")
    candles = [s for s in stats["series"] if s["timeframe"] == "1h"]
    # Last closed bar at 20:00 is 19:00; the cache ends at 15:00: 4 bars behind, stale.
    assert all(s["staleness"] == 4 and s["stale"] for s in candles)


def test_both_backends_give_identical_summaries(tmp_path: Path) -> None:
    outputs = {}
    for backend in ("parquet", "sqlite"):
        folder = tmp_path / backend
        folder.mkdir()
        config = make_config(folder, f"cache:\n  backend: {backend}\n")
        args = ("--now", "2026-04-01T06:00", "cache", "update", "--symbols")
        update = run_json(config, *args, "BTC/USDT,ETH/USDT,XRP/USDT:USDT")
        stats = run_json(config, "--now", "2026-04-01T06:00", "cache", "stats")
        outputs[backend] = (
            without(update, "seconds"),
            without(stats, row_keys=("size_bytes",)),  # sqlite's size is an estimate
        )
    assert (tmp_path / "sqlite" / "data" / "cache" / "pairscan-cache.sqlite").is_file()
    # The sqlite backend keeps no series file; the folder holds only the market info.
    folder = tmp_path / "sqlite" / "data" / "cache" / "demo"
    assert sorted(p.name for p in folder.iterdir()) == ["markets.json"]
    assert outputs["parquet"] == outputs["sqlite"]
    assert len(outputs["parquet"][1]["series"]) == 4  # three candle series, one funding


def test_table_output(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    result = run(config, "cache", "update", "--symbols", "BTC/USDT,ETH/USDT:USDT")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cache update: demo 1h (now 2026-05-16 00:00Z)" in out
    assert "BTC/USDT" in out
    assert "ETH/USDT:USDT" in out
    assert "2026-05-15 23:00Z" in out
    assert "2 symbols, 0 failed" in out
    assert "\x1b[" not in out

    stats = run(config, "cache", "stats")
    assert stats.exit_code == 0, stats.output
    assert "ETH/USDT:USDT" in stats.stdout
    assert "funding" in stats.stdout


def test_stats_on_an_empty_cache(tmp_path: Path) -> None:
    result = run(make_config(tmp_path), "cache", "stats")
    assert result.exit_code == 0, result.output
    assert "nothing cached yet: run `pairs cache update`" in result.stdout
    assert json.loads(run(make_config(tmp_path), "cache", "stats", "--json").stdout)["series"] == []


# ---- state show ------------------------------------------------------------------------------

STATE_BAR = parse_utc("2026-05-15T23:00")


def position(y: str, x: str, state: int, **changes: Any) -> PositionRecord:
    fields: dict[str, Any] = {
        "y_symbol": y,
        "x_symbol": x,
        "state": state,
        "bars_held": 5,
        "cooldown": 0,
        "hold_limit": 72,
        "entry_bar_ms": parse_utc("2026-05-15T18:00"),
        "entry_z": -2.25 if state == LONG_SPREAD else 2.5,
        "entry_alpha": 0.01,
        "entry_beta": 1.0625,
        "qty_y": 1.5 if state == LONG_SPREAD else -1.5,
        "qty_x": -0.04 if state == LONG_SPREAD else 0.04,
        "entry_price_y": 3000.0,
        "entry_price_x": 95000.0,
        "updated_bar_ms": STATE_BAR,
    }
    if state == FLAT:
        fields.update(
            bars_held=0,
            entry_bar_ms=None,
            entry_z=None,
            entry_alpha=None,
            entry_beta=None,
            qty_y=0.0,
            qty_x=0.0,
            entry_price_y=None,
            entry_price_x=None,
        )
    fields.update(changes)
    return PositionRecord(**fields)


def write_state(tmp_path: Path, *records: PositionRecord) -> Path:
    path = tmp_path / "data" / "state" / "demo.sqlite"
    with StateStore(path) as store:
        assert store.commit_run(STATE_BAR, records)
    return path


def test_state_show_before_the_first_scan(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    result = run(config, "state", "show")
    assert result.exit_code == 0, result.output
    path = tmp_path / "data" / "state" / "demo.sqlite"
    assert " ".join(result.stdout.split()) == (
        f"no state database yet for demo ({path}): the first `pairs scan` creates it"
    )
    assert run_json(config, "state", "show") == {
        "exchange": "demo",
        "path": str(path),
        "exists": False,
        "last_bar_ms": None,
        "last_committed_at_ms": None,
        "pairs_tracked": 0,
        "open_positions": [],
    }
    assert not (tmp_path / "data").exists()  # nothing was created


def test_state_show_lists_the_open_positions(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_state(
        tmp_path,
        position("ETH/USDT", "BTC/USDT", LONG_SPREAD),
        position("SOL/USDT", "ETH/USDT", SHORT_SPREAD, hold_limit=0, bars_held=12),
        position("XRP/USDT", "ADA/USDT", FLAT, cooldown=3),
    )
    result = run(config, "state", "show")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "state: demo, last processed bar 2026-05-15 23:00Z, 3 pairs tracked" in out
    assert "open positions (2)" in out
    rows = {line.split()[1]: line for line in out.splitlines() if "/USDT ~ " in line}
    assert set(rows) == {"ETH/USDT", "SOL/USDT"}  # the flat pair is not listed
    for word in ("ETH/USDT ~ BTC/USDT", "LONG", "2026-05-15 18:00Z", "-2.25", "1.0625", "1.5"):
        assert word in rows["ETH/USDT"], word
    for word in ("SHORT", "+2.50", "-1.5", "0.04", "12", "none"):
        assert word in rows["SOL/USDT"], word
    assert "\x1b[" not in out

    data = run_json(config, "state", "show")
    assert data["exists"] is True
    assert data["last_bar_ms"] == STATE_BAR
    assert data["pairs_tracked"] == 3
    assert data["last_committed_at_ms"] > parse_utc("2024-01-01")
    assert [p["y_symbol"] for p in data["open_positions"]] == ["ETH/USDT", "SOL/USDT"]
    assert data["open_positions"][0] == {
        "y_symbol": "ETH/USDT",
        "x_symbol": "BTC/USDT",
        "side": "LONG",
        "entry_bar_ms": parse_utc("2026-05-15T18:00"),
        "entry_z": -2.25,
        "entry_alpha": 0.01,
        "entry_beta": 1.0625,
        "entry_price_y": 3000.0,
        "entry_price_x": 95000.0,
        "qty_y": 1.5,
        "qty_x": -0.04,
        "bars_held": 5,
        "hold_limit": 72,
        "updated_bar_ms": STATE_BAR,
    }
    assert data["open_positions"][1]["side"] == "SHORT"


def test_state_show_with_no_open_positions(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_state(tmp_path, position("XRP/USDT", "ADA/USDT", FLAT))
    result = run(config, "state", "show")
    assert result.exit_code == 0, result.output
    assert "last processed bar 2026-05-15 23:00Z, 1 pair tracked" in result.stdout
    assert "no open positions" in result.stdout
    assert run_json(config, "state", "show")["open_positions"] == []


def test_state_is_kept_per_exchange(tmp_path: Path) -> None:
    write_state(tmp_path, position("ETH/USDT", "BTC/USDT", LONG_SPREAD))
    config = make_config(tmp_path)
    result = CliRunner().invoke(
        pairs, ["--config", str(config), "--exchange", "binance", "state", "show", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["exchange"], data["exists"]) == ("binance", False)


def test_state_show_on_a_foreign_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "state" / "demo.sqlite"
    path.parent.mkdir(parents=True)
    path.write_text("not a database\n" * 100, encoding="utf-8")
    result = run(make_config(tmp_path), "state", "show")
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        f"error: {path} is not a pairscan state database (file is not a database); move it "
        f"aside (mv {path} {path}.bak) or point data_dir elsewhere, and rerun"
    ]


# ---- errors: one line, the right exit code, never a traceback ---------------------------------


def assert_one_line_error(result: Result, *, starts: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts), lines[0]
    assert result.stdout == ""
    return lines[0]


BAD_CONFIGS = [
    pytest.param(
        "cache:\n  backend: parket\n",
        'error: config.yaml: cache.backend must be one of parquet, sqlite (got "parket")',
        id="bad-value",
    ),
    pytest.param(
        "cache:\n  backnd: sqlite\n",
        "error: config.yaml: cache.backnd is not a known key (allowed: ",
        id="unknown-key",
    ),
    pytest.param(
        "cache: {backend: parquet\n",
        "error: config.yaml: line 3 is not valid YAML (",
        id="invalid-yaml",
    ),
    pytest.param(
        "exchange: binance\n",  # `--exchange demo` is an override into this section
        'error: config.yaml: exchange must be a mapping (got "binance")',
        id="section-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "starts"), BAD_CONFIGS)
@pytest.mark.parametrize("command", ["update", "stats"])
def test_bad_config_exits_2_with_one_line(
    tmp_path: Path, text: str, starts: str, command: str
) -> None:
    config = make_config(tmp_path, text)
    assert_one_line_error(run(config, "cache", command), starts=starts)
    assert not (tmp_path / "data").exists()  # nothing was created


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    line = assert_one_line_error(run(tmp_path / "missing.yaml", "cache", "stats"), starts="error: ")
    assert line == f"error: {tmp_path / 'missing.yaml'}: config file not found (pass --config PATH)"


def test_bad_timeframe_option_exits_2(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    line = assert_one_line_error(
        run(config, "cache", "update", "--timeframe", "4hours"), starts="error: "
    )
    allowed = "cache.timeframe must be a ccxt timeframe such as 1m, 5m, 1h, 4h, 1d"
    assert line.endswith(f'{allowed} (got "4hours")')
    demo = assert_one_line_error(
        run(config, "cache", "update", "--timeframe", "5m"), starts="error: "
    )
    assert "cache.timeframe must be a multiple of 1h on the demo market" in demo
    assert demo.startswith(f"error: {config.name}: ")  # names the file that was used


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--now", "yesterday", "cache", "stats"], id="now"),
        pytest.param(["cache", "update", "--since", "2026-13-01"], id="since"),
    ],
)
def test_bad_datetime_option_exits_2_with_a_clear_message(tmp_path: Path, args: list[str]) -> None:
    result = run(make_config(tmp_path), *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    option, value = ("--now", "yesterday") if args[0] == "--now" else ("--since", "2026-13-01")
    assert f"Invalid value for '{option}'" in result.stderr
    assert f"{option} must be an ISO date or datetime in UTC, e.g. 2026-05-01" in result.stderr
    assert f"(got '{value}')" in result.stderr


def test_unknown_symbol_is_a_usage_error(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    line = assert_one_line_error(
        run(config, "cache", "update", "--symbols", "BTC/USDT,BTC/USTD"), starts="error: "
    )
    assert line == "error: demo does not list BTC/USTD (did you mean BTC/USDT or LTC/USDT?)"
    assert not list((tmp_path / "data" / "cache").rglob("*.parquet"))  # nothing fetched


def test_unknown_symbol_in_the_config_is_a_usage_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, "universe:\n  symbols: [ETH/USDT, DOGE/USDC]\n")
    line = assert_one_line_error(run(config, "cache", "update"), starts="error: ")
    assert line.startswith("error: demo does not list DOGE/USDC")


# ---- help and docs ----------------------------------------------------------------------------


def _commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


COMMANDS = [path for path, _ in _commands(pairs, "pairs")]


def test_the_command_list_is_what_the_readme_promises() -> None:
    assert COMMANDS == [
        "pairs backtest",
        "pairs cache stats",
        "pairs cache update",
        "pairs scan",
        "pairs state show",
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme_and_has_help_with_an_example(command: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"### `{command}`" in readme
    assert f"{command} " in readme.replace("pairs --exchange demo ", "pairs ")  # an example
    result = CliRunner().invoke(pairs, [*command.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    assert command.split()[-1] in result.stdout
    for option in ("--json",):
        assert option in result.stdout


def test_group_help_and_version() -> None:
    result = CliRunner().invoke(pairs, ["-h"])
    assert result.exit_code == 0
    for option in ("--config", "--exchange", "--now", "Example"):
        assert option in result.stdout
    version = CliRunner().invoke(pairs, ["--version"])
    assert version.exit_code == 0
    assert version.stdout.startswith("pairs, version ")


def test_python_dash_m_pairscan_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pairscan", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: pairs" in done.stdout or "Usage: python -m pairscan" in done.stdout
    assert "cache" in done.stdout


def test_error_text_with_brackets_is_printed_not_parsed_as_markup(
    tmp_path: Path, fake_binance: Any
) -> None:
    """Exchange messages are untrusted text: rich must print `[/]` instead of failing on it."""
    from tests.fakes.binance import Fault

    fake_binance.state.add_fault(
        "/api/v3/klines", Fault.http(400, {"code": -1100, "msg": "bad [/] [bold"}), times=1
    )
    config_file = tmp_path / "live.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "exchange": {"id": "binance", "ccxt_config": fake_binance.ccxt_config()},
                "universe": {"symbols": ["ETH/USDT"]},
                "cache": {"history_days": 2},
            }
        )
    )
    result = CliRunner().invoke(pairs, ["--config", str(config_file), "cache", "update"])
    assert result.exit_code == 4, result.output  # its only symbol failed
    assert "Traceback" not in result.output
    assert "bad [/] [bold" in " ".join(result.stdout.split())


def test_help_lists_every_exit_code() -> None:
    from pairscan.errors import EXIT_CODES

    result = CliRunner().invoke(pairs, ["--help"])
    assert result.exit_code == 0
    for code in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+\S", result.output, re.MULTILINE), code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "1970-01-01", "scan"], "is before any crypto market data"),
        (["--now", "2100-01-01", "scan"], "is in the future"),
        (["--now", "2100-01-01", "cache", "update"], "is in the future"),
        (
            ["--now", "2026-01-01", "cache", "update", "--since", "2026-02-01"],
            "--since 2026-02-01 00:00Z is after the run's clock",
        ),
    ],
)
def test_a_clock_far_from_any_data_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(make_config(tmp_path), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.*"))


# ---- messages that point at the real cause ----------------------------------------------------


def flat(text: str) -> str:
    """Output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def test_scan_status_lists_the_open_positions(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_state(
        tmp_path,
        position("ETH/USDT", "BTC/USDT", LONG_SPREAD),
        position("XRP/USDT", "ADA/USDT", FLAT, cooldown=3),
    )
    result = run(config, "scan", "--status")
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "no scan has run yet for exchange demo" in out
    assert "last processed bar 2026-05-15 23:00Z, 1 open position" in out
    assert "LONG ETH/USDT ~ BTC/USDT since 2026-05-15 18:00Z, entry z -2.25, 5 bars held" in out
    assert "XRP/USDT ~ ADA/USDT" not in out  # flat: not a position


def test_an_empty_state_names_its_exchange_and_the_state_the_folder_holds(
    tmp_path: Path,
) -> None:
    """After the demo, `state show` and `scan --status` without --exchange read binance's
    (empty) state: they say so and point at the demo's."""
    config = make_config(tmp_path)
    write_state(tmp_path, position("ETH/USDT", "BTC/USDT", LONG_SPREAD))
    folder = tmp_path / "data" / "state"
    shown = CliRunner().invoke(pairs, ["--config", str(config), "state", "show"])
    assert shown.exit_code == 0, shown.output
    assert flat(shown.stdout) == (
        f"no state database yet for binance ({folder / 'binance.sqlite'}): the first `pairs "
        f"scan` creates it {folder} holds the state of demo: pairs --exchange demo state show"
    )
    status = CliRunner().invoke(pairs, ["--config", str(config), "scan", "--status"])
    assert status.exit_code == 0, status.output
    assert flat(status.stdout) == (
        f"no scan has run yet for exchange binance {folder} holds the state of demo: "
        "pairs --exchange demo scan --status"
    )
    assert not (folder / "binance.sqlite").exists()


def test_a_bad_sweep_value_names_the_option_not_the_config_file(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    line = assert_one_line_error(
        run(config, "backtest", "--sweep", "entry_z=1.5,abc"), starts="error: "
    )
    assert line == 'error: --sweep entry_z=abc: signals.entry_z must be a number (got "abc")'
    # Each value is fine alone, the combination is not: the variant is named.
    line = assert_one_line_error(
        run(config, "backtest", "--sweep", "entry_z=3", "stop_z=2.5,5"), starts="error: "
    )
    assert line.startswith(
        "error: --sweep entry_z=3 stop_z=2.5: signals needs stop_z > entry_z > exit_z >= 0"
    )
    # A combination that is fine together is not refused for its parts (entry_z=5 > the
    # default stop_z 4): what stops it here is the empty cache.
    line = assert_one_line_error(
        run(config, "backtest", "--sweep", "entry_z=5", "stop_z=6"), starts="error: "
    )
    assert line == "error: nothing cached for exchange demo: run `pairs cache update` first"


@pytest.mark.parametrize("sweep", [[], ["--sweep", "entry_z=2,2.5"]], ids=["run", "sweep"])
def test_start_after_end_is_named_before_any_data_is_read(tmp_path: Path, sweep: list[str]) -> None:
    config = make_config(tmp_path)  # nothing cached: the dates are checked first
    result = run(config, "backtest", "--start", "2026-05-01", "--end", "2026-04-01", *sweep)
    line = assert_one_line_error(result, starts="error: ")
    assert line == "error: --start 2026-05-01 00:00Z is after --end 2026-04-01 00:00Z"


def test_one_symbol_is_the_cause_named_not_the_cache(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert run(config, "cache", "update", "--symbols", "BTC/USDT:USDT").exit_code == 0
    line = assert_one_line_error(run(config, "backtest"), starts="error: ")
    assert line == "error: one symbol only (BTC/USDT:USDT): a pair needs two; add symbols"
    scan = run(config, "scan", "--dry-run", "--symbols", "BTC/USDT:USDT")
    assert scan.exit_code == 0, scan.output
    out = flat(scan.stdout)
    assert "no pair selected: one symbol only (BTC/USDT:USDT): a pair needs two" in out
    assert "cache update" not in out


def test_a_scan_before_the_cached_data_says_so_not_run_cache_update(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    symbols = "BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT"
    assert run(config, "cache", "update", "--symbols", symbols).exit_code == 0
    scan = run(config, "--now", "2025-05-10T00:05", "scan", "--dry-run", "--symbols", symbols)
    assert scan.exit_code == 0, scan.output
    out = flat(scan.stdout)
    assert (
        "no pair selected: 0 of the 3 symbols have cached bars up to 2025-05-09 23:00Z: a pair "
        "needs two; the cache starts later or holds nothing for them"
    ) in out
    assert "run `pairs cache update`" not in out


def test_a_backtest_on_another_timeframe_names_what_the_cache_holds(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    symbols = "BTC/USDT:USDT,ETH/USDT:USDT"
    assert run(config, "cache", "update", "--timeframe", "4h", "--symbols", symbols).exit_code == 0
    line = assert_one_line_error(run(config, "backtest"), starts="error: ")
    assert line == (
        "error: no cached symbols at 1h on demo; the cache holds 4h: set cache.timeframe to one "
        "of them, or run `pairs cache update --timeframe 1h`"
    )


def test_sweep_out_writes_each_variant_into_its_folder(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert run(config, "cache", "update").exit_code == 0  # the demo's ten perpetuals
    result = run(config, "backtest", "--sweep", "entry_z=2,2.5", "--out", "sweep", "--top", "0")
    assert result.exit_code == 0, result.output
    assert "one folder per variant" in result.stdout
    trades = {}
    for name in ("entry_z=2", "entry_z=2.5"):
        folder = tmp_path / "sweep" / name
        for file in ("ledger.csv", "ledger.parquet", "equity.csv", "pairs.csv", "equity.png"):
            assert (folder / file).is_file(), folder / file
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["deflated_sharpe_trials"] == 2  # each variant counts both as trials
        trades[name] = metrics["metrics"]["n_trades"]
    assert trades["entry_z=2"] > trades["entry_z=2.5"] > 0  # each folder holds its variant


def test_cache_stats_reports_a_corrupt_file_and_goes_on(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert run(config, "cache", "update", "--symbols", "BTC/USDT,ETH/USDT").exit_code == 0
    path = tmp_path / "data" / "cache" / "demo" / "BTC-USDT_1h.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a truncated write
    result = run(config, "cache", "stats")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if "/USDT " in line}
    assert set(rows) == {"BTC/USDT", "ETH/USDT"}
    assert "8760" in rows["ETH/USDT"]  # the other series is still described
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: BTC/USDT 1h: cache file {path} is corrupt (")
    assert 'run "pairs cache update --symbols BTC/USDT" to rebuild it' in line
    data = run(config, "cache", "stats", "--json")
    assert data.exit_code == 1
    stats = json.loads(data.stdout)
    assert stats["failed"] == ["BTC/USDT"]
    by_symbol = {s["symbol"]: s for s in stats["series"]}
    assert by_symbol["BTC/USDT"]["error"].startswith(f"cache file {path} is corrupt")
    assert (by_symbol["ETH/USDT"]["error"], by_symbol["ETH/USDT"]["rows"]) == (None, 8760)


def test_an_unreachable_exchange_names_the_cause_in_its_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as unused:  # bound, never listening: every connect is refused
        unused.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{unused.getsockname()[1]}"
        urls = {"public": f"{base}/api/v3", "fapiPublic": f"{base}/fapi/v1"}
        config = make_config(
            tmp_path,
            yaml.safe_dump(
                {"exchange": {"max_retries": 0, "ccxt_config": {"urls": {"api": urls}}}}
            ),
        )
        for verbosity in ([], ["-vv"]):
            result = CliRunner().invoke(
                pairs, ["--config", str(config), *verbosity, "cache", "update"]
            )
            assert result.exit_code == 4, result.output
            assert "Traceback" not in result.output
            errors = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
            assert len(errors) == 1, result.stderr
            assert errors[0].startswith(
                "error: binance load_markets failed after 1 attempt: NetworkError: connection "
                "refused: [Errno "
            ), errors[0]
            assert f"binance GET {base}/api/v3/exchangeInfo" in errors[0]


def test_a_sweep_value_of_null_is_a_value_not_the_default(tmp_path: Path) -> None:
    """`slippage_bps=null` means half the spread estimate, also in a sweep whose other variant
    sets a number (the shared panel keeps the market's own costs)."""
    config = make_config(tmp_path)
    assert run(config, "cache", "update").exit_code == 0
    result = run(config, "backtest", "--sweep", "slippage_bps=null,2", "--json")
    assert result.exit_code == 0, result.output
    variants = {v["variant"]: v for v in json.loads(result.stdout)}
    assert set(variants) == {"slippage_bps=null", "slippage_bps=2"}
    assert variants["slippage_bps=null"]["slippage"].startswith("half the corwin_schultz")
    assert variants["slippage_bps=2"]["slippage"] == "2 bps (config)"
    returns = {k: v["metrics"]["total_return"] for k, v in variants.items()}
    assert returns["slippage_bps=null"] < returns["slippage_bps=2"]  # 1h spreads are wide
