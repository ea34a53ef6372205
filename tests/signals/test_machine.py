"""The per-pair state machine: every transition from a table, ties and NaN, the look-ahead
property, the bar-by-bar path equal to the whole-history path, and input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pairscan.config import SignalsConfig, StatsConfig
from pairscan.signals import (
    Action,
    Gate,
    MachineParamsT,
    MachineState,
    PairState,
    Reason,
    bars_stale,
    entry_gate,
    gate_from_selection,
    hold_limit_nb,
    machine_params,
    run_machine,
    step_machine,
    transition_nb,
)

# entry 2, exit 0.5, stop 4, no bar limit, 3 half-lives, cooldown 5, stale after 3 bars.
P = MachineParamsT(
    entry_z=2.0,
    exit_z=0.5,
    stop_z=4.0,
    max_holding_bars=0,
    max_holding_half_lives=3.0,
    cooldown_bars=5,
    stale_bars=3,
)
F, L, S = PairState.FLAT, PairState.LONG_SPREAD, PairState.SHORT_SPREAD
NAN = math.nan
OK, BROKE, DESEL = Gate.OK, Gate.COINT_BROKE, Gate.DESELECTED
HEDGE, DELISTED = Gate.HEDGE_BAND, Gate.DELISTED
SPOT_Y, SPOT_X, SPOT_BOTH = Gate.SPOT_Y, Gate.SPOT_X, Gate.SPOT_BOTH
RH, RS = Reason.HEDGE_BAND, Reason.SHORT_SPOT

# (id, (state, bars_held, cooldown, hold_limit), z, half_life, gate, bars_stale,
#  expected (state, bars_held, cooldown, hold_limit, action, reason))
TABLE = [
    # FLAT: entries, ties at the thresholds, NaN, blocked entries.
    ("flat-quiet", (F, 0, 0, 0), 1.0, 10.0, OK, 0, (F, 0, 0, 0, Action.HOLD, Reason.NONE)),
    ("flat-z-at-entry-opens-short", (F, 0, 0, 0), 2.0, 10.0, OK, 0, (S, 0, 0, 30, 2, 0)),
    ("flat-z-below-entry", (F, 0, 0, 0), 1.999999, 10.0, OK, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-z-at-minus-entry-opens-long", (F, 0, 0, 0), -2.0, 10.0, OK, 0, (L, 0, 0, 30, 1, 0)),
    ("flat-z-at-stop-not-entered", (F, 0, 0, 0), 4.0, 10.0, OK, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-z-just-below-stop", (F, 0, 0, 0), 3.999, 10.0, OK, 0, (S, 0, 0, 30, 2, 0)),
    ("flat-z-at-minus-stop", (F, 0, 0, 0), -4.0, 10.0, OK, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-nan-z", (F, 0, 0, 0), NAN, 10.0, OK, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-inf-z", (F, 0, 0, 0), math.inf, 10.0, OK, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-cooldown-counts-down", (F, 0, 3, 0), 3.0, 10.0, OK, 0, (F, 0, 2, 0, 0, 0)),
    ("flat-cooldown-last-bar", (F, 0, 1, 0), 3.0, 10.0, OK, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-coint-broke-no-entry", (F, 0, 0, 0), 3.0, 10.0, BROKE, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-deselected-no-entry", (F, 0, 0, 0), -3.0, 10.0, DESEL, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-gap-at-last-bar-no-entry", (F, 0, 0, 0), 3.0, 10.0, OK, 1, (F, 0, 0, 0, 0, 0)),
    ("flat-nan-half-life-no-time-stop", (F, 0, 0, 0), 2.5, NAN, OK, 0, (S, 0, 0, 0, 2, 0)),
    ("flat-half-life-rounds-up", (F, 0, 0, 0), 2.5, 3.1, OK, 0, (S, 0, 0, 10, 2, 0)),
    # Entry gates: refuse only the entry they block, as HOLD with the refusal reason.
    ("flat-hedge-band-refuses", (F, 0, 0, 0), 2.5, 10.0, HEDGE, 0, (F, 0, 0, 0, 0, RH)),
    ("flat-hedge-band-quiet-z", (F, 0, 0, 0), 1.0, 10.0, HEDGE, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-hedge-band-nan-z", (F, 0, 0, 0), NAN, 10.0, HEDGE, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-spot-y-refuses-short", (F, 0, 0, 0), 2.5, 10.0, SPOT_Y, 0, (F, 0, 0, 0, 0, RS)),
    ("flat-spot-y-allows-long", (F, 0, 0, 0), -2.5, 10.0, SPOT_Y, 0, (L, 0, 0, 30, 1, 0)),
    ("flat-spot-x-refuses-long", (F, 0, 0, 0), -2.5, 10.0, SPOT_X, 0, (F, 0, 0, 0, 0, RS)),
    ("flat-spot-x-allows-short", (F, 0, 0, 0), 2.5, 10.0, SPOT_X, 0, (S, 0, 0, 30, 2, 0)),
    ("flat-spot-both-refuses", (F, 0, 0, 0), -2.5, 10.0, SPOT_BOTH, 0, (F, 0, 0, 0, 0, RS)),
    ("flat-delisted-no-entry", (F, 0, 0, 0), 3.0, 10.0, DELISTED, 0, (F, 0, 0, 0, 0, 0)),
    ("flat-cooldown-before-refusal", (F, 0, 2, 0), 3.0, 10.0, HEDGE, 0, (F, 0, 1, 0, 0, 0)),
    ("flat-stale-before-refusal", (F, 0, 0, 0), 3.0, 10.0, HEDGE, 1, (F, 0, 0, 0, 0, 0)),
    ("long-entry-gates-never-close", (L, 4, 0, 30), -1.5, 10.0, HEDGE, 0, (L, 5, 0, 30, 0, 0)),
    ("short-spot-gate-never-closes", (S, 4, 0, 30), 1.5, 10.0, SPOT_Y, 0, (S, 5, 0, 30, 0, 0)),
    ("short-delisted-closes", (S, 4, 0, 30), 1.5, 10.0, DELISTED, 0, (F, 0, 0, 0, 3, 7)),
    # SHORT_SPREAD (entered high): hold, exit toward zero, stop, time stop, gates, staleness.
    ("short-holds", (S, 4, 0, 30), 1.5, 10.0, OK, 0, (S, 5, 0, 30, 0, 0)),
    ("short-exit-at-exit-z", (S, 4, 0, 30), 0.5, 10.0, OK, 0, (F, 0, 0, 0, 3, 1)),
    ("short-exit-past-zero", (S, 4, 0, 30), -1.0, 10.0, OK, 0, (F, 0, 0, 0, 3, 1)),
    ("short-just-above-exit", (S, 4, 0, 30), 0.500001, 10.0, OK, 0, (S, 5, 0, 30, 0, 0)),
    ("short-stop-at-stop-z", (S, 4, 0, 30), 4.0, 10.0, OK, 0, (F, 0, 5, 0, 3, 2)),
    ("short-minus-stop-is-a-reversion", (S, 4, 0, 30), -4.0, 10.0, OK, 0, (F, 0, 0, 0, 3, 1)),
    ("short-nan-z-holds", (S, 4, 0, 30), NAN, 10.0, OK, 0, (S, 5, 0, 30, 0, 0)),
    ("short-time-stop", (S, 29, 0, 30), 1.5, 10.0, OK, 0, (F, 0, 0, 0, 3, 3)),
    ("short-time-stop-with-nan-z", (S, 29, 0, 30), NAN, 10.0, OK, 0, (F, 0, 0, 0, 3, 3)),
    (
        "short-no-limit-never-times-out",
        (S, 10**6, 0, 0),
        1.5,
        10.0,
        OK,
        0,
        (S, 10**6 + 1, 0, 0, 0, 0),
    ),
    ("short-coint-broke", (S, 4, 0, 30), 1.5, 10.0, BROKE, 0, (F, 0, 0, 0, 3, 4)),
    ("short-deselected", (S, 4, 0, 30), 1.5, 10.0, DESEL, 0, (F, 0, 0, 0, 3, 5)),
    ("short-gap-shorter-than-stale-holds", (S, 4, 0, 30), NAN, 10.0, OK, 2, (S, 5, 0, 30, 0, 0)),
    ("short-stale", (S, 4, 0, 30), NAN, 10.0, OK, 3, (F, 0, 0, 0, 3, 6)),
    ("short-gate-beats-stop", (S, 4, 0, 30), 5.0, 10.0, BROKE, 0, (F, 0, 0, 0, 3, 4)),
    ("short-stale-beats-stop", (S, 4, 0, 30), 5.0, 10.0, OK, 3, (F, 0, 0, 0, 3, 6)),
    ("short-stop-beats-time", (S, 29, 0, 30), 4.5, 10.0, OK, 0, (F, 0, 5, 0, 3, 2)),
    # LONG_SPREAD (entered low): the mirror image.
    ("long-holds", (L, 0, 0, 30), -1.5, 10.0, OK, 0, (L, 1, 0, 30, 0, 0)),
    ("long-exit-at-minus-exit-z", (L, 4, 0, 30), -0.5, 10.0, OK, 0, (F, 0, 0, 0, 3, 1)),
    ("long-exit-past-zero", (L, 4, 0, 30), 2.5, 10.0, OK, 0, (F, 0, 0, 0, 3, 1)),
    ("long-stop-at-minus-stop-z", (L, 4, 0, 30), -4.0, 10.0, OK, 0, (F, 0, 5, 0, 3, 2)),
    ("long-just-inside-stop", (L, 4, 0, 30), -3.999, 10.0, OK, 0, (L, 5, 0, 30, 0, 0)),
    ("long-time-stop", (L, 29, 0, 30), -1.0, 10.0, OK, 0, (F, 0, 0, 0, 3, 3)),
    ("long-deselected", (L, 4, 0, 30), -1.0, 10.0, DESEL, 0, (F, 0, 0, 0, 3, 5)),
]


@pytest.mark.parametrize(
    ("before", "z", "half_life", "gate", "stale", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_every_transition(
    before: tuple[int, int, int, int],
    z: float,
    half_life: float,
    gate: int,
    stale: int,
    expected: tuple[int, ...],
) -> None:
    assert transition_nb(*before, z, half_life, gate, stale, P) == expected
    # The array paths apply the same rule.
    new, action, reason = step_machine(
        MachineState.of(*([v] for v in before)),
        [z],
        [half_life],
        P,
        gate=[gate],
        bars_stale=[stale],
    )
    got = (new.state[0], new.bars_held[0], new.cooldown[0], new.hold_limit[0], action[0], reason[0])
    assert got == expected


@pytest.mark.parametrize(
    ("bars", "half_lives", "half_life", "limit"),
    [
        (0, 0.0, 10.0, 0),  # both off
        (48, 0.0, 10.0, 48),
        (0, 3.0, 10.0, 30),
        (48, 3.0, 10.0, 30),  # the tighter one
        (20, 3.0, 10.0, 20),
        (0, 3.0, NAN, 0),  # no half-life known: no half-life limit
        (48, 3.0, -2.0, 48),
        (0, 3.0, 0.1, 1),  # at least one bar
    ],
)
def test_hold_limit(bars: int, half_lives: float, half_life: float, limit: int) -> None:
    params = P._replace(max_holding_bars=bars, max_holding_half_lives=half_lives)
    assert hold_limit_nb(half_life, params) == limit


def test_a_round_trip_through_cooldown() -> None:
    # Enter long at -2.2, stopped out at -4.1, blocked 5 bars although z is at -3, then enter.
    z = np.array([0.0, -2.2, -3.0, -4.1, -3.0, -3.0, -3.0, -3.0, -3.0, -3.0, -0.4])[:, None]
    run = run_machine(z, [10.0], P)
    assert run.action[:, 0].tolist() == [0, 1, 0, 3, 0, 0, 0, 0, 0, 1, 3]
    assert run.reason[:, 0].tolist() == [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1]
    assert run.state[:, 0].tolist() == [F, L, L, F, F, F, F, F, F, L, F]


def test_config_defaults_map_to_the_kernel_params() -> None:
    params = machine_params(SignalsConfig())
    assert params == MachineParamsT(2.0, 0.5, 4.0, 0, 3.0, 24, 3)
    params = machine_params(SignalsConfig(max_holding_bars=72, max_holding_half_lives=None))
    assert (params.max_holding_bars, params.max_holding_half_lives) == (72, 0.0)


def _random_inputs(
    rng: np.random.Generator, n_bars: int, n_pairs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # An AR(1) z that crosses every threshold, with NaN holes, gate changes and gaps.
    z = np.zeros((n_bars, n_pairs))
    for t in range(1, n_bars):
        z[t] = 0.9 * z[t - 1] + rng.normal(0.0, 1.0, n_pairs)
    z[rng.random(z.shape) < 0.03] = np.nan
    kinds = rng.choice([Gate.COINT_BROKE, Gate.DESELECTED], z.shape)
    gate = np.where(rng.random(z.shape) < 0.02, kinds, Gate.OK)
    valid = rng.random(z.shape) > 0.05
    for j in range(n_pairs):  # one exchange outage per pair, long enough to go stale
        start = int(rng.integers(0, n_bars - 5))
        valid[start : start + 5, j] = False
    half_life = rng.uniform(2.0, 40.0, n_pairs)
    return z, half_life, gate, bars_stale(valid)


def test_stepping_bar_by_bar_equals_the_whole_history() -> None:
    rng = np.random.default_rng(7)
    z, half_life, gate, stale = _random_inputs(rng, 600, 12)
    whole = run_machine(z, half_life, P, gate=gate, bars_stale=stale)
    state = MachineState.flat(12)
    for t in range(z.shape[0]):
        state, action, reason = step_machine(
            state, z[t], half_life, P, gate=gate[t], bars_stale=stale[t]
        )
        assert action.tolist() == whole.action[t].tolist()
        assert reason.tolist() == whole.reason[t].tolist()
        assert state.state.tolist() == whole.state[t].tolist()
    assert all(
        np.array_equal(getattr(state, f), getattr(whole.final, f))
        for f in ("state", "bars_held", "cooldown", "hold_limit")
    )
    # The rule fires every kind of decision on this input (so the equality means something).
    assert set(np.unique(whole.reason)) == {0, 1, 2, 3, 4, 5, 6}


def test_resuming_from_a_mid_history_state_equals_one_run() -> None:
    rng = np.random.default_rng(11)
    z, half_life, gate, stale = _random_inputs(rng, 400, 6)
    whole = run_machine(z, half_life, P, gate=gate, bars_stale=stale)
    first = run_machine(z[:173], half_life, P, gate=gate[:173], bars_stale=stale[:173])
    second = run_machine(
        z[173:], half_life, P, gate=gate[173:], bars_stale=stale[173:], initial=first.final
    )
    assert np.array_equal(np.vstack([first.action, second.action]), whole.action)
    assert np.array_equal(np.vstack([first.state, second.state]), whole.state)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    cut=st.integers(1, 199),
    tail=st.sampled_from(["append", "alter", "nan"]),
)
def test_no_look_ahead(seed: int, cut: int, tail: str) -> None:
    """Decisions up to bar t do not change when bars after t are appended or altered."""
    rng = np.random.default_rng(seed)
    z, half_life, gate, stale = _random_inputs(rng, 200, 4)
    base = run_machine(z[:cut], half_life, P, gate=gate[:cut], bars_stale=stale[:cut])
    z2 = z.copy()
    if tail == "alter":
        z2[cut:] = rng.normal(0.0, 5.0, z2[cut:].shape)
    elif tail == "nan":
        z2[cut:] = np.nan
    full = run_machine(z2, half_life, P, gate=gate, bars_stale=stale)
    assert np.array_equal(full.action[:cut], base.action)
    assert np.array_equal(full.reason[:cut], base.reason)
    assert np.array_equal(full.state[:cut], base.state)


def test_bars_stale_counts_bars_since_the_last_valid_one() -> None:
    valid = np.array([[False, True], [True, True], [False, False], [False, True], [True, False]])
    assert bars_stale(valid).tolist() == [[1, 0], [0, 0], [1, 1], [2, 0], [0, 1]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"z": np.zeros(5)}, r"^z: expected \(n_bars, n_pairs\), got 1-D$"),
        ({"half_life_bars": np.ones(3)}, r"^half_life_bars: expected shape \(5, 2\)"),
        ({"gate": np.full((5, 2), 6)}, r"^gate: values must be in"),
        ({"gate": np.full((5, 2), 13)}, r"^gate: values must be in"),
        ({"gate": np.full((5, 2), 0.5)}, r"^gate: expected integers"),
        ({"bars_stale": np.full((5, 2), -1)}, r"^bars_stale: must be >= 0$"),
        ({"initial": MachineState.flat(3)}, r"^initial: 3 pairs, z has 2$"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"z": np.zeros((5, 2)), "half_life_bars": np.ones(2), **kwargs}
    z, hl = args.pop("z"), args.pop("half_life_bars")
    with pytest.raises(ValueError, match=message):
        run_machine(z, hl, P, **args)  # type: ignore[arg-type]


def test_bad_persisted_state_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^state: values must be in"):
        MachineState.of([7], [0], [0], [0])
    with pytest.raises(ValueError, match=r"^cooldown: must be >= 0$"):
        MachineState.of([0], [0], [-1], [0])
    with pytest.raises(ValueError, match=r"^hold_limit: length 2 does not match state length 1$"):
        MachineState.of([0], [0], [0], [0, 0])


def test_gate_from_a_selection_table() -> None:
    from pairscan.config import StatsConfig
    from pairscan.stats import select_pairs

    rng = np.random.default_rng(1)
    n = 2_000
    common = np.cumsum(rng.normal(0.0, 0.01, n))
    ou = np.zeros(n)
    for t in range(1, n):  # AR(1) spread, half-life ~13.5 bars
        ou[t] = 0.95 * ou[t - 1] + rng.normal(0.0, 0.003)
    a = 10.0 + common + ou
    b = 9.0 + common
    c = 8.0 + common + np.cumsum(rng.normal(0.0, 0.01, n))  # correlated, not cointegrated
    close = np.exp(np.column_stack([a, b, c]))
    config = StatsConfig(max_hurst=1.0, min_return_corr=0.0)
    sel = select_pairs(close, ["A", "B", "C"], np.full(3, 1e9), config)
    kept = [(str(y), str(x)) for y, x, s in zip(sel.y, sel.x, sel.selected, strict=True) if s]
    assert len(kept) == 1
    y, x = kept[0]
    gate = gate_from_selection(sel, [(y, x), (x, y), ("A", "C"), ("A", "Z")])
    reasons = {
        frozenset((str(y), str(x))): r for y, x, r in zip(sel.y, sel.x, sel.reason, strict=True)
    }
    assert reasons[frozenset("AC")] == "not_cointegrated"
    assert gate.tolist() == [Gate.OK, Gate.DESELECTED, Gate.COINT_BROKE, Gate.DESELECTED]


def test_entry_gate_adds_the_hedge_band_and_spot_guards_where_the_selection_allows() -> None:
    stats = StatsConfig(min_hedge_ratio=0.2, max_hedge_ratio=5.0)
    gate = np.array([[OK, OK, OK, OK, OK, BROKE], [OK, OK, OK, DESEL, OK, OK]])
    beta = np.array([[1.0, 0.1, -0.5, 1.0, 6.0, 0.05], [0.2, 5.0, NAN, 1.0, 1.0, 1.0]])
    out = entry_gate(gate, beta, stats)
    expected = [[OK, HEDGE, HEDGE, OK, HEDGE, BROKE], [OK, OK, HEDGE, DESEL, OK, OK]]
    assert out.tolist() == expected
    spot_y = np.array([True, False, False, False, True, True])
    spot_x = np.array([False, False, False, False, True, False])
    out = entry_gate(gate[1], beta[1], stats, spot_y=spot_y, spot_x=spot_x)
    assert out.tolist() == [SPOT_Y, OK, HEDGE, DESEL, SPOT_BOTH, SPOT_Y]
    with pytest.raises(ValueError, match=r"^beta: expected the gate's shape"):
        entry_gate(gate, beta[0], stats)


def test_refused_entries_never_open_and_a_later_in_band_bar_does() -> None:
    z = np.array([[2.5], [2.6], [2.7], [0.0]])
    gate = entry_gate(
        np.zeros((4, 1), np.int64), np.array([[0.1], [-1.0], [1.0], [1.0]]), StatsConfig()
    )
    run = run_machine(z, np.full(1, 10.0), P, gate=gate)
    assert run.action[:, 0].tolist() == [Action.HOLD, Action.HOLD, Action.OPEN_SHORT, Action.CLOSE]
    assert run.reason[:2, 0].tolist() == [Reason.HEDGE_BAND, Reason.HEDGE_BAND]
