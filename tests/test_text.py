"""Counts with their nouns, and tables that fit the terminal without breaking a word."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console
from rich.table import Table

from pairscan.text import fit_columns, fits, plural


@pytest.mark.parametrize(
    ("n", "noun", "plural_form", "text"),
    [
        (0, "trial", None, "0 trials"),
        (1, "trial", None, "1 trial"),
        (2, "trial", None, "2 trials"),
        (1, "open position", None, "1 open position"),
        (5, "open position", None, "5 open positions"),
        (1, "entry", "entries", "1 entry"),
        (3, "entry", "entries", "3 entries"),
        (-1, "bar", None, "-1 bars"),
    ],
)
def test_plural(n: int, noun: str, plural_form: str | None, text: str) -> None:
    assert plural(n, noun, plural_form) == text


def test_text_imports_nothing_heavy() -> None:
    """The digest and the CLI's light paths import it: no pandas, numpy or rich."""
    code = (
        "import sys, pairscan.text; "
        "print(sorted(m for m in ('pandas', 'numpy', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _table(*rows: tuple[str, str, str]) -> Table:
    table = Table()
    table.add_column("symbol", no_wrap=True)
    table.add_column("when", overflow="fold")
    table.add_column("why", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _console(width: int) -> Console:
    return Console(width=width, file=io.StringIO(), record=True, color_system=None)


def test_fit_columns_gives_each_column_its_longest_word_then_shares_the_rest() -> None:
    long_why = "a long explanation " * 6
    table = _table(("1000SHIB/USDT:USDT", "2026-05-15 23:00Z", long_why))
    console = _console(60)
    assert fits(table, console)
    fit_columns(table, console)
    widths = [c.width for c in table.columns]
    assert widths[0] == len("1000SHIB/USDT:USDT")  # no_wrap: its whole line
    assert widths[1] == len("2026-05-15 23:00Z")  # a small need is met in full
    assert sum(w or 0 for w in widths) + 3 * 2 + 4 == 60  # the rest to the wordy column
    console.print(table)
    text = console.export_text()
    assert "1000SHIB/USDT:USDT" in text
    assert "2026-05-15 23:00Z" in text
    assert "…" not in text


def test_fit_columns_leaves_alone_a_table_that_fits_or_cannot() -> None:
    fitting = _table(("BTC/USDT", "2026-05-15", "ok"))
    fit_columns(fitting, _console(100))
    assert [c.width for c in fitting.columns] == [None, None, None]
    narrow = _table(("1000SHIB/USDT:USDT", "2026-05-15 23:00Z", "ExchangeNotAvailable"))
    assert not fits(narrow, _console(40))
    fit_columns(narrow, _console(40))
    assert [c.width for c in narrow.columns] == [None, None, None]
