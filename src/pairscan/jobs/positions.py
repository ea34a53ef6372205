"""Between the state database and the state machine: persisted records <-> `MachineState`.

The hourly scan reads the records, steps the machine one bar, and writes the records back in
one transaction; these two functions are the only translation between the two forms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.signals import Action, MachineState, PairState
from pairscan.state import PositionRecord

Pair = tuple[str, str]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BarValues:
    """What the scan knows of every tracked pair at the bar's close, (n_pairs,) each: z,
    alpha and beta of the spread, both legs' closes, and the sized signed quantities of an
    entry decided at this bar (0 where none or dropped)."""

    z: FloatArray
    alpha: FloatArray
    beta: FloatArray
    price_y: FloatArray
    price_x: FloatArray
    qty_y: FloatArray
    qty_x: FloatArray


def machine_from_records(
    pairs: Sequence[Pair], records: Mapping[Pair, PositionRecord]
) -> MachineState:
    """Machine state of `pairs` in order; a pair without a record starts FLAT."""
    cols: list[list[int]] = [[], [], [], []]
    for pair in pairs:
        rec = records.get(pair)
        values = (
            (0, 0, 0, 0)
            if rec is None
            else (rec.state, rec.bars_held, rec.cooldown, rec.hold_limit)
        )
        for col, v in zip(cols, values, strict=True):
            col.append(v)
    return MachineState.of(*(np.array(c, dtype=np.int64) for c in cols))


def records_after_bar(
    pairs: Sequence[Pair],
    before: Mapping[Pair, PositionRecord],
    after: MachineState,
    action: npt.NDArray[np.int64],
    bar_ms: int,
    values: BarValues,
) -> list[PositionRecord]:
    """The records to persist after bar `bar_ms`: machine state from `after`; entry fields
    set at an OPEN (this bar's z, alpha, beta, closes, quantities), kept while held, cleared
    when FLAT."""
    out = []
    for k, pair in enumerate(pairs):
        state = int(after.state[k])
        entry: dict[str, object]
        if action[k] in (Action.OPEN_LONG, Action.OPEN_SHORT):
            entry = {
                "entry_bar_ms": bar_ms,
                "entry_z": float(values.z[k]),
                "entry_alpha": float(values.alpha[k]),
                "entry_beta": float(values.beta[k]),
                "qty_y": float(values.qty_y[k]),
                "qty_x": float(values.qty_x[k]),
                "entry_price_y": float(values.price_y[k]),
                "entry_price_x": float(values.price_x[k]),
            }
        elif state != PairState.FLAT and pair in before:
            prev = before[pair]
            entry = {
                name: getattr(prev, name)
                for name in (
                    "entry_bar_ms",
                    "entry_z",
                    "entry_alpha",
                    "entry_beta",
                    "qty_y",
                    "qty_x",
                    "entry_price_y",
                    "entry_price_x",
                )
            }
        else:
            entry = dict.fromkeys(
                (
                    "entry_bar_ms",
                    "entry_z",
                    "entry_alpha",
                    "entry_beta",
                    "entry_price_y",
                    "entry_price_x",
                )
            )
            entry.update(qty_y=0.0, qty_x=0.0)
        out.append(
            PositionRecord(
                y_symbol=pair[0],
                x_symbol=pair[1],
                state=state,
                bars_held=int(after.bars_held[k]),
                cooldown=int(after.cooldown[k]),
                hold_limit=int(after.hold_limit[k]),
                updated_bar_ms=bar_ms,
                **entry,  # type: ignore[arg-type]
            )
        )
    return out
