"""No traceback for any input: Hypothesis drives the CLI on the demo market with generated
arguments (dates before, inside and after the data, swapped start and end, empty and unknown
symbol lists, bad sweep values) and checks every run ends with one of the documented exit
codes, never a traceback, and writes nothing when it exits 2 (usage)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pairscan.cli import pairs
from pairscan.config import load_config
from pairscan.errors import EXIT_CODES, EXIT_USAGE
from pairscan.jobs.cache_update import run_cache_update

PERPS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "LTC/USDT:USDT", "AVAX/USDT:USDT")
# Before, inside and after the recording (2025-05-16 .. 2026-05-15), and nonsense.
DATES = (
    "2019-01-01",
    "2025-05-01",
    "2025-09-01",
    "2026-03-01T12:00",
    "2026-05-15T23:00",
    "2026-06-01",
    "2027-01-01",
    "1970-01-01",
    "2100-01-01",
    "2026-13-01",
    "yesterday",
    "",
)
SYMBOL_LISTS = (
    ",".join(PERPS),
    "BTC/USDT:USDT",
    "BTC/USDT:USDT,ETH/USDT:USDT",
    "",
    ",",
    "NOPE/USDT:USDT,BTC/USDT:USDT",
    "BTC/USDT",
    "btc/usdt:usdt,eth",
)
SWEEPS = (
    "entry_z=1.5,2",
    "entry_z=1.5,abc",
    "entry_z=",
    "nokey=1,2",
    "window=0",
    "stats.max_qvalue=2",
    "exit_z=3",
    "=1",
)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-property")
    (root / "config.yaml").write_text("data_dir: data\nexchange: {id: demo}\n", encoding="utf-8")
    run_cache_update(load_config(root / "config.yaml", env={}), symbols=PERPS)
    return root


def _option(name: str, values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), st.sampled_from(values).map(lambda v: [name, v]))


COMMANDS = st.one_of(
    st.tuples(
        st.just(["backtest"]),
        _option("--start", DATES),
        _option("--end", DATES),
        _option("--symbols", SYMBOL_LISTS),
        _option("--sweep", SWEEPS),
        st.sampled_from([[], ["--json"]]),
    ),
    st.tuples(
        st.just(["cache", "update"]),
        _option("--symbols", SYMBOL_LISTS),
        _option("--since", DATES),
        st.sampled_from([[], ["--json"]]),
    ),
    st.tuples(st.just(["scan", "--dry-run"]), _option("--symbols", SYMBOL_LISTS)),
    st.tuples(st.just(["cache", "stats"]), st.sampled_from([[], ["--json"]])),
    st.tuples(st.just(["state", "show"]), st.sampled_from([[], ["--json"]])),
)


@settings(
    max_examples=int(os.environ.get("PAIRSCAN_CLI_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,  # the same examples on every run: CI must not find a new one by chance
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(now=_option("--now", DATES), command=COMMANDS)
def test_any_arguments_end_in_a_documented_exit_code_without_a_traceback(
    demo_cache: Path,
    tmp_path: Path,
    restore_logging: None,
    now: list[str],
    command: tuple[list[str], ...],
) -> None:
    folder = tmp_path / "run"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(demo_cache, folder)
    before = _snapshot(folder)
    args = ["--config", str(folder / "config.yaml"), *now, *(a for part in command for a in part)]
    result = CliRunner().invoke(pairs, args)
    assert result.exit_code in EXIT_CODES, (args, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert "unexpected" not in result.output, (args, result.output)
    if result.exit_code == EXIT_USAGE:
        assert _snapshot(folder) == before, args
