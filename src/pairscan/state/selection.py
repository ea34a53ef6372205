"""I/O stage (state): one re-selection's table as the scan stores it (JSON in the state
database's `selections`, keyed by its boundary): every candidate pair's orientation, reason,
rank and statistics, and the symbols that were eligible.

Plain data, no SQL (`StateStore.selection_text` / `selection_work` read and write the text)
and no trading rule (`jobs.scan_decide.select_at` makes the table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pairscan.errors import StateError
from pairscan.market import format_utc

__all__ = ["StoredSelection"]

Pair = tuple[str, str]

_TABLE_FIELDS = ("y", "x", "reason", "selected", "rank", "half_life", "qvalue", "beta", "alpha")
_FLOAT_FIELDS = ("half_life", "qvalue", "beta", "alpha", "edge_mean", "edge_var")


@dataclass(frozen=True)
class StoredSelection:
    """One re-selection's table as the scan stores it (JSON in the state database): every
    candidate pair's orientation, reason, rank and statistics; `eligible` the symbols that
    entered it."""

    boundary_ms: int
    eligible: tuple[str, ...]
    y: tuple[str, ...]
    x: tuple[str, ...]
    reason: tuple[str, ...]
    selected: tuple[bool, ...]
    rank: tuple[int, ...]
    half_life: tuple[float, ...]
    qvalue: tuple[float, ...]
    beta: tuple[float, ...]
    alpha: tuple[float, ...]
    # Per-bar edge of each selected pair on its formation window (`sizing.formation_edge`),
    # for the Kelly cap; NaN when not selected or not measurable.
    edge_mean: tuple[float, ...] = ()
    edge_var: tuple[float, ...] = ()

    def pairs(self) -> list[Pair]:
        """Selected pairs, best ranked first."""
        chosen = [
            (r, (y, x))
            for y, x, s, r in zip(self.y, self.x, self.selected, self.rank, strict=True)
            if s
        ]
        return [pair for _, pair in sorted(chosen)]

    def value(self, pair: Pair, field: str) -> float:
        """A statistic of a selected pair (NaN when the pair is not selected this way round,
        or the statistic was not stored)."""
        values = getattr(self, field)
        if len(values) != len(self.y):
            return math.nan
        for y, x, s, v in zip(self.y, self.x, self.selected, values, strict=True):
            if s and (y, x) == pair:
                return float(v)
        return math.nan

    def to_payload(self) -> dict[str, object]:
        """The table as JSON-ready columns (what `from_payload` reads back)."""
        out: dict[str, object] = {name: list(getattr(self, name)) for name in _TABLE_FIELDS}
        out["eligible"] = list(self.eligible)
        # JSON has no NaN: stored as null.
        for name in _FLOAT_FIELDS:
            out[name] = [None if not math.isfinite(v) else v for v in getattr(self, name)]
        return out

    @classmethod
    def from_payload(cls, boundary_ms: int, payload: Mapping[str, object]) -> StoredSelection:
        """The selection stored at `boundary_ms` (UTC ms) from its JSON payload (`to_payload`).
        StateError when a column is missing or not a list: the state database was written by
        something else, and deciding on a misread selection would trade the wrong pairs."""

        def col(name: str) -> list[object]:
            value = payload.get(name)
            if not isinstance(value, list):
                found = "missing" if name not in payload else f"a {type(value).__name__}"
                raise StateError(
                    f"the selection stored at {format_utc(boundary_ms)}: column {name!r} is "
                    f"{found}, not a list; the state database holds a selection this pairscan "
                    "did not write"
                )
            return value

        floats = {
            n: tuple(math.nan if v is None else float(v) for v in col(n))  # type: ignore[arg-type]
            for n in _FLOAT_FIELDS
            if n in payload  # selections stored before the edge was kept have none
        }
        return cls(
            boundary_ms=boundary_ms,
            eligible=tuple(str(v) for v in col("eligible")),
            y=tuple(str(v) for v in col("y")),
            x=tuple(str(v) for v in col("x")),
            reason=tuple(str(v) for v in col("reason")),
            selected=tuple(bool(v) for v in col("selected")),
            rank=tuple(int(v) for v in col("rank")),  # type: ignore[call-overload]
            **floats,
        )
