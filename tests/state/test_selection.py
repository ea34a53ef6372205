"""The stored selection's JSON form: read back as written, and a payload this pairscan did not
write is refused with a `StateError` naming the column (never an `assert`)."""

from __future__ import annotations

import math

import pytest

from pairscan.errors import StateError
from pairscan.market import parse_utc
from pairscan.state import StoredSelection

BOUNDARY = parse_utc("2026-05-15T00:00")


def _selection() -> StoredSelection:
    return StoredSelection(
        boundary_ms=BOUNDARY,
        eligible=("A/USDT", "B/USDT", "C/USDT"),
        y=("A/USDT", "C/USDT"),
        x=("B/USDT", "B/USDT"),
        reason=("selected", "half_life"),
        selected=(True, False),
        rank=(1, 0),
        half_life=(12.5, math.nan),
        qvalue=(0.01, 0.2),
        beta=(1.1, 0.9),
        alpha=(0.0, 0.1),
        edge_mean=(1e-4, math.nan),
        edge_var=(1e-6, math.nan),
    )


def test_the_payload_reads_back_as_written() -> None:
    selection = _selection()
    back = StoredSelection.from_payload(BOUNDARY, selection.to_payload())
    assert back.pairs() == [("A/USDT", "B/USDT")]
    assert (back.y, back.x, back.selected, back.rank) == (
        selection.y,
        selection.x,
        selection.selected,
        selection.rank,
    )
    assert back.value(("A/USDT", "B/USDT"), "half_life") == 12.5
    assert math.isnan(back.half_life[1])  # stored as null, read back as NaN


@pytest.mark.parametrize(
    ("column", "value", "found"), [("y", None, "missing"), ("rank", "1,0", "a str")]
)
def test_a_foreign_payload_is_a_state_error_naming_the_column(
    column: str, value: object, found: str
) -> None:
    payload = _selection().to_payload()
    if value is None:
        del payload[column]
    else:
        payload[column] = value
    with pytest.raises(StateError, match=f"column '{column}' is {found}, not a list"):
        StoredSelection.from_payload(BOUNDARY, payload)
