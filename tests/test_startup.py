"""Start-up: help, version and usage errors answer without the numeric stack, and a scan whose
hour is already decided retries deliveries without pandas, Numba, statsmodels or ccxt.

What is asserted is which modules a fresh interpreter imported (a fact), not how long it took
(a machine's mood): `benchmarks/bench_startup.py` measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from pairscan.cli import pairs

# Each costs 0.1-1.5 s to import; none is needed to print help or a usage error.
HEAVY = ("numpy", "pandas", "pyarrow", "numba", "scipy", "statsmodels", "ccxt", "matplotlib")
# A scan that only retries deliveries reads SQLite and may post to a channel (requests);
# numpy (0.1 s) comes with the market types. The rest must stay out.
NOT_IN_A_NOOP_SCAN = ("pandas", "pyarrow", "numba", "scipy", "statsmodels", "ccxt", "matplotlib")
PROBE = textwrap.dedent(
    """
    import json, sys
    from pairscan.cli import pairs
    try:
        pairs(sys.argv[1:], prog_name="pairs")
        code = 0
    except SystemExit as exc:
        code = exc.code
    print("PROBE " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
    """
)


def probe(*argv: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Run `pairs ARGV` in a fresh interpreter: its exit code and the top-level packages it
    imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("PROBE ")]
    assert line, done.stdout + done.stderr
    data = json.loads(line[-1][len("PROBE ") :])
    return data["code"], {m.split(".")[0] for m in data["modules"]}


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["scan", "--help"], 0),
        (["backtest", "--help"], 0),
        (["cache", "update", "--help"], 0),
        (["cache", "stats", "--help"], 0),
        (["state", "show", "--help"], 0),
        (["scan", "--bogus"], 2),
        (["no-such-command"], 2),
        (["backtest", "--top", "many"], 2),
    ],
)
def test_help_and_usage_errors_import_nothing_heavy(argv: list[str], code: int) -> None:
    exit_code, imported = probe(*argv)
    assert exit_code == code
    assert sorted(imported & set(HEAVY)) == []


def test_a_bad_date_is_a_usage_error_without_pandas_numba_or_ccxt() -> None:
    exit_code, imported = probe("backtest", "--start", "yesterday-ish")
    assert exit_code == 2
    assert sorted(imported & {"pandas", "numba", "ccxt", "statsmodels"}) == []


@pytest.mark.slow
def test_a_scan_of_an_hour_already_decided_skips_the_data_stack(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("data_dir: data\n", encoding="utf-8")
    perps = "BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT,LTC/USDT:USDT"
    args = ["--config", str(tmp_path / "config.yaml"), "--exchange", "demo"]
    first = CliRunner().invoke(pairs, [*args, "scan", "--symbols", perps, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["status"] == "ok"
    exit_code, imported = probe(*args, "scan", "--symbols", perps)
    assert exit_code == 0
    assert sorted(imported & set(NOT_IN_A_NOOP_SCAN)) == []
    runs_log = tmp_path / "data" / "state" / "demo-runs.jsonl"
    records = [json.loads(line) for line in runs_log.read_text().splitlines()]
    assert [r["status"] for r in records][-2:] == ["ok", "already_processed"]
