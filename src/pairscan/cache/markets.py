"""Stage 2 (cache): the exchange's market info (type, lot and tick sizes, minimum notional, taker
fee) beside the series, one `markets.json` per exchange, so a backtest needs no network.

Written by `pairs cache update` (atomically: temp file, fsync, os.replace), read by the
backtest. Plain json only: no ccxt, no pandas.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pairscan.errors import CacheError
from pairscan.fsio import replace_atomically, short_reason
from pairscan.market import MarketInfo, MarketType, symbol_key

MARKETS_FILE = "markets.json"
FORMAT_VERSION = 1
_FIELDS = tuple(f.name for f in dataclasses.fields(MarketInfo))
_TYPES: tuple[MarketType, ...] = ("spot", "swap", "future", "option", "other")


@dataclass(frozen=True)
class CachedMarket:
    """One market's info as `cache update` stored it, and when it was fetched (UTC ms)."""

    info: MarketInfo
    fetched_ms: int


def markets_path(cache_root: Path, exchange: str) -> Path:
    """`<cache root>/<exchange>/markets.json` (beside the exchange's parquet series)."""
    return Path(cache_root) / symbol_key(exchange) / MARKETS_FILE


def read_markets(cache_root: Path, exchange: str) -> dict[str, CachedMarket]:
    """Every market stored for `exchange`, keyed by ccxt unified symbol; empty when none was
    stored (a cache written before market info was kept). Raises `CacheError` naming the
    file when it cannot be read."""
    path = markets_path(cache_root, exchange)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise _unreadable(path, short_reason(exc)) from None
    try:
        return {symbol: _from_json(row) for symbol, row in doc["markets"].items()}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise _unreadable(path, f"unexpected content: {short_reason(repr(exc))}") from None


def write_markets(cache_root: Path, exchange: str, markets: Mapping[str, CachedMarket]) -> None:
    """Store `markets` as the whole market info of `exchange`, atomically (callers merge
    with `read_markets` first to keep other symbols' entries)."""
    doc = {
        "version": FORMAT_VERSION,
        "exchange": exchange,
        "markets": {s: _to_json(markets[s]) for s in sorted(markets)},
    }
    _replace(markets_path(cache_root, exchange), json.dumps(doc, indent=1, sort_keys=True))


def _to_json(market: CachedMarket) -> dict[str, Any]:
    return {**dataclasses.asdict(market.info), "fetched_ms": market.fetched_ms}


def _from_json(row: Mapping[str, Any]) -> CachedMarket:
    fields = {k: row[k] for k in _FIELDS if k in row}
    if fields.get("type") not in _TYPES:
        raise ValueError(f"market type {fields.get('type')!r}")
    fields["extra"] = {str(k): str(v) for k, v in (row.get("extra") or {}).items()}
    return CachedMarket(MarketInfo(**fields), int(row["fetched_ms"]))


def _replace(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CacheError(f"cannot store the market info in {path} ({reason})") from None


def _unreadable(path: Path, reason: str) -> CacheError:
    return CacheError(
        f"cache file {path} cannot be read ({reason}); delete it and run "
        '"pairs cache update" to store the market info again'
    )
