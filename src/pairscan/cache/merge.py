"""Stage 2 (cache), pure part: merge fetched bars into cached ones and find holes in a series.

numpy only: no I/O, no clock, no pandas. The stores call these; tests check them directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.market import Candles, FundingRates, Int64Array


@dataclass(frozen=True)
class Gap:
    """A hole in a bar series.

    after_ms: open time (UTC ms) of the last bar before the hole.
    missing_bars: whole bars absent between that bar and the next one present (>= 1).
    """

    after_ms: int
    missing_bars: int


def _union_index(old_ts: Int64Array, new_ts: Int64Array) -> tuple[npt.NDArray[np.intp], int]:
    """Rows to take from `concat(old, new)`: ascending, one per timestamp, the latest wins.

    Returns (index into the concatenation, count of timestamps absent from `old`).
    """
    both = np.concatenate(
        [old_ts.astype(np.int64, copy=False), new_ts.astype(np.int64, copy=False)]
    )
    # A stable sort keeps concatenation order within equal timestamps, so the last row of each
    # run is the newest one: the last duplicate of `new`, else `new` over `old`.
    order = np.argsort(both, kind="stable")
    sorted_ts = both[order]
    is_last = np.ones(sorted_ts.shape[0], dtype=np.bool_)
    is_last[:-1] = sorted_ts[1:] != sorted_ts[:-1]
    index = order[is_last]
    added = int(index.shape[0]) - int(np.unique(old_ts).shape[0])
    return index, added


def merge_candles(old: Candles, new: Candles) -> tuple[Candles, int]:
    """Union of two bar sets by open time; where both hold a timestamp the row of `new` wins.

    Exchanges revise the newest bars after the fact, so a refetched bar replaces the cached one.
    Inputs may be unsorted and `new` may repeat a timestamp (its last occurrence wins).
    Returns (merged: ascending, unique timestamps; rows_added: timestamps not in `old`).
    """
    index, added = _union_index(old.timestamp, new.timestamp)
    both = Candles(
        timestamp=np.concatenate([old.timestamp, new.timestamp]).astype(np.int64, copy=False),
        open=_concat_float(old.open, new.open),
        high=_concat_float(old.high, new.high),
        low=_concat_float(old.low, new.low),
        close=_concat_float(old.close, new.close),
        volume=_concat_float(old.volume, new.volume),
    )
    return both.take(index), added


def merge_funding(old: FundingRates, new: FundingRates) -> tuple[FundingRates, int]:
    """Union of two funding series by timestamp, same rule as `merge_candles` (`new` wins).

    Returns (merged: ascending, unique timestamps; rows_added: timestamps not in `old`).
    """
    index, added = _union_index(old.timestamp, new.timestamp)
    both = FundingRates(
        timestamp=np.concatenate([old.timestamp, new.timestamp]).astype(np.int64, copy=False),
        funding_rate=_concat_float(old.funding_rate, new.funding_rate),
    )
    return both.take(index), added


def _concat_float(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return np.concatenate([a, b]).astype(np.float64, copy=False)


def find_gaps(timestamps: Int64Array, tf_ms: int) -> list[Gap]:
    """Holes in an ascending series of bar open times (int64[n], UTC ms) on a `tf_ms` grid.

    A step of k * tf_ms between neighbours is a hole of k - 1 bars; a step that is not a whole
    multiple counts the whole bars that fit in it. Misaligned bars: see `misaligned_count`.
    """
    if tf_ms <= 0:
        raise ValueError(f"tf_ms must be a positive bar length in ms (got {tf_ms})")
    ts = np.asarray(timestamps, dtype=np.int64)
    if ts.shape[0] < 2:
        return []
    missing = np.diff(ts) // tf_ms - 1
    holes = np.flatnonzero(missing >= 1)
    return [Gap(after_ms=int(ts[i]), missing_bars=int(missing[i])) for i in holes]


def misaligned_count(timestamps: Int64Array, tf_ms: int) -> int:
    """How many open times (int64[n], UTC ms) are off the epoch-aligned `tf_ms` grid.

    Exchanges open bars up to 1d on multiples of the bar length since the epoch, so a nonzero
    count means a foreign or mixed series. Weekly bars open on Mondays and monthly ones on the
    1st, neither of which is on this grid: do not call this for `1w` or `1M`.
    """
    if tf_ms <= 0:
        raise ValueError(f"tf_ms must be a positive bar length in ms (got {tf_ms})")
    ts = np.asarray(timestamps, dtype=np.int64)
    return int(np.count_nonzero(ts % tf_ms))
