"""Stage 1 (fetch): which symbols to track: an explicit list, or the top N by 24h volume.

Works on any `MarketSource`; pure filtering rules are separate functions so they can be
tested on plain `MarketInfo` lists. Does not fetch candles.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Collection, Iterable

from pairscan.config import UniverseConfig
from pairscan.errors import ConfigError, UnknownSymbolError
from pairscan.fetch.source import MarketSource
from pairscan.market import MarketInfo

log = logging.getLogger(__name__)

# Leveraged tokens: Binance BTCUP/BTCDOWN, FTX-style BULL/BEAR, Gate/KuCoin BTC3L/ETH5S.
# A base only counts as leveraged if what precedes the suffix is itself a listed base of at
# least two characters, so JUP (J + UP) or SUPER stay in.
_LEVERAGED_SUFFIX = re.compile(r"^(?P<root>[A-Z0-9]{2,}?)(?:UP|DOWN|BULL|BEAR|[2-5][LS])$")


def is_leveraged_token(base: str, listed_bases: set[str]) -> bool:
    """True when `base` looks like a leveraged token of another listed base."""
    match = _LEVERAGED_SUFFIX.match(base.upper())
    return match is not None and match.group("root") in listed_bases


def eligible_markets(markets: Iterable[MarketInfo], config: UniverseConfig) -> list[MarketInfo]:
    """Active markets of the configured quote and type, minus stable/stable, leveraged
    tokens and `universe.exclude`. `market_type: auto` means spot when the exchange lists
    spot markets in that quote, else linear perpetual swaps."""
    listed = list(markets)
    quote = config.quote.upper()
    kind = config.market_type
    if kind == "auto":
        has_spot = any(m.type == "spot" and m.quote == quote and m.active for m in listed)
        kind = "spot" if has_spot else "swap"
    bases = {m.base.upper() for m in listed}
    stable = {s.upper() for s in config.stablecoins}
    excluded = set(config.exclude)
    kept = []
    for market in listed:
        if not market.active or market.quote.upper() != quote or market.type != kind:
            continue
        if kind == "swap" and (market.settle or "").upper() != quote:
            continue  # inverse (coin-margined) swaps settle in the base: other P&L units
        if market.base.upper() in stable and quote in stable:
            continue
        if is_leveraged_token(market.base, bases) or market.symbol in excluded:
            continue
        kept.append(market)
    return kept


def check_symbols(
    source: MarketSource, symbols: Iterable[str], cached: Collection[str] = ()
) -> list[str]:
    """Raise a clear error for symbols the exchange does not list; warn for inactive ones.
    Returns the symbols no longer listed that `cached` holds: those were delisted, not
    mistyped, and their history (and any open position on them) must not stop the run.

    Markets are loaded again once before a symbol is called unknown: an exchange can answer
    one market-list request with a garbage body that ccxt parses into no markets of a type.
    """
    symbols = list(symbols)
    exchange = source.exchange_id
    markets = source.load_markets()
    if any(s not in markets for s in symbols):
        log.info("%s: reloading markets before calling a symbol unknown", exchange)
        markets = source.load_markets(reload=True)
    delisted = [s for s in symbols if s not in markets and s in cached]
    for symbol in delisted:
        log.warning("%s: %s is no longer listed (delisted); keeping its history", exchange, symbol)
    unknown = [s for s in symbols if s not in markets and s not in cached]
    if unknown:
        hints = []
        for symbol in unknown:
            close = difflib.get_close_matches(symbol, list(markets), n=2)
            hints.append(f"{symbol}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        raise UnknownSymbolError(f"{exchange} does not list {', '.join(hints)}")
    for symbol in symbols:
        if symbol in markets and not markets[symbol].active:
            log.warning(
                "%s: %s is not active (delisted or halted); keeping its history", exchange, symbol
            )
    return delisted


def resolve_universe(
    source: MarketSource, config: UniverseConfig, cached: Collection[str] = ()
) -> list[str]:
    """The symbols to track, in order: `universe.symbols` as given, or the `top_n` eligible
    markets by 24h quote volume (ties broken by symbol for a stable order). A listed symbol
    the exchange no longer lists is kept when `cached` holds it (see `check_symbols`)."""
    markets = source.load_markets()
    if config.symbols:
        symbols = [s for s in config.symbols if s not in set(config.exclude)]
        check_symbols(source, symbols, cached)
        return symbols
    candidates = eligible_markets(markets.values(), config)
    if not candidates:
        raise ConfigError(
            f"{source.exchange_id} lists no active {config.quote} markets of type "
            f"{config.market_type}; check universe.quote and universe.market_type"
        )
    tickers = source.fetch_tickers_24h([m.symbol for m in candidates])
    volume = {t.symbol: t.quote_volume for t in tickers}
    ranked = sorted(candidates, key=lambda m: (-volume.get(m.symbol, 0.0), m.symbol))
    return [m.symbol for m in ranked[: config.top_n]]
