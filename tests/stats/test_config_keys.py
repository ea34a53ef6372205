"""The stats keys that decide a selection and those that decide the hedge: together every
`StatsConfig` key, so a backtest sweep never shares a result it should not."""

from __future__ import annotations

import dataclasses

from pairscan.config import StatsConfig
from pairscan.stats.hedge import HEDGE_KEYS
from pairscan.stats.selection import SELECTION_KEYS


def test_every_stats_key_decides_what_a_sweep_may_share() -> None:
    """A sweep reuses selections and hedges between variants that agree on the keys that decide
    them; a stats key in neither list would be shared by mistake (a variant of it would silently
    run the first variant's selection)."""
    assert {f.name for f in dataclasses.fields(StatsConfig)} == {*SELECTION_KEYS, *HEDGE_KEYS}
    assert not set(SELECTION_KEYS) & set(HEDGE_KEYS)
    assert len(set(SELECTION_KEYS)) == len(SELECTION_KEYS)


def test_hedge_keys_are_the_ones_the_hedge_reads() -> None:
    """Changing a selection-only key leaves the hedge's inputs equal."""
    base = StatsConfig()
    changed = dataclasses.replace(base, max_pairs=base.max_pairs + 1)
    assert tuple(getattr(base, k) for k in HEDGE_KEYS) == tuple(
        getattr(changed, k) for k in HEDGE_KEYS
    )
