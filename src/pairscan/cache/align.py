"""Cache stage: many symbols' candles on one regular UTC grid, with bounded forward fill.

Pure numpy in and out (pandas only in `to_frame`); no I/O. Never back-fills or fills stale tails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from pairscan.errors import CacheError
from pairscan.market import Candles, FloatArray, Int64Array, format_utc

BoolArray = npt.NDArray[np.bool_]
PanelField = Literal["open", "high", "low", "close", "volume", "filled"]
PANEL_FIELDS: tuple[str, ...] = get_args(PanelField)


@dataclass(frozen=True)
class AlignedPanel:
    """Candles of several symbols on one grid; row i is the bar opening at timestamps[i].

    timestamps: int64[n_bars], bar open in UTC ms, step tf_ms. symbols: column order.
    open/high/low/close: float64[n_bars, n_symbols], quote currency; volume: base units.
    filled: bool[n_bars, n_symbols], True where a missing bar was forward-filled (its open, high,
    low and close equal the previous real close and its volume is 0). NaN where no bar is known.
    """

    timestamps: Int64Array
    symbols: tuple[str, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    filled: BoolArray
    tf_ms: int
    max_ffill_bars: int

    @property
    def n_bars(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def real(self) -> BoolArray:
        """bool[n_bars, n_symbols]: a real candle (known and not forward-filled), the only
        bars a decision, a fill or a liquidity figure may rest on."""
        return np.asarray(~self.filled & np.isfinite(self.close))

    def last_real_row(self, symbol: str) -> int:
        """Row of `symbol`'s last real candle, -1 when it has none."""
        k = self.symbols.index(symbol)  # one column: called per leg on the hourly path
        rows = np.flatnonzero(~self.filled[:, k] & np.isfinite(self.close[:, k]))
        return int(rows[-1]) if rows.size else -1


def align_candles(
    series: Mapping[str, Candles],
    tf_ms: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    max_ffill_bars: int = 0,
) -> AlignedPanel:
    """Put each symbol's candles on the grid start..end (inclusive, step `tf_ms`).

    start/end default to the earliest first bar and the latest last bar across symbols and are
    floored to the grid (so a bound inside a bar selects that bar). Symbols keep the mapping's
    order. A missing bar is forward-filled from the symbol's last real close for at most
    `max_ffill_bars` bars after it (volume 0, open = high = low = close, `filled` True); later
    bars of a longer hole stay NaN. This is pandas `ffill(limit=max_ffill_bars)`.

    The rule is causal on purpose: whether bar t is filled depends only on bars up to t, so a
    live scan at t sees exactly the panel a backtest sees for t (a rule that fills only holes
    that later close would change history when the symbol resumes). A symbol that stopped
    updating is therefore filled for up to `max_ffill_bars` bars and NaN after that; callers
    that must not trade on stale prices check `filled`. Nothing is ever back-filled before a
    symbol's first bar. Bars before `start_ms` still seed the fill of the first grid rows, so
    a panel is the same slice of a wider panel.

    Raises ValueError for a bad argument and CacheError (naming the symbol) for a bar that is
    off the tf_ms grid or timestamps that are not strictly ascending.
    """
    _check_int("tf_ms", tf_ms, minimum=1, hint="the bar length in ms, e.g. 3600000 for 1h")
    _check_int("max_ffill_bars", max_ffill_bars, minimum=0, hint="0 disables forward fill")
    for name, bound in (("start_ms", start_ms), ("end_ms", end_ms)):
        if bound is not None:
            _check_int(name, bound, minimum=None, hint="UTC milliseconds")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ValueError(
            f"start_ms ({format_utc(start_ms)}) must not be after end_ms ({format_utc(end_ms)})"
        )
    stamps = {
        symbol: _checked_timestamps(symbol, candles, tf_ms) for symbol, candles in series.items()
    }
    grid = _grid(stamps.values(), tf_ms, start_ms, end_ms)
    shape = (grid.shape[0], len(stamps))
    fields = {name: np.full(shape, np.nan) for name in ("open", "high", "low", "close", "volume")}
    filled = np.zeros(shape, dtype=np.bool_)
    for column, (symbol, ts) in enumerate(stamps.items()):
        if ts.shape[0] == 0 or grid.shape[0] == 0:
            continue
        candles = series[symbol]
        # prev[i]: the symbol's last bar opening at or before grid[i] (-1 if none).
        prev = np.searchsorted(ts, grid, side="right") - 1
        prev_safe = np.maximum(prev, 0)
        real = (prev >= 0) & (ts[prev_safe] == grid)
        bars_since_real = (grid - ts[prev_safe]) // tf_ms
        fill = ~real & (prev >= 0) & (bars_since_real <= max_ffill_bars)
        last_close = np.asarray(candles.close, dtype=np.float64)[prev_safe]
        for name in ("open", "high", "low", "close"):
            values = np.asarray(getattr(candles, name), dtype=np.float64)[prev_safe]
            fields[name][:, column] = np.where(real, values, np.where(fill, last_close, np.nan))
        volume = np.asarray(candles.volume, dtype=np.float64)[prev_safe]
        fields["volume"][:, column] = np.where(real, volume, np.where(fill, 0.0, np.nan))
        filled[:, column] = fill
    return AlignedPanel(
        timestamps=grid,
        symbols=tuple(stamps),
        filled=filled,
        tf_ms=int(tf_ms),
        max_ffill_bars=int(max_ffill_bars),
        **fields,
    )


def to_frame(panel: AlignedPanel, field: PanelField = "close") -> pd.DataFrame:
    """One field of the panel as a DataFrame: UTC DatetimeIndex of bar opens, one column per
    symbol (shape [n_bars, n_symbols])."""
    if field not in PANEL_FIELDS:
        raise ValueError(f"field must be one of {', '.join(PANEL_FIELDS)} (got {field!r})")
    index = pd.DatetimeIndex(pd.to_datetime(panel.timestamps, unit="ms", utc=True))
    return pd.DataFrame(
        getattr(panel, field), index=index.rename("timestamp"), columns=list(panel.symbols)
    )


def _check_int(name: str, value: int, *, minimum: int | None, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer ({hint}); got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum} ({hint}); got {value!r}")


def _checked_timestamps(symbol: str, candles: Candles, tf_ms: int) -> Int64Array:
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    off_grid = np.flatnonzero(ts % tf_ms != 0)
    if off_grid.shape[0]:
        bad = int(ts[off_grid[0]])
        raise CacheError(
            f"{symbol}: bar at {format_utc(bad)} ({bad} ms) is not on the {tf_ms} ms grid "
            f"({off_grid.shape[0]} such bars); the cache holds another timeframe or is "
            f"corrupt: rebuild this symbol's cache"
        )
    unordered = np.flatnonzero(np.diff(ts) <= 0)
    if unordered.shape[0]:
        bad = int(ts[unordered[0] + 1])
        raise CacheError(
            f"{symbol}: timestamps are not strictly ascending at {format_utc(bad)} ({bad} ms); "
            f"the cache is corrupt: rebuild this symbol's cache"
        )
    return ts


def _grid(
    stamps: Iterable[Int64Array], tf_ms: int, start_ms: int | None, end_ms: int | None
) -> Int64Array:
    """The grid start..end; empty when no bound is known or the defaulted end precedes start."""
    non_empty = [ts for ts in stamps if ts.shape[0]]
    if start_ms is None:
        start_ms = min((int(ts[0]) for ts in non_empty), default=None)
    if end_ms is None:
        end_ms = max((int(ts[-1]) for ts in non_empty), default=None)
    if start_ms is None or end_ms is None:
        return np.empty(0, dtype=np.int64)
    first = start_ms // tf_ms * tf_ms
    last = end_ms // tf_ms * tf_ms
    if first > last:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, last + tf_ms, tf_ms, dtype=np.int64)
