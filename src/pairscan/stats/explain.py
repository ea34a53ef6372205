"""Stage 3 (stats): why a selection came out empty, in one sentence the user can act on.

The scan (one re-selection) and the backtest (every walk-forward window) both report the pairs
per rejection reason and, when nothing was selected, the binding cause from `why_empty`; the
rule lives here once. Pure: numbers and names in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pairscan.market import MS_PER_DAY, MarketInfo, format_utc, is_spot_market
from pairscan.stats.schedule import Schedule
from pairscan.stats.selection import Reason
from pairscan.text import plural

__all__ = [
    "SelectionFacts",
    "first_selection_ms",
    "quote_of",
    "sum_reasons",
    "universe_warnings",
    "why_empty",
]


@dataclass(frozen=True)
class SelectionFacts:
    """What a run knew when it selected (or tried to).

    symbols: the universe the run read; n_cached: those with any cached bar; n_eligible: those
    that entered a selection (enough real bars, a last close); reasons: pairs per
    `selection.Reason` value over the selections made; first_bar_ms: the earliest cached bar
    (None: nothing cached); last_bar_ms: the last bar the run decided; min_adv_quote: the
    liquidity floor, in the symbols' quote currency.
    """

    symbols: tuple[str, ...]
    n_cached: int
    n_eligible: int
    reasons: Mapping[str, int]
    first_bar_ms: int | None
    last_bar_ms: int | None
    min_adv_quote: float

    @classmethod
    def of(
        cls,
        symbols: Sequence[str],
        timestamps: npt.NDArray[np.int64],
        real: npt.NDArray[np.bool_],
        n_eligible: int,
        reasons: Mapping[str, int],
        min_adv_quote: float,
        *,
        decided_bar_ms: int | None = None,
    ) -> SelectionFacts:
        """From the panel a run read: bar open times (UTC ms) and its bool (n_bars, n_symbols)
        real-candle mask (cached = any real bar; first bar = the first row with one).
        decided_bar_ms: the bar the run decided, when the panel may hold no row up to it
        (default: the panel's last row)."""
        rows = np.flatnonzero(real.any(axis=1))
        last = int(timestamps[-1]) if timestamps.size else None
        return cls(
            symbols=tuple(symbols),
            n_cached=int(real.any(axis=0).sum()),
            n_eligible=n_eligible,
            reasons=reasons,
            first_bar_ms=int(timestamps[rows[0]]) if rows.size else None,
            last_bar_ms=decided_bar_ms if decided_bar_ms is not None else last,
            min_adv_quote=min_adv_quote,
        )


def sum_reasons(summaries: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Pairs per reason added over several selections, every reason present (0 if none)."""
    total = {r.value: 0 for r in Reason}
    for summary in summaries:
        for reason, count in summary.items():
            total[reason] = total.get(reason, 0) + int(count)
    return total


def first_selection_ms(first_bar_ms: int, schedule: Schedule) -> int:
    """The first re-selection boundary whose whole formation window lies in the cache, for a
    cache that starts at first_bar_ms (UTC ms)."""
    boundary = schedule.boundary_of(first_bar_ms + schedule.formation_ms)
    if boundary - schedule.formation_ms < first_bar_ms:
        boundary += schedule.every_ms
    return boundary


def quote_of(symbol: str) -> str:
    """Quote currency of a ccxt unified symbol: `ETH/BTC` -> BTC, `ETH/USDT:USDT` -> USDT."""
    return symbol.partition("/")[2].partition(":")[0]


def universe_warnings(
    symbols: Sequence[str], markets: Mapping[str, MarketInfo], configured_quote: str
) -> list[str]:
    """What about the universe will silently shape the result: spot legs (entries that would
    short them are refused) and a quote currency other than the configured one (the
    liquidity floor is read in each symbol's quote currency: 1e6 read in BTC passes nothing)."""
    spot = [s for s in symbols if is_spot_market(s, markets)]
    lines = []
    if spot:
        lines.append(
            f"{len(spot)} of {len(symbols)} symbols are spot markets (e.g. {spot[0]}): an "
            "entry that would short one is refused (short_spot; no borrow is modelled); "
            "use the perpetuals (BASE/QUOTE:SETTLE)"
        )
    others = sorted({quote_of(s) for s in symbols} - {configured_quote, ""})
    return lines + [
        f"stats.min_adv_quote is read in each symbol's quote currency, and "
        f"{plural(len(held), 'symbol')} quoted in {q} (not universe.quote {configured_quote}): "
        f"e.g. {held[0]}; set the floor for {q}"
        for q in others
        if (held := [s for s in symbols if quote_of(s) == q])
    ]


def why_empty(facts: SelectionFacts, schedule: Schedule, selected: int) -> str | None:
    """The binding cause when no pair was selected (None when some were), checked in the order
    a user would fix them: one symbol, no data, history, eligibility, then the check that
    stopped the most pairs (the liquidity floor with its currency). "Run `pairs cache update`"
    is said only when nothing at all was read; a run that read bars gets the real cause."""
    if selected:
        return None
    n = len(facts.symbols)
    if n < 2:
        one = f"one symbol only ({facts.symbols[0]})" if n else "no symbol in the universe"
        return f"{one}: a pair needs two; add symbols"
    if facts.n_cached < 2:
        if facts.last_bar_ms is None:
            return f"nothing cached for the {n} symbols: run `pairs cache update` first"
        return (
            f"{facts.n_cached} of the {n} symbols {'has' if facts.n_cached == 1 else 'have'} "
            f"cached bars up to {format_utc(facts.last_bar_ms)}: a pair needs two; the cache "
            "starts later or holds nothing for them (`pairs cache stats` shows what it holds)"
        )
    history = _history_cause(facts, schedule)
    if history is not None:
        return history
    if facts.n_eligible < 2:
        return (
            f"{facts.n_eligible} of {len(facts.symbols)} symbols had real (not forward-filled) "
            "bars on >= 95 % of the formation window and a last close: a pair needs two"
        )
    return _reason_cause(facts)


def _history_cause(facts: SelectionFacts, schedule: Schedule) -> str | None:
    if facts.first_bar_ms is None or facts.last_bar_ms is None:
        return None
    first = first_selection_ms(facts.first_bar_ms, schedule)
    if first <= facts.last_bar_ms:
        return None
    days = schedule.formation_ms // MS_PER_DAY
    return (
        f"not enough history: a selection needs {days} days (stats.formation_days) before "
        f"its boundary and the cache starts {format_utc(facts.first_bar_ms)}; the first "
        f"selection will be at {format_utc(first)}"
    )


def _reason_cause(facts: SelectionFacts) -> str:
    stopped = {r: n for r, n in facts.reasons.items() if n and r != Reason.SELECTED}
    if not stopped:
        return "no candidate pair was tested"
    reason, count = max(stopped.items(), key=lambda item: item[1])
    total = sum(stopped.values())
    line = f"no pair passed: {count} of {total} candidate pairs stopped at {reason}"
    if reason == Reason.ILLIQUID:
        quotes = sorted({quote_of(s) for s in facts.symbols})
        line += (
            f" (the liquidity floor stats.min_adv_quote {facts.min_adv_quote:g} "
            f"{'/'.join(quotes)} per day, both legs)"
        )
    elif reason == Reason.NOT_COINTEGRATED:
        line += " (BH q-value above stats.max_qvalue: crypto pairs often are not)"
    return line
