"""`pairs backtest --sweep KEY=V1,V2 ...`: the grid's parsing into config overrides and the
variants' configs. Parsing only; `jobs.backtest_sweep.run_sweep` runs the variants."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from pairscan.errors import ConfigError

if TYPE_CHECKING:
    from pairscan.config import Config

# Short sweep names for the keys people sweep most; any dotted config key works too.
SWEEP_ALIASES = {
    "entry_z": "signals.entry_z",
    "exit_z": "signals.exit_z",
    "stop_z": "signals.stop_z",
    "cooldown": "signals.cooldown_bars",
    "max_holding_bars": "signals.max_holding_bars",
    "max_holding_half_lives": "signals.max_holding_half_lives",
    "window": "stats.window_bars",
    "z_window": "stats.z_window_bars",
    "hedge": "stats.hedge",
    "formation_days": "stats.formation_days",
    "reselect_every_hours": "stats.reselect_every_hours",
    "max_qvalue": "stats.max_qvalue",
    "max_pairs": "stats.max_pairs",
    "target_vol": "sizing.target_vol",
    "fee_bps": "backtest.fee_bps",
    "slippage_bps": "backtest.slippage_bps",
}
MAX_VARIANTS = 1000


def parse_sweep(args: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """`KEY=V1,V2 ...` -> every combination as (label, {dotted key: value}), grid order.

    KEY is a short name (`entry_z`, `window`, see SWEEP_ALIASES) or a dotted config key of the
    sections `jobs.backtest_sweep.SWEEPABLE_SECTIONS` names (stats, signals, sizing, backtest);
    values are YAML scalars (`2`, `1.5`, `null`, `kalman`). `sweep_configs` validates them
    like the config file's, naming the option.
    """
    # The sweep runs the backtest job next: importing it here (numpy, pandas) costs nothing more.
    from pairscan.jobs.backtest_sweep import SWEEPABLE_SECTIONS

    axes: list[tuple[str, str, list[Any]]] = []
    for arg in args:
        name, sep, values = arg.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ConfigError(f"--sweep {arg!r}: expected KEY=V1,V2,... (e.g. entry_z=1.5,2,2.5)")
        key = SWEEP_ALIASES.get(name, name)
        if key.partition(".")[0] not in SWEEPABLE_SECTIONS or "." not in key:
            short = ", ".join(sorted(SWEEP_ALIASES))
            raise ConfigError(
                f"--sweep {name}: not a sweepable key (short names: {short}; or a dotted key "
                f"of the {', '.join(SWEEPABLE_SECTIONS)} sections)"
            )
        if any(k == key for _, k, _ in axes):
            raise ConfigError(f"--sweep {name}: given twice")
        axes.append((name, key, [yaml.safe_load(v.strip()) for v in values.split(",")]))
    n = math.prod(len(vals) for _, _, vals in axes)
    if n > MAX_VARIANTS:
        raise ConfigError(f"--sweep: {n} combinations; at most {MAX_VARIANTS} per run")
    grid = []
    for combo in itertools.product(*(vals for _, _, vals in axes)):
        label = " ".join(f"{name}={_show(v)}" for (name, _, _), v in zip(axes, combo, strict=True))
        grid.append((label, {key: v for (_, key, _), v in zip(axes, combo, strict=True)}))
    return grid


def sweep_configs(
    grid: Sequence[tuple[str, dict[str, Any]]], load: Callable[..., Config]
) -> list[tuple[str, Config]]:
    """The config of every variant of `parse_sweep`'s grid, loaded with `load(**overrides)`
    (`Globals.load`). The base config is loaded first, so a fault of the file is the file's;
    a fault of a swept value names the option and the value, not the config file:
    `--sweep entry_z=abc: signals.entry_z must be a number (got "abc")`, or the variant when
    only the combination is wrong (`--sweep entry_z=5 stop_z=4.5: signals needs stop_z > ...`).
    """
    from pairscan.config import config_label

    prefix = config_label(load()) + ": "
    short = {key: name for name, key in SWEEP_ALIASES.items()}
    out = []
    for label, overrides in grid:
        try:
            out.append((label, load(**overrides)))
        except ConfigError as exc:
            text = str(exc)
            text = text[len(prefix) :] if text.startswith(prefix) else text
            culprit = next(
                (f"{short.get(k, k)}={_show(v)}" for k, v in overrides.items() if f"{k} " in text),
                label,
            )
            raise ConfigError(f"--sweep {culprit}: {text}") from None
    return out


def variant_dir(label: str) -> str:
    """A sweep variant's folder under `--out`: its label with spaces and anything a file name
    should not hold as `_` (`entry_z=2 window=336` -> `entry_z=2_window=336`)."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in ".=+-") else "_" for c in label)
    return name.strip("_") or "variant"


def _show(value: Any) -> str:
    """A swept value as it would be typed (`null`, `true`, `2.5`)."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)
