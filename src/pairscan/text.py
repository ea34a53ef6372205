"""Small words and widths for what the CLI, the digest and the tickets print: counts with
their nouns, tables that fit the terminal.

Imports only the standard library at module level, so any printer can use it without
pulling pandas; rich is imported by `fit_columns`, which is handed rich objects anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Column, Table


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """`n` and the noun, singular for exactly one: `plural(1, "trial")` -> `1 trial`,
    `plural(3, "trial")` -> `3 trials`, `plural(0, "entry", "entries")` -> `0 entries`.
    The plural is `noun + "s"` unless given."""
    return f"{n} {noun if n == 1 else plural_form or noun + 's'}"


def fit_columns(table: Table, console: Console) -> Table:
    """`table` with column widths that fit `console` without breaking a word, when that is
    possible; returns the table (changed in place).

    rich shrinks the widest columns first when a table is too wide, which cuts dates and
    symbols in half while a wordy column has room to wrap. Here every column first gets its
    longest word (its longest line when `no_wrap`, as for symbols and ids); then the columns
    whose cells need least to fit on one line get it, smallest need first (a number wrapped
    for want of two characters reads worst; headers wrap well and are not counted); the
    wordy rest share what is left in proportion to what they want. A table that fits as it
    is, or whose words alone do not fit (see `fits`), is left to rich (columns with
    `overflow="fold"` then fold instead of cutting with an ellipsis).
    """
    least, most, room = _widths(table, console)
    if sum(most) <= room or sum(least) > room:
        return table
    spare = room - sum(least)
    wants = [
        max(0, _widest_cell(column, console) - w)
        for column, w in zip(table.columns, least, strict=True)
    ]
    extra = [0] * len(wants)
    hungry: list[int] = []
    for k in sorted(range(len(wants)), key=lambda k: wants[k]):
        if wants[k] <= spare and not hungry:
            extra[k], spare = wants[k], spare - wants[k]
        else:
            hungry.append(k)
    share = [spare * wants[k] // sum(wants[j] for j in hungry) for k in hungry]
    for k, more in zip(hungry, share, strict=True):
        extra[k] = more
    for k in hungry[: spare - sum(share)]:  # what the rounding left, one column each
        extra[k] += 1
    for column, width, more in zip(table.columns, least, extra, strict=True):
        column.width = width + more
    return table


def fits(table: Table, console: Console) -> bool:
    """True when `console` is wide enough for every column of `table` to get its longest
    word (its longest line when `no_wrap`): `fit_columns` then breaks no word."""
    least, _, room = _widths(table, console)
    return sum(least) <= room


def _widest_cell(column: Column, console: Console) -> int:
    from rich.measure import Measurement

    return max(
        (Measurement.get(console, console.options, c).maximum for c in column.cells), default=0
    )


def _widths(table: Table, console: Console) -> tuple[list[int], list[int], int]:
    """(each column's longest word, or line when `no_wrap`; each column's longest line; the
    room for cell text on one line of `console`: its width less borders and padding)."""
    from rich.measure import Measurement

    columns = table.columns
    _, pad_right, _, pad_left = table.padding
    padding = [pad_left + pad_right] * len(columns)
    if columns and not table.pad_edge:
        padding[0] -= pad_left
        padding[-1] -= pad_right
    borders = (2 if table.box and table.show_edge else 0) + (
        len(columns) - 1 if table.box and columns else 0
    )
    least, most = [], []
    for column in columns:
        cells = [*([column.header] if table.show_header else []), *column.cells]
        sizes = [Measurement.get(console, console.options, cell) for cell in cells]
        widest = max((size.maximum for size in sizes), default=1)
        most.append(widest)
        longest_word = max((size.minimum for size in sizes), default=1)
        least.append(widest if column.no_wrap else longest_word)
    return least, most, console.width - borders - sum(padding)
