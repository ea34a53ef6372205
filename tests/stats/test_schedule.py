"""The re-selection grid: fixed instants shared by scan and backtest, formation strictly before
the bars it governs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pairscan.market import MS_PER_HOUR, parse_utc
from pairscan.stats.schedule import Schedule

WEEKLY = Schedule.of(90, 168)


def test_weekly_cadence_reselects_on_monday_midnight_utc() -> None:
    wednesday_noon = parse_utc("2026-05-13T12:00:00Z")
    assert WEEKLY.boundary_of(wednesday_noon) == parse_utc("2026-05-11T00:00:00Z")
    monday = parse_utc("2026-05-11T00:00:00Z")
    assert WEEKLY.boundary_of(monday) == monday
    assert WEEKLY.boundary_of(monday - MS_PER_HOUR) == parse_utc("2026-05-04T00:00:00Z")


def test_formation_is_the_90_days_before_the_boundary() -> None:
    monday = parse_utc("2026-05-11T00:00:00Z")
    start, end = WEEKLY.formation(monday)
    assert (start, end) == (parse_utc("2026-02-10T00:00:00Z"), monday)


def test_boundaries_and_segments_cover_a_span() -> None:
    daily = Schedule.of(30, 24)
    first = parse_utc("2026-01-01T05:00:00Z")
    opens = first + MS_PER_HOUR * np.arange(60, dtype=np.int64)
    bounds = daily.boundaries(int(opens[0]), int(opens[-1]))
    assert list(bounds) == [parse_utc(f"2026-01-0{d}T00:00:00Z") for d in (1, 2, 3)]
    seg = daily.segments(opens)
    assert [seg[0], seg[18], seg[19], seg[-1]] == [0, 0, 1, 2]
    assert all(bounds[s] <= o < bounds[s] + daily.every_ms for s, o in zip(seg, opens, strict=True))


@given(
    start_h=st.integers(0, 500_000),
    every=st.sampled_from([1, 4, 24, 168, 720]),
    later_h=st.integers(0, 5_000),
)
def test_scan_and_backtest_agree_on_the_governing_boundary(
    start_h: int, every: int, later_h: int
) -> None:
    """A backtest started anywhere assigns a bar to the boundary the scan computes for it alone."""
    sched = Schedule.of(30, every)
    opens = (start_h + np.arange(later_h + 1, dtype=np.int64)) * MS_PER_HOUR
    bounds = sched.boundaries(int(opens[0]), int(opens[-1]))
    seg = sched.segments(opens)
    bar = int(opens[-1])
    assert bounds[seg[-1]] == sched.boundary_of(bar)
    assert sched.formation(sched.boundary_of(bar))[1] <= bar


def test_bad_schedule_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"^reselect_every_hours: must be >= 1"):
        Schedule.of(90, 0)
    with pytest.raises(ValueError, match=r"^formation_days: must be >= 1"):
        Schedule.of(0, 24)
