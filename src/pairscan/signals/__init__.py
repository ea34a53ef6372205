"""Stage 4 (signals): the one per-pair state machine, stepped hourly by the scan and run over
history by the backtest. Pure numerics: no I/O."""

from pairscan.signals.kernels import (
    Action,
    Gate,
    MachineParamsT,
    PairState,
    Reason,
    hold_limit_nb,
    transition_nb,
)
from pairscan.signals.machine import (
    ACTION_NAMES,
    REASON_NAMES,
    REFUSAL_REASONS,
    STATE_NAMES,
    MachineRun,
    MachineState,
    bars_stale,
    entry_gate,
    gate_from_selection,
    machine_params,
    run_machine,
    step_machine,
)

__all__ = [
    "ACTION_NAMES",
    "REASON_NAMES",
    "REFUSAL_REASONS",
    "STATE_NAMES",
    "Action",
    "Gate",
    "MachineParamsT",
    "MachineRun",
    "MachineState",
    "PairState",
    "Reason",
    "bars_stale",
    "entry_gate",
    "gate_from_selection",
    "hold_limit_nb",
    "machine_params",
    "run_machine",
    "step_machine",
    "transition_nb",
]
