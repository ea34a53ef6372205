"""Stage 4: the per-pair state machine's Python face, shared by `pairs scan` and the backtest.

Validates inputs once and calls the kernels in `signals.kernels`; holds no rule of its own.
No I/O: persisting `MachineState` between hourly runs is the state store's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from pairscan.config import SignalsConfig, StatsConfig
from pairscan.signals.kernels import (
    Action,
    Gate,
    MachineParamsT,
    PairState,
    Reason,
    bars_stale_nb,
    gate_values_ok_nb,
    run_machine_nb,
    step_nb,
)
from pairscan.stats.selection import Reason as SelectionReason
from pairscan.stats.selection import hedge_in_band

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

ACTION_NAMES = {v: k for k, v in Action._asdict().items()}
REASON_NAMES = {v: k.lower() for k, v in Reason._asdict().items()}
STATE_NAMES = {v: k for k, v in PairState._asdict().items()}
# Reasons that come with a HOLD: an entry the rule would make and an entry gate refused.
REFUSAL_REASONS = (Reason.HEDGE_BAND, Reason.SHORT_SPOT)


def machine_params(config: SignalsConfig) -> MachineParamsT:
    """The kernel's parameter tuple from the validated `signals` config section."""
    return MachineParamsT(
        entry_z=float(config.entry_z),
        exit_z=float(config.exit_z),
        stop_z=float(config.stop_z),
        max_holding_bars=int(config.max_holding_bars or 0),
        max_holding_half_lives=float(config.max_holding_half_lives or 0.0),
        cooldown_bars=int(config.cooldown_bars),
        stale_bars=int(config.stale_bars),
    )


@dataclass(frozen=True)
class MachineState:
    """Per-pair machine state, four int64 (n_pairs,) arrays: state (PairState), bars_held
    (bars since the entry bar), cooldown (bars of blocked entry left), hold_limit (time stop
    in bars fixed at entry, 0 = none)."""

    state: IntArray
    bars_held: IntArray
    cooldown: IntArray
    hold_limit: IntArray

    @classmethod
    def flat(cls, n_pairs: int) -> MachineState:
        zeros = np.zeros(n_pairs, dtype=np.int64)
        return cls(zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())

    @classmethod
    def of(cls, state: Any, bars_held: Any, cooldown: Any, hold_limit: Any) -> MachineState:
        """From any integer sequences (e.g. rows read back from the state store), checked."""
        arrays = [
            _int_vector(v, name)
            for v, name in (
                (state, "state"),
                (bars_held, "bars_held"),
                (cooldown, "cooldown"),
                (hold_limit, "hold_limit"),
            )
        ]
        n = arrays[0].shape[0]
        for arr, name in zip(arrays[1:], ("bars_held", "cooldown", "hold_limit"), strict=True):
            if arr.shape[0] != n:
                raise ValueError(f"{name}: length {arr.shape[0]} does not match state length {n}")
            if (arr < 0).any():
                raise ValueError(f"{name}: must be >= 0")
        if not np.isin(arrays[0], list(PairState)).all():
            raise ValueError(f"state: values must be in {dict(PairState._asdict())}")
        return cls(*arrays)

    def copy(self) -> MachineState:
        return MachineState(
            self.state.copy(), self.bars_held.copy(), self.cooldown.copy(), self.hold_limit.copy()
        )

    @property
    def n_pairs(self) -> int:
        return int(self.state.shape[0])


@dataclass(frozen=True)
class MachineRun:
    """`run_machine` output: int64 (n_bars, n_pairs) action, reason and state after each bar,
    and the final `MachineState` (to continue from, or to persist)."""

    action: IntArray
    reason: IntArray
    state: IntArray
    final: MachineState


def _int_vector(value: Any, name: str) -> IntArray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of ints, got {arr.ndim}-D")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integers, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _panel(value: Any, name: str, shape: tuple[int, int], dtype: Any) -> Any:
    """A (n_bars, n_pairs) array of dtype; a (n_pairs,) row is broadcast over the bars."""
    arr = np.asarray(value)
    if arr.ndim == 1 and arr.shape[0] == shape[1]:
        # A read-only stride-0 view: the kernels read it in place (no (n_bars, n_pairs) copy).
        return np.broadcast_to(np.ascontiguousarray(arr, dtype=dtype), shape)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (or ({shape[1]},)), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _optional_panel(value: Any, name: str, shape: tuple[int, int]) -> IntArray:
    """An int64 panel, zeros when the argument was not given."""
    if value is None:
        return np.zeros(shape, np.int64)
    arr = np.asarray(value)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integers, got {arr.dtype}")
    result: IntArray = _panel(arr, name, shape, np.int64)
    return result


def _check_gate(gate: IntArray) -> None:
    if not gate_values_ok_nb(gate):
        raise ValueError(f"gate: values must be in {dict(Gate._asdict())}")


def run_machine(
    z: Any,
    half_life_bars: Any,
    params: MachineParamsT,
    *,
    gate: Any = None,
    bars_stale: Any = None,
    initial: MachineState | None = None,
) -> MachineRun:
    """Run the state machine over a history: the backtest's signal path.

    z: float64 (n_bars, n_pairs) spread z-scores at each bar's close (NaN: no decision).
    half_life_bars: the pairs' half-lives in bars, (n_bars, n_pairs) or (n_pairs,); used only
        to fix the time stop at entry.
    gate: int (n_bars, n_pairs) or (n_pairs,) of `Gate` values; default all `Gate.OK`.
    bars_stale: int, bars since both legs last had a candle (see `bars_stale`); default 0.
    initial: state before the first bar; default every pair FLAT. Not modified.
    """
    z_arr = np.asarray(z, dtype=np.float64)
    if z_arr.ndim != 2:
        raise ValueError(f"z: expected (n_bars, n_pairs), got {z_arr.ndim}-D")
    shape = (int(z_arr.shape[0]), int(z_arr.shape[1]))
    z_arr = np.ascontiguousarray(z_arr)
    hl = _panel(half_life_bars, "half_life_bars", shape, np.float64)
    gate_arr = _optional_panel(gate, "gate", shape)
    _check_gate(gate_arr)
    stale = _optional_panel(bars_stale, "bars_stale", shape)
    if (stale < 0).any():
        raise ValueError("bars_stale: must be >= 0")
    start = MachineState.flat(shape[1]) if initial is None else initial.copy()
    if start.n_pairs != shape[1]:
        raise ValueError(f"initial: {start.n_pairs} pairs, z has {shape[1]}")
    action = np.empty(shape, np.int64)
    reason = np.empty(shape, np.int64)
    state = np.empty(shape, np.int64)
    run_machine_nb(
        z_arr,
        hl,
        gate_arr,
        stale,
        params,
        start.state,
        start.bars_held,
        start.cooldown,
        start.hold_limit,
        action,
        reason,
        state,
    )
    return MachineRun(action, reason, state, start)


def step_machine(
    current: MachineState,
    z: Any,
    half_life_bars: Any,
    params: MachineParamsT,
    *,
    gate: Any = None,
    bars_stale: Any = None,
) -> tuple[MachineState, IntArray, IntArray]:
    """One bar for every pair from persisted state: the hourly scan's signal path.

    Same rule and arguments as one row of `run_machine` (each (n_pairs,)). Returns
    (new state, action, reason); `current` is not modified.
    """
    row = (1, current.n_pairs)
    z_arr = _panel(z, "z", row, np.float64)[0]
    hl = _panel(half_life_bars, "half_life_bars", row, np.float64)[0]
    gate_arr = _optional_panel(gate, "gate", row)[0]
    _check_gate(gate_arr)
    stale = _optional_panel(bars_stale, "bars_stale", row)[0]
    if (stale < 0).any():
        raise ValueError("bars_stale: must be >= 0")
    new = current.copy()
    action = np.empty(current.n_pairs, np.int64)
    reason = np.empty(current.n_pairs, np.int64)
    step_nb(
        new.state,
        new.bars_held,
        new.cooldown,
        new.hold_limit,
        z_arr,
        hl,
        gate_arr,
        stale,
        params,
        action,
        reason,
    )
    return new, action, reason


def bars_stale(valid: Any) -> IntArray:
    """Bars since both legs last had a candle: 0 where `valid` (bool (n_bars, n_pairs), e.g.
    both legs' closes finite), else the count of bars since the last valid one."""
    arr = np.asarray(valid)
    if arr.ndim != 2 or arr.dtype != np.bool_:
        raise ValueError(
            f"valid: expected a bool (n_bars, n_pairs) array, got {arr.dtype} {arr.ndim}-D"
        )
    result: IntArray = bars_stale_nb(np.ascontiguousarray(arr))
    return result


class SelectionTable(Protocol):
    """What a gate needs of a selection: per candidate pair, y, x and the reason it ended
    with (`PairSelection`, or a selection the scan stored and read back)."""

    @property
    def y(self) -> Sequence[str] | npt.NDArray[np.str_]: ...
    @property
    def x(self) -> Sequence[str] | npt.NDArray[np.str_]: ...
    @property
    def reason(self) -> Sequence[str] | npt.NDArray[np.str_]: ...


def gate_from_selection(selection: SelectionTable, pairs: Sequence[tuple[str, str]]) -> IntArray:
    """Gate codes (n_pairs,) for (y, x) symbol pairs from the latest re-selection.

    `Gate.OK` for a pair selected in this orientation; `Gate.COINT_BROKE` when the re-test
    found the two symbols no longer cointegrated (q-value above the ceiling); else
    `Gate.DESELECTED` (another check failed, the pair ranked beyond `max_pairs`, it was not a
    candidate at all, or it was selected the other way round: y and x swapped is another
    trade).
    """
    reason_of: dict[frozenset[str], str] = {}
    selected: set[tuple[str, str]] = set()
    for y, x, reason in zip(selection.y, selection.x, selection.reason, strict=True):
        reason_of[frozenset((str(y), str(x)))] = str(reason)
        if reason == SelectionReason.SELECTED:
            selected.add((str(y), str(x)))
    gate = np.empty(len(pairs), np.int64)
    for k, (y, x) in enumerate(pairs):
        if (y, x) in selected:
            gate[k] = Gate.OK
        elif reason_of.get(frozenset((y, x))) == SelectionReason.NOT_COINTEGRATED:
            gate[k] = Gate.COINT_BROKE
        else:
            gate[k] = Gate.DESELECTED
    return gate


def entry_gate(
    gate: Any,
    beta: Any,
    stats: StatsConfig,
    *,
    spot_y: Any = False,
    spot_x: Any = False,
) -> IntArray:
    """The selection gate with the entry guards added, for the scan and the backtest alike.

    gate: int `Gate` codes from the selection ((n_bars, n_pairs) or (n_pairs,)); beta: the
    rolling hedge ratio at each decision bar, same shape. spot_y, spot_x: bool (n_pairs,) (or
    scalars), the leg is a spot market. Where the selection lets a pair trade (`Gate.OK`):
    - `Gate.HEDGE_BAND` when beta is outside [stats.min_hedge_ratio, stats.max_hedge_ratio]
      (`stats.hedge_in_band`, the rule selection applies to the static beta): a hedge that
      drifted towards zero or flipped sign would make a one-legged or same-side trade;
    - else `Gate.SPOT_Y` / `SPOT_X` / `SPOT_BOTH` for spot legs: shorting spot needs a
      borrow that pairscan neither arranges nor charges, so those entries are refused.
    Closing gates pass through unchanged. A NaN beta (warm-up) is out of band, but z is NaN
    there too, so no entry is counted as refused.
    """
    g = np.asarray(gate, dtype=np.int64)
    b = np.asarray(beta, dtype=np.float64)
    if g.shape != b.shape:
        raise ValueError(f"beta: expected the gate's shape {g.shape}, got {b.shape}")
    sy = np.broadcast_to(np.asarray(spot_y, dtype=np.bool_), g.shape[-1:])
    sx = np.broadcast_to(np.asarray(spot_x, dtype=np.bool_), g.shape[-1:])
    spot = np.select([sy & sx, sy, sx], [Gate.SPOT_BOTH, Gate.SPOT_Y, Gate.SPOT_X], default=Gate.OK)
    ok = g == Gate.OK
    out = np.where(ok & ~hedge_in_band(b, stats), Gate.HEDGE_BAND, g)
    return np.where((out == Gate.OK) & (spot != Gate.OK), spot, out).astype(np.int64)
