"""README.md is executable truth: every `pairs ...` line of its code blocks runs here, as written.

The examples run in README order in one data directory, as a user following the README would
(later ones see the cache and the state earlier ones made), in process through click's
CliRunner. The `--exchange demo` ones use the embedded demo market; the ones for a real exchange
(`binance`, the default, and `binanceusdm`) use the local Binance-protocol server, through the
`./config.yaml` a user would write to point ccxt at another endpoint (`exchange.ccxt_config`
`urls`). Each must exit with the code the README states (a trailing `# exits N`; 0 otherwise);
a `$ pairs ...` line must also print the lines shown under it.

Nothing is skipped silently: an example that cannot run offline must be listed in `NOT_RUN`
with the reason, and every entry of `NOT_RUN`, `EXPECT` and `FILES` must still be a README
example (so the lists stay honest). `scripts/demo` runs README examples only, in README order.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from pairscan.cli import pairs
from tests.fakes.binance import CCXT_API_PATHS, ExchangeState, FakeBinance, start_fake_binance

pytestmark = pytest.mark.slow  # ~40 s: every demo command, a sweep and two exchange scans

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEMO_SCRIPT = REPO / "scripts" / "demo"
PERPS = [
    f"{b}/USDT:USDT"
    for b in ("ADA", "AVAX", "BCH", "BTC", "DOGE", "ETH", "LINK", "LTC", "SOL", "XRP")
]

# README examples that are not run, with the reason (none today: each one runs offline).
NOT_RUN: dict[str, str] = {}

# Files an example needs that the README shows only in prose.
FILES: dict[str, dict[str, str]] = {
    "pairs --config bad.yaml cache stats": {"bad.yaml": "cache:\n  backend: parket\n"},
}

# What the README says an example does, beyond its exit code: text its output must hold.
EXPECT: dict[str, tuple[str, ...]] = {
    "pairs --exchange demo cache update": ("10 symbols, 0 failed", *PERPS),
    "pairs --exchange binanceusdm cache update --symbols BTC/USDT:USDT,ETH/USDT:USDT": (
        "2 symbols, 0 failed",
    ),
    "pairs --exchange demo scan": ("AVAX/USDT:USDT ~ LTC/USDT:USDT", "delivered: console 1"),
    "pairs --exchange demo --now 2026-05-09T14:05 scan --dry-run": (
        "nothing written or sent",
        "the demo state is ahead of this run",
        "decided as a first run would",
        "LTC/USDT:USDT",
        "SOL/USDT:USDT",
    ),
    "pairs --exchange demo scan --status": ("LONG AVAX/USDT:USDT ~ LTC/USDT:USDT since",),
    "pairs --exchange demo state show": ("open positions (1)", "AVAX/USDT:USDT"),
    "pairs --exchange demo backtest --sweep entry_z=1.5,2,2.5 window=168,336,720": ("9 variants",),
}


@dataclass(frozen=True)
class Example:
    """One README example: its line number, the command, the exit code it states and, for a
    `$ pairs ...` transcript, the lines shown under it."""

    line: int
    command: str
    exit_code: int
    shown: tuple[str, ...] = ()

    @property
    def args(self) -> list[str]:
        return shlex.split(self.command)[1:]


def readme_examples(text: str) -> list[Example]:
    """Every line of a fenced code block that starts with `pairs ` or `$ pairs `, comments
    stripped (`# exits N` sets the exit code)."""
    examples: list[Example] = []
    in_block = False
    transcript: list[str] | None = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if line.startswith("```"):
            in_block = not in_block
            transcript = None
            continue
        if not in_block:
            continue
        if re.match(r"(\$ )?pairs ", line):
            body = line.removeprefix("$ ")
            command, _, comment = body.partition(" #")
            exits = re.search(r"\bexits (\d+)\b", comment)
            examples.append(
                Example(number, " ".join(shlex.split(command)), int(exits[1]) if exits else 0)
            )
            transcript = [] if line.startswith("$ ") else None
        elif transcript is not None and line.strip():
            transcript.append(line.strip())
            last = examples[-1]
            examples[-1] = Example(last.line, last.command, last.exit_code, tuple(transcript))
    assert not in_block, "README.md: a code block is not closed"
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))


def demo_script_commands() -> list[str]:
    """The `pairs` commands of scripts/demo, as README examples would spell them."""
    commands = []
    for line in DEMO_SCRIPT.read_text(encoding="utf-8").splitlines():
        if line.startswith(".venv/bin/pairs "):
            commands.append(" ".join(shlex.split(line.removeprefix(".venv/bin/"), comments=True)))
    return commands


# ---- the honesty of the lists ---------------------------------------------------------------


def test_the_readme_has_examples_for_every_command() -> None:
    commands = {
        c
        for e in EXAMPLES
        for c in ("cache update", "cache stats", "state show", "scan", "backtest")
        if f" {c}" in e.command
    }
    assert commands == {"cache update", "cache stats", "state show", "scan", "backtest"}
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("listed", [NOT_RUN, FILES, EXPECT], ids=["NOT_RUN", "FILES", "EXPECT"])
def test_every_listed_example_is_still_in_the_readme(listed: dict[str, Any]) -> None:
    commands = {e.command for e in EXAMPLES}
    assert set(listed) <= commands, f"not README examples (any more): {set(listed) - commands}"


def test_scripts_demo_runs_readme_examples_in_readme_order() -> None:
    script = demo_script_commands()
    assert script, "scripts/demo runs no pairs command"
    commands = iter(e.command for e in EXAMPLES)
    for command in script:
        assert any(c == command for c in commands), (
            f"scripts/demo runs `{command}`, which is not a README example after the previous "
            "one: keep the two in step"
        )


# ---- running them ------------------------------------------------------------------------------


class Reader:
    """The README followed in one folder: examples run in order, each once, results kept, so
    a test of example k (even alone, with -k) first runs the examples before it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.results: dict[int, Result] = {}

    def result(self, example: Example) -> Result:
        for earlier in EXAMPLES:
            if earlier.line not in self.results and earlier.command not in NOT_RUN:
                for name, content in FILES.get(earlier.command, {}).items():
                    (self.folder / name).write_text(content, encoding="utf-8")
                self.results[earlier.line] = CliRunner().invoke(pairs, earlier.args)
            if earlier.line == example.line:
                break
        return self.results[example.line]


def _config(fake: FakeBinance) -> dict[str, Any]:
    """What a user pointing ccxt at another Binance endpoint would write (here: the local
    server). Only URLs, a timeout and no rate limiter: ccxt's own market types stay."""
    urls = {key: fake.base_url + path for key, path in CCXT_API_PATHS.items()}
    return {
        "exchange": {
            "ccxt_config": {"urls": {"api": urls}, "timeout": 5000, "enableRateLimit": False},
            "max_retries": 1,
            "retry_base_delay_s": 0.0,
        }
    }


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "config.yaml").write_text(yaml.safe_dump(_config(fake := _start())), "utf-8")
    with pytest.MonkeyPatch.context() as mp, fake:
        mp.chdir(folder)
        mp.setenv("NO_COLOR", "1")
        for name in (
            "FORCE_COLOR",
            "EXCHANGE_API_KEY",
            "EXCHANGE_API_SECRET",
            "SLACK_WEBHOOK_URL",
            "TELEGRAM_BOT_TOKEN",
            "TELEGRAM_CHAT_ID",
        ):
            mp.delenv(name, raising=False)
        yield Reader(folder)


def _start() -> FakeBinance:
    """The local Binance-protocol server on the demo recording; its clock is the recording's
    end, so the exchange clock (not the wall clock) bounds what the real-exchange examples
    fetch."""
    return start_fake_binance(ExchangeState.demo())


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"L{e.line}:{' '.join(e.args)[:60]}" for e in EXAMPLES]
)
def test_readme_example(reader: Reader, example: Example, restore_logging: None) -> None:
    if example.command in NOT_RUN:
        pytest.skip(NOT_RUN[example.command])
    result = reader.result(example)
    output = result.output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == example.exit_code, (
        f"README.md:{example.line} `{example.command}` says exit {example.exit_code}, "
        f"got {result.exit_code}:\n{output}"
    )
    flat = " ".join(output.split())  # tables wrap long lines at the terminal's width
    for line in example.shown:
        assert line in output, f"README.md:{example.line} shows {line!r}; got:\n{output}"
    for text in EXPECT.get(example.command, ()):
        assert text in flat, f"README.md:{example.line}: {text!r} not in:\n{output}"
    if "--json" in example.args and example.exit_code == 0:
        json.loads(result.stdout)  # stdout holds the JSON document only
