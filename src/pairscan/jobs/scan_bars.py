"""The deciding half of `pairs scan`: after the cache update (`jobs/scan_fetch.py`), decide
every bar not processed yet (selection in force, last-bar statistics, one state-machine step
per pair, sizes, tickets and new states in one transaction per bar).

A module of its own so that `jobs/scan.py`, which only orchestrates, imports the heavy
stack (pandas, Numba, statsmodels, ccxt) only when there is a bar to decide: a rerun of an
hour already processed answers without it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from pairscan.cache import Store, read_panel
from pairscan.cache.align import AlignedPanel
from pairscan.config import Config
from pairscan.errors import CacheError
from pairscan.jobs.common import open_cache
from pairscan.jobs.positions import BarValues, machine_from_records, records_after_bar
from pairscan.jobs.scan_decide import (
    PairDecision,
    bars_since_real,
    decide,
    is_refusal,
    refusal_text,
    select_at,
    tracked_pairs,
)
from pairscan.jobs.scan_report import MAX_CATCHUP_BARS, ScanReport
from pairscan.market import MarketInfo, format_utc, timeframe_ms
from pairscan.notify import Channel, fan_out
from pairscan.state import PositionRecord, StateStore, StoredSelection
from pairscan.state.digest import digest_due
from pairscan.stats.explain import SelectionFacts, sum_reasons, universe_warnings, why_empty
from pairscan.stats.schedule import Schedule
from pairscan.tickets import combine, load_selection, outbox_writer, selection_writer
from pairscan.tickets.build import ticket_of
from pairscan.tickets.digest import digest_outgoing, selection_diff
from pairscan.tickets.paper import paper_book

log = logging.getLogger(__name__)


def decide_and_commit(
    config: Config,
    state: StateStore | None,
    universe: list[str],
    report: ScanReport,
    dry_run: bool,
) -> None:
    """Decide every bar not processed yet, oldest first, one commit each: when cron skipped
    hours (machine down, a long outage), the missed bars are caught up in order, so the state
    and the tickets are what hourly runs would have made (each ticket says its bar; tickets
    older than MAX_TICKET_AGE_MS are kept but not sent). A dry run decides the newest bar only.
    """
    started = time.perf_counter()
    last = state.last_bar_ms() if state is not None else None
    if last is not None and report.bar_ms <= last:
        report.status = "already_processed"
        return
    tf_ms = timeframe_ms(config.cache.timeframe)
    bars = _bars_to_decide(last, report.bar_ms, tf_ms, dry_run)
    sched = Schedule.of(config.stats.formation_days, config.stats.reselect_every_hours)
    warmup = (
        config.stats.window_bars + config.stats.z_window_bars + config.sizing.vol_window_bars
    ) * tf_ms
    start = min(sched.formation(sched.boundary_of(bars[0]))[0], bars[0] - warmup)
    with open_cache(config) as store:
        symbols = universe + _held_outside(state, universe, store, report.exchange, config)

        def read(names: list[str]) -> AlignedPanel:
            return read_panel(
                store,
                report.exchange,
                names,
                config.cache.timeframe,
                start_ms=start,
                end_ms=report.bar_ms,
                max_ffill_bars=config.cache.max_ffill_bars,
            )

        try:
            panel = read(symbols)
        except CacheError:  # find the unreadable files and leave their symbols out
            panel = read(_readable(store, symbols, config, report))
    report.closes = _closes_at(panel, report.bar_ms)
    report.bars_decided = len(bars)
    for bar in bars:
        _decide_bar(config, state, _up_to(panel, bar), bar, sched, report, dry_run)
    report.seconds["decide"] = time.perf_counter() - started


def _held_outside(
    state: StateStore | None, universe: list[str], store: Store, exchange: str, config: Config
) -> list[str]:
    """Cached symbols of open positions that left the universe (dropped from the top-N
    ranking, delisted): read with it (the run's cache update fetched them too), so those
    positions are still decided and closed (stale data, delisted) instead of being held
    forever; never selected."""
    if state is None:
        return []
    inside, outside = set(universe), []
    for symbol in (s for s in state.open_symbols() if s not in inside):
        try:
            if store.last_timestamp(exchange, symbol, config.cache.timeframe) is not None:
                outside.append(symbol)
        except CacheError as exc:
            log.error("%s", exc)  # unreadable: the position is reported, not decided
    return outside


def _readable(store: Store, symbols: list[str], config: Config, report: ScanReport) -> list[str]:
    """The symbols whose cached candles can be read; an unreadable (corrupt, foreign) file
    stops its symbol only, reported, so the positions on the others are still decided."""
    ok = []
    for symbol in symbols:
        try:
            store.read_candles(report.exchange, symbol, config.cache.timeframe, start_ms=None)
        except CacheError as exc:
            message = str(exc)
            if not any(message in e for e in report.symbol_errors):
                report.symbol_errors.append(f"{symbol}: {message}")
            continue
        ok.append(symbol)
    return ok


def _bars_to_decide(last: int | None, bar_ms: int, tf_ms: int, dry_run: bool) -> list[int]:
    if last is None or dry_run:
        return [bar_ms]
    first = max(last + tf_ms, bar_ms - (MAX_CATCHUP_BARS - 1) * tf_ms)
    if first > last + tf_ms:
        log.warning(
            "%d bars since the last processed one: catching up the last %d only",
            (bar_ms - last) // tf_ms,
            MAX_CATCHUP_BARS,
        )
    return list(range(first, bar_ms + 1, tf_ms))


def _up_to(panel: AlignedPanel, bar_ms: int) -> AlignedPanel:
    """The panel's rows up to and including the bar opening at `bar_ms`."""
    end = int(np.searchsorted(panel.timestamps, bar_ms, side="right"))
    if end == panel.timestamps.size:
        return panel
    per_bar = ("timestamps", "open", "high", "low", "close", "volume", "filled")
    return dataclasses.replace(panel, **{name: getattr(panel, name)[:end] for name in per_bar})


def _decide_bar(
    config: Config,
    state: StateStore | None,
    panel: AlignedPanel,
    bar_ms: int,
    sched: Schedule,
    report: ScanReport,
    dry_run: bool,
) -> None:
    """One bar: the selection in force, a machine step for every tracked pair, sizes, tickets;
    the new states and the tickets committed together."""
    boundary = sched.boundary_of(bar_ms)
    stored = load_selection(state, boundary) if state is not None else None
    new_selection = stored is None
    ranked = _columns(panel, report.universe)  # held extras are decided, never selected
    if stored is None:
        selection = select_at(
            ranked, boundary, config.stats, config.signals, adv_days=config.cache.adv_days
        )
        report.new_selection = True
        previous = load_selection(state) if state is not None else None
        old = set(StoredSelection.from_payload(*previous).pairs()) if previous else set()
        new = set(selection.pairs())
        report.selection_changes = selection_diff(old, new)
        log.info(
            "re-selected at %s: %d pairs; %s",
            format_utc(boundary),
            len(new),
            "; ".join(report.selection_changes) or "no change",
        )
    else:
        selection = StoredSelection.from_payload(boundary, stored[1])
    report.selection_boundary_ms = boundary
    report.selected = [list(p) for p in selection.pairs()]
    _explain_selection(ranked, selection, sched, config, report)
    records = state.records() if state is not None else {}
    open_pairs = [k for k, r in records.items() if r.is_open]
    missing = sorted({s for p in open_pairs for s in p if s not in panel.symbols})
    if missing:
        report.symbol_errors.append(f"open positions on symbols outside the universe: {missing}")
    pairs = [p for p in tracked_pairs(selection, open_pairs) if set(p) <= set(panel.symbols)]
    report.pairs_scanned = len(pairs)
    report.missing_bars.extend(_missing_bars(panel, pairs, bar_ms))
    markets = report.markets
    machine = machine_from_records(pairs, records)
    open_gross = _open_gross(records, pairs, panel.symbols, panel.close[-1], markets)
    new_state, decisions = decide(
        panel,
        bar_ms,
        selection,
        pairs,
        machine,
        open_gross,
        markets,
        stats=config.stats,
        signals=config.signals,
        sizing=config.sizing,
    )
    tickets = [
        t
        for d in decisions
        if (
            t := ticket_of(
                d,
                records.get(d.pair),
                exchange=report.exchange,
                timeframe=report.timeframe,
                bar_ms=bar_ms,
                signals=config.signals,
                markets=markets,
            )
        )
        is not None
    ]
    report.tickets.extend(tickets)
    report.dropped.extend(
        f"{d.pair[0]} ~ {d.pair[1]}: {d.size.dropped}"
        for d in decisions
        if d.size is not None and d.size.dropped
    )
    report.refused.extend(refusal_text(d, config.stats) for d in decisions if is_refusal(d))
    if dry_run or state is None:
        report.status = "dry_run"
        return
    action = np.array([d.action for d in decisions], dtype=np.int64)
    rows = records_after_bar(pairs, records, new_state, action, bar_ms, _bar_values(decisions))
    writers = [outbox_writer(tickets)]
    if new_selection:
        writers.append(selection_writer(boundary, selection.to_payload()))
    state.commit_run(bar_ms, rows, extra=combine(*writers), expect_last_bar_ms=state.last_bar_ms())


def _columns(panel: AlignedPanel, symbols: Sequence[str]) -> AlignedPanel:
    """The panel's columns of `symbols`, in the panel's order (the panel itself when it has
    no other column)."""
    wanted = set(symbols)
    keep = [k for k, s in enumerate(panel.symbols) if s in wanted]
    if len(keep) == panel.n_symbols:
        return panel
    per_symbol = ("open", "high", "low", "close", "volume", "filled")
    return dataclasses.replace(
        panel,
        symbols=tuple(panel.symbols[k] for k in keep),
        **{name: getattr(panel, name)[:, keep] for name in per_symbol},
    )


def _explain_selection(
    panel: AlignedPanel,
    selection: StoredSelection,
    sched: Schedule,
    config: Config,
    report: ScanReport,
) -> None:
    """Pairs per rejection reason, the binding cause when nothing is selected, and warnings
    about the universe (`stats.explain`, the backtest's rule too)."""
    reasons = sum_reasons([Counter(selection.reason)])
    facts = SelectionFacts.of(
        panel.symbols,
        panel.timestamps,
        panel.real,
        len(selection.eligible),
        reasons,
        config.stats.min_adv_quote,
        decided_bar_ms=report.bar_ms,  # also when no cached bar reaches it (--now too early)
    )
    report.selection_reasons = reasons
    report.nothing_selected = why_empty(facts, sched, len(selection.pairs()))
    report.warnings = universe_warnings(panel.symbols, report.markets, config.universe.quote)


def _missing_bars(panel: AlignedPanel, pairs: Sequence[tuple[str, str]], bar_ms: int) -> list[str]:
    """One line per leg of a tracked pair whose candle at `bar_ms` is missing or forward-filled:
    the bar is decided without it, and the run says so."""
    if not panel.timestamps.size or int(panel.timestamps[-1]) != bar_ms:
        return [f"no cached bar at {format_utc(bar_ms)} for any symbol"] if pairs else []
    lines = []
    for symbol in sorted({s for pair in pairs for s in pair}):
        k = panel.symbols.index(symbol)
        if not panel.real[-1, k]:
            since = bars_since_real(panel, symbol, bar_ms)
            lines.append(
                f"{symbol}: no candle for {format_utc(bar_ms)} ({since} bars since its last "
                "real one): no entry on it; its open positions close after signals.stale_bars"
            )
    return lines


def _bar_values(decisions: list[PairDecision]) -> BarValues:
    qy = [d.size.qty_y if d.size is not None and d.size.ok else 0.0 for d in decisions]
    qx = [d.size.qty_x if d.size is not None and d.size.ok else 0.0 for d in decisions]
    return BarValues(
        z=np.array([d.z for d in decisions]),
        alpha=np.array([d.alpha for d in decisions]),
        beta=np.array([d.beta for d in decisions]),
        price_y=np.array([d.price_y for d in decisions]),
        price_x=np.array([d.price_x for d in decisions]),
        qty_y=np.array(qy),
        qty_x=np.array(qx),
    )


def _open_gross(
    records: dict[tuple[str, str], PositionRecord],
    pairs: Sequence[tuple[str, str]],
    symbols: tuple[str, ...],
    last_close: np.ndarray,
    markets: dict[str, MarketInfo],
) -> float:
    """Gross notional of the open positions at the last closes (the book cap's starting point)."""
    col = {s: k for k, s in enumerate(symbols)}
    total = 0.0
    for (y, x), rec in records.items():
        if not rec.is_open or y not in col or x not in col:
            continue
        for s, q in ((y, rec.qty_y), (x, rec.qty_x)):
            cs = markets[s].contract_size if s in markets else 1.0
            total += abs(q) * cs * float(last_close[col[s]])
    return total


def _closes_at(panel: AlignedPanel, bar_ms: int) -> dict[str, float]:
    """Each symbol's close at the bar opening at `bar_ms`, where that bar is a real candle."""
    if panel.n_bars == 0 or int(panel.timestamps[-1]) != bar_ms:
        return {}
    close = panel.close[-1]
    real = ~panel.filled[-1] & np.isfinite(close)
    return {s: float(close[j]) for j, s in enumerate(panel.symbols) if real[j]}


def _read_closes(store: Store, config: Config, report: ScanReport) -> dict[str, float]:
    """The closes at `report.bar_ms` read from the cache (a run that decided nothing)."""
    closes = {}
    for symbol in report.universe:
        try:
            candles = store.read_candles(
                report.exchange, symbol, config.cache.timeframe, report.bar_ms, report.bar_ms
            )
        except CacheError:
            continue  # already reported by the update; the book marks it unknown
        if len(candles):
            closes[symbol] = float(candles.close[-1])
    return closes


def book_and_digest(
    config: Config, state: StateStore, channels: list[Channel], report: ScanReport
) -> None:
    """The paper book at the latest cached closes, into the report; the daily digest when due.
    Neither may fail the run: trouble is reported as a channel error."""
    with open_cache(config) as store:
        closes = report.closes or _read_closes(store, config, report)
        book = paper_book(state, store, report.exchange, closes, report.markets, report.bar_ms)
    report.book = {
        "open_positions": len(book.open_positions),
        "closed_positions": len(book.closed_positions),
        "unrealised": book.unrealised_quote,
        "realised": book.realised_quote,
        "total": book.total_pnl_quote,
        "fees": book.fees_quote,
        "funding": book.funding_quote,
        "quote": book.quote,
    }
    if digest_due(state, config.notify, report.bar_ms):
        sent = fan_out(channels, digest_outgoing(state, book, report.bar_ms))
        report.channel_errors.extend(sent.errors)
