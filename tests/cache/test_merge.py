"""Pure merge and gap logic of the cache stage: dedup, revisions, ordering, holes, alignment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pairscan.cache import Gap, find_gaps, merge_candles, merge_funding, misaligned_count
from pairscan.market import MS_PER_HOUR, Candles, FundingRates

H = MS_PER_HOUR
T0 = 1_700_000_000_000 // H * H


def bars(hours: list[int], price: float = 1.0) -> Candles:
    """Bars at T0 + h hours whose every price is `price + h` (so each row is recognisable)."""
    rows = [[T0 + h * H, price + h, price + h, price + h, price + h, 10.0 + h] for h in hours]
    return Candles.from_rows(rows)


def funding(points: list[tuple[int, float]]) -> FundingRates:
    ts = np.array([T0 + h * H for h, _ in points], dtype=np.int64)
    return FundingRates(ts, np.array([r for _, r in points], dtype=np.float64))


def test_merge_disjoint_series_is_sorted_union() -> None:
    merged, added = merge_candles(bars([0, 1, 2]), bars([3, 4]))
    assert merged.timestamp.tolist() == [T0 + h * H for h in range(5)]
    assert added == 2


def test_merge_overlap_new_row_wins_on_revision() -> None:
    merged, added = merge_candles(bars([0, 1, 2]), bars([2, 3], price=100.0))
    assert added == 1
    assert merged.close.tolist() == [1.0, 2.0, 102.0, 103.0]
    assert merged.volume.tolist() == [10.0, 11.0, 12.0, 13.0]


def test_merge_unsorted_new_with_duplicates_keeps_last_occurrence() -> None:
    first = bars([5, 3]).take(np.array([0, 1]))
    revised = bars([3], price=50.0)
    new = Candles(
        *(
            np.concatenate([a, b])
            for a, b in zip(first.columns().values(), revised.columns().values(), strict=True)
        )
    )
    merged, added = merge_candles(bars([1]), new)
    assert merged.timestamp.tolist() == [T0 + H, T0 + 3 * H, T0 + 5 * H]
    assert merged.close.tolist() == [2.0, 53.0, 6.0]
    assert added == 2


def test_merge_with_empty_sides() -> None:
    merged, added = merge_candles(Candles.empty(), Candles.empty())
    assert len(merged) == 0
    assert added == 0
    assert merged.timestamp.dtype == np.int64
    merged, added = merge_candles(bars([0, 1]), Candles.empty())
    assert merged.close.tolist() == [1.0, 2.0]
    assert added == 0
    merged, added = merge_candles(Candles.empty(), bars([1, 0]))
    assert merged.close.tolist() == [1.0, 2.0]
    assert added == 2


def test_merge_of_identical_refetch_adds_nothing() -> None:
    merged, added = merge_candles(bars([0, 1, 2]), bars([1, 2]))
    assert len(merged) == 3
    assert added == 0


def test_merge_funding_new_wins_and_counts() -> None:
    merged, added = merge_funding(
        funding([(0, 0.0001), (8, 0.0002)]), funding([(16, 0.0003), (8, -0.0005)])
    )
    assert merged.timestamp.tolist() == [T0, T0 + 8 * H, T0 + 16 * H]
    assert merged.funding_rate.tolist() == [0.0001, -0.0005, 0.0003]
    assert added == 1


ROWS = st.lists(st.tuples(st.integers(0, 60), st.floats(allow_nan=False, width=64)), max_size=40)


@given(old_rows=ROWS, new_rows=ROWS)
def test_merge_equals_sorted_union_with_new_precedence(
    old_rows: list[tuple[int, float]], new_rows: list[tuple[int, float]]
) -> None:
    old_unique = list(dict(old_rows).items())  # the cache never holds duplicates
    expected = dict(old_unique)
    expected.update(new_rows)  # later rows of `new` overwrite earlier ones and `old`
    merged, added = merge_funding(funding(old_unique), funding(new_rows))
    assert merged.timestamp.tolist() == [T0 + h * H for h in sorted(expected)]
    assert merged.funding_rate.tolist() == [expected[h] for h in sorted(expected)]
    assert added == len(expected) - len(old_unique)


@given(old_rows=ROWS, new_rows=ROWS)
def test_merge_candles_keeps_rows_together(
    old_rows: list[tuple[int, float]], new_rows: list[tuple[int, float]]
) -> None:
    def candles(rows: list[tuple[int, float]]) -> Candles:
        return Candles.from_rows([[T0 + h * H, v, v + 1, v - 1, v, h] for h, v in rows])

    old_unique = list(dict(old_rows).items())
    merged, _ = merge_candles(candles(old_unique), candles(new_rows))
    hours = (merged.timestamp - T0) // H
    assert np.array_equal(merged.volume, hours.astype(np.float64))
    assert np.array_equal(merged.high, merged.open + 1)
    assert bool(np.all(np.diff(merged.timestamp) > 0))


def test_find_gaps_none_in_a_complete_series() -> None:
    assert find_gaps(bars(list(range(10))).timestamp, H) == []
    assert find_gaps(np.empty(0, dtype=np.int64), H) == []
    assert find_gaps(np.array([T0], dtype=np.int64), H) == []


def test_find_gaps_one_missing_bar() -> None:
    assert find_gaps(bars([0, 1, 3, 4]).timestamp, H) == [Gap(after_ms=T0 + H, missing_bars=1)]


def test_find_gaps_several_holes() -> None:
    gaps = find_gaps(bars([0, 2, 3, 7, 8, 20]).timestamp, H)
    assert gaps == [
        Gap(after_ms=T0, missing_bars=1),
        Gap(after_ms=T0 + 3 * H, missing_bars=3),
        Gap(after_ms=T0 + 8 * H, missing_bars=11),
    ]


def test_misaligned_timestamps_are_counted() -> None:
    ts = np.array([T0, T0 + H, T0 + H + 1_000, T0 + 2 * H, T0 + 3 * H - 1], dtype=np.int64)
    assert misaligned_count(ts, H) == 2
    assert misaligned_count(bars([0, 1, 5]).timestamp, H) == 0


@pytest.mark.parametrize("tf_ms", [0, -H])
def test_gap_functions_reject_a_non_positive_bar_length(tf_ms: int) -> None:
    with pytest.raises(ValueError, match="tf_ms"):
        find_gaps(bars([0, 2]).timestamp, tf_ms)
    with pytest.raises(ValueError, match="tf_ms"):
        misaligned_count(bars([0, 2]).timestamp, tf_ms)
