"""Stage 4 kernels: the one transition rule of the per-pair state machine, and its loops.

Numba only, ints and floats in and out: no pandas, config objects or I/O. `transition_nb` is
the trading rule and exists nowhere else; `step_nb` applies it to every pair for one bar (the
hourly scan), and `run_machine_nb` loops `step_nb` over bars (the backtest), so both take the
same decisions on the same inputs by construction.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit


class PairStateT(NamedTuple):
    FLAT: int
    LONG_SPREAD: int  # long y, short beta * x: entered when the spread is low (z <= -entry_z)
    SHORT_SPREAD: int  # short y, long beta * x: entered when the spread is high


class ActionT(NamedTuple):
    HOLD: int
    OPEN_LONG: int
    OPEN_SHORT: int
    CLOSE: int


class ReasonT(NamedTuple):
    NONE: int
    MEAN_REVERSION: int
    STOP: int
    TIME_STOP: int
    COINT_BROKE: int
    DESELECTED: int
    DATA_STALE: int
    DELISTED: int
    HEDGE_BAND: int  # entry refused: rolling hedge ratio outside the band at the decision bar
    SHORT_SPOT: int  # entry refused: it would short a spot leg


class GateT(NamedTuple):
    """Why a pair may not be traded at a bar.

    Closing gates (COINT_BROKE, DESELECTED, DELISTED) block entries and close an open position
    with the reason of the same value. Entry gates only refuse an entry the rule would make
    (HOLD with a refusal reason, so scan and backtest can count them) and never close:
    HEDGE_BAND (reason HEDGE_BAND); SPOT_Y / SPOT_X / SPOT_BOTH, the y / x / both legs are spot
    markets, which refuses the entries that would short them (reason SHORT_SPOT)."""

    OK: int
    COINT_BROKE: int
    DESELECTED: int
    DELISTED: int
    HEDGE_BAND: int
    SPOT_Y: int
    SPOT_X: int
    SPOT_BOTH: int


PairState = PairStateT(FLAT=0, LONG_SPREAD=1, SHORT_SPREAD=2)
Action = ActionT(HOLD=0, OPEN_LONG=1, OPEN_SHORT=2, CLOSE=3)
Reason = ReasonT(
    NONE=0,
    MEAN_REVERSION=1,
    STOP=2,
    TIME_STOP=3,
    COINT_BROKE=4,
    DESELECTED=5,
    DATA_STALE=6,
    DELISTED=7,
    HEDGE_BAND=8,
    SHORT_SPOT=9,
)
Gate = GateT(
    OK=0,
    COINT_BROKE=Reason.COINT_BROKE,
    DESELECTED=Reason.DESELECTED,
    DELISTED=Reason.DELISTED,
    HEDGE_BAND=Reason.HEDGE_BAND,
    SPOT_Y=10,
    SPOT_X=11,
    SPOT_BOTH=12,
)


class MachineParamsT(NamedTuple):
    """The rule's parameters; units: z-score units of the spread, bars."""

    entry_z: float
    exit_z: float
    stop_z: float
    max_holding_bars: int  # 0 = no bar limit
    max_holding_half_lives: float  # 0 = no half-life limit
    cooldown_bars: int
    stale_bars: int


@njit(cache=True, inline="always")
def hold_limit_nb(half_life_bars: float, p: MachineParamsT) -> int:
    """Time stop fixed at entry, bars: the tighter of max_holding_bars and
    max_holding_half_lives * half-life (rounded up); 0 = no time stop. A half-life that is not
    finite and positive gives no half-life limit."""
    limit = p.max_holding_bars
    if p.max_holding_half_lives > 0.0 and half_life_bars > 0.0 and math.isfinite(half_life_bars):
        by_half_life = max(1, math.ceil(p.max_holding_half_lives * half_life_bars))
        limit = by_half_life if limit == 0 else min(limit, by_half_life)
    return limit


@njit(cache=True, inline="always")
def _entry_nb(z: float, p: MachineParamsT) -> int:
    """The state to open from z, or FLAT. |z| at or beyond stop_z is not entered: it would be
    stopped out at once, and such a jump is more often a break than an opportunity."""
    if z >= p.entry_z and z < p.stop_z:
        return PairState.SHORT_SPREAD
    if z <= -p.entry_z and z > -p.stop_z:
        return PairState.LONG_SPREAD
    return PairState.FLAT


@njit(cache=True, inline="always")
def closing_gate_nb(gate: int) -> bool:
    """A gate that blocks entries and closes an open position (its value is the reason)."""
    return gate == Gate.COINT_BROKE or gate == Gate.DESELECTED or gate == Gate.DELISTED


@njit(cache=True, inline="always")
def _refusal_nb(gate: int, new: int) -> int:
    """The reason an entry gate refuses opening `new`, or Reason.NONE. A long spread shorts x,
    a short spread shorts y."""
    if gate == Gate.HEDGE_BAND:
        return Reason.HEDGE_BAND
    if gate == Gate.SPOT_BOTH:
        return Reason.SHORT_SPOT
    if gate == Gate.SPOT_Y and new == PairState.SHORT_SPREAD:
        return Reason.SHORT_SPOT
    if gate == Gate.SPOT_X and new == PairState.LONG_SPREAD:
        return Reason.SHORT_SPOT
    return Reason.NONE


@njit(cache=True, inline="always")
def _exit_reason_nb(
    state: int, held: int, hold_limit: int, z: float, gate: int, bars_stale: int, p: MachineParamsT
) -> int:
    """Why an open position closes at this bar (Reason.NONE: it is held), by priority:
    the pair's closing gate, stale data, stop, mean reversion, time stop. A NaN z decides
    nothing; entry gates never close a position (its legs were right when it opened)."""
    if closing_gate_nb(gate):
        return gate
    if bars_stale >= p.stale_bars:
        return Reason.DATA_STALE
    # Signed so that "against the position" is always a large positive value.
    against = z if state == PairState.SHORT_SPREAD else -z
    if against >= p.stop_z:  # False for NaN
        return Reason.STOP
    if against <= p.exit_z:
        return Reason.MEAN_REVERSION
    if hold_limit > 0 and held >= hold_limit:
        return Reason.TIME_STOP
    return Reason.NONE


@njit(cache=True, inline="always")
def transition_nb(
    state: int,
    bars_held: int,
    cooldown: int,
    hold_limit: int,
    z: float,
    half_life_bars: float,
    gate: int,
    bars_stale: int,
    p: MachineParamsT,
) -> tuple[int, int, int, int, int, int]:
    """One pair, one bar: the trading rule. Returns
    (state, bars_held, cooldown, hold_limit, action, reason) after the close of this bar.

    z: the spread's z-score at this bar's close. half_life_bars: the pair's half-life, used
    only to fix hold_limit at entry. gate: Gate.OK, or why the pair may not be traded (an
    open position closes with that reason). bars_stale: bars since both legs last had a
    fresh candle (0 = this bar is present for both).

    FLAT: a cooldown left after a stop counts down and blocks entry; otherwise it opens short
    spread at entry_z <= z < stop_z and long spread at -stop_z < z <= -entry_z, when no
    closing gate is set, bars_stale is 0 and z is finite; an entry gate then refuses the
    entry it blocks (action HOLD, reason HEDGE_BAND or SHORT_SPOT). Open: bars_held counts
    bars since the entry bar; closes by `_exit_reason_nb`; a stop starts a cooldown of
    cooldown_bars. Thresholds are inclusive (z exactly at entry_z enters, exactly at exit_z or
    stop_z exits).
    """
    if state == PairState.FLAT:
        if cooldown > 0:
            return PairState.FLAT, 0, cooldown - 1, 0, Action.HOLD, Reason.NONE
        new = PairState.FLAT
        if not closing_gate_nb(gate) and bars_stale == 0:
            new = _entry_nb(z, p)
        if new == PairState.FLAT:
            return PairState.FLAT, 0, 0, 0, Action.HOLD, Reason.NONE
        refused = _refusal_nb(gate, new)
        if refused != Reason.NONE:
            return PairState.FLAT, 0, 0, 0, Action.HOLD, refused
        action = Action.OPEN_SHORT if new == PairState.SHORT_SPREAD else Action.OPEN_LONG
        return new, 0, 0, hold_limit_nb(half_life_bars, p), action, Reason.NONE
    held = bars_held + 1
    reason = _exit_reason_nb(state, held, hold_limit, z, gate, bars_stale, p)
    if reason == Reason.NONE:
        return state, held, 0, hold_limit, Action.HOLD, Reason.NONE
    new_cooldown = p.cooldown_bars if reason == Reason.STOP else 0
    return PairState.FLAT, 0, new_cooldown, 0, Action.CLOSE, reason


@njit(cache=True)
def step_nb(
    state: np.ndarray,
    bars_held: np.ndarray,
    cooldown: np.ndarray,
    hold_limit: np.ndarray,
    z: np.ndarray,
    half_life_bars: np.ndarray,
    gate: np.ndarray,
    bars_stale: np.ndarray,
    p: MachineParamsT,
    action_out: np.ndarray,
    reason_out: np.ndarray,
) -> None:
    """One bar for every pair: the four state arrays (n_pairs,) are updated in place, the
    actions and reasons written to action_out/reason_out (n_pairs,)."""
    for j in range(state.shape[0]):
        s, h, c, lim, a, r = transition_nb(
            state[j],
            bars_held[j],
            cooldown[j],
            hold_limit[j],
            z[j],
            half_life_bars[j],
            gate[j],
            bars_stale[j],
            p,
        )
        state[j] = s
        bars_held[j] = h
        cooldown[j] = c
        hold_limit[j] = lim
        action_out[j] = a
        reason_out[j] = r


@njit(cache=True)
def run_machine_nb(
    z: np.ndarray,
    half_life_bars: np.ndarray,
    gate: np.ndarray,
    bars_stale: np.ndarray,
    p: MachineParamsT,
    state: np.ndarray,
    bars_held: np.ndarray,
    cooldown: np.ndarray,
    hold_limit: np.ndarray,
    action_out: np.ndarray,
    reason_out: np.ndarray,
    state_out: np.ndarray,
) -> None:
    """`step_nb` over every bar of (n_bars, n_pairs) inputs, from the given state arrays
    (updated in place to the state after the last bar). Writes the action, reason and the
    state after each bar into the (n_bars, n_pairs) outputs. Causal: row t uses rows <= t."""
    for t in range(z.shape[0]):
        step_nb(
            state,
            bars_held,
            cooldown,
            hold_limit,
            z[t],
            half_life_bars[t],
            gate[t],
            bars_stale[t],
            p,
            action_out[t],
            reason_out[t],
        )
        state_out[t] = state


@njit(cache=True)
def bars_stale_nb(valid: np.ndarray) -> np.ndarray:
    """Bars since the last valid bar, per column of a bool (n_bars, n_pairs) array: 0 where
    valid; before the first valid bar, t + 1 (as if the last valid bar were just before t=0)."""
    out = np.empty(valid.shape, dtype=np.int64)
    run = np.zeros(valid.shape[1], dtype=np.int64)
    for t in range(valid.shape[0]):
        for j in range(valid.shape[1]):
            run[j] = 0 if valid[t, j] else run[j] + 1
            out[t, j] = run[j]
    return out


@njit(cache=True)
def gate_values_ok_nb(gate: np.ndarray) -> bool:
    """Every value of an int gate array (any shape) is a `Gate` code."""
    for v in gate.flat:
        if v != Gate.OK and not closing_gate_nb(v) and not Gate.HEDGE_BAND <= v <= Gate.SPOT_BOTH:
            return False
    return True
