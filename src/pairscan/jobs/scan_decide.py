"""The scan's decision for one closed bar: selection in force, last-bar statistics, one step of
each pair's state machine, sizes and tickets. Reads arrays, returns values; the scan job does
the I/O around it (cache, state database, channels).

Every number comes from the code the backtest runs: `stats.select_pairs` on the same
formation window and eligibility rule (`stats.eligibility`), `stats.hedge_stats` at the last
bar, `signals.step_machine`, `sizing.size_pair` / `apply_book_caps` and the lot kernels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.cache.align import AlignedPanel
from pairscan.config import SignalsConfig, SizingConfig, StatsConfig
from pairscan.market import MarketInfo, is_spot_market, typical_dollar_volume
from pairscan.signals import (
    REASON_NAMES,
    REFUSAL_REASONS,
    Action,
    Gate,
    MachineState,
    Reason,
    entry_gate,
    gate_from_selection,
    machine_params,
    step_machine,
)
from pairscan.sizing import SIDE_LONG, SIDE_SHORT, PairSize, apply_book_caps, size_pair
from pairscan.sizing.edge import formation_edge
from pairscan.sizing.kernels import spread_vol_at_nb
from pairscan.sizing.target import default_vol_nobs
from pairscan.state import StoredSelection
from pairscan.stats.eligibility import eligible_symbols
from pairscan.stats.hedge import hedge_stats
from pairscan.stats.schedule import Schedule
from pairscan.stats.selection import select_pairs

Pair = tuple[str, str]
FloatArray = npt.NDArray[np.float64]


def select_at(
    panel: AlignedPanel,
    boundary_ms: int,
    stats: StatsConfig,
    signals: SignalsConfig,
    *,
    adv_days: int,
) -> StoredSelection:
    """The re-selection at `boundary_ms` (UTC ms), exactly as the backtest's walk-forward
    makes it: on the bars opening in [boundary - formation, boundary), among the eligible
    symbols (ADV over `adv_days` days, `cache.adv_days`); `signals` for each selected pair's
    formation edge (the Kelly cap's input)."""
    sched = Schedule.of(stats.formation_days, stats.reselect_every_hours)
    start, end = sched.formation(boundary_ms)
    f0, f1 = (int(v) for v in np.searchsorted(panel.timestamps, [start, end]))
    rows = slice(f0, f1)
    ok, adv = eligible_symbols(
        panel.timestamps,
        panel.close,
        panel.real,
        typical_dollar_volume(panel.high, panel.low, panel.close, panel.volume),
        rows,
        panel.tf_ms,
        adv_days,
    )
    names = [s for s, keep in zip(panel.symbols, ok, strict=True) if keep]
    empty = StoredSelection(boundary_ms, tuple(names), (), (), (), (), (), (), (), (), ())
    if len(names) < 2 or panel.timestamps.size == 0 or int(panel.timestamps[0]) > start:
        return empty
    close = panel.close[rows][:, ok]
    sel = select_pairs(close, names, adv[ok], stats)
    chosen = np.flatnonzero(sel.selected)
    edge_mean, edge_var = np.full(sel.y.size, np.nan), np.full(sel.y.size, np.nan)
    edge_mean[chosen], edge_var[chosen] = formation_edge(
        close,
        sel.iy[chosen],
        sel.ix[chosen],
        sel.half_life[chosen],
        stats,
        machine_params(signals),
    )
    return StoredSelection(
        boundary_ms=boundary_ms,
        eligible=tuple(names),
        y=tuple(str(v) for v in sel.y),
        x=tuple(str(v) for v in sel.x),
        reason=tuple(str(v) for v in sel.reason),
        selected=tuple(bool(v) for v in sel.selected),
        rank=tuple(int(v) for v in sel.rank),
        half_life=tuple(float(v) for v in sel.half_life),
        qvalue=tuple(float(v) for v in sel.qvalue),
        beta=tuple(float(v) for v in sel.beta),
        alpha=tuple(float(v) for v in sel.alpha),
        edge_mean=tuple(float(v) for v in edge_mean),
        edge_var=tuple(float(v) for v in edge_var),
    )


@dataclass(frozen=True)
class PairDecision:
    """One tracked pair at the bar: its statistics, the machine's action and reason, and the
    sized entry (None unless it opens; `size.dropped` says why an entry sends nothing)."""

    pair: Pair
    z: float
    alpha: float
    beta: float
    half_life: float
    qvalue: float
    price_y: float
    price_x: float
    action: int
    reason: str
    size: PairSize | None


def last_bar_stats(
    panel: AlignedPanel, log_close: FloatArray, pairs: Sequence[Pair], stats: StatsConfig
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(alpha, beta, z) of each pair at the panel's last bar, by the configured hedge
    (`stats.hedge_stats`, the backtest's dispatcher; log_close: the panel's closes, logged
    once by the caller)."""
    col = {s: k for k, s in enumerate(panel.symbols)}
    iy = np.array([col[y] for y, _ in pairs], dtype=np.int64)
    ix = np.array([col[x] for _, x in pairs], dtype=np.int64)
    return hedge_stats(log_close, iy, ix, stats, last_bar=True)


def last_real_close(panel: AlignedPanel, symbol: str) -> float:
    """The close of `symbol`'s last real (not forward-filled) candle in the panel; NaN if
    none. A close ticket for a stale or delisted leg is priced here, the last price that
    really traded, never at a forward-filled or missing bar."""
    row = panel.last_real_row(symbol)
    return float(panel.close[row, panel.symbols.index(symbol)]) if row >= 0 else math.nan


def delisted(symbol: str, markets: Mapping[str, MarketInfo]) -> bool:
    """The exchange's market list (when it could be loaded) no longer trades the symbol:
    absent, or inactive (Binance: any status but TRADING)."""
    if not markets:
        return False  # market filters unavailable: nothing is known, staleness still applies
    market = markets.get(symbol)
    return market is None or not market.active


def pair_gate(
    selection: StoredSelection,
    pairs: Sequence[Pair],
    beta: FloatArray,
    markets: Mapping[str, MarketInfo],
    stats: StatsConfig,
) -> npt.NDArray[np.int64]:
    """The gate of each tracked pair at the bar: the selection's, the entry guards the
    backtest applies too (`signals.entry_gate`: hedge band, spot legs), and `Gate.DELISTED`
    for a pair with a leg the exchange no longer trades (closes an open position at once)."""
    gate = entry_gate(
        gate_from_selection(selection, pairs),
        beta,
        stats,
        spot_y=np.array([is_spot_market(y, markets) for y, _ in pairs], dtype=np.bool_),
        spot_x=np.array([is_spot_market(x, markets) for _, x in pairs], dtype=np.bool_),
    )
    gone = np.array([delisted(y, markets) or delisted(x, markets) for y, x in pairs], bool)
    return np.where(gone, Gate.DELISTED, gate).astype(np.int64)


def bars_since_real(panel: AlignedPanel, symbol: str, bar_ms: int) -> int:
    """Bars from the last real (not forward-filled) candle of `symbol` to `bar_ms`."""
    row = panel.last_real_row(symbol)
    if row < 0:
        return 10**9
    return max(0, (bar_ms - int(panel.timestamps[row])) // panel.tf_ms)


def decide(
    panel: AlignedPanel,
    bar_ms: int,
    selection: StoredSelection,
    pairs: Sequence[Pair],
    machine: MachineState,
    open_gross_quote: float,
    markets: Mapping[str, MarketInfo],
    *,
    stats: StatsConfig,
    signals: SignalsConfig,
    sizing: SizingConfig,
) -> tuple[MachineState, list[PairDecision]]:
    """Step every tracked pair one bar at `bar_ms` (UTC ms, bar open) and size the entries
    (book cap in `pairs` order, from `open_gross_quote`, the open positions' gross notional
    in quote currency): `stats` for the hedge and the entry guards, `signals` for the
    machine, `sizing` for the sizes and the caps."""
    log_close = np.log(panel.close)
    alpha, beta, z = last_bar_stats(panel, log_close, pairs, stats)
    half_life = np.array([selection.value(p, "half_life") for p in pairs])
    gate = pair_gate(selection, pairs, beta, markets, stats)
    stale = np.array(
        [
            max(bars_since_real(panel, y, bar_ms), bars_since_real(panel, x, bar_ms))
            for y, x in pairs
        ],
        dtype=np.int64,
    )
    new, action, reason = step_machine(
        machine, z, half_life, machine_params(signals), gate=gate, bars_stale=stale
    )
    col = {s: k for k, s in enumerate(panel.symbols)}
    last = {s: last_real_close(panel, s) for p in pairs for s in p}
    sizes: dict[int, PairSize] = {}
    for k, (y, x) in enumerate(pairs):
        if action[k] in (Action.OPEN_LONG, Action.OPEN_SHORT):
            sizes[k] = _size_entry(
                panel,
                log_close,
                col[y],
                col[x],
                float(beta[k]),
                int(action[k]),
                markets.get(y),
                markets.get(x),
                sizing,
                (selection.value((y, x), "edge_mean"), selection.value((y, x), "edge_var")),
            )
    capped = apply_book_caps([sizes[k] for k in sorted(sizes)], open_gross_quote, sizing)
    sizes = dict(zip(sorted(sizes), capped, strict=True))
    decisions = [
        PairDecision(
            pair=p,
            z=float(z[k]),
            alpha=float(alpha[k]),
            beta=float(beta[k]),
            half_life=float(half_life[k]),
            qvalue=selection.value(p, "qvalue"),
            price_y=last[p[0]],
            price_x=last[p[1]],
            action=int(action[k]),
            reason=_reason_name(int(action[k]), int(reason[k])),
            size=sizes.get(k),
        )
        for k, p in enumerate(pairs)
    ]
    return new, decisions


_REFUSAL_NAMES = frozenset(REASON_NAMES[code] for code in REFUSAL_REASONS)


def is_refusal(d: PairDecision) -> bool:
    """An entry the rule made and an entry guard refused (no ticket)."""
    return d.action == Action.HOLD and d.reason in _REFUSAL_NAMES


def refusal_text(d: PairDecision, stats: StatsConfig) -> str:
    """One line for the run summary: the pair, the guard and the number it judged."""
    y, x = d.pair
    side = "long" if d.z < 0 else "short"
    if d.reason == REASON_NAMES[Reason.HEDGE_BAND]:
        why = (
            f"hedge ratio {d.beta:.3g} outside [{stats.min_hedge_ratio:g}, "
            f"{stats.max_hedge_ratio:g}] (stats.min_hedge_ratio/max_hedge_ratio)"
        )
    else:
        why = f"a {side} spread would short a spot leg (no borrow)"
    return f"{y} ~ {x}: {d.reason} at z {d.z:+.2f}: {why}"


def _reason_name(action: int, reason: int) -> str:
    """ "entry" for an open, the close reason for a close, the refusal reason for an entry a
    guard refused, "" for a plain hold."""
    if action in (Action.OPEN_LONG, Action.OPEN_SHORT):
        return "entry"
    if action == Action.CLOSE or reason in REFUSAL_REASONS:
        return REASON_NAMES[reason]
    return ""


def _size_entry(
    panel: AlignedPanel,
    log_close: FloatArray,
    cy: int,
    cx: int,
    beta: float,
    action: int,
    market_y: MarketInfo | None,
    market_x: MarketInfo | None,
    sizing: SizingConfig,
    edge: tuple[float, float],
) -> PairSize:
    window = sizing.vol_window_bars
    t = panel.timestamps.size - 1
    vol = spread_vol_at_nb(
        np.ascontiguousarray(log_close[:, cy]),
        np.ascontiguousarray(log_close[:, cx]),
        beta,
        t,
        window,
        default_vol_nobs(window),
    )
    side = SIDE_LONG if action == Action.OPEN_LONG else SIDE_SHORT
    my = market_y or _unknown_market(panel.symbols[cy])
    mx = market_x or _unknown_market(panel.symbols[cx])
    return size_pair(
        side,
        beta,
        vol,
        float(panel.close[t, cy]),
        float(panel.close[t, cx]),
        my,
        mx,
        sizing,
        panel.tf_ms,
        edge_mean=edge[0],
        edge_var=edge[1],
    )


def _unknown_market(symbol: str) -> MarketInfo:
    """A market the exchange no longer lists: inactive, so sizing drops the ticket, saying so."""
    base, _, rest = symbol.partition("/")
    quote = rest.split(":")[0]
    return MarketInfo(
        symbol=symbol,
        base=base,
        quote=quote,
        type="other",  # unknown: nothing is read from the symbol's form
        active=False,
    )


def tracked_pairs(selection: StoredSelection, open_pairs: Sequence[Pair]) -> list[Pair]:
    """Selected pairs in rank order, then the pairs with an open position that were not
    re-selected (they are tracked until the machine closes them)."""
    chosen = selection.pairs()
    return chosen + [p for p in open_pairs if p not in chosen]
