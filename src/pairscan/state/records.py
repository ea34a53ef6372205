"""I/O stage (state): the records the state database stores, validated on construction.

Plain frozen dataclasses of ints, floats and strings; no SQLite here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Final

# The machine's states, as in `pairscan.signals.PairState` (a test checks they agree); not
# imported from there, so that reading the state never loads Numba.
FLAT, LONG_SPREAD, SHORT_SPREAD = 0, 1, 2
STATE_NAMES: Final = {FLAT: "FLAT", LONG_SPREAD: "LONG_SPREAD", SHORT_SPREAD: "SHORT_SPREAD"}

_INT_FIELDS = ("state", "bars_held", "cooldown", "hold_limit", "updated_bar_ms")
_FLOAT_FIELDS = ("qty_y", "qty_x")
_OPTIONAL_FLOAT_FIELDS = (
    "entry_z",
    "entry_alpha",
    "entry_beta",
    "entry_price_y",
    "entry_price_x",
)


@dataclass(frozen=True)
class PositionRecord:
    """The persisted state of one pair (y regressed on x) after the bar `updated_bar_ms`.

    `state` is FLAT (0), LONG_SPREAD (1) or SHORT_SPREAD (2); `bars_held`, `cooldown` (bars
    left without entry) and `hold_limit` (bars, 0 = none) count bars. `entry_bar_ms` is the
    open time (UTC ms) of the bar whose close triggered the entry; `entry_z`, `entry_alpha`,
    `entry_beta` and `entry_price_*` are the values at that close, None when flat.
    `qty_y`/`qty_x` are signed base-currency quantities (+ long, - short, 0 when flat).
    Numbers are normalised to Python int/float, so numpy scalars may be passed.
    """

    y_symbol: str
    x_symbol: str
    state: int
    bars_held: int
    cooldown: int
    hold_limit: int
    entry_bar_ms: int | None
    entry_z: float | None
    entry_alpha: float | None
    entry_beta: float | None
    qty_y: float
    qty_x: float
    entry_price_y: float | None
    entry_price_x: float | None
    updated_bar_ms: int

    def __post_init__(self) -> None:
        for name in ("y_symbol", "x_symbol"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(
                    f"{name}: must be a non-empty symbol (got {getattr(self, name)!r})"
                )
        if self.y_symbol == self.x_symbol:
            raise ValueError(f"x_symbol: must differ from y_symbol (both {self.y_symbol!r})")
        for name in _INT_FIELDS:
            object.__setattr__(self, name, as_int(name, getattr(self, name)))
        if self.entry_bar_ms is not None:
            object.__setattr__(self, "entry_bar_ms", as_int("entry_bar_ms", self.entry_bar_ms))
        for name in _FLOAT_FIELDS:
            object.__setattr__(self, name, as_float(name, getattr(self, name)))
        for name in _OPTIONAL_FLOAT_FIELDS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, as_float(name, getattr(self, name)))
        if self.state not in STATE_NAMES:
            raise ValueError(f"state: must be 0 (FLAT), 1 or 2 (got {self.state})")
        for name in ("bars_held", "cooldown", "hold_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0 (got {getattr(self, name)})")

    @property
    def key(self) -> tuple[str, str]:
        return (self.y_symbol, self.x_symbol)

    @property
    def is_open(self) -> bool:
        return self.state != FLAT


def as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name}: must be an integer (got {value!r})")
    return int(value)


def as_float(name: str, value: Any) -> float:
    number = float(value)
    # SQLite stores NaN as NULL: it would come back as None (or break NOT NULL).
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be finite (got {value!r})")
    return number


@dataclass(frozen=True)
class RunInfo:
    """One committed run: the bar it processed (UTC ms, bar open), when it was committed
    (wall clock, UTC ms), how many records it wrote and how many positions were open after."""

    bar_ms: int
    committed_at_ms: int
    n_records: int
    n_open: int


@dataclass(frozen=True)
class StateSnapshot:
    """The last processed bar and every pair's record, read in one transaction."""

    last_bar_ms: int | None
    records: dict[tuple[str, str], PositionRecord]


POSITION_FIELDS: Final = tuple(f.name for f in fields(PositionRecord))
